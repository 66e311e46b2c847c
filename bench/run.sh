#!/usr/bin/env bash
# The whole benchmark suite in one command, written as a Markdown report to stdout (and to FILE
# with --out). A release `usher serve` on the embedded defaults (SQLite, file mail, delivery
# worker running), loaded with wrk: invites at 16 and 64 connections beside better-auth's
# organization invites, p99 at a steady ~2,000 invites/s, the 64-connection figure again with
# 1,000,000 invitations stored, start to /healthz on that store, a join burst; then
# bench/postgres.sh beside pgbench. Targets stand next to the figures; only a failed request to
# Usher (or a step that breaks) fails the run.
# --smoke: a few seconds per step and tiny sizes, so CI keeps this script working; its figures
# mean nothing and nothing is judged.
# Usage: bench/run.sh [--smoke] [--out FILE]
set -euo pipefail

smoke=false
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=true ;;
    --out) out="$(realpath -m "$2")"; shift ;;
    *) echo "usage: bench/run.sh [--smoke] [--out FILE]" >&2; exit 2 ;;
  esac
  shift
done
cd "$(dirname "$0")/.."
bench="$PWD/bench"

if $smoke; then
  seconds=2 stored=2000 joiners=50 pg_args=(64 2 1)
else
  seconds=15 stored=1000000 joiners=2000 pg_args=(64 10 3)
fi
rss_target=$((25 * 1024)) # KiB

step() { printf '\n==> %s\n' "$*" >&2; }
fail() { printf 'bench/run.sh: %s\n' "$*" >&2; exit 1; }

# --- tools -----------------------------------------------------------------------------------

# As root on Debian/Ubuntu, like scripts/test does for wrk.
apt_install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 1
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
command -v wrk >/dev/null || apt_install wrk || fail "needs wrk (Debian package wrk)"
if ! command -v pgbench >/dev/null || ! command -v psql >/dev/null; then
  apt_install postgresql-client || true
fi
command -v npm >/dev/null || fail "needs node and npm for the better-auth peer (bench/better_auth)"
# The PostgreSQL step is skipped, and says why, when it cannot run; on CI that fails at once.
pg="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
pg_hostport="${pg#*://}"; pg_hostport="${pg_hostport#*@}"; pg_hostport="${pg_hostport%%/*}"
pg_host="${pg_hostport%:*}"; pg_port="${pg_hostport##*:}"; [ "$pg_port" = "$pg_hostport" ] && pg_port=5432
pg_skipped=""
if ! command -v pgbench >/dev/null || ! command -v psql >/dev/null; then
  pg_skipped="pgbench or psql is not installed (Debian package postgresql-client)"
elif ! (exec 3<>"/dev/tcp/$pg_host/$pg_port") 2>/dev/null; then
  pg_skipped="no PostgreSQL at $pg_host:$pg_port (set PG_URL)"
fi
[ -z "$pg_skipped" ] || [ "${CI:-}" != true ] || fail "CI=true and the PostgreSQL step cannot run: $pg_skipped"

# USHER_BIN runs a given binary instead of building one (a smoke run may take the debug build).
if [ -z "${USHER_BIN:-}" ]; then
  step "cargo build --release"
  cargo build --release --locked -p usher >&2
fi
usher_source="$(realpath "${USHER_BIN:-target/release/usher}")"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit, with uncommitted changes"; fi

# --- servers, cleaned up whatever happens ----------------------------------------------------

