#!/usr/bin/env python3
"""A fake COS bucket on loopback that checks v5 signatures the way Tencent's
document 436/7778 describes, written apart from cosgate's signer so the two
check each other.

PUT /key stores the body and its Content-Type (a Content-MD5 must match the
body: 400 BadDigest); GET /key returns it, HEAD /key its size, type and
ETag, DELETE /key removes it; `x-cos-forbid-overwrite: true` refuses a PUT
over an existing object (409 FileAlreadyExists); all need a valid signature,
in the Authorization header or (presigned) in the query string. A body whose
length differs from a signed Content-Length is refused. Multipart uploads
work as COS documents them: GET /?uploads&prefix= (ListMultipartUploads),
POST /key?uploads (initiate), PUT /key?partNumber&uploadId (a part), POST
/key?uploadId (complete, with the parts' XML; each ETag must be the part's;
the object's ETag is the MD5 of the parts' binary MD5s and `-N`, as COS
documents), GET /key?uploadId (ListParts), DELETE /key?uploadId (abort).
POST / takes a browser form
upload (document 436/14690): the policy's signature, its conditions, and its
expiry are checked. A wrong signature is 403 SignatureDoesNotMatch, like COS.
CORS is open, for the browser example.

GET /key?ci-process=sensitive-content-recognition is Cloud Infinite's
image moderation (document 436/48537), signed like any request: it answers
the documented RecognitionResult, judging by the image's bytes: one that
contains SENSITIVE is Result 1 (Label Porn), SUSPICIOUS is Result 2 (Label
Ads), anything else Result 0 (Normal); a non-image is refused as COS
refuses it. A PUT with `x-cos-copy-source: host/key` copies that object.

For tests, unsigned: POST /__debug/fail {"ci": N, "copy": N} makes the next
N moderation calls or copies answer 503 InternalError, as a COS in trouble
would; GET /__debug/state lists the objects and the multipart
uploads in progress; POST /__debug/initiate {"key": "a/b", "age_seconds": N}
starts a multipart upload (with one part) as if a client had started it N
seconds ago, the way an SDK flow outside cosgate's sessions leaves one.

Given a SEED, it also accepts temporary credentials from the fake STS
(tests/js/fake_sts.py, same SEED) as COS documents them: the session token
must come with the request (`x-cos-security-token` header, query parameter
or form field), and the CAM policy inside it is enforced: the operation's
action must be allowed on the key's resource, with its conditions; a copy
needs GetObject on the source too, an ACL header PutObjectACL.

Usage: fake_cos.py SECRET_ID SECRET_KEY [SEED]   (prints the port it listens on)
"""
import base64
import cgi
import hashlib
import hmac
import io
import json
import re
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit

SECRET_ID, SECRET_KEY = sys.argv[1], sys.argv[2]
SEED = sys.argv[3].encode() if len(sys.argv) > 3 else None
objects = {}
types = {}  # path -> the Content-Type it was stored with
etags = {}  # path -> the ETag of an object completed from parts
uploads = {}  # upload id -> {"key": path, "parts": {number: bytes}, "type": content type}
moderated = []  # [key, biz-type] of every moderation call, in order
failing = {}  # "ci" or "copy" -> how many of the next such requests answer 503


def enc(s):
    return quote(s, safe="-_.~")


def hmac_sha1(key, msg):
    return hmac.new(key.encode(), msg.encode(), hashlib.sha1).hexdigest()


def temporary_key(secret_id, token):
    """(secret key, CAM policy) of fake-STS credentials, or (None, why)."""
    if SEED is None or not token:
        return None, "temporary credentials need the session token"
    try:
        claims = json.loads(base64.urlsafe_b64decode(token))
    except ValueError:
        return None, "the session token is not one STS issued"
    mac = claims.pop("mac", "")
    expected = hmac.new(SEED, json.dumps(claims, sort_keys=True).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected) or claims.get("id") != secret_id:
        return None, "the session token is not for these credentials"
    if claims["expires"] < time.time():
        return None, "the temporary credentials have expired"
    return hmac.new(SEED, secret_id.encode(), hashlib.sha256).hexdigest(), claims["policy"]


