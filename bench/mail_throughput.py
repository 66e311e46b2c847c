#!/usr/bin/env python3
"""How fast Usher drains its outbox to a local SMTP server (release build, loopback).

1. Starts `usher serve` with mail pointed at a closed port and invites N distinct addresses
   through the SDK route, so N invitation emails sit in the outbox (their first attempt
   fails; they are then made due again).
2. Starts a local SMTP server (`smtp-sink` from Debian's postfix, or aiosmtpd) and a second
   `usher serve` on the same database that delivers to it.
3. Measures the time from that start until every message is marked sent, and reports
   mails/s. Run it through bench/mail.sh, which builds and installs what it needs.
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port, proc, deadline=30):
    end = time.time() + deadline
    while time.time() < end:
        if proc.poll() is not None:
            sys.exit(f"usher exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.02)
    sys.exit("usher did not become healthy")


def serve(usher, env, port, mail_url, concurrency):
    env = dict(env, USHER_LISTEN=f"127.0.0.1:{port}", USHER_MAIL_URL=mail_url, USHER_MAIL_CONCURRENCY=str(concurrency))
    proc = subprocess.Popen([usher, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_healthy(port, proc)
    return proc


def invite_all(port, app_id, api_key, count, threads=8):
    path = f"/api/apps/{app_id}/runtime/users/invite-user"
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}

    def worker(offset):
        conn = http.client.HTTPConnection("127.0.0.1", port)
        for n in range(offset, count, threads):
            body = json.dumps({"user_email": f"bench{n}@example.com", "role": "user"})
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"invite {n} answered {response.status}")

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def start_sink(kind, port, workdir):
    if kind == "smtp-sink":
        # -u: run as this user; -c: count; backlog 256; no per-message output.
        binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        return subprocess.Popen([binary, "-u", "root", f"127.0.0.1:{port}", "256"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    python = os.environ.get("USHER_TEST_SMTP_PYTHON", "target/smtp-venv/bin/python")
    mail_dir = os.path.join(workdir, "received")
    proc = subprocess.Popen([python, "tests/smtp/server.py", "--port", str(port), "--dir", mail_dir], stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "ready":
        sys.exit("aiosmtpd did not start")
    return proc


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--usher", default="target/release/usher")
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sink", choices=["smtp-sink", "aiosmtpd"], default="smtp-sink")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="usher-bench-")
    db = os.path.join(workdir, "usher.db")
    env = dict(os.environ, DATABASE_URL=f"sqlite://{db}?mode=rwc", USHER_RESEND_INTERVAL="0", RUST_LOG="warn")
    env.pop("USHER_CONFIG", None)
    created = json.loads(subprocess.check_output([args.usher, "app", "create", "--name", "Bench", "--app-url", "https://bench.test/", "--json"], env=env))

    port = free_port()
    seeding = serve(args.usher, env, port, f"smtp://127.0.0.1:{free_port()}?tls=none", args.concurrency)
    started = time.time()
    invite_all(port, created["app_id"], created["api_key"], args.messages)
    print(f"queued {args.messages} invitations in {time.time() - started:.1f} s")
    seeding.terminate()
    seeding.wait()

    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE outbox_messages SET status = 'queued', next_attempt_at = 0, lease_until = NULL, claimed_by = NULL WHERE status IN ('queued', 'sending')")

    smtp_port = free_port()
    sink = start_sink(args.sink, smtp_port, workdir)
    sending = serve(args.usher, env, free_port(), f"smtp://127.0.0.1:{smtp_port}?tls=none", args.concurrency)
    started = time.time()
    reader = sqlite3.connect(db)
    sent = 0
    while sent < args.messages and time.time() - started < 300:
        time.sleep(0.05)
        sent = reader.execute("SELECT count(*) FROM outbox_messages WHERE status = 'sent'").fetchone()[0]
    elapsed = time.time() - started
    sending.terminate()
    sink.terminate()
    sending.wait()
    sink.wait()
    shutil.rmtree(workdir, ignore_errors=True)

    print(f"sink: {args.sink}, concurrency: {args.concurrency}")
    print(f"sent {sent} of {args.messages} in {elapsed:.2f} s (from start, including start-up)")
    print(f"RESULT mails_per_second={sent / elapsed:.0f}")
    if sent < args.messages:
        sys.exit("not every message was sent")


if __name__ == "__main__":
    main()
