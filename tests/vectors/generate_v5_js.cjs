// v5 Authorization strings from cos-js-sdk-v5's COS.getAuthorization, with
// the window given as KeyTime (the SDK's own way to fix it). Prints JSON.
const fs = require("fs");
const path = require("path");
const COS = require("cos-js-sdk-v5");
const version = require("cos-js-sdk-v5/package.json").version;

const cases = JSON.parse(fs.readFileSync(path.join(__dirname, "v5_cases.json"), "utf8"));
const keyTime = cases.key_time.join(";");
const vectors = cases.cases.map((c) => ({
  ...c,
  authorization: COS.getAuthorization({
    SecretId: cases.secret_id,
    SecretKey: cases.secret_key,
    Bucket: cases.bucket,
    Region: cases.region,
    Method: c.method,
    Key: c.key,
    Headers: c.headers,
    Query: c.query,
    KeyTime: keyTime,
  }),
}));
process.stdout.write(JSON.stringify({
  source: `cos-js-sdk-v5 ${version}: COS.getAuthorization with KeyTime`,
  header_rule: "js",
  key_time: cases.key_time,
  vectors,
}, null, 2) + "\n");
