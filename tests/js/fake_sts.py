#!/usr/bin/env python3
"""A fake Tencent Cloud STS on loopback, written apart from cosgate's code:
it verifies each request's TC3-HMAC-SHA256 signature the way Tencent's
"Signature v3" document describes, checks the CAM policy of
GetFederationToken (API 3.0, Version 2018-08-13), and issues credentials.

The temporary credentials can be checked by another process without shared
state: TmpSecretKey = hex(HMAC-SHA256(SEED, TmpSecretId)), and the Token is
base64 of {"id", "policy", "expires", "mac"}, the mac an HMAC of the rest.

The federation Name chooses a misbehaviour, for the error tests:
  cg-sts-auth-*     AuthFailure.SecretIdNotFound
  cg-sts-limit-*    LimitExceeded
  cg-sts-slow-*     answers after 3 s (longer than cosgate waits)
  cg-sts-garbage-*  an HTML page
  cg-sts-flaky-*    InternalError the first time, then credentials

GET /calls?name=N answers how many GetFederationToken calls named N came.

Usage: fake_sts.py SECRET_ID SECRET_KEY SEED [PORT]   (prints the port it listens on)
"""
import base64
import hashlib
import hmac
import json
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

SECRET_ID, SECRET_KEY, SEED = sys.argv[1], sys.argv[2], sys.argv[3].encode()
calls = Counter()


def hmac256(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def tc3_signature(secret_key, timestamp, service, canonical_request):
    date = datetime.fromtimestamp(int(timestamp), tz=timezone.utc).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(["TC3-HMAC-SHA256", str(timestamp), scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = hmac256(hmac256(hmac256(("TC3" + secret_key).encode(), date), service), "tc3_request")
    return scope, hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def check_signature(headers, body):
    """None if the request is signed by SECRET_ID/SECRET_KEY, else why not."""
    auth = headers.get("Authorization", "")
    if not auth.startswith("TC3-HMAC-SHA256 "):
        return "AuthFailure.SignatureFailure"
    parts = dict(p.strip().split("=", 1) for p in auth[len("TC3-HMAC-SHA256 "):].split(","))
    credential, signed_headers = parts.get("Credential", ""), parts.get("SignedHeaders", "")
    secret_id = credential.split("/", 1)[0]
    if secret_id != SECRET_ID:
        return "AuthFailure.SecretIdNotFound"
    timestamp = headers.get("X-TC-Timestamp", "0")
    if abs(int(timestamp) - time.time()) > 300:
        return "AuthFailure.SignatureExpire"
    names = signed_headers.split(";")
    canonical_headers = "".join(f"{n}:{headers.get(n, '').strip().lower()}\n" for n in names)
    canonical_request = "\n".join(["POST", "/", "", canonical_headers, signed_headers,
                                   hashlib.sha256(body).hexdigest()])
    scope, expected = tc3_signature(SECRET_KEY, timestamp, "sts", canonical_request)
    if credential != f"{SECRET_ID}/{scope}" or not hmac.compare_digest(expected, parts.get("Signature", "")):
        return "AuthFailure.SignatureFailure"
    return None


def check_policy(policy):
    """None if the CAM policy is one cosgate may ask for, else why not."""
    if policy.get("version") != "2.0" or not policy.get("statement"):
        return "version 2.0 with statements"
    for st in policy["statement"]:
        if st.get("effect") != "allow":
            return "only allow statements"
        if not all(a.startswith("name/cos:") and "*" not in a for a in st.get("action", [])):
            return "named COS actions only"
        for r in st.get("resource", []):
            # One account's directory below the upload root, or below the
            # upload sessions' root.
            root = "/sessions/" if "/sessions/" in r else "/uploads/"
            head, _, path = r.partition(root)
            if not head.startswith("qcs::cos:") or not path.endswith("/*") or "*" in path[:-2]:
                return f"resource {r} is not one account's directory"
    return None


def issue(policy, duration):
    tmp_id = "AKIDtmp" + uuid.uuid4().hex[:20]
    tmp_key = hmac.new(SEED, tmp_id.encode(), hashlib.sha256).hexdigest()
    expires = int(time.time()) + duration
    claims = {"id": tmp_id, "policy": policy, "expires": expires}
    mac = hmac.new(SEED, json.dumps(claims, sort_keys=True).encode(), hashlib.sha256).hexdigest()
    token = base64.urlsafe_b64encode(json.dumps({**claims, "mac": mac}).encode()).decode()
    return {"Credentials": {"Token": token, "TmpSecretId": tmp_id, "TmpSecretKey": tmp_key},
            "ExpiredTime": expires, "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, code):
        print(f"refused: {code}", file=sys.stderr, flush=True)
        self.answer(200, {"Response": {"Error": {"Code": code, "Message": code}, "RequestId": uuid.uuid4().hex}})

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/calls":
            name = parse_qs(url.query).get("name", [""])[0]
            return self.answer(200, {"calls": calls[name]})
        self.answer(404, {})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        why = check_signature(self.headers, body)  # header names match in any case
        if why:
            return self.error(why)
        if self.headers.get("X-TC-Action") != "GetFederationToken" or self.headers.get("X-TC-Version") != "2018-08-13":
            return self.error("InvalidAction")
        params = json.loads(body)
        name = params.get("Name", "")
        calls[name] += 1
        if name.startswith("cg-sts-auth-"):
            return self.error("AuthFailure.SecretIdNotFound")
        if name.startswith("cg-sts-limit-"):
            return self.error("LimitExceeded")
        if name.startswith("cg-sts-slow-"):
            time.sleep(3)
        if name.startswith("cg-sts-garbage-"):
            return self.answer(200, b"<html>a captive portal</html>", "text/html")
        if name.startswith("cg-sts-flaky-") and calls[name] == 1:
            return self.error("InternalError")
        try:
            policy = json.loads(unquote(params["Policy"]))
        except (KeyError, ValueError):
            return self.error("InvalidParameter.PolicyDecodeError")
        why = check_policy(policy)
        if why:
            print(f"policy refused: {why}", file=sys.stderr, flush=True)
            return self.error("InvalidParameterValue.PolicyInvalid")
        duration = int(params.get("DurationSeconds", 1800))
        if not 1 <= duration <= 7200:
            return self.error("InvalidParameter.DurationSeconds")
        self.answer(200, {"Response": {**issue(policy, duration), "RequestId": uuid.uuid4().hex}})

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[4]) if len(sys.argv) > 4 else 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
