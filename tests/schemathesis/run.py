"""Generated requests against a real `usher serve`, from the server's own OpenAPI document.

Starts USHER_BIN on a free port with a fresh database (SQLite in a temporary directory, or
the empty PostgreSQL database --database-url names), creates an app, lets a member join it
through an invitation, then runs schemathesis (https://schemathesis.io) twice within a time
budget: once with the app's API key, once with the member's access token, with the `{app_id}`
of every route set to the app's id. Fails on any 5xx answer (schemathesis's
`not_a_server_error` check), on any JSON answer that does not match the schema the document
gives it (`response_schema_conformance`), or when the server no longer answers GET /healthz at the end or
has exited. Prints the server's log tail on failure.

Usage: run.py USHER_BIN [--database-url URL] [--max-time SECONDS] [--max-examples N]
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PASSWORD = "correct horse battery staple"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, token=None, body=None):
    """Sends one request; returns (status, parsed JSON body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, None


def wait_for(what, predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise SystemExit("schemathesis run: timed out waiting for " + what)


def healthy(base):
    try:
        return call("GET", base + "/healthz")[0] == 200
    except OSError:
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("usher_bin")
    parser.add_argument("--database-url")
    parser.add_argument("--max-time", type=int, default=30, help="seconds per credential")
    parser.add_argument("--max-examples", type=int, default=40, help="test cases per operation and phase")
    args = parser.parse_args()
    st = os.path.join(os.path.dirname(sys.executable), "st")

    work = tempfile.mkdtemp(prefix="usher-schemathesis-")
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    env = dict(os.environ)
    env.update(
        DATABASE_URL=args.database_url or "sqlite://%s/usher.db?mode=rwc" % work,
        USHER_LISTEN="127.0.0.1:%d" % port,
        USHER_PUBLIC_URL=base,
        USHER_MAIL_URL="file://%s/mail" % work,
        RUST_LOG="info",
    )
    created = subprocess.run(
        [args.usher_bin, "app", "create", "--name", "Fuzzed", "--app-url", "https://fuzzed.example.test/", "--json"],
        env=env, check=True, capture_output=True, text=True,
    )
    app = json.loads(created.stdout)
    app_id, api_key = app["app_id"], app["api_key"]

    log_path = os.path.join(work, "serve.log")
    log = open(log_path, "w")
    server = subprocess.Popen(
        [args.usher_bin, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    failed = True
    try:
        wait_for("the server to answer /healthz", lambda: healthy(base), 60)
        status, _ = call("POST", "%s/api/apps/%s/runtime/users/invite-user" % (base, app_id), api_key,
                         {"user_email": "fuzzed-member@example.com", "role": "user"})
        assert status == 200, "invite answered %d" % status

        def join_token():
            with open(log_path) as f:
                found = re.search(r"join\?token=(inv_[0-9a-f]+)", f.read())
            return found and found.group(1)

        token = wait_for("the join link in the log", join_token, 30)
        status, joined = call("POST", "%s/api/apps/%s/invitations/accept" % (base, app_id), None,
                              {"token": token, "full_name": "Fuzzed Member", "password": PASSWORD})
        assert status == 200, "accept answered %d" % status
        member_token = joined["access_token"]

        env["USHER_APP_ID"] = app_id
        results = {}
        for name, credential in (("API key", api_key), ("member", member_token)):
            print("\n--- schemathesis as the %s (at most %d s)" % (name, args.max_time), flush=True)
            run = subprocess.run(
                [st, "--config-file", os.path.join(HERE, "schemathesis.toml"), "run", base + "/api/openapi.json",
                 "--header", "Authorization: Bearer " + credential,
                 "--max-time", str(args.max_time), "--max-examples", str(args.max_examples),
                 "--checks", "not_a_server_error,response_schema_conformance", "--workers", "2", "--seed", "44",
                 "--report", "junit", "--report-dir", os.path.join(work, "report-" + name.replace(" ", "-"))],
                env=env,
            )
            results[name] = run.returncode
        alive = server.poll() is None and healthy(base)
        print("\nschemathesis: %s; server alive at the end: %s" % (
            ", ".join("as the %s: %s" % (k, "no 5xx, every answer as documented" if v == 0 else "FAILED (exit %d)" % v) for k, v in results.items()),
            "yes" if alive else "NO"))
        failed = not alive or any(code != 0 for code in results.values())
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        log.close()
        if failed:
            with open(log_path) as f:
                tail = f.readlines()[-40:]
            print("\n--- the server's log, last lines\n" + "".join(tail), file=sys.stderr)
            print("reports and the whole log are in " + work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
