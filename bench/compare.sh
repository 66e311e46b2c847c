#!/usr/bin/env bash
# Two builds of usher side by side, taking turns ROUNDS times so both see the same machine:
# SQLite invites/s at 64 connections, p99 at a steady 2,000 invites/s, and PostgreSQL invites/s
# beside pgbench (bench/postgres.sh). For a change that must not cost speed: build the release
# binary before and after it, copy each aside, and compare them here.
# Needs wrk, pgbench and psql, and a PostgreSQL server (PG_URL, as bench/postgres.sh).
# Usage: bench/compare.sh BEFORE_BIN AFTER_BIN [ROUNDS] [SECONDS]   (defaults: 3 rounds of 10 s)
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: bench/compare.sh BEFORE_BIN AFTER_BIN [ROUNDS] [SECONDS]" >&2; exit 2; }
before="$(realpath "$1")"
after="$(realpath "$2")"
rounds="${3:-3}"
seconds="${4:-10}"
cd "$(dirname "$0")/.."
bench="$PWD/bench"
work="$(mktemp -d)"
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# sqlite_load BIN NAME WRK_ARGS…: a fresh `usher serve` on SQLite under one wrk load; prints
# "invites/s p99".
sqlite_load() {
  local bin="$1" name="$2" dir port; shift 2
  dir="$work/$name.$RANDOM"
  mkdir -p "$dir"
  port="$(free_port)"
  DATABASE_URL="sqlite://$dir/usher.db?mode=rwc" USHER_LISTEN="127.0.0.1:$port" USHER_MAIL_URL="file://$dir/mail" \
    RUST_LOG=warn "$bin" serve > "$dir/serve.out" 2> "$dir/serve.err" &
  server=$!
  until curl -fsS "http://127.0.0.1:$port/healthz" > /dev/null 2>&1; do sleep 0.05; done
  local app key
  app="$(awk '/app id/ {print $3; exit}' "$dir/serve.out")"
  key="$(grep -o 'usk_[0-9a-f]*' "$dir/serve.out" | head -1)"
  sleep 0.5
  wrk "$@" -d"${seconds}s" --latency "http://127.0.0.1:$port/api/apps/$app/runtime/users/invite-user" \
    -H "Authorization: Bearer $key" -H "Content-Type: application/json" > "$dir/wrk.out"
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
  if grep -q "Non-2xx" "$dir/wrk.out"; then cat "$dir/wrk.out" >&2; echo "usher answered errors" >&2; exit 1; fi
  echo "$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$dir/wrk.out") $(awk '$1 == "99%" {print $2}' "$dir/wrk.out")"
  rm -rf "$dir"
}

echo "| round | build | SQLite invites/s, 64 connections | p99 at 2,000/s | PostgreSQL invites/s | ÷ pgbench |"
echo "| --- | --- | --- | --- | --- | --- |"
for round in $(seq 1 "$rounds"); do
  for which in before after; do
    bin="$before"; [ "$which" = after ] && bin="$after"
    read -r rate _ < <(sqlite_load "$bin" "c64" -t2 -c64 -s "$bench/invite.lua")
    read -r _ p99 < <(PACE_RATE=2000 sqlite_load "$bin" "paced" -t1 -c32 -s "$bench/invite_paced.lua")
    # "round 1: usher 1234 invites/s (…)  pgbench 1500 tps  ratio 0.82  usher RSS …"
    read -r pg_rate ratio < <(USHER_BIN="$bin" "$bench/postgres.sh" 64 "$seconds" 1 2> "$work/pg.err" \
      | awk '/^round/ {for (i = 1; i <= NF; i++) if ($i == "ratio") print $4, $(i + 1)}')
    echo "| $round | $which | $rate | $p99 | $pg_rate | $ratio |"
  done
done
