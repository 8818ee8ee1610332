#!/usr/bin/env python3
"""A standard OAuth client library (authlib) against cosgate's token
endpoints: it refreshes (RFC 6749 §6, form-encoded, client_secret_basic) and
revokes (RFC 7009) as it would against any OAuth server, and reads RFC 6749's
`error` from the refusals. Nothing of cosgate's own code is used.

Usage: oauth_client.py COSGATE_URL CLIENT_ID CLIENT_SECRET LOGIN_CODE
Prints one JSON line.
"""
import json
import sys

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session

base, client_id, client_secret, code = sys.argv[1:5]
refresh_url = base + "/auth/oauth/token/refresh"
report = {}


def error_of(call):
    try:
        call()
        return "no error"
    except OAuthError as e:
        return e.error


try:
    # cosgate's own grant (a WeChat code) logs in; the rest is standard.
    login = requests.post(base + "/auth/oauth/token", json={"code": code}, auth=(client_id, client_secret))
    report["login_status"] = login.status_code
    tokens = login.json()
    session = OAuth2Session(client_id, client_secret, token=tokens)
    refreshed = session.refresh_token(refresh_url, refresh_token=tokens["refresh_token"])
    report["refreshed"] = bool(refreshed.get("access_token")) and refreshed["refresh_token"] != tokens["refresh_token"]
    report["token_type"] = refreshed.get("token_type")
    # The rotated-out token is refused: RFC 6749's invalid_grant.
    report["reused"] = error_of(lambda: session.refresh_token(refresh_url, refresh_token=tokens["refresh_token"]))
    # Log in again (the reuse above ended that login), then revoke.
    tokens = requests.post(base + "/auth/oauth/token", json={"code": code}, auth=(client_id, client_secret)).json()
    revoked = session.revoke_token(base + "/auth/oauth/revoke", token=tokens["refresh_token"],
                                   token_type_hint="refresh_token")
    report["revoke_status"] = revoked.status_code
    report["after_revoke"] = error_of(lambda: session.refresh_token(refresh_url, refresh_token=tokens["refresh_token"]))
    stranger = OAuth2Session(client_id, "not-the-secret")
    report["wrong_secret"] = error_of(lambda: stranger.refresh_token(refresh_url, refresh_token="x" * 43))
except Exception:  # noqa: BLE001 - the test reads the report
    import traceback
    report["error"] = traceback.format_exc()[-2000:]
print(json.dumps(report))