work="$(mktemp -d)"
servers=() # PIDs to stop; "-PID" for a whole process group (better-auth's npm and node)
cleanup() {
  local s
  for s in ${servers[@]+"${servers[@]}"}; do stop_server "$s"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A copy of its own: a build that replaces the binary during the run would otherwise mix two
# builds in one report.
cp "$usher_source" "$work/usher"
usher="$work/usher"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# stop_server PID: SIGTERM, then SIGKILL after 10 s. Nothing here needs the mail still queued,
# and a build whose delivery worker sends its whole backlog before exiting takes minutes.
stop_server() {
  local pid="$1" s kept=() tries=0
  kill -- "$pid" 2>/dev/null || true
  while kill -0 -- "$pid" 2>/dev/null && [ $((tries += 1)) -le 100 ]; do sleep 0.1; done
  kill -KILL -- "$pid" 2>/dev/null || true
  wait "${pid#-}" 2>/dev/null || true
  for s in ${servers[@]+"${servers[@]}"}; do [ "$s" = "$pid" ] || kept+=("$s"); done
  servers=(${kept[@]+"${kept[@]}"})
}

# start_usher DIR [MAIL_URL]: `usher serve` on DIR/usher.db, file mail into DIR/mail unless
# told otherwise. Sets pid, base, and app and key (printed only when the database was new).
start_usher() {
  local dir="$1" mail="${2:-file://$1/mail}" port started
  mkdir -p "$dir"
  port="$(free_port)"
  DATABASE_URL="sqlite://$dir/usher.db?mode=rwc" USHER_LISTEN="127.0.0.1:$port" USHER_MAIL_URL="$mail" \
    RUST_LOG=warn "$usher" serve >> "$dir/serve.out" 2>> "$dir/serve.err" &
  pid=$!
  servers+=("$pid")
  base="http://127.0.0.1:$port"
  started=$SECONDS
  until curl -fsS "$base/healthz" > /dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { tail -20 "$dir/serve.err" >&2; fail "usher serve exited"; }
    [ $((SECONDS - started)) -lt 60 ] || fail "usher serve not up after 60 s"
    sleep 0.05
  done
  app="$(awk '/app id/ {print $3; exit}' "$dir/serve.out")"
  key="$(grep -o 'usk_[0-9a-f]*' "$dir/serve.out" | head -1)"
}

# start_better_auth DIR: bench/better_auth/run.sh in its own process group (its first run
# installs the npm packages, building better-sqlite3: ~2 minutes). Sets pid, base, ba_cookie
# and ba_org.
start_better_auth() {
  local dir="$1" port started
  mkdir -p "$dir"
  port="$(free_port)"
  setsid "$bench/better_auth/run.sh" "$port" "$dir" > "$dir/out" 2> "$dir/err" &
  pid=$!
  servers+=("-$pid")
  base="http://127.0.0.1:$port"
  started=$SECONDS
  until grep -qx ready "$dir/out" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { tail -20 "$dir/err" >&2; fail "better-auth exited"; }
    [ $((SECONDS - started)) -lt 900 ] || fail "better-auth not ready after 15 minutes"
    sleep 0.2
  done
  ba_cookie="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["cookie"])' "$dir/session.json")"
  ba_org="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["organizationId"])' "$dir/session.json")"
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# --- measuring -------------------------------------------------------------------------------

# Runs a command while sampling a server's resident memory every 100 ms, and writes the peak,
# the server's CPU time (utime + stime, every thread) and the wall time over the command's run,
# and the CPU time everyone else used meanwhile: the machine's user + system time less the
# server's, the command's and this script's (interrupt time, where loopback traffic is mostly
# handled, is nobody's and left out).
cat > "$work/measure.py" <<'EOF'
import os, resource, subprocess, sys, time
pid, out, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
hz = os.sysconf("SC_CLK_TCK")
def cpu_s():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / hz
def machine_s():
    fields = open("/proc/stat").readline().split()
    return (int(fields[1]) + int(fields[2]) + int(fields[3])) / hz
def own_s(who):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime
def rss_kib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
start, cpu0, machine0, self0, peak = time.monotonic(), cpu_s(), machine_s(), own_s(resource.RUSAGE_SELF), rss_kib()
child = subprocess.Popen(cmd)
while True:
    try:
        code = child.wait(timeout=0.1)
        break
    except subprocess.TimeoutExpired:
        peak = max(peak, rss_kib())
peak = max(peak, rss_kib())
server = cpu_s() - cpu0
others = machine_s() - machine0 - server - own_s(resource.RUSAGE_CHILDREN) - (own_s(resource.RUSAGE_SELF) - self0)
with open(out, "w") as f:
    print(peak, server, time.monotonic() - start, max(others, 0), file=f)
sys.exit(code)
EOF

declare -A R # figures: R[NAME.rate], R[NAME.p99], ...
loads=()     # the NAMEs measured, in order

# wrk's latency percentile P ("50%") in milliseconds.
wrk_ms() {
  awk -v p="$1" '$1 == p {
    v = $2
    if (v ~ /us$/) m = v / 1000; else if (v ~ /ms$/) m = v + 0
    else if (v ~ /[0-9]m$/) m = v * 60000; else m = v * 1000
    printf(m < 10 ? "%.2f" : "%.1f", m)
  }' "$2"
}

# load NAME PID WRK_ARGS...: wrk while measuring the server PID; figures land in R[NAME.*].
# Writes still buffered from earlier steps (the fill's gigabyte, a step's mail files) are
# flushed first: the kernel would otherwise write them back during this load, beside the
# server's own commits.
load() {
  local name="$1" pid="$2" peak cpu wall others
  shift 2
  sync
  R[$name.idle]="$(rss_kib "$pid")"
  python3 "$work/measure.py" "$pid" "$work/$name.sample" wrk "$@" > "$work/$name.wrk" \
    || { cat "$work/$name.wrk" >&2; fail "wrk failed in $name"; }
  read -r peak cpu wall others < "$work/$name.sample"
  R[$name.peak]="$peak"
  R[$name.cpu]="$(awk -v c="$cpu" -v w="$wall" 'BEGIN { printf "%.0f", 100 * c / w }')"
  R[$name.others]="$(awk -v c="$others" -v w="$wall" 'BEGIN { printf "%.0f", 100 * c / w }')"
  loads+=("$name")
  R[$name.rate]="$(awk '/^Requests\/sec/ {print $2}' "$work/$name.wrk")"
  R[$name.requests]="$(awk '/requests in/ {print $1}' "$work/$name.wrk")"
  R[$name.p50]="$(wrk_ms 50% "$work/$name.wrk")"
  R[$name.p99]="$(wrk_ms 99% "$work/$name.wrk")"
  local errors
  errors="$(grep -Eo 'Socket errors: .*|Non-2xx or 3xx responses: [0-9]+' "$work/$name.wrk" | paste -sd ';' || true)"
  R[$name.errors]="${errors:-none}"
  printf '%s: %s requests/s, p50 %s ms, p99 %s ms, errors: %s\n' \
    "$name" "${R[$name.rate]}" "${R[$name.p50]}" "${R[$name.p99]}" "${R[$name.errors]}" >&2
}

# Any answer of Usher's that is not 2xx/3xx fails the run.
require_ok() {
  if grep -q "Non-2xx" "$work/$1.wrk"; then
    cat "$work/$1.wrk" >&2
    fail "usher answered errors in $1"
  fi
}

invite_url() { echo "$base/api/apps/$app/runtime/users/invite-user"; }

# --- the steps -------------------------------------------------------------------------------

# Every load on a fresh server and store: each run starts from the same state. A step's files
# stay until the run ends: deleting a step's 100,000+ mail files mid-run made the next step's
# mail slower to write (ext4 without a journal, as on the machine measured, passes over inodes
# freed in the last minutes when it allocates one; mounted with `discard`, every delete also
# trims the disk) and so disturbed what was measured.
usher_invites() {
  local c
  for c in 16 64; do
    step "usher: invites at $c connections, ${seconds}s"
    start_usher "$work/usher$c"
    sleep 0.5
    load "usher$c" "$pid" -t2 -c"$c" -d"${seconds}s" --latency -s "$bench/invite.lua" "$(invite_url)" \
      -H "Authorization: Bearer $key" -H "Content-Type: application/json"
    require_ok "usher$c"
    stop_server "$pid"
  done
}

usher_paced() {
  step "usher: invites paced at 2,000/s, ${seconds}s"
  start_usher "$work/paced"
  sleep 0.5
  PACE_RATE=2000 load paced "$pid" -t1 -c32 -d"${seconds}s" --latency -s "$bench/invite_paced.lua" \
    "$(invite_url)" -H "Authorization: Bearer $key" -H "Content-Type: application/json"
  require_ok paced
  stop_server "$pid"
}

better_auth_invites() {
  local c
  for c in 16 64; do
    step "better-auth: organization invites at $c connections, ${seconds}s"
    start_better_auth "$work/ba$c"
    sleep 0.5
    BA_COOKIE="$ba_cookie" BA_ORG="$ba_org" load "ba$c" "$pid" -t2 -c"$c" -d"${seconds}s" --timeout 10s \
      --latency -s "$bench/better_auth/invite.lua" "$base/api/auth/organization/invite-member"
    stop_server "-$pid"
  done
}

# One store of $stored invitations for the next two steps, filled through the product: the CLI's
# bulk import, mail to the log transport, and the delivery worker left to drain the outbox.
fill_store() {
  local dir="$work/store" start
  step "filling a store with $stored invitations (usher invite --csv, mail to the log)"
  mkdir -p "$dir"
  python3 -c "
print('email,role')
for n in range($stored): print(f'stored{n}@example.com,user')
" > "$dir/stored.csv"
  start_usher "$dir" log
  start="$(date +%s.%N)"
  "$usher" invite --csv "$dir/stored.csv" --server "$base" --app "$app" --key "$key" > "$dir/invite.out" 2>&1
  tail -1 "$dir/invite.out" >&2
  grep -q "failed 0\." "$dir/invite.out" || { cat "$dir/invite.out" >&2; fail "rows failed in the fill"; }
  R[fill.import_s]="$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")"
  python3 - "$dir/usher.db" <<'EOF'
# Waits until the delivery worker has sent every queued message (read-only, beside the server).
import sqlite3, sys, time
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
for polls in range(sys.maxsize):
    (left,) = db.execute("SELECT count(*) FROM outbox_messages WHERE status IN ('queued', 'sending')").fetchone()
    if left == 0:
        break
    if polls % 10 == 0:
        print(f"outbox: {left} messages left", file=sys.stderr)
    time.sleep(1)
EOF
  R[fill.total_s]="$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")"
  stop_server "$pid"
  R[fill.db_mib]="$(du -cm "$dir"/usher.db* | awk 'END {print $1}')"
}

