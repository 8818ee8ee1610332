// cosgate in a WeChat mini-program: log in, then upload a picked image.
//
// Three ways, side by side:
//   uploadPhoto() — the recommended way: an upload session (POST
//                /v1/uploads): cosgate chooses the key, signs exactly this
//                file, and verifies it at COS before the app counts it;
//   uploadV5() — cos-wx-sdk-v5, whose getAuthorization asks
//                cosgate to sign each request (POST /v1/qc_cos/authorization);
//   uploadV4() — the 2017 seed's way: one v4 signature for a directory
//                (GET /v1/qc_cos/config) and wx.uploadFile to COS's v4 JSON API.
//                COS has retired that API; kept for comparison and old buckets.
//
// Copy dist/cos-wx-sdk-v5.js from the npm package cos-wx-sdk-v5 to
// lib/cos-wx-sdk-v5.js next to this file, and set the config below.

const COS = require('./lib/cos-wx-sdk-v5.js');

const config = {
  cosgate: 'https://cosgate.example.com', // request 合法域名
  // The mini-program's OAuth client, one of cosgate's OAUTH_CLIENTS. It names
  // the app to cosgate; it is not a secret a user could abuse: every upload
  // still needs the user's own login.
  clientId: 'miniprogram',
  clientSecret: 'replace-with-the-client-secret',
  bucket: 'examplebucket-1250000000', // {name}-{APPID}
  region: 'ap-guangzhou',
  // Only for a custom or accelerated domain: the host COS is reached at,
  // which must be the host of cosgate's QCOS_ENDPOINT (cosgate refuses to
  // sign for another). Empty: the bucket's own domain.
  domain: '',
  // Parts of large files, in bytes. cosgate signs each part; its
  // RATE_LIMIT_PARTS_PER_MIN bounds how many per minute (README, "Large
  // files and rate limits").
  chunkSize: 1024 * 1024,
};

const session = { accessToken: null, refreshToken: null, accountId: null };

function basicAuth() {
  const text = config.clientId + ':' + config.clientSecret;
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return 'Basic ' + wx.arrayBufferToBase64(bytes.buffer);
}

// wx.request as a promise: the body on 2xx, else a refusal carrying
// cosgate's error_code, message and the seconds of any Retry-After.
function request(options) {
  return new Promise((resolve, reject) => {
    wx.request({
      ...options,
      success: (res) => {
        if (res.statusCode < 300) return resolve(res.data);
        const header = res.header || {};
        const wait = header['Retry-After'] || header['retry-after'];
        reject({ ...(typeof res.data === 'object' ? res.data : {}), status: res.statusCode, retryAfter: Number(wait) || 0 });
      },
      fail: reject,
    });
  });
}

const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

// wx.login → POST /auth/oauth/token → access + refresh tokens.
function login() {
  return new Promise((resolve, reject) => wx.login({ success: resolve, fail: reject }))
    .then(({ code }) => request({
      url: config.cosgate + '/auth/oauth/token',
      method: 'POST',
      header: { Authorization: basicAuth() },
      data: { code },
    }))
    .then(saveTokens);
}

// An access token lives 15 minutes; the refresh token is single use.
function refresh() {
  return request({
    url: config.cosgate + '/auth/oauth/token/refresh',
    method: 'POST',
    header: { Authorization: basicAuth() },
    data: { refresh_token: session.refreshToken },
  }).then(saveTokens, login); // a refused refresh token means: log in again
}

function saveTokens(tokens) {
  session.accessToken = tokens.access_token;
  session.refreshToken = tokens.refresh_token;
  session.accountId = tokens.account_id;
  return tokens;
}

// Calls cosgate with the access token: refreshes it once on 401, and waits
// out a 429 (the Retry-After cosgate sends) before asking again, a few times.
function withToken(options, tries = 0) {
  return request({ ...options, header: { Authorization: 'Bearer ' + session.accessToken } })
    .catch((err) => {
      if (tries < 1 && err && err.error_code === 'invalid_token') {
        return refresh().then(() => withToken(options, tries + 1));
      }
      if (tries < 5 && err && err.status === 429 && err.retryAfter) {
        return sleep(err.retryAfter).then(() => withToken(options, tries + 1));
      }
      throw err;
    });
}

