#!/usr/bin/env python3
"""The 2017 mini-program's flow against a running cosgate, checked with
nothing of cosgate's own: PyJWT mints the tokens, Python's hmac verifies the
v4 signature with the COS secret key.

Usage: seed_flow.py BASE_URL   (JWT_SECRET, JWT_ISSUER, JWT_AUDIENCE,
QCOS_SECRET_KEY, QCOS_SECRET_ID, QCOS_APPID, QCOS_BUCKET_NAME from the
environment). Prints one line per check and a closing "N passed, N failed".
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import jwt

BASE = sys.argv[1].rstrip("/")
ENV = os.environ
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok else ': ' + detail}")


def token(sub="acc1", secret=None, alg="HS256", **overrides):
    now = int(time.time())
    claims = {"iss": ENV["JWT_ISSUER"], "aud": ENV["JWT_AUDIENCE"], "sub": sub,
              "iat": now, "exp": now + 600, "scopes": ["open"]}
    claims.update(overrides)
    key = None if alg == "none" else (secret or ENV["JWT_SECRET"])
    return jwt.encode(claims, key, algorithm=alg)


def get_config(tok, cos_path=None, scheme="JWT"):
    url = f"{BASE}/v1/qc_cos/config"
    if cos_path is not None:
        url += "?cos_path=" + urllib.parse.quote(cos_path, safe="/")
    req = urllib.request.Request(url, headers={"Authorization": f"{scheme} {tok}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def post_as_client(path, body, query=""):
    client_id, secret = ENV["OAUTH_CLIENTS"].split(",")[0].split(":", 1)
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    req = urllib.request.Request(f"{BASE}{path}{query}", data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Basic {basic}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def login_flow():
    """The 2017 client's login form (development code), then its upload signature."""
    body = {"username": "", "password": "", "grant_type": "password", "auth_approach": "wxapp"}
    status, tokens = post_as_client("/auth/oauth/token", body, "?code=dev-seedflow")
    check("the 2017 login form gets 200 tokens", status == 200 and tokens.get("token_type") == "jwt", f"{status} {tokens}")
    claims = jwt.decode(tokens["access_token"], ENV["JWT_SECRET"], algorithms=["HS256"],
                        audience=ENV["JWT_AUDIENCE"], issuer=ENV["JWT_ISSUER"])
    check("the access token verifies with PyJWT", claims["sub"] == tokens["account_id"] and "open" in claims["scopes"])
    status, body = get_config(tokens["access_token"])
    check("the login's token signs its own directory", status == 200 and body["cos_path"] == f"/uploads/{tokens['account_id']}", f"{status} {body}")
    status, fresh = post_as_client("/auth/oauth/token/refresh", {"refresh_token": tokens["refresh_token"]})
    check("the refresh token rotates", status == 200 and fresh["refresh_token"] != tokens["refresh_token"], f"{status}")
    status, body = post_as_client("/auth/oauth/token/refresh", {"refresh_token": tokens["refresh_token"]})
    check("a replayed refresh token is 401", (status, body.get("error_code")) == (401, "invalid_refresh_token"), f"{status} {body}")


def main():
    status, body = get_config(token(), "/uploads/acc1/photos")
    check("a PyJWT token gets a sign", status == 200 and "sign" in body, f"{status} {body}")
    raw = base64.b64decode(body["sign"])
    digest, plain = raw[:20], raw[20:]
    expected = hmac.new(ENV["QCOS_SECRET_KEY"].encode(), plain, hashlib.sha1).digest()
    check("the sign's HMAC-SHA1 verifies with QCOS_SECRET_KEY", hmac.compare_digest(digest, expected))
    fields = [kv.split("=", 1) for kv in plain.decode().split("&")]
    check("fields are a,k,e,t,r,f,b in order", [k for k, _ in fields] == list("aketrfb"), plain.decode())
    f = dict(fields)
    check("a= is the APPID", f.get("a") == ENV["QCOS_APPID"])
    check("k= is the SecretId", f.get("k") == ENV["QCOS_SECRET_ID"])
    check("f= is /appid/bucket/dir", f.get("f") == f"/{ENV['QCOS_APPID']}/{ENV['QCOS_BUCKET_NAME']}/uploads/acc1/photos", f.get("f"))
    check("b= is the bare bucket", f.get("b") == ENV["QCOS_BUCKET_NAME"])
    check("e - t is the TTL", int(f["e"]) - int(f["t"]) == int(ENV.get("QCOS_SIGN_TTL", "3600")))
    check("the Bearer scheme works too", get_config(token(), "/uploads/acc1", scheme="Bearer")[0] == 200)

    now = int(time.time())
    refused = {
        "expired": token(iat=now - 7200, exp=now - 3600),
        "wrong secret": token(secret="x" * 40),
        "alg none": token(alg="none"),
        "alg HS512": token(alg="HS512"),
        "wrong issuer": token(iss="someone-else"),
        "wrong audience": token(aud="someone-else"),
    }
    for name, tok in refused.items():
        status, body = get_config(tok, "/uploads/acc1")
        check(f"{name} token is 401 invalid_token", (status, body.get("error_code")) == (401, "invalid_token"), f"{status} {body}")

    status, body = get_config(token(), "/uploads/acc1/../acc2")
    check("`..` is 400 invalid_path", (status, body.get("error_code")) == (400, "invalid_path"), f"{status} {body}")
    status, body = get_config(token(), "/uploads/acc2")
    check("another account's directory is 403 path_not_allowed", (status, body.get("error_code")) == (403, "path_not_allowed"), f"{status} {body}")

    if "OAUTH_CLIENTS" in ENV:
        login_flow()

    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
