//! A fake WeChat API, in process.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::oneshot;

use crate::helpers::{WXAPP_ID, WXAPP_SECRET};

type Calls = Arc<Mutex<HashMap<String, usize>>>;

/// A fake WeChat API on loopback. What `jscode2session` answers depends on
/// the `js_code`:
/// - `vector`: WeChat's published example user (its encryptedData decrypts);
/// - `user-<name>`: openid `o-<name>` with an unrelated session key;
/// - `invalid`, `limited`, `risky`, `busy`: errcodes 40029, 45011, 40226, -1;
/// - `slow`: a valid answer after 2 s; `html`: not JSON; `http500`: HTTP 500.
///
/// A wrong appid, secret or grant_type gets errcode 40125. Calls are counted
/// per code.
///
/// Its content security follows WeChat's documents independently of
/// cosgate: `cgi-bin/stable_token` issues an access token (a new one only
/// with `force_refresh`), `wxa/media_check_async` accepts only the current
/// token, checks the request's fields, fetches the media URL, and answers a
/// `trace_id`; [`FakeWechat::push`] then sends a verdict as WeChat's message
/// push does, signed, and encrypted in safe mode.
pub struct FakeWechat {
    pub base: String,
    calls: Calls,
    security: SharedSecurity,
    _stop: oneshot::Sender<()>,
}

#[poem::handler]
async fn jscode2session(
    poem::web::Query(q): poem::web::Query<HashMap<String, String>>,
    poem::web::Data(calls): poem::web::Data<&Calls>,
) -> poem::Response {
    use poem::{IntoResponse, http::StatusCode, web::Json};
    let code = q.get("js_code").cloned().unwrap_or_default();
    *calls.lock().unwrap().entry(code.clone()).or_default() += 1;
    let param = |name: &str| q.get(name).map(String::as_str);
    let errcode =
        |n: i64| Json(serde_json::json!({"errcode": n, "errmsg": "fake"})).into_response();
    if param("appid") != Some(WXAPP_ID)
        || param("secret") != Some(WXAPP_SECRET)
        || param("grant_type") != Some("authorization_code")
    {
        return errcode(40125);
    }
    let session = |openid: &str, key: &str| {
        Json(serde_json::json!({"openid": openid, "session_key": key, "unionid": format!("u-{openid}")}))
            .into_response()
    };
    match code.as_str() {
        "vector" => session("oGZUI0egBJY1zhBYw2KhdUfwVJJE", "tiihtNczf5v6AKRyjwEUhQ=="),
        "invalid" => errcode(40029),
        "limited" => errcode(45011),
        "risky" => errcode(40226),
        "busy" => errcode(-1),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            session("o-slow", "AAAAAAAAAAAAAAAAAAAAAA==")
        }
        "html" => poem::web::Html("<html>maintenance</html>").into_response(),
        "http500" => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        other => match other.strip_prefix("user-") {
            Some(name) => session(&format!("o-{name}"), "AAAAAAAAAAAAAAAAAAAAAA=="),
            None => errcode(40029),
        },
    }
}

impl FakeWechat {
    pub async fn start() -> Self {
        use poem::{
            EndpointExt, Route, Server, get,
            listener::{Acceptor, Listener, TcpListener},
        };
        let calls: Calls = Default::default();
        let security: SharedSecurity = Default::default();
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Route::new()
            .at("/sns/jscode2session", get(jscode2session))
            .at("/cgi-bin/stable_token", poem::post(stable_token))
            .at("/wxa/media_check_async", poem::post(media_check_async))
            .data(calls.clone())
            .data(security.clone());
        tokio::spawn(
            Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
                app,
                async {
                    let _ = stopped.await;
                },
                None,
            ),
        );
        FakeWechat {
            base: format!("http://127.0.0.1:{port}"),
            calls,
            security,
            _stop: stop,
        }
    }

    pub fn calls(&self, code: &str) -> usize {
        self.calls.lock().unwrap().get(code).copied().unwrap_or(0)
    }
}