// What cosgate refused, by key: the SDKs have no way to pass an error out of
// getAuthorization (they report 'getAuthorization callback params missing
// "TmpSecretId"'), so uploadFile's callback puts cosgate's reason back.
const refusals = {};

let client = null;
function cos() {
  if (client) return client;
  client = new COS({
    // COS's POST Object form cannot have its key and size signed in a
    // header signature; a PUT can, so small files go as PUT.
    SimpleUploadMethod: 'putObject',
    ChunkSize: config.chunkSize,
    Domain: config.domain || undefined,
    getAuthorization(options, callback) {
      // The SDK's options go to cosgate as they are.
      withToken({ url: config.cosgate + '/v1/qc_cos/authorization', method: 'POST', data: options }).then(
        // In STS signing mode the signature comes with its session token.
        (a) => callback({
          Authorization: a.authorization, SecurityToken: a.security_token,
          StartTime: a.start_time, ExpiredTime: a.expired_time,
        }),
        (err) => {
          refusals[options.Key] = { error_code: err.error_code || 'network_error', message: err.message || err.errMsg || String(err) };
          callback({});
        },
      );
    },
  });
  return client;
}

// Uploads the file at `path` to `key`; calls back with COS's answer, or an
// error that carries cosgate's error_code and message when cosgate refused.
function uploadFile(path, key, onProgress, done) {
  delete refusals[key];
  cos().uploadFile({
    Bucket: config.bucket,
    Region: config.region,
    Key: key,
    FilePath: path,
    onProgress,
  }, (err, data) => {
    if (err && refusals[key]) err = { ...refusals[key], sdkError: err };
    done(err, data);
  });
}

// The recommended way: an upload session. cosgate chooses the key, signs
// exactly this file's size and type, and verifies it at COS before the app
// counts it (POST /v1/uploads/{id}/complete answers the verified record).
const sessionsByKey = {};
let sessionClient = null;
function sessionCos() {
  if (sessionClient) return sessionClient;
  sessionClient = new COS({
    Domain: config.domain || undefined,
    getAuthorization(options, callback) {
      const session = sessionsByKey[options.Key];
      withToken({ url: config.cosgate + '/v1/uploads/' + session.id + '/authorization', method: 'POST', data: options }).then(
        (a) => callback({
          Authorization: a.authorization, SecurityToken: a.security_token,
          StartTime: a.start_time, ExpiredTime: a.expired_time,
        }),
        (err) => {
          refusals[options.Key] = { error_code: err.error_code || 'network_error', message: err.message || err.errMsg || String(err) };
          callback({});
        },
      );
    },
  });
  return sessionClient;
}

const fs = () => wx.getFileSystemManager();
const call = (method, params) => new Promise((resolve, reject) => sessionCos()[method](params, (err, data) => {
  if (!err) return resolve(data);
  reject(refusals[params.Key] ? { ...refusals[params.Key], sdkError: err } : err);
}));