def allows(policy, action, key, size=None):
    """Whether the CAM policy allows `action` on `key` (of this bucket)."""
    for st in policy["statement"]:
        if st.get("effect") != "allow" or f"name/cos:{action}" not in st.get("action", []):
            continue
        for resource in st.get("resource", []):
            prefix = resource.rsplit(":", 1)[-1].split("/", 1)[1] if "/" in resource.rsplit(":", 1)[-1] else ""
            if not (prefix.endswith("*") and key.startswith(prefix[:-1])):
                continue
            limit = st.get("condition", {}).get("numeric_less_than_equal", {}).get("cos:content-length")
            if limit is not None and (size is None or size > limit):
                continue
            return True
    return False


def check_auth(method, path, query, headers, auth, token=None):
    """(None, policy) if `auth` signs this request, else (why not, None).
    The policy is None for the root key."""
    params = dict(kv.split("=", 1) for kv in auth.split("&") if "=" in kv)
    if params.get("q-sign-algorithm") != "sha1":
        return "wrong algorithm", None
    secret_key, policy = SECRET_KEY, None
    if params.get("q-ak") != SECRET_ID:
        if not params.get("q-ak", "").startswith("AKIDtmp"):
            return "unknown SecretId", None
        secret_key, policy = temporary_key(params["q-ak"], token)
        if secret_key is None:
            return policy, None
    why = check_signature(method, path, query, headers, params, secret_key)
    return why, (policy if why is None else None)


