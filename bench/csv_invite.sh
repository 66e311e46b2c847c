#!/usr/bin/env bash
# Time `usher invite --csv` with N rows (default 100,000) against a release `usher serve` on
# the embedded defaults (SQLite, file mail) in a temporary directory, on loopback.
# Usage: bench/csv_invite.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-100000}"
# USHER_BIN runs a given binary instead (scripts/test's smoke run uses the debug build).
if [ -z "${USHER_BIN:-}" ]; then
  cargo build --release --locked -p usher
fi
usher="$(realpath "${USHER_BIN:-target/release/usher}")"
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null && wait "$server" 2>/dev/null; rm -rf "$work"' EXIT
python3 -c "
print('email,role')
for n in range($rows): print(f'member{n}@example.com,user')
" > "$work/team.csv"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cd "$work"
DATABASE_URL="sqlite://$work/usher.db?mode=rwc" USHER_LISTEN="127.0.0.1:$port" USHER_MAIL_URL="file://$work/mail" \
  RUST_LOG=warn "$usher" serve > serve.out 2> serve.err &
server=$!
until curl -fsS "http://127.0.0.1:$port/healthz" > /dev/null 2>&1; do sleep 0.05; done
app="$(awk '/app id/ {print $3; exit}' serve.out)"
key="$(grep -o 'usk_[0-9a-f]*' serve.out | head -1)"
start="$(date +%s.%N)"
"$usher" invite --csv team.csv --server "http://127.0.0.1:$port" --app "$app" --key "$key"
end="$(date +%s.%N)"
python3 -c "print(f'RESULT rows=$rows seconds={$end - $start:.1f}')"