// Uploads the file at `path` through a session; `done(err, upload)` gets
// cosgate's verified record (status 'completed', key, size, ETag,
// download_url) or its refusal (err.error_code). The session's id is kept in
// storage until it completes, so an app stopped mid-upload takes the same
// session up again on the next try, and a multipart upload sends only the
// parts COS does not hold yet.
function uploadSession(path, contentType, profile, onProgress, done) {
  const remembered = 'cosgate-upload:' + path;
  const start = (size) => withToken({
    url: config.cosgate + '/v1/uploads',
    method: 'POST',
    data: { filename: path.split('/').pop(), size_bytes: size, content_type: contentType, profile },
  });
  const resume = (size) => {
    const id = wx.getStorageSync(remembered);
    if (!id) return start(size);
    return withToken({ url: config.cosgate + '/v1/uploads/' + id, method: 'GET' }).then(
      (session) => (session.status === 'pending' && session.size_bytes === size ? session : start(size)),
      () => start(size),
    );
  };
  new Promise((resolve, reject) => fs().stat({ path, success: resolve, fail: reject }))
    .then(({ stats }) => resume(stats.size))
    .then((session) => {
      wx.setStorageSync(remembered, session.id);
      sessionsByKey[session.key] = session;
      const target = { Bucket: config.bucket, Region: config.region, Key: session.key };
      if (!session.multipart) {
        // The headers cosgate signed: the type, and no overwrite of a verified object.
        return call('putObject', {
          ...target, FilePath: path, ContentType: contentType, Headers: { 'x-cos-forbid-overwrite': 'true' }, onProgress,
        }).then(() => session);
      }
      const plan = session.multipart;
      const read = (n) => new Promise((resolve, reject) => fs().readFile({
        filePath: path,
        position: (n - 1) * plan.part_size,
        length: Math.min(plan.part_size, session.size_bytes - (n - 1) * plan.part_size),
        success: (res) => resolve(res.data),
        fail: reject,
      }));
      return withToken({ url: config.cosgate + '/v1/uploads/' + session.id, method: 'GET' }).then((state) => {
        const present = state.multipart.parts_present || [];
        let chain = Promise.resolve();
        for (let n = 1; n <= plan.part_count; n++) {
          if (present.indexOf(n) >= 0) continue;
          chain = chain.then(() => read(n)).then((body) => call('multipartUpload', {
            ...target, UploadId: plan.upload_id, PartNumber: n, ContentLength: body.byteLength, Body: body,
          })).then(() => onProgress && onProgress({ percent: n / plan.part_count }));
        }
        return chain.then(() => session);
      });
    })
    .then((session) => withToken({ url: config.cosgate + '/v1/uploads/' + session.id + '/complete', method: 'POST' }))
    .then((upload) => {
      wx.removeStorageSync(remembered);
      done(null, upload);
    }, (err) => done(err));
}

// The user picks a photo; it goes through a session.
function uploadPhoto(page) {
  pickImage((path) => {
    uploadSession(path, 'image/jpeg', 'photo', (p) => page.setData({ upload_progress: Math.round(p.percent * 100) }), (err, upload) => {
      if (err) return page.setData({ upload_progress: 0, upload_error: err.error_code ? err.error_code + ': ' + err.message : String(err.message || err) });
      page.setData({ upload_progress: 0, upload_error: '', uploaded: upload });
    });
  });
}

// Lets the user pick one image; calls back with its temp path and a name.
function pickImage(then) {
  wx.chooseMedia({
    count: 1,
    mediaType: ['image'],
    success(res) {
      const path = res.tempFiles[0].tempFilePath;
      then(path, path.split('/').pop());
    },
  });
}

// Today's way: cos-wx-sdk-v5, signed per request by cosgate.
function uploadV5(page) {
  pickImage((path, name) => {
    const key = 'uploads/' + session.accountId + '/' + name; // cosgate signs only this directory
    uploadFile(path, key, (p) => page.setData({ upload_progress: Math.round(p.percent * 100) }), (err, data) => {
      if (err) return page.setData({ upload_progress: 0, upload_error: err.error_code ? err.error_code + ': ' + err.message : String(err.message || err) });
      page.setData({ upload_progress: 0, upload_error: '', test_image: 'https://' + data.Location });
    });
  });
}

// The 2017 way: one v4 signature for the caller's directory, wx.uploadFile.
function uploadV4(page) {
  withToken({ url: config.cosgate + '/v1/qc_cos/config', method: 'GET' }).then((cosConfig) => {
    pickImage((path, name) => {
      const task = wx.uploadFile({
        url: cosConfig.upload_url + '/' + encodeURIComponent(name),
        filePath: path,
        name: 'filecontent',
        header: { Authorization: cosConfig.sign },
        formData: { op: 'upload' },
        success: (up) => page.setData({ test_image: JSON.parse(up.data).data.source_url }),
      });
      task.onProgressUpdate((p) => page.setData({ upload_progress: p.progress === 100 ? 0 : p.progress }));
    });
  }, (err) => page.setData({ upload_error: err.error_code + ': ' + err.message }));
}

module.exports = { config, session, login, refresh, uploadFile, uploadSession, uploadPhoto, uploadV5, uploadV4 };
