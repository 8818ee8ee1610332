// cosgate in a WeChat mini-program: log in, then upload a picked image.
//
// Two ways, side by side:
//   uploadV5() — today's way: cos-wx-sdk-v5, whose getAuthorization asks
//                cosgate to sign each request (POST /v1/qc_cos/authorization);
//   uploadV4() — the 2017 seed's way: one v4 signature for a directory
//                (GET /v1/qc_cos/config) and wx.uploadFile to COS's v4 JSON API.
//                COS has retired that API; kept for comparison and old buckets.
//
// Copy lib/cos-wx-sdk-v5.js from the npm package cos-wx-sdk-v5 (its demo/lib
// folder) next to this file, and set the config below.

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
};

const session = { accessToken: null, refreshToken: null, accountId: null };

function basicAuth() {
  const text = config.clientId + ':' + config.clientSecret;
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return 'Basic ' + wx.arrayBufferToBase64(bytes.buffer);
}

function request(options) {
  return new Promise((resolve, reject) => {
    wx.request({
      ...options,
      success: (res) => (res.statusCode < 300 ? resolve(res.data) : reject(res.data)),
      fail: reject,
    });
  });
}

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

// An access token lives two hours; the refresh token is single use.
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

// Calls cosgate with the access token, refreshing it once on 401.
function withToken(options, retried) {
  return request({ ...options, header: { Authorization: 'Bearer ' + session.accessToken } })
    .catch((err) => {
      if (!retried && err && err.error_code === 'invalid_token') {
        return refresh().then(() => withToken(options, true));
      }
      throw err;
    });
}

// cosgate takes header and query values as strings; the SDK passes some as
// numbers (Content-Length, partNumber).
function strings(o) {
  const out = {};
  Object.keys(o || {}).forEach((k) => { out[k] = String(o[k]); });
  return out;
}

const cos = new COS({
  getAuthorization(options, callback) {
    withToken({
      url: config.cosgate + '/v1/qc_cos/authorization',
      method: 'POST',
      data: { method: options.Method, key: options.Key, headers: strings(options.Headers), query: strings(options.Query) },
    }).then(
      // In STS signing mode the signature comes with its session token.
      (a) => callback({
        Authorization: a.authorization, SecurityToken: a.security_token,
        StartTime: a.start_time, ExpiredTime: a.expired_time,
      }),
      (err) => callback({ error: err }),
    );
  },
});

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
      cos.uploadFile({
        Bucket: config.bucket,
        Region: config.region,
        Key: 'uploads/' + session.accountId + '/' + name, // cosgate signs only this directory
        FilePath: path,
        onProgress: (p) => page.setData({ upload_progress: Math.round(p.percent * 100) }),
      }, (err, data) => {
        if (err) return console.error('upload failed', err);
        page.setData({ upload_progress: 0, test_image: 'https://' + data.Location });
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
  });
}

module.exports = { login, refresh, uploadV5, uploadV4 };