# Three starts of `usher serve` on the filled store, each timed from spawn to the first 200 from
# /healthz (polled every 2 ms). Prints the milliseconds of each.
store_startup() {
  step "start to /healthz on the filled store, 3 times"
  R[startup.ms]="$(python3 - "$usher" "$work/store" <<'EOF'
import http.client, os, socket, subprocess, sys, time
usher, dir = sys.argv[1], sys.argv[2]
times = []
for _ in range(3):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    env = dict(os.environ, DATABASE_URL=f"sqlite://{dir}/usher.db?mode=rwc", USHER_LISTEN=f"127.0.0.1:{port}",
               USHER_MAIL_URL=f"file://{dir}/mail", RUST_LOG="warn")
    start = time.perf_counter()
    server = subprocess.Popen([usher, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            finally:
                conn.close()
            if server.poll() is not None:
                sys.exit("usher serve exited")
            if time.perf_counter() - start > 60:
                sys.exit("usher serve not up after 60 s")
            time.sleep(0.002)
        times.append((time.perf_counter() - start) * 1000)
    finally:
        server.terminate()
        server.wait()
print(" ".join(f"{t:.0f}" for t in times))
EOF
)"
  echo "start to /healthz: ${R[startup.ms]} ms" >&2
}

store_invites() {
  step "usher: invites at 64 connections on the filled store, ${seconds}s"
  start_usher "$work/store"
  sleep 0.5
  load store64 "$pid" -t2 -c64 -d"${seconds}s" --latency -s "$bench/invite.lua" "$(invite_url)" \
    -H "Authorization: Bearer $key" -H "Content-Type: application/json"
  require_ok store64
  stop_server "$pid"
}

# Invites $joiners addresses, reads each join link's token from the emails in the mail
# directory, then posts the join form (token, name, password) with wrk at 64 connections.
join_burst() {
  local dir="$work/join" started
  step "usher: join burst, $joiners invitations, ${seconds}s"
  start_usher "$dir"
  python3 -c "
print('email,role')
for n in range($joiners): print(f'joiner{n}@example.com,user')
" > "$dir/joiners.csv"
  "$usher" invite --csv "$dir/joiners.csv" --server "$base" --app "$app" --key "$key" > "$dir/invite.out" 2>&1
  grep -q "failed 0\." "$dir/invite.out" || { cat "$dir/invite.out" >&2; fail "rows failed in the invitations"; }
  started=$SECONDS
  until [ "$(find "$dir/mail" -name '*.eml' 2>/dev/null | wc -l)" -ge "$joiners" ]; do
    [ $((SECONDS - started)) -lt 120 ] || fail "the invitation emails were not all written in 120 s"
    sleep 0.2
  done
  python3 - "$dir/mail" > "$dir/tokens.txt" <<'EOF'
import email, email.policy, pathlib, re, sys
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.eml")):
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    text = message.get_body(("plain",)).get_content()
    print(re.search(r"/join\?token=([A-Za-z0-9_]+)", text).group(1))
EOF
  sleep 0.5
  load join "$pid" -t2 -c64 -d"${seconds}s" --timeout 30s --latency -s "$bench/join.lua" "$base/apps/$app/join" \
    -- "$dir/tokens.txt" 2
  require_ok join
  R[join.left]="$(awk '/join tokens left/ {print $NF}' "$work/join.wrk")"
  stop_server "$pid"
}

# bench/postgres.sh, when a PostgreSQL server is reachable (on CI it must be).
postgres() {
  R[pg.rounds]=""
  if [ -z "$pg_skipped" ]; then
    step "PostgreSQL beside pgbench: bench/postgres.sh ${pg_args[*]}"
    USHER_BIN="$usher" PG_URL="$pg" "$bench/postgres.sh" "${pg_args[@]}" > "$work/pg.out" 2> "$work/pg.err" \
      || { cat "$work/pg.out" "$work/pg.err" >&2; fail "bench/postgres.sh failed"; }
    R[pg.rounds]="$(grep '^round' "$work/pg.out")" || fail "bench/postgres.sh printed no rounds"
    printf '%s\n' "${R[pg.rounds]}" >&2
  fi
}

# --- the report ------------------------------------------------------------------------------

num() { awk -v n="$1" 'BEGIN { n = sprintf("%.0f", n); s = ""; while (length(n) > 3) { s = "," substr(n, length(n) - 2) s; n = substr(n, 1, length(n) - 3) }; print n s }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
max() { printf '%s\n' "$@" | sort -n | tail -1; }
# judge VALUE OP TARGET: "met" or "missed" (OP is >= or <=); smoke runs judge nothing.
judge() {
  if $smoke; then echo "(smoke)"; return; fi
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { ok = (v == "n/a") ? 0 : (op == ">=" ? v >= t : v <= t); print ok ? "met" : "**missed**" }'
}

invite_row() {
  local label="$1" conns="$2" name="$3"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s%% | %s |\n' "$label" "$conns" "$(num "${R[$name.rate]}")" \
    "${R[$name.p50]}" "${R[$name.p99]}" "$(mib "${R[$name.idle]}")" "$(mib "${R[$name.peak]}")" \
    "${R[$name.cpu]}" "${R[$name.errors]}"
}

report() {
  local ratio16 ratio64 store_ratio idle peak startup_best startup_worst pg_ratio
  ratio16="$(ratio "${R[usher16.rate]}" "${R[ba16.rate]}")"
  ratio64="$(ratio "${R[usher64.rate]}" "${R[ba64.rate]}")"
  store_ratio="$(ratio "${R[store64.rate]}" "${R[usher64.rate]}")"
  idle="$(max "${R[usher16.idle]}" "${R[usher64.idle]}" "${R[paced.idle]}" "${R[store64.idle]}")"
  peak="$(max "${R[usher16.peak]}" "${R[usher64.peak]}" "${R[paced.peak]}" "${R[store64.peak]}")"
  startup_best="$(printf '%s\n' ${R[startup.ms]} | sort -n | head -1)"
  startup_worst="$(printf '%s\n' ${R[startup.ms]} | sort -n | tail -1)"
  pg_ratio="$(printf '%s\n' "${R[pg.rounds]}" | awk '{ for (i = 1; i < NF; i++) if ($i == "ratio") { s += $(i + 1); n++ } }
    END { if (n) printf "%.2f", s / n; else print "n/a" }')"
  echo "# Usher benchmark report"
  echo
  if $smoke; then
    echo "**Smoke run** (\`bench/run.sh --smoke\`): ${seconds} s per load, tiny sizes. The figures only show that every step works; they mean nothing."
  else
    echo "Full run (\`bench/run.sh\`), ${seconds} s per load."
  fi
  echo
  echo "| machine | |"
  echo "| --- | --- |"
  echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
  echo "| CPU | $(nproc) × $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo) |"
  echo "| memory | $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) |"
  echo "| kernel | $(uname -sr) |"
  echo "| repository | $commit |"
  echo "| usher | \`$usher_source\` ($("$usher" --version 2>/dev/null | head -1), sha256 $(sha256sum "$usher" | cut -c1-12)) |"
  echo "| tools | $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), node $(node --version), SQLite $(python3 -c 'import sqlite3; print(sqlite3.sqlite_version)') (Python's, for reading the outbox) |"
  echo "| other processes | up to $(max $(for n in "${loads[@]}"; do echo "${R[$n.others]}"; done))% of one core during a load (see the end) |"
  echo
  echo "## Against the targets"
  echo
  echo "| figure | measured | target | |"
  echo "| --- | --- | --- | --- |"
  echo "| invites/s at 64 connections, empty store | $(num "${R[usher64.rate]}") | ≥ 10,000 | $(judge "${R[usher64.rate]}" '>=' 10000) |"
  echo "| usher / better-auth, 64 connections | ${ratio64}× | ≥ 35× | $(judge "$ratio64" '>=' 35) |"
  echo "| p99 at ~2,000 invites/s (achieved $(num "${R[paced.rate]}")/s) | ${R[paced.p99]} ms | ≤ 5 ms | $(judge "${R[paced.p99]}" '<=' 5) |"
  echo "| RSS idle (a server just started), most of any | $(mib "$idle") | ≤ 25 MiB | $(judge "$idle" '<=' "$rss_target") |"
  echo "| RSS peak under invite load, most of any run | $(mib "$peak") | ≤ 25 MiB | $(judge "$peak" '<=' "$rss_target") |"
  # The RSS target is the invite load's; joins hash with argon2id (19 MiB each, one per core).
  echo "| RSS peak during the join burst | $(mib "${R[join.peak]}") | none of its own | — |"
  echo "| invites/s at 64 with $(num "$stored") stored ÷ empty | $store_ratio | ≥ 0.83 (1/1.2) | $(judge "$store_ratio" '>=' 0.8333) |"
  echo "| start to first 200 from /healthz, $(num "$stored") stored, worst of 3 | $startup_worst ms | ≤ 200 ms | $(judge "$startup_worst" '<=' 200) |"
  if [ -n "${R[pg.rounds]}" ]; then
    echo "| PostgreSQL ÷ pgbench at 64, mean of rounds | $pg_ratio | ≥ 0.90 | $(judge "$pg_ratio" '>=' 0.9) |"
  else
    echo "| PostgreSQL ÷ pgbench at 64 | skipped: $pg_skipped | ≥ 0.90 | |"
  fi
  echo
  echo "## Inviting over HTTP: usher beside better-auth"
  echo
  echo "wrk -t2, ${seconds} s, a distinct address per request, each run on a fresh server and store."
  echo "Usher: \`POST /api/apps/{app}/runtime/users/invite-user\` with an API key (bench/invite.lua) on"
  echo "SQLite with file mail, the delivery worker writing every email meanwhile. better-auth: its"
  echo "organization plugin's \`POST /api/auth/organization/invite-member\` as the owner (bench/better_auth/),"
  echo "wrk --timeout 10s. RSS sampled every 100 ms; CPU is the server's utime + stime over the run, in % of one core."
  echo
  echo "| server | connections | invites/s | p50 ms | p99 ms | RSS idle | RSS peak | CPU | errors |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  invite_row usher 16 usher16
  invite_row better-auth 16 ba16
  invite_row usher 64 usher64
  invite_row better-auth 64 ba64
  echo
  echo "usher / better-auth: **${ratio16}×** at 16 connections, **${ratio64}×** at 64."
  echo
  echo "## p99 at a steady ~2,000 invites/s"
  echo
  echo "An approximation: wrk has no fixed-rate mode, so bench/invite_paced.lua (one wrk thread, 32"
  echo "connections) gives each request the next free slot of a 0.5 ms grid through wrk's \`delay()\`"
  echo "hook. It is still a closed loop: latency counts from the write, not from the slot, and a slot"
  echo "with no free connection is skipped."
  echo
  echo "| achieved invites/s | p50 ms | p99 ms | RSS idle | RSS peak | CPU | errors |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  echo "| $(num "${R[paced.rate]}") | ${R[paced.p50]} | ${R[paced.p99]} | $(mib "${R[paced.idle]}") | $(mib "${R[paced.peak]}") | ${R[paced.cpu]}% | ${R[paced.errors]} |"
  echo
  echo "## $(num "$stored") invitations stored"
  echo
  echo "Filled through the product: \`usher invite --csv\` with $(num "$stored") rows against \`usher serve\` with"
  echo "mail to the log transport took ${R[fill.import_s]} s ($(num "$(awk -v n="$stored" -v s="${R[fill.import_s]}" 'BEGIN { print n / s }')") rows/s); the delivery worker had emptied the outbox"
  echo "${R[fill.total_s]} s after the start (watched read-only through the outbox_messages table)."
  echo "The database is then ${R[fill.db_mib]} MiB. The server is restarted on it with file mail for what follows."
  echo
  echo "| store | connections | invites/s | p50 ms | p99 ms | RSS idle | RSS peak | CPU | errors |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  invite_row empty 64 usher64
  invite_row "$(num "$stored") stored" 64 store64
  echo
  echo "Filled ÷ empty: **$store_ratio**."
  echo
  echo "Start of \`usher serve\` to its first 200 from \`/healthz\` (polled every 2 ms), three starts:"
  echo "${R[startup.ms]// / ms, } ms (best $startup_best ms, worst $startup_worst ms)."
  echo
  echo "## Join burst"
  echo
  echo "$(num "$joiners") invitations, their tokens read from the emails in the mail directory; wrk -t2 -c64"
  echo "${seconds} s posts the join form (token, name, password: an argon2 hash each) with bench/join.lua,"
  echo "each token once."
  echo
  echo "| joins/s | joins | p50 ms | p99 ms | RSS before | RSS peak | CPU | errors |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  echo "| $(num "${R[join.rate]}") | $(num "${R[join.requests]}") | ${R[join.p50]} | ${R[join.p99]} | $(mib "${R[join.idle]}") | $(mib "${R[join.peak]}") | ${R[join.cpu]}% | ${R[join.errors]} |"
  if [ "${R[join.left]:-0}" = 0 ]; then
    echo
    echo "The tokens ran out before the end of the run: joins/s is a lower bound."
  fi
  echo
  echo "## PostgreSQL beside pgbench"
  echo
  if [ -n "${R[pg.rounds]}" ]; then
    echo "\`bench/postgres.sh ${pg_args[*]}\` (connections, seconds, rounds):"
    echo
    echo '```'
    printf '%s\n' "${R[pg.rounds]}"
    echo '```'
    echo
    echo "Mean ratio: **$pg_ratio**."
  else
    echo "Skipped: $pg_skipped."
  fi
  echo
  echo "## Other processes"
  echo
  echo "CPU used by everything but the server and wrk during each load (the machine's user + system"
  echo "time less theirs, in % of one core). More than a few % means something else ran meanwhile"
  echo "and that load's figures are disturbed. bench/postgres.sh's rounds are not covered."
  echo
  echo "| load | $(printf '%s | ' "${loads[@]}")"
  echo "| --- | $(printf -- '--- | %.0s' "${loads[@]}")"
  echo "| others' CPU | $(for n in "${loads[@]}"; do printf '%s%% | ' "${R[$n.others]}"; done)"
}

usher_invites
usher_paced
better_auth_invites
fill_store
store_startup
store_invites
join_burst
postgres

report > "$work/report.md"
cat "$work/report.md"
[ -z "$out" ] || cp "$work/report.md" "$out"
