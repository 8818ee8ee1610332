// The README's Node.js receiver, run on a delivery cosgate made: verifies it
// with the official `standardwebhooks` npm package, and shows that package
// refusing it tampered or under another secret.
//
// Usage: node webhook_verify.cjs SECRET < {"body": "...", "headers": {...}}
// Prints {"type": ..., "upload_id": ..., "tampered": ..., "wrong_secret": ...}.
const { Webhook } = require("standardwebhooks");

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const { body, headers } = JSON.parse(input);
  const secret = process.argv[2];
  // What an app's backend does with the raw body and the request's headers:
  const event = new Webhook(secret).verify(body, headers);
  const refused = (f) => {
    try {
      f();
      return "accepted";
    } catch (e) {
      return `refused: ${e.message}`;
    }
  };
  const other = "whsec_" + Buffer.from("another-secret-another-secret!!").toString("base64");
  console.log(JSON.stringify({
    type: event.type,
    upload_id: event.data.upload_id,
    tampered: refused(() => new Webhook(secret).verify(body.replace("}", ',"x":1}'), headers)),
    wrong_secret: refused(() => new Webhook(other).verify(body, headers)),
  }));
});
