#!/usr/bin/env bash
# Durable invites/s of a release `usher serve` on PostgreSQL, side by side with pgbench writing
# the same two rows per transaction (bench/pg_invite.sql) into the same tables with the same
# number of connections. The two take turns, ROUNDS times, so both see the same machine.
# Needs wrk and pgbench (Debian: wrk, postgresql-client) and a PostgreSQL server where it may
# create and drop the database usher_bench.
# Usage: bench/postgres.sh [CONNECTIONS] [SECONDS] [ROUNDS]   (defaults: 64, 10, 3)
# Server: PG_URL (default postgres://postgres@127.0.0.1:5432); the database name is appended.
set -euo pipefail
cd "$(dirname "$0")/.."
connections="${1:-64}"
seconds="${2:-10}"
rounds="${3:-3}"
pg="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
bench="$PWD/bench"
# USHER_BIN runs a given binary instead (scripts/test's smoke run uses the debug build).
if [ -z "${USHER_BIN:-}" ]; then
  cargo build --release --locked -p usher
fi
usher="$(realpath "${USHER_BIN:-target/release/usher}")"
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null && wait "$server" 2>/dev/null; rm -rf "$work"' EXIT
psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS usher_bench WITH (FORCE)" -c "CREATE DATABASE usher_bench"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cd "$work"
DATABASE_URL="$pg/usher_bench" USHER_LISTEN="127.0.0.1:$port" USHER_MAIL_URL="file://$work/mail" \
  RUST_LOG=warn "$usher" serve > serve.out 2> serve.err &
server=$!
until curl -fsS "http://127.0.0.1:$port/healthz" > /dev/null 2>&1; do sleep 0.05; done
app="$(awk '/app id/ {print $3; exit}' serve.out)"
key="$(grep -o 'usk_[0-9a-f]*' serve.out | head -1)"
url="http://127.0.0.1:$port/api/apps/$app/runtime/users/invite-user"

for round in $(seq 1 "$rounds"); do
  wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$bench/invite.lua" "$url" \
    -H "Authorization: Bearer $key" -H "Content-Type: application/json" > wrk.out
  usher_rate="$(awk '/Requests\/sec/ {print $2}' wrk.out)"
  p50="$(awk '$1 == "50%" {print $2}' wrk.out)"
  p99="$(awk '$1 == "99%" {print $2}' wrk.out)"
  if grep -q "Non-2xx" wrk.out; then echo "usher answered errors:"; cat wrk.out; exit 1; fi
  pgbench -n -c"$connections" -j2 -T"$seconds" -D app="$app" -f "$bench/pg_invite.sql" "$pg/usher_bench" \
    > pgbench.out 2>&1
  pgbench_rate="$(awk '/^tps/ {print $3}' pgbench.out)"
  rss="$(awk '/VmRSS/ {print $2}' "/proc/$server/status")"
  python3 -c "print(f'round $round: usher {$usher_rate:.0f} invites/s (p50 $p50, p99 $p99)  pgbench {$pgbench_rate:.0f} tps  ratio {$usher_rate / $pgbench_rate:.2f}  usher RSS {$rss / 1024:.0f} MiB')"
done
