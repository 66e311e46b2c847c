#!/usr/bin/env python3
"""Paging the invitation list at a million invitations, on SQLite and on PostgreSQL.

For each backend: a release `usher serve` makes its first app; the server is stopped and the
store is filled by SQL with N invitations (1,000,000 unless `--rows`), each with its email
(a bulk `INSERT … SELECT` over a series, not the API: the point is the read side); then the
server is started again on it and, for each filter of the console's table, the first page and
a deep page (a cursor 90 % of the way through the filter's rows) are fetched from the console
(`/console/apps/{app}/invitations`, 50 rows, with a session from `usher console link`) and
from the API (`GET /api/apps/{app}/invitations?limit=50`, with the first app's key). Each
request is made once to warm up, then `--repeat` times (default 5) on one kept-alive
connection; the median and the slowest are reported, with the rows the page held.

The rows (n = 1 … N, one second apart, the newest about now, 7-day lifetime):
  status   n % 100 < 40 pending (those older than 7 days read expired: about 16 % of all),
           40–94 accepted, 95–99 revoked
  delivery n % 1000 = 5 failed (0.1 %), n % 100 = 3 queued (1 %, due in 2100 so the
           delivery worker leaves them), the rest sent
  address  person{n}@example.com
  expiry   the expired pending ones are marked announced (`expired_event_at`), as the
           server's expiry sweep leaves them

SQLite is measured without ANALYZE (as a server runs it); PostgreSQL after ANALYZE (its
autovacuum would run it within a minute of such a fill).

Usage: bench/invitation_list.py [--rows N] [--repeat R] [--backends sqlite,postgres]
Needs sqlite3 and psql; PG_URL (default postgres://postgres@127.0.0.1:5432) may be used to
create and drop the database usher_list_bench. USHER_BIN runs a given binary instead of
building a release one.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

DAY_MS = 86_400_000
LIFETIME_MS = 7 * DAY_MS
PAGE = 50


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, usher, env, workdir):
        self.usher, self.env, self.workdir = usher, env, workdir
        self.proc = None

    def start(self):
        out = open(os.path.join(self.workdir, "serve.out"), "a")
        err = open(os.path.join(self.workdir, "serve.err"), "a")
        self.proc = subprocess.Popen([self.usher, "serve"], env=self.env, stdout=out, stderr=err, cwd=self.workdir)
        port = int(self.env["USHER_LISTEN"].rsplit(":", 1)[1])
        for _ in range(6000):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                sys.exit(f"usher serve exited; see {self.workdir}/serve.err")
            time.sleep(0.05)
        sys.exit("usher serve did not answer /healthz")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def fill_sql(dialect, app, key_id, rows, now_ms):
    """One statement per table, in one transaction."""
    t0 = now_ms - rows * 1000
    if dialect == "sqlite":
        hexid = lambda prefix: f"printf('%08x%016x', {prefix}, value)"
        series, n = f"generate_series(1, {rows})", "value"
    else:
        hexid = lambda prefix: f"lpad(to_hex({prefix}), 8, '0') || lpad(to_hex(value), 16, '0')"
        series, n = f"generate_series(1, {rows}) AS value", "value"
    created = f"({t0} + {n} * 1000)"
    message_status = f"CASE WHEN {n} % 1000 = 5 THEN 'failed' WHEN {n} % 100 = 3 THEN 'queued' ELSE 'sent' END"
    status = f"CASE WHEN {n} % 100 < 40 THEN 'pending' WHEN {n} % 100 < 95 THEN 'accepted' ELSE 'revoked' END"
    messages = f"""
INSERT INTO outbox_messages (id, app_id, kind, recipient, invitation_id, role, inviter_name, token, expires_at,
                             status, attempts, next_attempt_at, last_error, sent_at, created_at)
SELECT {hexid(2)}, '{app}', 'invitation', 'person' || {n} || '@example.com', {hexid(1)}, 'user', 'bench', NULL,
       {created} + {LIFETIME_MS}, {message_status},
       CASE WHEN {n} % 100 = 3 AND {n} % 1000 <> 5 THEN 0 ELSE 1 END,
       CASE WHEN {n} % 100 = 3 AND {n} % 1000 <> 5 THEN 4102444800000 ELSE {created} END,
       CASE WHEN {n} % 1000 = 5 THEN '550 5.1.1 <person' || {n} || '@example.com>: Recipient address rejected' END,
       CASE WHEN {n} % 1000 <> 5 AND {n} % 100 <> 3 THEN {created} + 1000 END,
       {created}
