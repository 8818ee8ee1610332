// Drives examples/browser/upload.html, served by cosgate, in Debian's
// Chromium: log in with a development code, pick a file, upload it with
// cos-js-sdk-v5 to the fake COS, wait for success. Prints one JSON line.
//
// Usage: node browser_upload.mjs http://127.0.0.1:PORT/examples/upload FILE_NAME CONTENT
// Env: FLOW (session, request (the default) or sts); CONTENT_FILE and MIME to
// upload a file's bytes (a picture) instead of CONTENT as text. The object
// is then read back from the URL the page shows and compared.
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const [url, name, text] = process.argv.slice(2);
const content = process.env.CONTENT_FILE ? readFileSync(process.env.CONTENT_FILE) : Buffer.from(text);
const mimeType = process.env.MIME || "text/plain";
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"],
});
const seen = { requests: [] };
try {
  const page = await browser.newPage();
  // Only loopback is ever contacted; record where the page went.
  page.on("request", (r) => seen.requests.push(new URL(r.url()).host));
  await page.goto(url);
  await page.click("#login");
  await page.waitForSelector("#who:has-text('logged in as'), #status.err", { timeout: 15000 });
  seen.who = await page.innerText("#who");
  if (!seen.who) {
    // Refused, e.g. by CORS when the page's origin is not allowed.
    seen.login_error = await page.innerText("#status");
    throw new Error("login failed");
  }
  await page.selectOption("#flow", process.env.FLOW || "request");
  await page.setInputFiles("#file", { name, mimeType, buffer: content });
  await page.click("#upload");
  await page.waitForSelector("#status.ok, #status.err", { timeout: 15000 });
  seen.url = await page.$eval("#result", (r) => r.dataset.url || null);
  if (seen.url) {
    const back = Buffer.from(await (await fetch(seen.url)).arrayBuffer());
    seen.read_back_matches = back.equals(content);
  }
  if (mimeType.startsWith("image/")) {
    // The page shows the picture it read back from the bucket.
    await page.waitForFunction(() => { const p = document.getElementById("preview"); return p.complete && !p.hidden; },
      null, { timeout: 10000 }).catch(() => {});
    seen.preview_width = await page.$eval("#preview", (p) => p.naturalWidth);
  }
  seen.status = await page.innerText("#status");
  seen.progress = await page.inputValue("#progress").catch(() => null) ?? await page.$eval("#progress", (p) => p.value);
  seen.key = await page.$eval("#result", (r) => r.dataset.key || null);
  await page.screenshot({ path: process.env.SCREENSHOT || "/dev/null" }).catch(() => {});
} catch (e) {
  seen.error = String(e);
} finally {
  await browser.close();
}
seen.requests = [...new Set(seen.requests)];
console.log(JSON.stringify(seen));