def check_signature(method, path, query, headers, params, secret_key):
    start, end = (int(t) for t in params["q-key-time"].split(";"))
    if not start <= time.time() <= end:
        return "outside the key time"
    lower_headers = {enc(k).lower(): v for k, v in headers.items()}
    lower_query = {enc(k).lower(): v for k, v in query}
    signed_headers, signed_query = [], []
    for name in filter(None, params["q-header-list"].split(";")):
        if name not in lower_headers:
            return f"signed header {name} was not sent"
        signed_headers.append(f"{name}={enc(lower_headers[name])}")
    for name in filter(None, params["q-url-param-list"].split(";")):
        if name not in lower_query:
            return f"signed parameter {name} was not sent"
        signed_query.append(f"{name}={enc(lower_query[name])}")
    http_string = f"{method.lower()}\n{unquote(path)}\n{'&'.join(sorted(signed_query))}\n{'&'.join(sorted(signed_headers))}\n"
    key_time = params["q-key-time"]
    string_to_sign = f"sha1\n{key_time}\n{hashlib.sha1(http_string.encode()).hexdigest()}\n"
    expected = hmac_sha1(hmac_sha1(secret_key, key_time), string_to_sign)
    return None if hmac.compare_digest(expected, params.get("q-signature", "")) else "SignatureDoesNotMatch"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, body=b"", content_type="application/xml", extra=None):
        self.send_response(status)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Expose-Headers", "ETag")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def refuse(self, why):
        print(f"refused {self.command} {self.path.split('?')[0]}: {why}", file=sys.stderr, flush=True)
        code = "SignatureDoesNotMatch" if why == "SignatureDoesNotMatch" else "AccessDenied"
        self.reply(403, f"<Error><Code>{code}</Code><Message>{why}</Message></Error>".encode())

    def action(self, query):
        """The CAM action of this request, and the key it acts on."""
        key = unquote(urlsplit(self.path).path)[1:]
        method = self.command
        if method == "PUT":
            return ("UploadPart" if "partNumber" in query else "PutObject"), key
        if method == "POST":
            return ("InitiateMultipartUpload" if "uploads" in query
                    else "CompleteMultipartUpload" if "uploadId" in query else "PostObject"), key
        if method == "GET":
            if "uploads" in query:
                return "ListMultipartUploads", query.get("prefix", "")
            return ("ListParts" if "uploadId" in query else "GetObject"), key
        if method == "DELETE":
            return ("AbortMultipartUpload" if "uploadId" in query else "DeleteObject"), key
        return "HeadObject", key

    def permitted(self, policy, query, size):
        """None if the CAM policy allows this request, else why not."""
        action, key = self.action(query)
        if not allows(policy, action, key, size if action in ("PutObject", "PostObject") else None):
            return f"AccessDenied: {action} on {key}"
        source = self.headers.get("x-cos-copy-source")
        if source and not allows(policy, "GetObject", unquote(source.split("/", 1)[1])):
            return f"AccessDenied: GetObject on the copy source {source}"
        if any(h.lower() == "x-cos-acl" or h.lower().startswith("x-cos-grant-") for h in self.headers.keys()):
            if not allows(policy, "PutObjectACL", key):
                return "AccessDenied: PutObjectACL"
        return None

    def authorized(self, body=None):
        url = urlsplit(self.path)
        query = parse_qsl(url.query, keep_blank_values=True)
        token = self.headers.get("x-cos-security-token")
        auth = self.headers.get("Authorization")
        if auth is None:
            sign_keys = {"q-sign-algorithm", "q-ak", "q-sign-time", "q-key-time", "q-header-list", "q-url-param-list", "q-signature"}
            auth = "&".join(f"{k}={v}" for k, v in query if k in sign_keys)
            token = token or dict(query).get("x-cos-security-token")
            query = [(k, v) for k, v in query if k not in sign_keys and k != "x-cos-security-token"]
        why, policy = check_auth(self.command, url.path, query, dict(self.headers.items()), auth, token) if auth else ("no signature", None)
        signed = dict(kv.split("=", 1) for kv in (auth or "").split("&") if "=" in kv).get("q-header-list", "")
        if not why and body is not None and "content-length" in signed.split(";"):
            if len(body) != int(self.headers.get("Content-Length", -1)):
                why = "the body's length differs from the signed Content-Length"
        if not why and policy is not None:
            why = self.permitted(policy, dict(query), len(body) if body is not None else None)
        if why:
            self.refuse(why)
        return why is None

    def failing(self, what):
        """Answers 503 if the next `what` request was set to fail."""
        if failing.get(what, 0) > 0:
            failing[what] -= 1
            self.reply(503, b"<Error><Code>InternalError</Code></Error>")
            return True
        return False

    def do_OPTIONS(self):
        self.reply(200, extra={"Access-Control-Allow-Methods": "GET, PUT, POST, HEAD",
                               "Access-Control-Allow-Headers": "*", "Access-Control-Max-Age": "60"})

    def query(self):
        return dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))

    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        query = self.query()
        if "partNumber" in query:
            if self.authorized(body):
                upload = uploads.get(query.get("uploadId"))
                if upload is None or upload["key"] != unquote(urlsplit(self.path).path):
                    return self.reply(404, b"<Error><Code>NoSuchUpload</Code></Error>")
                upload["parts"][int(query["partNumber"])] = body
                self.reply(200, extra={"ETag": f'"{hashlib.md5(body).hexdigest()}"'})
            return
        source = self.headers.get("x-cos-copy-source")
        if source is not None:
            if self.failing("copy"):
                return
            if self.authorized(body):
                from_path = "/" + unquote(source.split("/", 1)[1]) if "/" in source else ""
                if from_path not in objects:
                    return self.reply(404, b"<Error><Code>NoSuchKey</Code></Error>")
                path = unquote(urlsplit(self.path).path)
                objects[path] = objects[from_path]
                types[path] = types.get(from_path, "application/octet-stream")
                etags.pop(path, None)
                print(f"copied {from_path} to {path}", file=sys.stderr, flush=True)
                etag = f'"{hashlib.md5(objects[path]).hexdigest()}"'
                self.reply(200, f"<CopyObjectResult><ETag>{etag}</ETag></CopyObjectResult>".encode())
            return
        if self.authorized(body):
            if self.headers.get("x-cos-forbid-overwrite", "").lower() == "true" and unquote(urlsplit(self.path).path) in objects:
                return self.reply(409, b"<Error><Code>FileAlreadyExists</Code></Error>")
            md5 = self.headers.get("Content-MD5")
            if md5 is not None and md5 != base64.b64encode(hashlib.md5(body).digest()).decode():
                return self.reply(400, b"<Error><Code>BadDigest</Code></Error>")
            path = unquote(urlsplit(self.path).path)
            objects[path] = body
            types[path] = self.headers.get("Content-Type", "application/octet-stream")
            etags.pop(path, None)
            print(f"stored {path} ({len(body)} bytes)", file=sys.stderr, flush=True)
            self.reply(200, extra={"ETag": f'"{hashlib.md5(body).hexdigest()}"'})

    def do_HEAD(self):
        if self.authorized():
            path = unquote(urlsplit(self.path).path)
            if path not in objects:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = objects[path]
            self.send_response(200)
            self.send_header("Content-Type", types.get(path, "application/octet-stream"))
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", etags.get(path, f'"{hashlib.md5(data).hexdigest()}"'))
            self.end_headers()

    def do_DELETE(self):
        query = self.query()
        if not self.authorized():
            return
        path = unquote(urlsplit(self.path).path)
        if "uploadId" in query:
            upload = uploads.get(query["uploadId"])
            if upload is None or upload["key"] != path:
                return self.reply(404, b"<Error><Code>NoSuchUpload</Code></Error>")
            del uploads[query["uploadId"]]
            print(f"aborted {path}", file=sys.stderr, flush=True)
            return self.reply(204)
        if objects.pop(path, None) is not None:
            print(f"deleted {path}", file=sys.stderr, flush=True)
        types.pop(path, None)
        etags.pop(path, None)
        self.reply(204)

    def do_GET(self):
        if self.path == "/__debug/state":
            state = {"objects": sorted(objects), "moderated": moderated, "uploads": [
                {"id": i, "key": u["key"], "parts": len(u["parts"])} for i, u in uploads.items()]}
            return self.reply(200, json.dumps(state).encode(), "application/json")
        query = self.query()
        if query.get("ci-process") == "sensitive-content-recognition":
            if self.failing("ci"):
                return
            if self.authorized():
                path = unquote(urlsplit(self.path).path)
                if path not in objects:
                    return self.reply(404, b"<Error><Code>NoSuchKey</Code></Error>")
                if not types.get(path, "").startswith("image/"):
                    return self.reply(400, b"<Error><Code>InvalidArgument</Code><Message>not an image</Message></Error>")
                moderated.append([path[1:], query.get("biz-type")])
                data = objects[path]
                result, label = (1, "Porn") if b"SENSITIVE" in data else (2, "Ads") if b"SUSPICIOUS" in data else (0, "Normal")
                self.reply(200, (f"<RecognitionResult><JobId>si{uuid.uuid4().hex[:20]}</JobId><State>Success</State>"
                                 f"<Object>{path[1:]}</Object><Result>{result}</Result><Label>{label}</Label>"
                                 f"<Score>{90 if result else 0}</Score><Category></Category><SubLabel></SubLabel>"
                                 f"<PornInfo><HitFlag>{1 if result == 1 else 0}</HitFlag><Score>{90 if result == 1 else 0}</Score></PornInfo>"
                                 f"</RecognitionResult>").encode())
            return
        if "uploadId" in query:
            if self.authorized():
                path = unquote(urlsplit(self.path).path)
                upload = uploads.get(query["uploadId"])
                if upload is None or upload["key"] != path:
                    return self.reply(404, b"<Error><Code>NoSuchUpload</Code></Error>")
                listed = "".join(
                    f"<Part><PartNumber>{n}</PartNumber><ETag>&quot;{hashlib.md5(d).hexdigest()}&quot;</ETag><Size>{len(d)}</Size></Part>"
                    for n, d in sorted(upload["parts"].items()))
                self.reply(200, f"<ListPartsResult><Bucket>examplebucket-1250000000</Bucket><Key>{path[1:]}</Key><UploadId>{query['uploadId']}</UploadId>{listed}<IsTruncated>false</IsTruncated></ListPartsResult>".encode())
            return
        if "uploads" in query:
            if self.authorized():
                prefix = query.get("prefix", "")
                listed = "".join(
                    f"<Upload><Key>{u['key'][1:]}</Key><UploadId>{i}</UploadId><StorageClass>STANDARD</StorageClass><Initiated>{u.get('initiated', '')}</Initiated></Upload>"
                    for i, u in uploads.items() if u["key"][1:].startswith(prefix))
                self.reply(200, f"<ListMultipartUploadsResult><Bucket>examplebucket-1250000000</Bucket><Prefix>{prefix}</Prefix>{listed}</ListMultipartUploadsResult>".encode())
            return
        if self.authorized():
            path = unquote(urlsplit(self.path).path)
            if path in objects:
                self.reply(200, objects[path], types.get(path, "application/octet-stream"))
            else:
                self.reply(404, b"<Error><Code>NoSuchKey</Code></Error>")

    def do_POST(self):
        if self.path == "/__debug/fail":
            failing.update(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
            return self.reply(204)
        if self.path == "/__debug/initiate":
            asked = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            upload_id = uuid.uuid4().hex
            started = time.gmtime(time.time() - asked.get("age_seconds", 0))
            uploads[upload_id] = {"key": "/" + asked["key"], "parts": {1: b"abandoned"},
                                  "initiated": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", started)}
            return self.reply(200, json.dumps({"upload_id": upload_id}).encode(), "application/json")
        query = self.query()
        if "uploads" in query or "uploadId" in query:
            return self.multipart_post(query)
        length = int(self.headers.get("Content-Length", 0))
        env = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": self.headers["Content-Type"], "CONTENT_LENGTH": str(length)}
        form = cgi.FieldStorage(fp=io.BytesIO(self.rfile.read(length)), environ=env, keep_blank_values=True)
        fields = {k: form.getfirst(k) for k in form.keys() if k != "file"}
        file = form["file"] if "file" in form else None
        data = file.file.read() if file is not None else b""
        key = fields.get("key", "").replace("${filename}", file.filename if file is not None else "")
        policy_text = base64.b64decode(fields.get("policy", "")).decode()
        key_time = fields.get("q-key-time", "0;0")
        secret_key, cam = SECRET_KEY, None
        if fields.get("q-ak") != SECRET_ID:
            secret_key, cam = temporary_key(fields.get("q-ak", ""), fields.get("x-cos-security-token"))
            if secret_key is None:
                return self.refuse(cam)
        expected = hmac_sha1(hmac_sha1(secret_key, key_time), hashlib.sha1(policy_text.encode()).hexdigest())
        if not hmac.compare_digest(expected, fields.get("q-signature", "")):
            return self.refuse("SignatureDoesNotMatch")
        if cam is not None and not allows(cam, "PostObject", key, len(data)):
            return self.refuse(f"AccessDenied: PostObject on {key}")
        policy = json.loads(policy_text)
        for cond in policy["conditions"]:
            ok = True
            if isinstance(cond, dict):
                (name, value), = cond.items()
                if name == "key":
                    ok = key == value
                elif name == "q-sign-time":
                    ok = value == key_time
                elif name in ("q-ak", "q-sign-algorithm", "x-cos-security-token"):
                    ok = fields.get(name) == value
            elif cond[0] == "starts-with":
                ok = (key if cond[1] == "$key" else fields.get(cond[1][1:], "")).startswith(cond[2])
            elif cond[0] == "content-length-range":
                ok = cond[1] <= len(data) <= cond[2]
            if not ok:
                return self.refuse(f"policy condition failed: {cond}")
        if not int(key_time.split(";")[0]) <= time.time() <= int(key_time.split(";")[1]):
            return self.refuse("the policy has expired")
        objects["/" + key] = data
        print(f"stored /{key} ({len(data)} bytes) by form", file=sys.stderr, flush=True)
        self.reply(204)

    def multipart_post(self, query):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not self.authorized():
            return
        path = unquote(urlsplit(self.path).path)
        if "uploads" in query:
            upload_id = uuid.uuid4().hex
            uploads[upload_id] = {"key": path, "parts": {}, "type": self.headers.get("Content-Type", "application/octet-stream"),
                                  "initiated": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())}
            return self.reply(200, f"<InitiateMultipartUploadResult><Bucket>examplebucket-1250000000</Bucket><Key>{path[1:]}</Key><UploadId>{upload_id}</UploadId></InitiateMultipartUploadResult>".encode())
        upload = uploads.pop(query["uploadId"], None)
        if upload is None or upload["key"] != path:
            return self.reply(404, b"<Error><Code>NoSuchUpload</Code></Error>")
        numbers = [int(n) for n in re.findall(rb"<PartNumber>(\d+)</PartNumber>", body)]
        given = [e.decode().replace("&quot;", '"').strip('"') for e in re.findall(rb"<ETag>([^<]*)</ETag>", body)]
        if not numbers or numbers != sorted(numbers) or any(n not in upload["parts"] for n in numbers):
            uploads[query["uploadId"]] = upload
            return self.reply(400, b"<Error><Code>InvalidPart</Code></Error>")
        if given and given != [hashlib.md5(upload["parts"][n]).hexdigest() for n in numbers]:
            uploads[query["uploadId"]] = upload
            return self.reply(400, b"<Error><Code>InvalidPart</Code></Error>")
        data = b"".join(upload["parts"][n] for n in numbers)
        objects[path] = data
        types[path] = upload.get("type", "application/octet-stream")
        print(f"stored {path} ({len(data)} bytes) in {len(numbers)} parts", file=sys.stderr, flush=True)
        etag = hashlib.md5(b"".join(hashlib.md5(upload["parts"][n]).digest() for n in numbers)).hexdigest()
        etags[path] = f'"{etag}-{len(numbers)}"'
        self.reply(200, f"<CompleteMultipartUploadResult><Location>{path}</Location><Bucket>examplebucket-1250000000</Bucket><Key>{path[1:]}</Key><ETag>\"{etag}-{len(numbers)}\"</ETag></CompleteMultipartUploadResult>".encode())

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