FROM {series};
"""
    invitations = f"""
INSERT INTO invitations (id, app_id, email, role, status, inviter_kind, inviter_id, inviter_name, expires_at,
                         times_sent, last_sent_at, latest_message_id, accepted_at, created_at, updated_at,
                         expired_event_at)
SELECT {hexid(1)}, '{app}', 'person' || {n} || '@example.com', 'user', {status}, 'api_key', '{key_id}', 'bench',
       {created} + {LIFETIME_MS}, 1, {created}, {hexid(2)},
       CASE WHEN {n} % 100 BETWEEN 40 AND 94 THEN {created} + 60000 END, {created}, {created},
       CASE WHEN {n} % 100 < 40 AND {created} + {LIFETIME_MS} <= {now_ms} THEN {created} + {LIFETIME_MS} END
FROM {series};
"""
    # PostgreSQL checks each email's invitation (a foreign key SQLite leaves off by default);
    # either way the triggers of migration 0011 set each invitation's delivery state.
    tables = messages + invitations if dialect == "sqlite" else invitations + messages
    return f"BEGIN;\n{tables}COMMIT;\n"


def matches(n, rows, now_ms, status, delivery):
    t0 = now_ms - rows * 1000
    created = t0 + n * 1000
    r = n % 100
    stored = "pending" if r < 40 else "accepted" if r < 95 else "revoked"
    shown = "expired" if stored == "pending" and created + LIFETIME_MS <= now_ms else stored
    state = "failed" if n % 1000 == 5 else "queued" if r == 3 else "sent"
    return (status is None or shown == status) and (delivery is None or state == delivery)


def deep_cursor(rows, now_ms, status, delivery):
    """The cursor of the row 90 % of the way through the filter's rows, and how many match."""
    matching = [n for n in range(1, rows + 1) if matches(n, rows, now_ms, status, delivery)]
    if len(matching) <= PAGE:
        return None, len(matching)
    n = matching[int(len(matching) * 0.9)]
    return f"{now_ms - rows * 1000 + n * 1000}.{1:08x}{n:016x}", len(matching)


def timed(conn, path, headers, repeat, count):
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        sys.exit(f"GET {path}: {response.status} {body[:300]!r}")
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times), count(body)


