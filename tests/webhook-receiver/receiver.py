#!/usr/bin/env python3
"""A webhook receiver for tests/webhooks.rs.

Every delivery is verified with the reference Standard Webhooks library
(PyPI `standardwebhooks`), never with the gateway's own code, against each
secret the test has told it; what it got is kept for the test to read.

    receiver.py --port PORT     prints "ready" once it listens

Control (JSON over loopback HTTP, from the test):
    POST /_control {"secrets": [...]}            secrets to verify with
    POST /_control {"answers": [{...}, ...]}     answers for the next deliveries,
                                                 one each, then "default"
    POST /_control {"default": {...}}            the answer after those
        an answer: {"status": 204, "retry_after": "1", "sleep": 0.0}
    GET  /_received                              every delivery, in arrival order
"""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

LOCK = threading.Lock()
STATE = {"secrets": [], "answers": [], "default": {"status": 204}, "received": []}


class Handler(BaseHTTPRequestHandler):
    # Keep-alive, as the gateway's client expects.
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path != "/_received":
            return self.reply(404)
        with LOCK:
            body = json.dumps(STATE["received"]).encode()
        self.reply(200, body, [("Content-Type", "application/json")])

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/_control":
            with LOCK:
                STATE.update(json.loads(body))
            return self.reply(204)
        headers = {k.lower(): v for k, v in self.headers.items()}
        with LOCK:
            secrets = list(STATE["secrets"])
            answer = STATE["answers"].pop(0) if STATE["answers"] else STATE["default"]
        verified = []
        for index, secret in enumerate(secrets):
            try:
                Webhook(secret).verify(body, headers)
                verified.append(index)
            except WebhookVerificationError:
                pass
        record = {
            "path": self.path,
            "webhook_id": headers.get("webhook-id"),
            "timestamp": headers.get("webhook-timestamp"),
            "signature": headers.get("webhook-signature"),
            "content_type": headers.get("content-type"),
            "body": body.decode(),
            "verified_with": verified,
            "answered": answer.get("status", 204),
            "at": time.time(),
        }
        with LOCK:
            STATE["received"].append(record)
        if answer.get("sleep"):
            time.sleep(answer["sleep"])
        extra = []
        if "retry_after" in answer:
            extra.append(("Retry-After", answer["retry_after"]))
        self.reply(answer.get("status", 204), b"", extra)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
