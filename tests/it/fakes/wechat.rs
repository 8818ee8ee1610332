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
pub struct FakeWechat {
    pub base: String,
    calls: Calls,
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
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Route::new()
            .at("/sns/jscode2session", get(jscode2session))
            .data(calls.clone());
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
            _stop: stop,
        }
    }

    pub fn calls(&self, code: &str) -> usize {
        self.calls.lock().unwrap().get(code).copied().unwrap_or(0)
    }
}
