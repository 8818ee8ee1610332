// The shipped mini-program example (examples/miniprogram/upload.js), run as
// WeChat would run it: the file itself, unmodified, with cos-wx-sdk-v5's
// dist file as its lib/, under the `wx` of wx_shim.cjs. Only its exported
// `config` is filled in, as an app developer would.
//
// Usage: node miniprogram.cjs COSGATE_URL COS_HOST CLIENT_ID CLIENT_SECRET CODE STEPS
// STEPS is JSON: [{"pick": "/path/a.jpg"}, {"file": "/path/b.jpg", "key": "uploads/other/b.jpg"}]
// - pick: the user picks the file and uploadV5 uploads it to their own
//   directory (the page's setData says how it went);
// - file + key: uploadFile to that key;
// - session + type (+ profile): uploadSession, cosgate's verified record.
// Prints one JSON line: the account, the access token, and each step's outcome.
const fs = require("fs");
const os = require("os");
const path = require("path");
const shim = require("./wx_shim.cjs");

const [cosgate, cosHost, clientId, clientSecret, code, stepsJson] = process.argv.slice(2);

// The app's folder, as a developer lays it out: upload.js and lib/.
const app = fs.mkdtempSync(path.join(os.tmpdir(), "miniprogram-"));
fs.copyFileSync(path.join(__dirname, "../../examples/miniprogram/upload.js"), path.join(app, "upload.js"));
fs.mkdirSync(path.join(app, "lib"));
fs.copyFileSync(
  path.join(__dirname, "node_modules/cos-wx-sdk-v5/dist/cos-wx-sdk-v5.js"),
  path.join(app, "lib/cos-wx-sdk-v5.js"),
);
const example = require(path.join(app, "upload.js"));

shim.code = code;
shim.plainHttpHosts = [cosHost];
Object.assign(example.config, {
  cosgate,
  clientId,
  clientSecret,
  bucket: "examplebucket-1250000000",
  region: "ap-guangzhou",
  domain: cosHost,
});
if (process.env.CHUNK_SIZE) example.config.chunkSize = Number(process.env.CHUNK_SIZE);

function viaPage(file) {
  return new Promise((resolve) => {
    shim.picked.push(file);
    const page = {
      setData(data) {
        if (data.test_image !== undefined) resolve({ ok: true, location: data.test_image });
        else if (data.upload_error) resolve({ ok: false, error: data.upload_error });
      },
    };
    example.uploadV5(page);
  });
}

function viaSession(file, type, profile) {
  return new Promise((resolve) => {
    example.uploadSession(file, type, profile, () => {}, (err, upload) => {
      if (err) resolve({ ok: false, error_code: err.error_code || null, message: err.message || String(err) });
      else resolve({ ok: true, upload });
    });
  });
}

function direct(file, key) {
  return new Promise((resolve) => {
    example.uploadFile(file, key, () => {}, (err, data) => {
      if (err) resolve({ ok: false, error_code: err.error_code || null, message: err.message || String(err) });
      else resolve({ ok: true, location: data.Location });
    });
  });
}

(async () => {
  const report = { steps: [] };
  const timer = setTimeout(() => {
    console.log(JSON.stringify({ ...report, timeout: true, requests: shim.requests }));
    process.exit(1);
  }, 120_000);
  await example.login();
  report.account = example.session.accountId;
  report.access_token = example.session.accessToken;
  for (const step of JSON.parse(stepsJson)) {
    report.steps.push(
      step.pick ? await viaPage(step.pick)
        : step.session ? await viaSession(step.session, step.type, step.profile)
          : await direct(step.file, step.key));
  }
  report.requests = shim.requests;
  clearTimeout(timer);
  console.log(JSON.stringify(report));
  fs.rmSync(app, { recursive: true, force: true });
})().catch((e) => {
  console.log(JSON.stringify({ error: String(e && (e.error_code || e.message || e)), detail: e }));
  process.exit(1);
});
