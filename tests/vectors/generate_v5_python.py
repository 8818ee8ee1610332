"""v5 Authorization strings and presigned URLs from cos-python-sdk-v5, with
time.time() frozen so the window is v5_cases.json's key_time. Prints JSON."""
import json
import os
import sys

import qcloud_cos
from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos import cos_auth

cases = json.load(open(os.path.join(os.path.dirname(__file__), "v5_cases.json")))
start, end = cases["key_time"]
# The SDK signs [now - 60, now + Expired]. It adds `Authorization` to the
# Headers dict it is given, so each call gets a copy.
cos_auth.time.time = lambda: start + 60
config = CosConfig(Region=cases["region"], SecretId=cases["secret_id"], SecretKey=cases["secret_key"], Scheme="https")
client = CosS3Client(config)

out = []
for case in cases["cases"]:
    authorization = client.get_auth(Method=case["method"], Bucket=cases["bucket"], Key=case["key"],
                                    Expired=end - start - 60, Headers=dict(case["headers"]),
                                    Params=dict(case["query"]))
    entry = dict(case, authorization=authorization)
    if case["method"] in ("GET", "PUT"):
        entry["presigned_url"] = client.get_presigned_url(Bucket=cases["bucket"], Key=case["key"],
                                                          Method=case["method"], Expired=end - start - 60,
                                                          Params=dict(case["query"]),
                                                          Headers=dict(case["headers"]))
    out.append(entry)

json.dump({"source": f"cos-python-sdk-v5 {qcloud_cos.__version__ if hasattr(qcloud_cos, '__version__') else '1.9.44'}: "
                     "CosS3Client.get_auth and get_presigned_url, time.time frozen",
           "header_rule": "python", "key_time": cases["key_time"], "vectors": out},
          sys.stdout, ensure_ascii=False, indent=2)
print()
