#!/usr/bin/env python3
"""Regenerates v4.json from the official COS v4 Python SDK.

The SDK is `qcloud-cos-v4` 0.0.9 on PyPI (`qcloud_cos/cos_auth.py`,
`Auth.app_sign`). It is Python 2 only and its setup.py refuses Python 3, so
this script fetches the sdist from PyPI's simple index, reads cos_auth.py, and
applies the minimal Python 3 port that gusibi's fork (used by the 2017 seed)
made: the same algorithm, with bytes where Python 2 had str. Each replacement
must match exactly once, so a different SDK file fails loudly. Before writing
anything it checks that the ported SDK reproduces the vector published in the
foundation issue, which was computed with the unported SDK.

Time and randomness are frozen by patching `time.time` and `random.randint`.

Usage: python3 tests/vectors/generate_v4.py > tests/vectors/v4.json
"""
import hashlib
import io
import json
import re
import sys
import tarfile
import types
import urllib.parse
import urllib.request

PACKAGE, VERSION = "qcloud-cos-v4", "0.0.9"
SDIST = f"qcloud_cos_v4-{VERSION}.tar.gz"

PORT = [
    # Python 2's urllib.quote is urllib.parse.quote in Python 3; both keep
    # letters, digits and _.- always, plus the given safe characters.
    ("import urllib\n", "import urllib.parse\n"),
    ("urllib.quote(cos_path.encode('utf8'), '~/')", "urllib.parse.quote(cos_path.encode('utf8'), '~/')"),
    # str vs bytes: Python 2 formatted byte strings; keep text and encode once.
    ("bucket = bucket.encode('utf8')", "bucket = bucket"),
    ("secret_id = self.cred.get_secret_id().encode('utf8')", "secret_id = self.cred.get_secret_id()"),
    ("hmac.new(secret_key, plain_text, hashlib.sha1)", "hmac.new(secret_key, plain_text.encode('utf8'), hashlib.sha1)"),
    ("sign_hex = hmac_digest + plain_text", "sign_hex = hmac_digest + plain_text.encode('utf8')"),
    ("return sign_base64", "return sign_base64.decode('ascii')"),
]

ISSUE_VECTOR = "uEQpPWyKUhOY6IYcDyudWq6QDF5hPTEyNTAwMDAwMDAmaz1BS0lERVhBTVBMRSZlPTE3MDAwMDM2MDAmdD0xNzAwMDAwMDAwJnI9MTIzNDU2Nzg5JmY9LzEyNTAwMDAwMDAvZXhhbXBsZWJ1Y2tldC91cGxvYWRzL2EucG5nJmI9ZXhhbXBsZWJ1Y2tldA=="


def fetch_sdist():
    index = urllib.request.urlopen(f"https://pypi.org/simple/{PACKAGE}/").read().decode()
    url = next(u for u, name in re.findall(r'href="([^"]+)"[^>]*>([^<]+)<', index) if name == SDIST)
    data = urllib.request.urlopen(url).read()
    print(f"{SDIST} sha256 {hashlib.sha256(data).hexdigest()}", file=sys.stderr)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.extractfile(f"qcloud_cos_v4-{VERSION}/qcloud_cos/cos_auth.py").read().decode()


def load_auth_module(source):
    for old, new in PORT:
        assert source.count(old) == 1, f"expected exactly one {old!r} in cos_auth.py"
        source = source.replace(old, new)
    module = types.ModuleType("cos_auth")
    exec(compile(source, "cos_auth.py", "exec"), module.__dict__)
    return module


class Cred:
    def __init__(self, appid, secret_id, secret_key):
        self.appid, self.secret_id, self.secret_key = appid, secret_id, secret_key

    def get_appid(self):
        return self.appid

    def get_secret_id(self):
        return self.secret_id

    def get_secret_key(self):
        return self.secret_key


def sign(module, method, now, nonce, appid, secret_id, secret_key, bucket, cos_path, expired=None):
    module.time.time = lambda: now
    module.random.randint = lambda a, b: nonce
    auth = module.Auth(Cred(appid, secret_id, secret_key))
    if method == "sign_once":
        return auth.sign_once(bucket, cos_path)
    return getattr(auth, method)(bucket, cos_path, expired)


CASES = [
    # name, method, path, expired
    ("issue_sign_more", "sign_more", "/uploads/a.png", 1700003600),
    ("space_in_path", "sign_more", "/uploads/acc1/my photo.png", 1700003600),
    ("cjk_path", "sign_more", "/uploads/acc1/图片/头像.jpg", 1700003600),
    ("plus_parens_tilde", "sign_more", "/uploads/acc1/a+b (1)~v2.png", 1700003600),
    ("directory", "sign_more", "/uploads/acc1", 1700003600),
    ("sign_once", "sign_once", "/uploads/acc1/old.png", None),
    ("sign_download", "sign_download", "/uploads/acc1/a.png", 1700007200),
]


def main():
    module = load_auth_module(fetch_sdist())
    common = dict(now=1700000000, nonce=123456789, appid="1250000000",
                  secret_id="AKIDEXAMPLE", secret_key="secretkey", bucket="examplebucket")
    got = sign(module, "sign_more", cos_path="/uploads/a.png", expired=1700003600, **common)
    assert got == ISSUE_VECTOR, f"ported SDK disagrees with the published vector: {got}"
    vectors = []
    for name, method, path, expired in CASES:
        vectors.append(dict(name=name, method=method, cos_path=path, expired=expired, **common,
                            sign=sign(module, method, cos_path=path, expired=expired, **common)))
    json.dump({
        "source": f"{PACKAGE} {VERSION} (PyPI), qcloud_cos/cos_auth.py Auth.app_sign, Python 3 port as in generate_v4.py",
        "vectors": vectors,
    }, sys.stdout, ensure_ascii=False, indent=2)
    print()


if __name__ == "__main__":
    main()
