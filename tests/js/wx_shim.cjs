// A `wx` object for Node, written from WeChat's documented API semantics
// (developers.weixin.qq.com, 小程序 API), not from what any SDK expects, so
// that code written for a mini-program runs here unchanged:
//
// - wx.request: `data` as an object is JSON for POST/PUT with the default
//   content-type and a query string for GET; an ArrayBuffer is sent as it is;
//   `success` is called for every HTTP answer (4xx/5xx included) with
//   {data, statusCode, header}; `data` is parsed JSON when `dataType` is
//   'json' (the default) and the body parses, text otherwise, an ArrayBuffer
//   for `responseType: 'arraybuffer'`; `fail` only when no answer came.
//   Returns a RequestTask (abort, onHeadersReceived).
// - wx.uploadFile: a multipart/form-data POST of `formData` and the file at
//   `filePath` under `name`; `success` gets {data: text, statusCode}.
//   Returns an UploadTask (onProgressUpdate, abort).
// - wx.getFileSystemManager(): readFile (whole, or `position`/`length`,
//   ArrayBuffer unless an `encoding` is given), stat ({stats} with size,
//   isFile(), isDirectory()).
// - wx.login, wx.chooseMedia: answer what the test sets with `wxShim.code`
//   and `wxShim.picked`.
// - storage, wx.arrayBufferToBase64, wx.canIUse, wx.getAppBaseInfo,
//   wx.getDeviceInfo, wx.getNetworkType as documented.
//
// A mini-program reaches COS and cosgate over HTTPS; hosts listed in
// `wxShim.plainHttpHosts` stand in for them on loopback and are reached over
// plain HTTP, as a TLS-terminating proxy would.
const fs = require("fs");

const shim = { code: "", picked: [], plainHttpHosts: [], requests: [] };
const storage = new Map();

function toUrl(url) {
  const u = new URL(url);
  if (u.protocol === "https:" && shim.plainHttpHosts.includes(u.host)) u.protocol = "http:";
  return u.toString();
}

function headerObject(headers) {
  const out = {};
  headers.forEach((value, name) => {
    out[name.replace(/(^|-)([a-z])/g, (m) => m.toUpperCase())] = value;
  });
  return out;
}

function queryString(data) {
  return Object.keys(data)
    .map((k) => encodeURIComponent(k) + "=" + encodeURIComponent(data[k] == null ? "" : String(data[k])))
    .join("&");
}

function request(options) {
  const method = (options.method || "GET").toUpperCase();
  const headers = { ...(options.header || {}) };
  const hasType = Object.keys(headers).some((k) => k.toLowerCase() === "content-type");
  if (!hasType) headers["content-type"] = "application/json";
  const type = Object.entries(headers).find(([k]) => k.toLowerCase() === "content-type")[1];
  let url = options.url;
  let body;
  const data = options.data;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    body = Buffer.from(data instanceof ArrayBuffer ? data : data.buffer);
  } else if (method === "GET" && data && typeof data === "object") {
    const qs = queryString(data);
    if (qs) url += (url.includes("?") ? "&" : "?") + qs;
  } else if (data != null && typeof data === "object") {
    body = String(type).includes("application/x-www-form-urlencoded") ? queryString(data) : JSON.stringify(data);
  } else if (data != null && method !== "GET") {
    body = String(data);
  }
  const controller = new AbortController();
  const task = { abort: () => controller.abort(), onHeadersReceived() {}, offHeadersReceived() {} };
  shim.requests.push(method + " " + url);
  fetch(toUrl(url), { method, headers, body, signal: controller.signal, redirect: "manual" })
    .then(async (resp) => {
      const raw = Buffer.from(await resp.arrayBuffer());
      let out;
      if (options.responseType === "arraybuffer") {
        out = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length);
      } else {
        out = raw.toString("utf8");
        if ((options.dataType || "json") === "json") {
          try { out = JSON.parse(out); } catch (e) { /* stays text */ }
        }
      }
      const res = { data: out, statusCode: resp.status, header: headerObject(resp.headers), errMsg: "request:ok" };
      options.success && options.success(res);
      options.complete && options.complete(res);
    })
    .catch((e) => {
      const res = { errMsg: "request:fail " + e.message };
      options.fail && options.fail(res);
      options.complete && options.complete(res);
    });
  return task;
}

