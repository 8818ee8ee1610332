#!/usr/bin/env python3
"""A loopback stand-in for WeChat's jscode2session during CI's outside checks,
so nothing leaves the machine and fuzzed codes get WeChat's real refusal
(errcode 40029) instead of a timeout. Codes starting with `ci-` log in.

Usage: fake_wechat.py PORT
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlparse(self.path)
        code = parse_qs(url.query).get("js_code", [""])[0]
        if url.path != "/sns/jscode2session":
            body = {"errcode": 40001, "errmsg": "unknown api"}
        elif code.startswith("ci-"):
            body = {"openid": "o-" + code, "session_key": "AAAAAAAAAAAAAAAAAAAAAA=="}
        else:
            body = {"errcode": 40029, "errmsg": "invalid code"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
