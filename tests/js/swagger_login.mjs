// Logs in through Swagger UI the way a front-end developer would: Authorize
// with the OAuth client, "Try it out" on POST /auth/oauth/token with a
// development code, Execute. Prints one JSON line with what it saw.
//
// Usage: node swagger_login.mjs http://127.0.0.1:PORT/docs/ CLIENT_ID CLIENT_SECRET
import { chromium } from "playwright-core";

const [url, clientId, clientSecret] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"],
});
const seen = {};
try {
  const page = await browser.newPage();
  await page.goto(url);
  await page.click("button.btn.authorize");
  const modal = page.locator(".modal-ux");
  await modal.waitFor();
  const schemes = await modal.locator(".auth-container h4").allInnerTexts();
  seen.schemes = schemes.map((s) => s.trim());

  // Basic: fill the oauth_client form and authorize.
  const basic = modal.locator(".auth-container", { hasText: "oauth_client" });
  await basic.locator("input").nth(0).fill(clientId);
  await basic.locator("input[type=password]").fill(clientSecret);
  await basic.locator("button.authorize").click();
  await modal.locator("button.btn-done").first().click();

  // Try it out on the login operation.
  const op = page.locator("#operations-Auth-oauth_create_token");
  await op.locator(".opblock-summary").click();
  await op.locator("button.try-out__btn").click();
  await op.locator("textarea.body-param__text").fill('{"code": "dev-swagger"}');
  await op.locator("button.execute").click();
  const status = op.locator(".live-responses-table tbody .response-col_status").first();
  await status.waitFor();
  seen.status = (await status.innerText()).trim();
  seen.body = (await op.locator(".live-responses-table .microlight").first().innerText()).trim();
} catch (e) {
  seen.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
