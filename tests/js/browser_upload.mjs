// Drives examples/browser/upload.html, served by cosgate, in Debian's
// Chromium: log in with a development code, pick a file, upload it with
// cos-js-sdk-v5 to the fake COS, wait for success. Prints one JSON line.
//
// Usage: node browser_upload.mjs http://127.0.0.1:PORT/examples/upload FILE_NAME CONTENT
import { chromium } from "playwright-core";

const [url, name, content] = process.argv.slice(2);
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
  await page.setInputFiles("#file", { name, mimeType: "text/plain", buffer: Buffer.from(content) });
  await page.click("#upload");
  await page.waitForSelector("#status.ok, #status.err", { timeout: 15000 });
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
