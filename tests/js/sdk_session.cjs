// cos-js-sdk-v5 uploading through cosgate's upload sessions: the session
// is created at cosgate, the SDK's getAuthorization asks cosgate to sign for
// that session only (its putObject, or its parts with the session's
// UploadId), and cosgate completes. Prints one JSON line for tests/it.
//
// Usage: node sdk_session.cjs COSGATE_URL ACCESS_TOKEN COS_HOST SMALL_FILE LARGE_FILE
const fs = require("fs");
const XHR = require("xhr2");
global.XMLHttpRequest = class extends XHR {
  send(data) {
    if (data instanceof Blob) {
      data.arrayBuffer().then((buf) => super.send(Buffer.from(buf)));
      return undefined;
    }
    return super.send(data);
  }
};
const COS = require("cos-js-sdk-v5");

const [cosgate, token, cosHost, smallFile, largeFile] = process.argv.slice(2);
const BUCKET = { Bucket: "examplebucket-1250000000", Region: "ap-guangzhou" };
const report = { refusals: [] };

async function cosgateCall(method, path, body) {
  const resp = await fetch(cosgate + path, {
    method,
    headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: resp.status, body: await resp.json() };
}

let session = null;
const cos = new COS({
  Domain: cosHost,
  Protocol: "http:",
  getAuthorization(options, callback) {
    // The SDK's options as they are, for the current session.
    cosgateCall("POST", `/v1/uploads/${session.id}/authorization`, options).then(({ status, body }) => {
      if (status !== 200) {
        report.refusals.push(`${status} ${body.error_code}`);
        (report.messages = report.messages || []).push(body.message);
        return callback({});
      }
      callback({ Authorization: body.authorization, SecurityToken: body.security_token,
                 StartTime: body.start_time, ExpiredTime: body.expired_time });
    });
  },
});
const call = (method, params) => new Promise((resolve) => cos[method](params, (err, data) => resolve({ err, data })));

async function start(file, type, profile) {
  const size = fs.statSync(file).size;
  const created = await cosgateCall("POST", "/v1/uploads", { filename: file.split("/").pop(), size_bytes: size, content_type: type, profile });
  if (created.status !== 201) throw new Error("create: " + JSON.stringify(created));
  session = created.body;
  return fs.readFileSync(file);
}

(async () => {
  try {
    // One PUT, the type passed to the SDK so the signed Content-Type is sent.
    const small = await start(smallFile, "image/jpeg");
    const put = await call("putObject", { ...BUCKET, Key: session.key, Body: new Blob([small]), ContentType: "image/jpeg",
                                          Headers: { "x-cos-forbid-overwrite": "true" } });
    report.put = put.err ? { error: String(put.err.message || put.err.error) } : { status: put.data.statusCode };
    // The same session cannot sign another key.
    const elsewhere = await call("putObject", { ...BUCKET, Key: session.key + ".other", Body: new Blob([small]), ContentType: "image/jpeg",
                                                Headers: { "x-cos-forbid-overwrite": "true" } });
    report.put_elsewhere = elsewhere.err ? "refused" : "stored";
    const done = await cosgateCall("POST", `/v1/uploads/${session.id}/complete`);
    report.small = { status: done.body.status, key: done.body.key, size: done.body.size_bytes, etag: done.body.etag,
                     download_url: done.body.download_url };

    // Parts of the upload cosgate initiated, with its UploadId.
    const large = await start(largeFile, "video/mp4", "video");
    const { part_size: partSize, part_count: count } = session.multipart;
    for (let n = 1; n <= count; n++) {
      const body = large.subarray((n - 1) * partSize, Math.min(n * partSize, large.length));
      const part = await call("multipartUpload", { ...BUCKET, Key: session.key, UploadId: session.multipart.upload_id, PartNumber: n,
                                                     ContentLength: body.length, Body: new Blob([body]) });
      if (part.err) report.part_error = String(part.err.message || part.err.error);
    }
    // Another UploadId is not this session's.
    const other = await call("multipartUpload", { ...BUCKET, Key: session.key, UploadId: "someone-elses", PartNumber: 1,
                                                ContentLength: partSize, Body: new Blob([large.subarray(0, partSize)]) });
    report.other_upload_id = other.err ? "refused" : "stored";
    const info = await cosgateCall("GET", `/v1/uploads/${session.id}`);
    report.parts_present = info.body.multipart && info.body.multipart.parts_present;
    const finished = await cosgateCall("POST", `/v1/uploads/${session.id}/complete`);
    report.large = { status: finished.body.status, key: finished.body.key, etag: finished.body.etag,
                     download_url: finished.body.download_url };
  } catch (e) {
    report.error = String(e && e.stack || e);
  }
  console.log(JSON.stringify(report));
})();
