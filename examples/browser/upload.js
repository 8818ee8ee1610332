// @ts-check
// The browser example's logic: cosgate is called through openapi-fetch, typed
// by the client generated from docs/v1.yml (examples/typescript/schema.d.ts;
// CI type-checks this file with tsc --strict), and COS through cos-js-sdk-v5
// or plain fetch. cosgate serves it with the page in development.
import createClient from "./node_modules/openapi-fetch/dist/index.mjs";

/** @typedef {import("../typescript/schema").paths} Paths */
/** @typedef {import("../typescript/schema").components["schemas"]} Schemas */
/** @typedef {Schemas["CosRequestToSign"]["method"]} Method */

/** Filled in by cosgate when it serves the page (the inline script). */
const CONFIG = /** @type {Record<string, string>} */ (
  /** @type {{ COSGATE_CONFIG?: Record<string, string> }} */ (window).COSGATE_CONFIG ?? {}
);
/** cos-js-sdk-v5, loaded by the page's script tag. */
const COS = /** @type {any} */ (window).COS;

/** @param {string} id */
const $ = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));
for (const [id, value] of Object.entries(CONFIG)) if ($(id)) $(id).value = value;
// `?cosgate=https://auth.example.com` when the page is served from another
// origin (cosgate must list this page's origin in CORS_ALLOWED_ORIGINS).
const asked = new URLSearchParams(location.search).get("cosgate");
if (asked) $("cosgate").value = asked;
if (!$("cosgate").value) $("cosgate").value = location.protocol.startsWith("http") ? location.origin : "http://127.0.0.1:7777";

/** @type {Schemas["TokenDetail"] | null} */
let session = null;

/** @param {string} text @param {string} [cls] */
function say(text, cls) {
  $("status").textContent = text;
  $("status").className = cls || "";
}

/** openapi-fetch's client over docs/v1.yml's paths. */
const createTypedClient = /** @type {typeof createClient<Paths>} */ (createClient);
/** The API, typed by docs/v1.yml. */
const api = () => createTypedClient({ baseUrl: $("cosgate").value });

/** @returns {Record<string, string>} */
function bearer() {
  if (!session) throw new Error("log in first");
  return { Authorization: "Bearer " + session.access_token };
}

/**
 * The answer of a call, or its refusal as an Error naming `error_code`.
 * @template T
 * @param {{ data?: T, error?: { error_code: string, message: string }, response: Response }} result
 * @returns {T}
 */
function answer(result) {
  if (result.error || result.data === undefined) {
    const e = result.error;
    throw new Error(e ? `${result.response.status} ${e.error_code}: ${e.message}` : `HTTP ${result.response.status}`);
  }
  return result.data;
}

$("login").onclick = async () => {
  try {
    const basic = "Basic " + btoa($("client").value + ":" + $("secret").value);
    session = answer(await api().POST("/auth/oauth/token", {
      body: { code: $("code").value },
      headers: { Authorization: basic },
    }));
    $("who").textContent = "logged in as " + session.account_id;
    /** @type {HTMLButtonElement} */ (/** @type {unknown} */ ($("upload"))).disabled = false;
    say("");
  } catch (e) {
    say("login failed: " + /** @type {Error} */ (e).message, "err");
  }
};

/** @param {string} method @returns {Method} */
function signable(method) {
  const known = /** @type {readonly string[]} */ (["get", "head", "put", "post", "delete", "options"]);
  const lower = method.toLowerCase();
  if (!known.includes(lower)) throw new Error(`cosgate does not sign ${method}`);
  return /** @type {Method} */ (lower);
}

// Per-request signatures and STS credentials: cos-js-sdk-v5 uploads, and its
// getAuthorization asks cosgate.
/** @param {string} flow */
function sdk(flow) {
  return new COS({
    ...($("domain").value ? { Domain: $("domain").value, Protocol: location.protocol === "https:" ? "https:" : "http:" } : {}),
    /**
     * @param {{ Method: string, Key: string, Query?: Record<string, unknown>, Headers?: Record<string, unknown> }} options
     * @param {(credentials: object) => void} callback
     */
    getAuthorization(options, callback) {
      /** @param {unknown} e */
      const refused = (e) => {
        const message = /** @type {Error} */ (e).message;
        say("cosgate refused: " + message, "err");
        callback({ error: message });
      };
      if (flow === "sts") {
        // The answer is already in the shape the SDK takes.
        api().POST("/v1/qc_cos/credentials", { headers: bearer() }).then(answer).then(callback, refused);
        return;
      }
      // cosgate takes header and query values as strings or integers; the
      // SDK passes some as numbers (Content-Length, partNumber).
      /** @param {Record<string, unknown> | undefined} o @returns {Record<string, string>} */
      const strings = (o) => Object.fromEntries(Object.entries(o || {}).map(([k, v]) => [k, String(v)]));
      api().POST("/v1/qc_cos/authorization", {
        body: { method: signable(options.Method), key: options.Key, query: strings(options.Query), headers: strings(options.Headers) },
        headers: bearer(),
      }).then(answer).then(
        // In STS signing mode the signature comes with its session token.
        (a) => callback({ Authorization: a.authorization, SecurityToken: a.security_token,
                          StartTime: a.start_time, ExpiredTime: a.expired_time }),
        refused);
    },
  });
}

