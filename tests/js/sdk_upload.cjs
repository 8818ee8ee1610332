// cos-js-sdk-v5 uploading through cosgate's signatures to a fake COS.
// Prints one JSON line with what happened, for tests/it/js_sdk.rs.
//
// Usage: node sdk_upload.cjs COSGATE_URL ACCESS_TOKEN COS_HOST (host:port)
// The browser SDK needs an XMLHttpRequest; xhr2 is one for Node, taught to
// send the Blobs the SDK wraps bodies in.
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

const [cosgate, token, cosHost] = process.argv.slice(2);
const report = {};

async function cosgatePost(path, body) {
  const resp = await fetch(cosgate + path, {
    method: "POST",
    headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: resp.status, body: await resp.json() };
}

// The SDK's documented hook: ask the server to sign each request.
const cos = new COS({
  Domain: cosHost,
  Protocol: "http:",
  getAuthorization(options, callback) {
    // cosgate takes values as strings; the SDK passes some as numbers.
    const strings = (o) => Object.fromEntries(Object.entries(o || {}).map(([k, v]) => [k, String(v)]));
    const headers = strings(options.Headers);
    cosgatePost("/v1/qc_cos/authorization", {
      method: options.Method, key: options.Key, headers, query: strings(options.Query),
    }).then(({ status, body }) => {
      report.signed = (report.signed || 0) + 1;
      (report.methods = report.methods || []).push(
        options.Method.toUpperCase() + " " + Object.keys(options.Query || {}).sort().join("&"));
      if (status !== 200) {
        (report.refusals = report.refusals || []).push(status + " " + body.error_code);
        return callback({ error: body });
      }
      // In STS signing mode the signature comes with its session token.
      callback({ Authorization: body.authorization, SecurityToken: body.security_token,
                 StartTime: body.start_time, ExpiredTime: body.expired_time });
    }, (e) => callback({ error: String(e) }));
  },
});

const put = (params) => new Promise((resolve) => cos.putObject(params, (err, data) => resolve({ err, data })));
const call = (method, params) => new Promise((resolve) => cos[method](params, (err, data) => resolve({ err, data })));
const BUCKET = { Bucket: "examplebucket-1250000000", Region: "ap-guangzhou" };

(async () => {
  const key = process.env.KEY;
  const other = process.env.OTHER_KEY;
  const content = "hello from cos-js-sdk-v5 " + Date.now();
  try {
    const own = await put({ Bucket: "examplebucket-1250000000", Region: "ap-guangzhou", Key: key, Body: content,
                            Headers: { "x-cos-meta-origin": "sdk test", "Content-Type": "text/plain" } });
    report.put = own.err ? { error: own.err.statusCode || own.err.message || String(own.err.error && own.err.error.error_code) } : { status: own.data.statusCode };

    const theirs = await put({ Bucket: "examplebucket-1250000000", Region: "ap-guangzhou", Key: other, Body: "x" });
    report.put_elsewhere = theirs.err ? "refused" : "stored";

    const presigned = await cosgatePost("/v1/qc_cos/presigned_url", { method: "get", key });
    const got = await fetch(presigned.body.url);
    report.presigned_get = { status: got.status, matches: (await got.text()) === content };

    // Sign a PUT with one metadata value, send another: COS must refuse.
    const signed = await cosgatePost("/v1/qc_cos/authorization", {
      method: "put", key, headers: { "x-cos-meta-origin": "honest", "Content-Length": "4" },
    });
    const tampered = await fetch(`http://${cosHost}/${key.split("/").map(encodeURIComponent).join("/")}`, {
      method: "PUT", body: "evil",
      headers: { Authorization: signed.body.authorization, "x-cos-meta-origin": "tampered" },
    });
    report.tampered = tampered.status;

    // Sign a 4-byte PUT, send 5 bytes: the signed Content-Length does not match.
    const sized = await cosgatePost("/v1/qc_cos/authorization", {
      method: "put", key, headers: { "Content-Length": "4" },
    });
    const longer = await fetch(`http://${cosHost}/${key.split("/").map(encodeURIComponent).join("/")}`, {
      method: "PUT", body: "evil!", headers: { Authorization: sized.body.authorization },
    });
    report.wrong_length = longer.status;

    // uploadFile above the slice size: multipart (list, initiate, parts, complete).
    if (process.env.BIG_KEY) {
      const size = 2 * 1024 * 1024 + 12345;
      const bytes = Buffer.alloc(size);
      for (let i = 0; i < size; i++) bytes[i] = (i * 7 + 3) % 251;
      const before = (report.methods || []).length;
      const big = await call("uploadFile", { ...BUCKET, Key: process.env.BIG_KEY, Body: new Blob([bytes]),
                                             SliceSize: 1024 * 1024, ChunkSize: 1024 * 1024 });
      report.upload_file = big.err ? { error: JSON.stringify(big.err).slice(0, 300) } : { status: big.data.statusCode };
      report.upload_file_requests = report.methods.slice(before);
    }

    // The SDK's copy, from another account's object: cosgate refuses to sign it.
    if (process.env.OTHER_KEY) {
      const before = (report.refusals || []).length;
      const copy = await call("putObjectCopy", { ...BUCKET, Key: key + ".copy",
        CopySource: `examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/${process.env.OTHER_KEY}` });
      report.copy = copy.err ? "refused" : "copied";
      report.copy_refusals = (report.refusals || []).slice(before);
    }
  } catch (e) {
    report.error = String(e && e.stack || e);
  }
  console.log(JSON.stringify(report));
})();
