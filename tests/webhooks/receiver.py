"""A webhook receiver for the tests: verifies every delivery with the independent
`standardwebhooks` library (PyPI) and records what it got.

POST /_config {"secret": "whsec_...", "fail": N}   set the secret; answer 500 to the next N deliveries
POST /_config {"hold": true|false}                 while true, deliveries are recorded (answered: null) and
                                                   left unanswered, in flight; false releases them (503)
POST /hook                                         a delivery: verified, recorded, 204 (or 500 while failing)
GET  /_received                                    [{"id", "type", "verified", "answered", "payload"}...]

Prints "listening PORT" once it accepts connections.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

state = {"secret": None, "fail": 0, "received": []}
lock = threading.Lock()
# Set while deliveries are answered; cleared while they are held.
released = threading.Event()
released.set()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, status, body=b""):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            body = json.dumps(state["received"]).encode()
        self._answer(200, body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/_config":
            config = json.loads(body)
            with lock:
                if "secret" in config:
                    state["secret"] = config["secret"]
                    state["fail"] = int(config.get("fail", 0))
            if config.get("hold") is True:
                released.clear()
            elif config.get("hold") is False:
                released.set()
            return self._answer(204)
        headers = {name.lower(): value for name, value in self.headers.items()}
        with lock:
            secret = state["secret"]
        try:
            payload = Webhook(secret).verify(body, headers)
            verified = True
        except Exception as error:  # any failure to verify is recorded, and fails the test
            payload = {"error": str(error)}
            verified = False
        if not released.is_set():
            with lock:
                state["received"].append({
                    "id": headers.get("webhook-id"),
                    "type": payload.get("type"),
                    "verified": verified,
                    "answered": None,
                    "payload": payload,
                })
            released.wait(300)
            try:
                return self._answer(503)
            except OSError:  # the sender went away meanwhile (killed)
                return None
        with lock:
            failing = state["fail"] > 0
            if failing:
                state["fail"] -= 1
            answered = 500 if failing else 204
            state["received"].append({
                "id": headers.get("webhook-id"),
                "type": payload.get("type"),
                "verified": verified,
                "answered": answered,
                "payload": payload,
            })
        self._answer(answered)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