function uploadFile(options) {
  const progress = [];
  const task = { onProgressUpdate: (cb) => progress.push(cb), offProgressUpdate() {}, abort() {}, onHeadersReceived() {} };
  const form = new FormData();
  Object.entries(options.formData || {}).forEach(([k, v]) => form.append(k, String(v)));
  const bytes = fs.readFileSync(options.filePath);
  form.append(options.name, new Blob([bytes]), options.filePath.split("/").pop());
  shim.requests.push("UPLOAD " + options.url);
  fetch(toUrl(options.url), { method: "POST", headers: options.header || {}, body: form })
    .then(async (resp) => {
      progress.forEach((cb) => cb({ progress: 100, totalBytesSent: bytes.length, totalBytesExpectedToSend: bytes.length }));
      const res = { data: await resp.text(), statusCode: resp.status, errMsg: "uploadFile:ok" };
      options.success && options.success(res);
      options.complete && options.complete(res);
    })
    .catch((e) => {
      const res = { errMsg: "uploadFile:fail " + e.message };
      options.fail && options.fail(res);
      options.complete && options.complete(res);
    });
  return task;
}

function callback(options, ok, res) {
  const done = ok ? options.success : options.fail;
  done && done(res);
  options.complete && options.complete(res);
}

const fileSystemManager = {
  readFile(options) {
    fs.readFile(options.filePath, (err, buf) => {
      if (err) return callback(options, false, { errMsg: "readFile:fail " + err.message });
      let part = buf;
      if (options.position !== undefined) {
        const start = Number(options.position);
        const end = options.length !== undefined ? start + Number(options.length) : buf.length;
        part = buf.subarray(start, end);
      }
      const data = options.encoding
        ? part.toString(options.encoding === "binary" ? "latin1" : options.encoding)
        : part.buffer.slice(part.byteOffset, part.byteOffset + part.length);
      callback(options, true, { data, errMsg: "readFile:ok" });
    });
  },
  stat(options) {
    fs.stat(options.path, (err, st) => {
      if (err) return callback(options, false, { errMsg: "stat:fail " + err.message });
      const stats = {
        mode: st.mode, size: st.size,
        lastAccessedTime: Math.floor(st.atimeMs / 1000), lastModifiedTime: Math.floor(st.mtimeMs / 1000),
        isDirectory: () => st.isDirectory(), isFile: () => st.isFile(),
      };
      callback(options, true, { stats, errMsg: "stat:ok" });
    });
  },
};

// WeChat loads each file of a mini-program inside a wrapper whose
// parameters shadow the browser's globals (`window`, `document`,
// `XMLHttpRequest`, …) with `undefined`: the names exist, their values do
// not. The same here, so code that mentions them loads as it does there.
for (const name of ["window", "document", "frames", "self", "location", "navigator", "localStorage", "history", "screen"]) {
  if (!(name in globalThis)) globalThis[name] = undefined;
}

global.wx = {
  request,
  uploadFile,
  getFileSystemManager: () => fileSystemManager,
  login: (options) => callback(options, true, { code: shim.code, errMsg: "login:ok" }),
  chooseMedia: (options) => callback(options, true, {
    type: "image",
    tempFiles: shim.picked.splice(0, options.count || 1).map((p) => ({ tempFilePath: p, size: fs.statSync(p).size, fileType: "image" })),
    errMsg: "chooseMedia:ok",
  }),
  arrayBufferToBase64: (ab) => Buffer.from(ab).toString("base64"),
  getStorageSync: (key) => (storage.has(key) ? storage.get(key) : ""),
  setStorageSync: (key, value) => storage.set(key, value),
  removeStorageSync: (key) => storage.delete(key),
  canIUse: () => true,
  getAppBaseInfo: () => ({ SDKVersion: "3.4.0", language: "zh_CN", version: "8.0.50" }),
  getDeviceInfo: () => ({ platform: "android", system: "Android 14", brand: "test", model: "node" }),
  getNetworkType: (options) => callback(options, true, { networkType: "wifi", errMsg: "getNetworkType:ok" }),
  getSystemInfoSync: () => ({ SDKVersion: "3.4.0", platform: "android" }),
};

module.exports = shim;
