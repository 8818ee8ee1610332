//! Starting the server, and making tokens without cosgate's own code.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use cosgate::{Application, Settings};
use tokio::sync::oneshot;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const COS_SECRET_KEY: &str = "secretkey";
pub const COS_SECRET_ID: &str = "AKIDEXAMPLE";
pub const APPID: &str = "1250000000";
pub const BUCKET: &str = "examplebucket";

/// The settings every test starts from; `overrides` replace or add variables.
pub fn test_vars(overrides: &[(&str, &str)]) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = [
        ("COSGATE_BIND", "127.0.0.1:0"),
        ("JWT_SECRET", JWT_SECRET),
        ("QCOS_APPID", APPID),
        ("QCOS_SECRET_ID", COS_SECRET_ID),
        ("QCOS_SECRET_KEY", COS_SECRET_KEY),
        ("QCOS_BUCKET_NAME", BUCKET),
        ("QCOS_REGION", "ap-guangzhou"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in overrides {
        vars.insert(k.to_string(), v.to_string());
    }
    vars
}

pub fn test_settings(overrides: &[(&str, &str)]) -> Settings {
    let vars = test_vars(overrides);
    Settings::from_lookup(|name| vars.get(name).cloned()).expect("test settings are valid")
}

/// A running server on a loopback port; stopped when dropped.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let app = Application::build(test_settings(overrides))
        .await
        .expect("binds port 0");
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        client: reqwest::Client::new(),
        stop: Some(stop),
    }
}

impl TestApp {
    pub async fn get(&self, path: &str, authorization: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(auth) = authorization {
            req = req.header("Authorization", auth);
        }
        req.send().await.expect("the server answers")
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A JWT built by hand (header and claims as given, HS256 under `secret`), so
/// tests do not trust cosgate's own minting.
pub fn forge(header: &str, claims: &str, secret: &[u8]) -> String {
    let signing_input = format!("{}.{}", B64.encode(header), B64.encode(claims));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let sig = ring::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(sig.as_ref()))
}

pub const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// A valid token for `sub` with scope `open`, as PyJWT would make it.
pub fn token_for(sub: &str) -> String {
    let now = now();
    let claims = format!(
        r#"{{"iss":"cosgate","aud":"cosgate","sub":"{sub}","iat":{now},"exp":{},"scopes":["open"]}}"#,
        now + 600
    );
    forge(HS256, &claims, JWT_SECRET.as_bytes())
}

/// The parts of an error body every error answer has.
pub async fn error_code(resp: reqwest::Response) -> (u16, String, serde_json::Value) {
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.expect("error bodies are JSON");
    for field in ["error_code", "message", "text"] {
        assert!(body[field].is_string(), "error body lacks {field}: {body}");
    }
    (
        status,
        body["error_code"].as_str().unwrap().to_string(),
        body,
    )
}
