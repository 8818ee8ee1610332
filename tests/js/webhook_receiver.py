#!/usr/bin/env python3
"""An app's backend receiving cosgate's upload events, built on the official
`standardwebhooks` package (PyPI), not on anything of cosgate's: every
request to POST /hook is verified with `Webhook(secret).verify`, and what
arrived is recorded by `webhook-id`.

What it answers is scripted: POST /__plan {"statuses": [500, 500, 500],
"default": 200, "delay_ms": 0} answers the next verified deliveries with the
listed statuses, then with `default`, each after `delay_ms`. Unverified
requests get 400 and are counted as `invalid`. A 3xx answer points to
/__redirected, which answers 200 to anything and counts `redirected`.

GET /__log returns what arrived: `attempts` (id, type, status answered),
`delivered` (id -> how many times it was answered 2xx), `events` (id -> the
verified body), `invalid`, and `overlaps` (deliveries of an id that arrived
while another delivery of the same id was still in progress: two replicas
delivering one event at once).

GET /__last is the last verified delivery as it arrived: {"body", "headers"}.

POST /__selfcheck takes the last verified delivery and shows the library
refusing it tampered, re-signed with an old timestamp, and checked with
another secret (and, given OLD_SECRET, checked with that one); it answers
what the library said for each.

Usage: webhook_receiver.py SECRET [PORT [OLD_SECRET]]   (prints the port it listens on)
"""
import base64
import json
import os
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET = sys.argv[1]
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 0
# A secret being retired, whose signature must be on every delivery too.
OLD_SECRET = sys.argv[3] if len(sys.argv) > 3 else None
hook = Webhook(SECRET)
lock = threading.Lock()
plan = {"statuses": [], "default": 200, "delay_ms": 0}
log = {"attempts": [], "delivered": {}, "events": {}, "invalid": 0, "overlaps": 0, "redirected": 0}
in_flight = {}
last = {}


def verify_with(webhook, body, headers):
    try:
        webhook.verify(body, headers)
        return "accepted"
    except WebhookVerificationError as e:
        return f"refused: {e}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, body=b""):
        self.send_response(status)
        if status in (301, 302, 303, 307, 308):
            self.send_header("Location", "/__redirected")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def redirected(self):
        with lock:
            log["redirected"] += 1
        self.reply(200)

    def do_GET(self):
        if self.path == "/__redirected":
            return self.redirected()
        if self.path == "/__log":
            with lock:
                return self.reply(200, json.dumps(log).encode())
        if self.path == "/__last":
            with lock:
                return self.reply(200, json.dumps(last).encode())
        self.reply(404)

    def do_POST(self):
        body = self.body()
        if self.path == "/__plan":
            with lock:
                plan.update(json.loads(body))
            return self.reply(204)
        if self.path == "/__selfcheck":
            return self.selfcheck()
        if self.path == "/__redirected":
            return self.redirected()
        if self.path != "/hook":
            return self.reply(404)
        headers = {k: v for k, v in self.headers.items()}
        try:
            event = hook.verify(body, headers)
        except WebhookVerificationError as e:
            with lock:
                log["invalid"] += 1
            return self.reply(400, json.dumps({"error": str(e)}).encode())
        msg_id = self.headers["webhook-id"]
        with lock:
            in_flight[msg_id] = in_flight.get(msg_id, 0) + 1
            if in_flight[msg_id] > 1:
                log["overlaps"] += 1
            status = plan["statuses"].pop(0) if plan["statuses"] else plan["default"]
            delay = plan["delay_ms"] / 1000
            last.update(body=body.decode(), headers=headers)
        time.sleep(delay)
        with lock:
            in_flight[msg_id] -= 1
            log["attempts"].append({"id": msg_id, "type": event["type"], "status": status})
            if 200 <= status < 300:
                log["delivered"][msg_id] = log["delivered"].get(msg_id, 0) + 1
                log["events"][msg_id] = event
        self.reply(status)

    def selfcheck(self):
        with lock:
            body, headers = last["body"], dict(last["headers"])
        tampered = body.replace('"size_bytes":', '"size_bytes":1', 1)
        old = datetime.now(tz=timezone.utc) - timedelta(minutes=10)
        old_headers = dict(headers)
        old_headers["webhook-timestamp"] = str(int(old.timestamp()))
        old_headers["webhook-signature"] = hook.sign(headers["webhook-id"], old, body)
        other = Webhook("whsec_" + base64.b64encode(os.urandom(32)).decode())
        result = {
            "original": verify_with(hook, body, headers),
            "tampered": verify_with(hook, tampered, headers),
            "old_timestamp": verify_with(hook, body, old_headers),
            "wrong_secret": verify_with(other, body, headers),
        }
        if OLD_SECRET:
            result["old_secret"] = verify_with(Webhook(OLD_SECRET), body, headers)
        self.reply(200, json.dumps(result).encode())

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
