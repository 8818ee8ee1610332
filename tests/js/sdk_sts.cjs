// cos-js-sdk-v5's standard STS flow against cosgate: getAuthorization
// returns cosgate's temporary credentials as they are, and the SDK signs
// every request itself, to a fake COS that enforces the credentials' policy.
// Prints one JSON line with what happened, for tests/it/sts.rs.
//
// Usage: node sdk_sts.cjs COSGATE_URL ACCESS_TOKEN COS_HOST (host:port)
// Env: KEY (own small object), BIG_KEY (own, multipart), OTHER_KEY (another account's)
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
const report = { get_authorization: 0 };

// The SDK's documented STS hook, with cosgate as the server.
function newCos() {
  return new COS({
    Domain: cosHost,
    Protocol: "http:",
    getAuthorization(options, callback) {
      report.get_authorization += 1;
      fetch(cosgate + "/v1/qc_cos/credentials", {
        method: "POST",
        headers: { Authorization: "Bearer " + token },
      }).then((r) => r.json()).then(
        (credentials) => {
          report.allow_prefix = credentials.AllowPrefix;
          callback(credentials);
        },
        (e) => callback({ error: String(e) }),
      );
    },
  });
}

const BUCKET = { Bucket: "examplebucket-1250000000", Region: "ap-guangzhou" };
const call = (cos, method, params) =>
  new Promise((resolve) => cos[method](params, (err, data) => resolve({ err, data })));
const outcome = ({ err, data }) => (err ? { error: err.statusCode || err.message || "error" } : { status: data.statusCode });

(async () => {
  try {
    const cos = newCos();
    report.put = outcome(await call(cos, "putObject", { ...BUCKET, Key: process.env.KEY, Body: "hello through STS" }));

    const size = 2 * 1024 * 1024 + 777;
    const bytes = Buffer.alloc(size);
    for (let i = 0; i < size; i++) bytes[i] = (i * 13 + 5) % 253;
    report.upload_file = outcome(await call(cos, "uploadFile", { ...BUCKET, Key: process.env.BIG_KEY,
      Body: new Blob([bytes]), SliceSize: 1024 * 1024, ChunkSize: 1024 * 1024 }));

    // The same credentials cannot write another account's directory.
    report.put_elsewhere = outcome(await call(cos, "putObject", { ...BUCKET, Key: process.env.OTHER_KEY, Body: "x" }));
    // Nor copy from it.
    report.copy_elsewhere = outcome(await call(cos, "putObjectCopy", { ...BUCKET, Key: process.env.KEY + ".copy",
      CopySource: `examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/${process.env.OTHER_KEY}` }));

    // A second SDK instance asks cosgate again (the SDK caches per instance).
    report.second = outcome(await call(newCos(), "putObject", { ...BUCKET, Key: process.env.KEY + ".2", Body: "again" }));
  } catch (e) {
    report.error = String(e && e.stack || e);
  }
  console.log(JSON.stringify(report));
})();
