#!/usr/bin/env bash
# Durable invites/s of a release `usher serve` on PostgreSQL, and in the same run pgbench
# writing the same two rows per transaction (bench/pg_invite.sql) into the same tables, with
# the same number of connections. Needs wrk and pgbench (Debian: wrk, postgresql-client) and a
# PostgreSQL server where it may create and drop the database usher_bench.
# Usage: bench/postgres.sh [CONNECTIONS] [SECONDS]   (defaults: 64, 10)
# Server: PG_URL (default postgres://postgres@127.0.0.1:5432), the database name is appended.
set -euo pipefail
cd "$(dirname "$0")/.."
connections="${1:-64}"
seconds="${2:-10}"
pg="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
cargo build --release --locked -p usher
usher="$PWD/target/release/usher"
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null && wait "$server" 2>/dev/null; rm -rf "$work"' EXIT
psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS usher_bench WITH (FORCE)" -c "CREATE DATABASE usher_bench"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cd "$work"
DATABASE_URL="$pg/usher_bench" USHER_LISTEN="127.0.0.1:$port" USHER_MAIL_URL="file://$work/mail" \
  RUST_LOG=warn "$usher" serve > serve.out 2> serve.err &
server=$!
until curl -fsS "http://127.0.0.1:$port/healthz" > /dev/null 2>&1; do sleep 0.05; done
app="$(awk '/app id/ {print $3}' serve.out)"
key="$(grep -o 'usk_[0-9a-f]*' serve.out | head -1)"
url="http://127.0.0.1:$port/api/apps/$app/runtime/users/invite-user"
bench="$(cd - > /dev/null && pwd)/bench"

echo "== usher on PostgreSQL: wrk, $connections connections, ${seconds}s"
wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$bench/invite.lua" "$url" \
  -H "Authorization: Bearer $key" -H "Content-Type: application/json" | tee wrk.out
usher_rate="$(awk '/Requests\/sec/ {print $2}' wrk.out)"
non2xx="$(awk '/Non-2xx/ {print $5}' wrk.out)"

echo "== pgbench, the same two rows per transaction, $connections connections, ${seconds}s"
pgbench -n -c"$connections" -j2 -T"$seconds" -D app="$app" -f "$bench/pg_invite.sql" "$pg/usher_bench" | tee pgbench.out
pgbench_rate="$(awk '/^tps/ {print $3}' pgbench.out)"

python3 -c "print(f'RESULT usher={$usher_rate:.0f}/s pgbench={$pgbench_rate:.0f}/s ratio={$usher_rate / $pgbench_rate:.2f} non_2xx=${non2xx:-0}')"
