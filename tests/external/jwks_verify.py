#!/usr/bin/env python3
"""EdDSA access tokens checked with nothing of cosgate's own: PyJWT (with
`cryptography` for Ed25519) fetches `/.well-known/jwks.json`, picks the key by
the token's `kid` and verifies a token from a real WeChat login; a token forged
with HS256 over the published public key is refused by the server.

Usage: jwks_verify.py BASE_URL PUBLIC_KEY_PEM_FILE (OAUTH_CLIENTS, JWT_ISSUER,
JWT_AUDIENCE from the environment). Prints one line per check and a closing
"N passed, N failed"; exits non-zero on any failure.
"""
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request

import jwt
from cryptography.hazmat.primitives import serialization

BASE = sys.argv[1].rstrip("/")
ENV = os.environ
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok else ': ' + detail}")


def call(path, body=None, authorization=None):
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{BASE}{path}", data=data, headers=headers,
                                 method="GET" if body is None else "POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


client_id, secret = ENV["OAUTH_CLIENTS"].split(",")[0].split(":", 1)
basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
status, tokens = call("/auth/oauth/token", {"code": "ci-jwks"}, basic)
check("login through the fake WeChat gets 200", status == 200, f"{status} {tokens}")
access = tokens["access_token"]

header = jwt.get_unverified_header(access)
check("the token says EdDSA and names its key", header.get("alg") == "EdDSA" and bool(header.get("kid")), str(header))

jwks = jwt.PyJWKClient(f"{BASE}/.well-known/jwks.json", cache_jwk_set=False)
signing_key = jwks.get_signing_key_from_jwt(access)
claims = jwt.decode(access, signing_key.key, algorithms=["EdDSA"],
                    audience=ENV["JWT_AUDIENCE"], issuer=ENV["JWT_ISSUER"])
check("PyJWT verifies it with the key from the JWKS", claims["sub"] == tokens["account_id"], str(claims))

with open(sys.argv[2], "rb") as f:
    expected = serialization.load_pem_public_key(f.read())
published = signing_key.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
check("the JWKS key is the operator's public key",
      published == expected.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))

status, account = call("/auth/accounts/self", authorization=f"Bearer {access}")
check("the server accepts its own EdDSA token", status == 200 and account.get("id") == tokens["account_id"],
      f"{status} {account}")

# Algorithm confusion: HS256 with the public key as the HMAC secret. PyJWT
# refuses to do this with a PEM key, so the token is built by hand.
now = int(time.time())
forged_claims = dict(claims, iat=now, exp=now + 600)
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
import hmac, hashlib  # noqa: E401,E402
for what, key in [("raw public key", published), ("public PEM", open(sys.argv[2], "rb").read())]:
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": header["kid"]}).encode())
    body = b64(json.dumps(forged_claims).encode())
    sig = b64(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest())
    status, answer = call("/v1/qc_cos/config", authorization=f"Bearer {head}.{body}.{sig}")
    check(f"HS256 over the {what} is refused", status == 401 and answer.get("error_code") == "invalid_token"
          and "sign" not in answer, f"{status} {answer}")

passed = sum(results)
print(f"{passed} passed, {len(results) - passed} failed")
sys.exit(0 if all(results) else 1)
