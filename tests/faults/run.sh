#!/usr/bin/env bash
# The fault suite's long form on a release build: the figures of docs/reliability.md.
#
#   tests/faults/run.sh
#
# Builds `usher` and the fault tests with `cargo test --release` (the tests run the binary
# CARGO_BIN_EXE_usher of their own profile, so this is a release `usher serve`), then runs:
#
#   - SQLite: 10 cycles of 1,000 concurrent invites, `kill -9` mid-burst, restart, the wait for
#     every email (crates/cli/tests/crash.rs, USHER_FAULT_CYCLES);
#   - PostgreSQL: 3 instances, 5 cycles of 1,000 invites with one random instance killed
#     halfway and restarted afterwards (crates/cli/tests/instances.rs, USHER_FAULT_PG_CYCLES);
#   - SMTP: the test SMTP server down for 2 minutes during 1,000 paced invites
#     (crates/cli/tests/smtp_outage.rs, USHER_FAULT_SMTP_DOWN_SECS, USHER_FAULT_SMTP_INVITES);
#
# each against the real test SMTP server (tests/smtp/server.py, aiosmtpd, installed into
# target/smtp-venv like scripts/test does) and, for the PostgreSQL suite, the server that
# USHER_TEST_PG_URL names (default postgres://postgres@127.0.0.1:5432/test; each run makes a
# database of its own and drops it). Missing PostgreSQL or aiosmtpd fails the run (CI=true):
# a long form that skipped would print no figures. The sizes can be changed through the
# variables above. Prints each suite's figures and whether it met its bounds; exits non-zero
# when any suite failed. Takes about 5 minutes after the build on 2 cores.
set -uo pipefail
cd "$(dirname "$0")/../.."

step() { printf '\n==> %s\n' "$*"; }

export CI=true
export USHER_FAULT_CYCLES="${USHER_FAULT_CYCLES:-10}"
export USHER_FAULT_INVITES="${USHER_FAULT_INVITES:-1000}"
export USHER_FAULT_PG_CYCLES="${USHER_FAULT_PG_CYCLES:-5}"
export USHER_FAULT_SMTP_DOWN_SECS="${USHER_FAULT_SMTP_DOWN_SECS:-120}"
export USHER_FAULT_SMTP_INVITES="${USHER_FAULT_SMTP_INVITES:-1000}"

logs="target/faults"
mkdir -p "$logs"

step "the test SMTP server (aiosmtpd, into target/smtp-venv)"
if [ ! -x target/smtp-venv/bin/python ]; then
  python3 -m venv target/smtp-venv || exit 1
fi
target/smtp-venv/bin/pip install --quiet --disable-pip-version-check -r tests/smtp/requirements.txt || exit 1

step "release build of usher and the fault tests"
cargo test --release --locked -p usher --test crash --test instances --test smtp_outage --no-run || exit 1

# name, test target, test-name filter
suites=(
  "sqlite-kills crash repeated_kills_on_sqlite"
  "postgres-kills instances through_repeated_kills"
  "smtp-outage smtp_outage returning_from_an_outage"
)
declare -A result
for suite in "${suites[@]}"; do
  read -r name target filter <<<"$suite"
  step "$name (cargo test --release -p usher --test $target $filter)"
  started=$(date +%s)
  cargo test --release --locked -p usher --test "$target" "$filter" -- --nocapture 2>&1 | tee "$logs/$name.log"
  status=${PIPESTATUS[0]}
  result[$name]="$([ "$status" = 0 ] && echo "met its bounds" || echo "FAILED (exit $status)") in $(($(date +%s) - started)) s"
done

step "figures"
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' (with local changes)'), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/^Mem:/ {print $2}') GB, $(uname -sr); everything on loopback"
echo "settings: USHER_FAULT_CYCLES=$USHER_FAULT_CYCLES USHER_FAULT_INVITES=$USHER_FAULT_INVITES USHER_FAULT_PG_CYCLES=$USHER_FAULT_PG_CYCLES USHER_FAULT_SMTP_DOWN_SECS=$USHER_FAULT_SMTP_DOWN_SECS USHER_FAULT_SMTP_INVITES=$USHER_FAULT_SMTP_INVITES"
failed=0
for suite in "${suites[@]}"; do
  read -r name _ <<<"$suite"
  echo
  echo "$name: ${result[$name]}"
  grep -E '(SQLite cycle|PostgreSQL cycle|SMTP outage of)' "$logs/$name.log" | sed 's/^/  /'
  case "${result[$name]}" in FAILED*) failed=1 ;; esac
done
exit "$failed"