/// What the fake WeChat's content security holds: the access tokens it
/// issued (the newest is valid) and every media check submitted.
#[derive(Default)]
pub struct Security {
    pub token: Option<String>,
    pub token_calls: usize,
    pub submissions: Vec<Submission>,
}

/// One `media_check_async` call, and what fetching its `media_url` gave.
#[derive(Debug, Clone)]
pub struct Submission {
    pub trace_id: String,
    pub openid: String,
    pub media_type: i64,
    pub scene: i64,
    /// The status and bytes of WeChat's GET of the media URL.
    pub fetched: Option<(u16, Vec<u8>)>,
}

/// How a push is sent: plain (signed) or safe (signed and encrypted).
#[derive(Debug, Clone, Copy)]
pub enum PushMode<'a> {
    Plain {
        token: &'a str,
    },
    Safe {
        token: &'a str,
        aes_key: &'a str,
        appid: &'a str,
    },
}

type SharedSecurity = Arc<Mutex<Security>>;

/// `POST /cgi-bin/stable_token`: WeChat's stable access token, as its
/// document says: the same token until `force_refresh`.
#[poem::handler]
async fn stable_token(
    poem::web::Json(asked): poem::web::Json<serde_json::Value>,
    poem::web::Data(security): poem::web::Data<&SharedSecurity>,
) -> poem::web::Json<serde_json::Value> {
    use serde_json::json;
    if asked["grant_type"] != "client_credential"
        || asked["appid"] != WXAPP_ID
        || asked["secret"] != WXAPP_SECRET
    {
        return poem::web::Json(json!({"errcode": 40013, "errmsg": "invalid appid or secret"}));
    }
    let mut security = security.lock().unwrap();
    security.token_calls += 1;
    if security.token.is_none() || asked["force_refresh"] == true {
        security.token = Some(format!("tok-{}", security.token_calls));
    }
    poem::web::Json(json!({"access_token": security.token, "expires_in": 7200}))
}

/// `POST /wxa/media_check_async?access_token=`: checks the token and the
/// request as WeChat's document lists them, answers a `trace_id`, and
/// fetches the media URL as WeChat would (so it must really work).
#[poem::handler]
async fn media_check_async(
    poem::web::Query(q): poem::web::Query<HashMap<String, String>>,
    poem::web::Json(asked): poem::web::Json<serde_json::Value>,
    poem::web::Data(security): poem::web::Data<&SharedSecurity>,
) -> poem::web::Json<serde_json::Value> {
    use serde_json::json;
    let errcode = |n: i64, msg: &str| poem::web::Json(json!({"errcode": n, "errmsg": msg}));
    {
        let security = security.lock().unwrap();
        if security.token.is_none() || q.get("access_token") != security.token.as_ref() {
            return errcode(40001, "invalid credential, access_token is invalid");
        }
    }
    let (Some(url), Some(media_type), Some(openid), Some(scene)) = (
        asked["media_url"].as_str(),
        asked["media_type"].as_i64(),
        asked["openid"].as_str(),
        asked["scene"].as_i64(),
    ) else {
        return errcode(47001, "data format error");
    };
    if asked["version"] != 2 || !(1..=2).contains(&media_type) || !(1..=4).contains(&scene) {
        return errcode(40003, "invalid parameter");
    }
    let trace_id = format!("trace-{:016x}", rand_u64());
    security.lock().unwrap().submissions.push(Submission {
        trace_id: trace_id.clone(),
        openid: openid.to_string(),
        media_type,
        scene,
        fetched: None,
    });
    let (url, security, trace) = (url.to_string(), security.clone(), trace_id.clone());
    tokio::spawn(async move {
        let fetched = match reqwest::get(&url).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                (
                    status,
                    resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
                )
            }
            Err(_) => (0, Vec::new()),
        };
        let mut security = security.lock().unwrap();
        if let Some(s) = security
            .submissions
            .iter_mut()
            .find(|s| s.trace_id == trace)
        {
            s.fetched = Some(fetched);
        }
    });
    poem::web::Json(json!({"errcode": 0, "errmsg": "ok", "trace_id": trace_id}))
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