def console_cookie(usher, env, port, app):
    link = subprocess.run([usher, "console", "link", "--app", app], env=env, capture_output=True, text=True, check=True)
    token = urllib.parse.parse_qs(urllib.parse.urlparse(link.stdout.strip()).query)["token"][0]
    conn = http.client.HTTPConnection("127.0.0.1", port)
    form = urllib.parse.urlencode({"token": token})
    conn.request("POST", "/console/link", body=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    response.read()
    cookie = response.getheader("Set-Cookie") or sys.exit(f"no session from the sign-in link: {response.status}")
    return cookie.split(";", 1)[0]


def run_backend(name, usher, rows, repeat, pg_url):
    work = tempfile.mkdtemp(prefix=f"usher-list-{name}-")
    port = free_port()
    if name == "sqlite":
        database = f"sqlite://{work}/usher.db?mode=rwc"
    else:
        subprocess.run(["psql", "-q", f"{pg_url}/postgres", "-c", "DROP DATABASE IF EXISTS usher_list_bench WITH (FORCE)",
                        "-c", "CREATE DATABASE usher_list_bench"], check=True)
        database = f"{pg_url}/usher_list_bench"
    env = dict(os.environ, DATABASE_URL=database, USHER_LISTEN=f"127.0.0.1:{port}", USHER_MAIL_URL="log",
               USHER_PUBLIC_URL=f"http://127.0.0.1:{port}", RUST_LOG="warn")
    server = Server(usher, env, work)
    try:
        server.start()
        serve_out = open(os.path.join(work, "serve.out")).read()
        app = re.search(r"app id\s+(\S+)", serve_out).group(1)
        key = re.search(r"usk_[0-9A-Za-z_]+", serve_out).group(0)
        server.stop()

        now_ms = int(time.time() * 1000)
        query = "SELECT id FROM api_keys LIMIT 1"
        if name == "sqlite":
            key_id = subprocess.run(["sqlite3", f"{work}/usher.db", query], capture_output=True, text=True, check=True).stdout.strip()
            shell = ["sqlite3", f"{work}/usher.db"]
        else:
            key_id = subprocess.run(["psql", "-At", database, "-c", query], capture_output=True, text=True, check=True).stdout.strip()
            shell = ["psql", "-q", "-v", "ON_ERROR_STOP=1", database]
        start = time.time()
        subprocess.run(shell, input=fill_sql(name, app, key_id, rows, now_ms), text=True, check=True)
        fill_s = time.time() - start
        if name == "postgres":
            subprocess.run(shell + ["-c", "VACUUM ANALYZE invitations", "-c", "VACUUM ANALYZE outbox_messages"], check=True)
        if name == "sqlite":
            size = os.path.getsize(f"{work}/usher.db") + (os.path.getsize(f"{work}/usher.db-wal") if os.path.exists(f"{work}/usher.db-wal") else 0)
        else:
            size = int(subprocess.run(["psql", "-At", database, "-c", "SELECT pg_database_size(current_database())"],
                                      capture_output=True, text=True, check=True).stdout)
        print(f"## {name}: {rows:,} invitations filled in {fill_s:.0f} s; database {size / 2**20:,.0f} MiB\n", flush=True)

        server.start()
        cookie = console_cookie(usher, env, port, app)
        filters = [
            ("none", None, None, None),
            ("status=pending", "pending", None, None),
            ("status=expired", "expired", None, None),
            ("status=revoked", "revoked", None, None),
            ("delivery=sent", None, "sent", None),
            ("delivery=queued", None, "queued", None),
            ("delivery=failed", None, "failed", None),
            ("status=pending&delivery=failed", "pending", "failed", None),
            ("status=revoked&delivery=failed", "revoked", "failed", None),
            ("email=person777777@example.com", None, None, "person777777@example.com"),
        ]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        console_rows = lambda body: body.count(b'<td class="email">')
        api_rows = lambda body: len(json.loads(body)["items"])
        print("| filter | matching | page | console median (max) ms | rows | API median (max) ms | rows |")
        print("|---|---:|---|---:|---:|---:|---:|")
        for label, status, delivery, email in filters:
            params = {k: v for k, v in (("status", status), ("delivery", delivery), ("email", email)) if v}
            cursor, count = (None, 1) if email else deep_cursor(rows, now_ms, status, delivery)
            pages = [("first", None)] + ([("deep", cursor)] if cursor else [])
            for page, after in pages:
                console_q = dict(params, **({"after": after} if after else {}))
                api_q = dict(params, limit=PAGE, **({"cursor": after} if after else {}))
                c_med, c_max, c_rows = timed(conn, f"/console/apps/{app}/invitations?{urllib.parse.urlencode(console_q)}",
                                             {"Cookie": cookie}, repeat, console_rows)
                a_med, a_max, a_rows = timed(conn, f"/api/apps/{app}/invitations?{urllib.parse.urlencode(api_q)}",
                                             {"Authorization": f"Bearer {key}"}, repeat, api_rows)
                print(f"| {label} | {count:,} | {page} | {c_med:.1f} ({c_max:.1f}) | {c_rows} | {a_med:.1f} ({a_max:.1f}) | {a_rows} |",
                      flush=True)
        print()
    finally:
        server.stop()
        if name == "postgres":
            subprocess.run(["psql", "-q", f"{pg_url}/postgres", "-c", "DROP DATABASE IF EXISTS usher_list_bench WITH (FORCE)"])
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    usher = os.environ.get("USHER_BIN")
    if not usher:
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "usher"], cwd=root, check=True)
        usher = os.path.join(root, "target", "release", "usher")
    usher = os.path.realpath(usher)
    pg_url = os.environ.get("PG_URL", "postgres://postgres@127.0.0.1:5432")
    for backend in args.backends.split(","):
        run_backend(backend, usher, args.rows, args.repeat, pg_url)


if __name__ == "__main__":
    main()
