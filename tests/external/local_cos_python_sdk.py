#!/usr/bin/env python3
"""cos-python-sdk-v5 against cosgate's local COS (development, LOCAL_COS).

The SDK signs every request itself, with temporary credentials from
cosgate's POST /v1/qc_cos/credentials (issued by the local STS): a simple
upload, a download, a multipart upload with ListParts, an abort. Then what
COS refuses, sent as an attacker would, each answer's status and COS
<Code> recorded: a key outside the credentials' prefix, a presigned URL
with one byte of its signature altered, an expired one, a body longer than
its signed Content-Length, an upload above the size in the credentials'
policy, and browser forms (cosgate's POST policy) that break their policy.

Usage: local_cos_python_sdk.py COSGATE_URL ACCESS_TOKEN COS_HOST
Prints one JSON line.
"""
import json
import sys
import time
import urllib.request

import requests
from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosServiceError

cosgate, token, cos_host = sys.argv[1:4]
BUCKET = "examplebucket-1250000000"
report = {}


def cosgate_post(path, body=None):
    req = urllib.request.Request(cosgate + path, method="POST", data=json.dumps(body or {}).encode(),
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        return json.load(resp)


def refusal(resp):
    """{status, code} of a COS error answer."""
    text = resp.text
    code = text.split("<Code>")[1].split("</Code>")[0] if "<Code>" in text else None
    return {"status": resp.status_code, "code": code}


def sdk_refusal(call):
    try:
        call()
        return {"status": 200, "code": None}
    except CosServiceError as e:
        return {"status": e.get_status_code(), "code": e.get_error_code()}


try:
    creds = cosgate_post("/v1/qc_cos/credentials")
    config = CosConfig(Region="ap-guangzhou", SecretId=creds["TmpSecretId"], SecretKey=creds["TmpSecretKey"],
                       Token=creds["SecurityToken"], Scheme="http", Domain=cos_host)
    client = CosS3Client(config)
    prefix = creds["AllowPrefix"].rstrip("*")

    # Simple upload and download.
    body = "hello from cos-python-sdk-v5 ✓".encode()
    client.put_object(Bucket=BUCKET, Key=prefix + "py note.txt", Body=body, ContentType="text/plain")
    report["put"] = 200
    got = client.get_object(Bucket=BUCKET, Key=prefix + "py note.txt")
    report["get_matches"] = got["Body"].get_raw_stream().read() == body

    # Multipart: two parts (the first 1 MiB, COS's smallest), listed, completed.
    key = prefix + "py big.bin"
    data = bytes((i * 11 + 1) % 241 for i in range(1024 * 1024 + 4321))
    upload_id = client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    etags = []
    for number, chunk in ((1, data[:1024 * 1024]), (2, data[1024 * 1024:])):
        etags.append(client.upload_part(Bucket=BUCKET, Key=key, Body=chunk, PartNumber=number,
                                        UploadId=upload_id)["ETag"])
    listed = client.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id)
    parts = listed.get("Part", [])
    parts = parts if isinstance(parts, list) else [parts]
    report["listed_parts"] = [int(p["PartNumber"]) for p in parts]
    client.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id, MultipartUpload={
        "Part": [{"PartNumber": n, "ETag": e} for n, e in ((1, etags[0]), (2, etags[1]))]})
    got = client.get_object(Bucket=BUCKET, Key=key)["Body"].get_raw_stream().read()
    report["multipart_matches"] = got == data

    # An aborted upload is gone.
    abandoned = client.create_multipart_upload(Bucket=BUCKET, Key=prefix + "gone.bin")["UploadId"]
    client.upload_part(Bucket=BUCKET, Key=prefix + "gone.bin", Body=b"x" * 10, PartNumber=1, UploadId=abandoned)
    client.abort_multipart_upload(Bucket=BUCKET, Key=prefix + "gone.bin", UploadId=abandoned)
    report["aborted_listing"] = sdk_refusal(
        lambda: client.list_parts(Bucket=BUCKET, Key=prefix + "gone.bin", UploadId=abandoned))["status"]

    # What COS refuses.
    report["outside_prefix"] = sdk_refusal(
        lambda: client.put_object(Bucket=BUCKET, Key="uploads/someone-else/x.txt", Body=b"x"))
    # With temporary credentials the token goes along, as Tencent's guide says.
    with_token = {"x-cos-security-token": creds["SecurityToken"]}
    url = client.get_presigned_url(Method="GET", Bucket=BUCKET, Key=prefix + "py note.txt", Expired=300,
                                   Params=with_token)
    assert requests.get(url).status_code == 200, "the presigned URL itself works"
    at = url.index("q-signature=") + len("q-signature=")
    flipped = "0" if url[at] != "0" else "1"
    report["altered_signature"] = refusal(requests.get(url[:at] + flipped + url[at + 1:]))
    short = client.get_presigned_url(Method="GET", Bucket=BUCKET, Key=prefix + "py note.txt", Expired=1,
                                     Params=with_token)
    time.sleep(2.5)
    report["expired"] = refusal(requests.get(short))
    auth = client.get_auth(Method="PUT", Bucket=BUCKET, Key=prefix + "five.txt", Headers={"Content-Length": "5"})
    report["longer_body"] = refusal(requests.put(
        f"http://{cos_host}/{prefix}five.txt", data=b"hello!",
        headers={"Authorization": auth, "x-cos-security-token": creds["SecurityToken"]}))
    limit = 10 * 1024 * 1024
    report["too_large"] = sdk_refusal(
        lambda: client.put_object(Bucket=BUCKET, Key=prefix + "huge.bin", Body=b"\0" * (limit + 1)))

    # Browser forms, signed by cosgate for one key and at most 100 bytes.
    form = cosgate_post("/v1/qc_cos/post_policy", {"key": prefix + "form.txt", "max_size_bytes": 100})

    def post(fields, content):
        return requests.post(form["url"], data=fields, files={"file": ("form.txt", content, "text/plain")})

    report["form_other_key"] = refusal(post({**form["fields"], "key": prefix + "other.txt"}, b"x"))
    report["form_too_large"] = refusal(post(form["fields"], b"x" * 101))
    report["form_ok"] = post(form["fields"], b"within the policy").status_code
except Exception as e:  # noqa: BLE001 - the test reads the report
    import traceback
    report["error"] = traceback.format_exc()[-2000:]
print(json.dumps(report))