/// WeChat's message-push signature: hex SHA-1 of the sorted parts, joined.
pub fn push_signature(parts: &[&str]) -> String {
    use sha1::Digest;
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    sha1::Sha1::digest(sorted.concat().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Safe mode's `Encrypt`: AES-256-CBC (key = base64(EncodingAESKey + "="),
/// IV its first 16 bytes) of random(16) ‖ len ‖ message ‖ appid, padded
/// PKCS#7 to 32-byte blocks; base64.
pub fn encrypt_push(aes_key: &str, appid: &str, message: &[u8]) -> String {
    use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
    use base64::{
        Engine,
        engine::{GeneralPurpose, GeneralPurposeConfig, general_purpose::STANDARD},
    };
    // As WeChat's own samples decode it: the spare bits of the last
    // character are ignored.
    let lenient = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let key = lenient.decode(format!("{aes_key}=")).unwrap();
    let mut plain = rand_u64().to_be_bytes().repeat(2);
    plain.extend((message.len() as u32).to_be_bytes());
    plain.extend(message);
    plain.extend(appid.as_bytes());
    let pad = 32 - plain.len() % 32;
    plain.extend(std::iter::repeat_n(pad as u8, pad));
    let encrypted = cbc::Encryptor::<aes::Aes256>::new(key[..].into(), key[..16].into())
        .encrypt_padded_vec_mut::<NoPadding>(&plain);
    STANDARD.encode(encrypted)
}

impl FakeWechat {
    pub fn security(&self) -> std::sync::MutexGuard<'_, Security> {
        self.security.lock().unwrap()
    }

    /// Waits until WeChat fetched the media of `trace_id`; what it got.
    pub async fn fetched(&self, trace_id: &str) -> (u16, Vec<u8>) {
        for _ in 0..100 {
            let found = self
                .security()
                .submissions
                .iter()
                .find(|s| s.trace_id == trace_id)
                .and_then(|s| s.fetched.clone());
            if let Some(fetched) = found {
                return fetched;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("WeChat never fetched {trace_id}");
    }

    /// Pushes a verdict for `trace_id` to `url` as WeChat does (`timestamp`
    /// as given, so tests can send stale ones); the status cosgate answered.
    pub async fn push(
        &self,
        url: &str,
        mode: PushMode<'_>,
        timestamp: u64,
        trace_id: &str,
        suggest: &str,
        label: i64,
    ) -> u16 {
        use serde_json::json;
        let body = json!({
            "ToUserName": "gh_fake", "FromUserName": "o-system", "CreateTime": timestamp,
            "MsgType": "event", "Event": "wxa_media_check", "appid": WXAPP_ID,
            "trace_id": trace_id, "version": 2,
            "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}],
            "errcode": 0, "errmsg": "ok", "result": {"suggest": suggest, "label": label},
        });
        let (ts, nonce) = (
            timestamp.to_string(),
            format!("{}", rand_u64() % 1_000_000_000),
        );
        let (query, body) = match mode {
            PushMode::Plain { token } => (
                vec![
                    ("signature", push_signature(&[token, &ts, &nonce])),
                    ("timestamp", ts),
                    ("nonce", nonce),
                ],
                body,
            ),
            PushMode::Safe {
                token,
                aes_key,
                appid,
            } => {
                let encrypted = encrypt_push(aes_key, appid, body.to_string().as_bytes());
                (
                    vec![
                        ("signature", push_signature(&[token, &ts, &nonce])),
                        (
                            "msg_signature",
                            push_signature(&[token, &ts, &nonce, &encrypted]),
                        ),
                        ("encrypt_type", "aes".to_string()),
                        ("timestamp", ts),
                        ("nonce", nonce),
                    ],
                    json!({"ToUserName": "gh_fake", "Encrypt": encrypted}),
                )
            }
        };
        reqwest::Client::new()
            .post(url)
            .query(&query)
            .json(&body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}
