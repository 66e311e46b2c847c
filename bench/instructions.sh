#!/usr/bin/env bash
# CPU instructions a build spends per invite, counted by valgrind's callgrind: unlike invites/s,
# the count does not move with what else the machine is doing, so two builds can be compared to
# the percent on a noisy machine. Each build serves a fresh SQLite store (mail to files); the
# counters are zeroed once it answers, N invites are sent one after another over one keep-alive
# connection, the mail worker is given time to deliver them, and the counters are read.
# Needs valgrind (Debian: valgrind).
# Usage: bench/instructions.sh [N] BIN…   (N: invites per build, default 2000)
set -euo pipefail
count=2000
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then count="$1"; shift; fi
[ $# -ge 1 ] || { echo "usage: bench/instructions.sh [N] BIN…" >&2; exit 2; }
work="$(mktemp -d)"
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# invite PORT APP KEY N: N invites of distinct addresses, one after another.
invite() {
  python3 - "$@" <<'EOF'
import http.client, json, sys
port, app, key, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
conn = http.client.HTTPConnection("127.0.0.1", int(port))
headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
for i in range(n):
    body = json.dumps({"user_email": f"person{i}@example.com", "role": "user"})
    conn.request("POST", f"/api/apps/{app}/runtime/users/invite-user", body, headers)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"invite {i} answered {response.status}")
EOF
}

echo "| build | instructions per invite | mails delivered |"
echo "| --- | --- | --- |"
for bin in "$@"; do
  dir="$work/$(basename "$bin").$RANDOM"
  mkdir -p "$dir"
  port="$(free_port)"
  DATABASE_URL="sqlite://$dir/usher.db?mode=rwc" USHER_LISTEN="127.0.0.1:$port" USHER_MAIL_URL="file://$dir/mail" \
    RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" "$(realpath "$bin")" serve \
    > "$dir/serve.out" 2> "$dir/serve.err" &
  server=$!
  until curl -fsS "http://127.0.0.1:$port/healthz" > /dev/null 2>&1; do sleep 0.2; done
  app="$(awk '/app id/ {print $3; exit}' "$dir/serve.out")"
  key="$(grep -o 'usk_[0-9a-f]*' "$dir/serve.out" | head -1)"
  sleep 2
  callgrind_control -z "$server" > /dev/null 2>&1
  invite "$port" "$app" "$key" "$count"
  until [ "$(find "$dir/mail" -type f | wc -l)" -ge "$count" ]; do sleep 0.5; done
  sleep 2
  callgrind_control -d "$server" > /dev/null 2>&1
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
  # The dump after the zeroing is the highest-numbered part file.
  part="$(ls "$dir"/callgrind.out.* | sort -t. -k3 -n | tail -1)"
  total="$(awk '/^summary:/ {print $2}' "$part")"
  echo "| $bin | $((total / count)) | $(find "$dir/mail" -type f | wc -l) |"
done