/** @param {string} flow @param {File} file */
async function viaSdk(flow, file) {
  if (!session) throw new Error("log in first");
  const key = `uploads/${session.account_id}/${file.name}`;
  say("uploading " + key + " …");
  /** @type {{ ETag: string }} */
  const data = await new Promise((resolve, reject) => sdk(flow).putObject({
    Bucket: $("bucket").value, Region: $("region").value, Key: key, Body: file,
    onProgress: (/** @type {{ percent: number }} */ p) => { $("progress").value = String(Math.round(p.percent * 100)); },
  }, (/** @type {any} */ err, /** @type {{ ETag: string }} */ data) =>
    (err ? reject(new Error(err.message || err.code || JSON.stringify(err))) : resolve(data))));
  // Read it back with a presigned GET that cosgate signs.
  const { url } = answer(await api().POST("/v1/qc_cos/presigned_url", { body: { method: "GET", key }, headers: bearer() }));
  return { key, etag: data.ETag, url };
}

// Upload sessions: cosgate chooses the key and signs the exact size and
// type; the page sends exactly the signed headers; cosgate verifies the
// object at COS before it says "completed".
/** @param {File} file */
async function viaSession(file) {
  const type = file.type || "application/octet-stream";
  const upload = answer(await api().POST("/v1/uploads", {
    body: { filename: file.name, size_bytes: file.size, content_type: type },
    headers: bearer(),
  }));
  say("uploading " + upload.key + " …");
  // What a browser sets itself is left to it (it sends the same values).
  /** @param {Record<string, string>} headers */
  const sendable = (headers) => Object.fromEntries(Object.entries(headers)
    .filter(([k]) => !["host", "content-length"].includes(k.toLowerCase())));
  /** @param {{ url: string, headers: Record<string, string> }} signed @param {Blob} body */
  const put = async (signed, body) => {
    const resp = await fetch(signed.url, { method: "PUT", headers: sendable(signed.headers), body });
    if (!resp.ok) throw new Error(`COS answered ${resp.status}: ${await resp.text()}`);
  };
  const path = { upload_id: upload.id };
  if (upload.put) {
    await put(upload.put, file);
  } else if (upload.multipart) {
    const { part_size: size, part_count: count } = upload.multipart;
    for (let n = 1; n <= count; n++) {
      const { parts } = answer(await api().POST("/v1/uploads/{upload_id}/parts", {
        params: { path }, body: { part_numbers: [n] }, headers: bearer(),
      }));
      const part = parts[0];
      if (!part) throw new Error(`cosgate signed no part ${n}`);
      await put(part, file.slice((n - 1) * size, Math.min(n * size, file.size)));
      $("progress").value = String(Math.round((n / count) * 100));
    }
  }
  const done = answer(await api().POST("/v1/uploads/{upload_id}/complete", { params: { path }, headers: bearer() }));
  if (done.status !== "completed" || !done.download_url) {
    throw new Error(`cosgate says ${done.status}: ${done.reason || done.review || ""}`);
  }
  return { key: done.key, etag: done.etag || "", url: done.download_url };
}

$("upload").onclick = async () => {
  const file = $("file").files?.[0];
  if (!file) return say("pick a file first", "err");
  $("progress").value = "0";
  const preview = /** @type {HTMLImageElement} */ (/** @type {unknown} */ ($("preview")));
  preview.hidden = true;
  try {
    const flow = $("flow").value;
    const { key, etag, url } = flow === "session" ? await viaSession(file) : await viaSdk(flow, file);
    $("progress").value = "100";
    say("uploaded " + key, "ok");
    $("result").textContent = "ETag " + etag;
    $("result").dataset.key = key;
    $("result").dataset.url = url;
    if (file.type.startsWith("image/")) {
      preview.src = url;
      preview.hidden = false;
    }
  } catch (e) {
    say("upload failed: " + /** @type {Error} */ (e).message, "err");
  }
};
