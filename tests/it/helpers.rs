//! Starting the server and making tokens without cosgate's own code. The
//! fakes it talks to are in `crate::fakes`.

use std::{collections::HashMap, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use cosgate::{Application, Settings};
use tokio::sync::oneshot;

use crate::fakes::FakeWechat;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const COS_SECRET_KEY: &str = "secretkey";
pub const COS_SECRET_ID: &str = "AKIDEXAMPLE";
pub const APPID: &str = "1250000000";
pub const BUCKET: &str = "examplebucket";
/// WeChat's published example app, so its encryptedData vector decrypts.
pub const WXAPP_ID: &str = "wx4f4bc4dec97d474b";
pub const WXAPP_SECRET: &str = "test-wxapp-secret";
pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "test-client-secret";

/// The settings every test starts from; `overrides` replace or add variables.
pub fn test_vars(overrides: &[(&str, &str)]) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = [
        // Real-looking credentials need the mode said explicitly.
        ("COSGATE_ENV", "development"),
        ("COSGATE_BIND", "127.0.0.1:0"),
        // Tests send bursts from one address; the limits have their own tests.
        ("RATE_LIMIT_SIGN_PER_MIN", "0"),
        ("RATE_LIMIT_LOGIN_PER_MIN", "0"),
        ("JWT_SECRET", JWT_SECRET),
        ("QCOS_APPID", APPID),
        ("QCOS_SECRET_ID", COS_SECRET_ID),
        ("QCOS_SECRET_KEY", COS_SECRET_KEY),
        ("QCOS_BUCKET_NAME", BUCKET),
        ("QCOS_REGION", "ap-guangzhou"),
        ("WXAPP_ID", WXAPP_ID),
        ("WXAPP_SECRET", WXAPP_SECRET),
        ("OAUTH_CLIENTS", "test-client:test-client-secret"),
        ("WECHAT_TIMEOUT_MS", "500"),
        // Nothing listens here; tests that log in start a fake WeChat.
        ("WECHAT_API_BASE", "http://127.0.0.1:9"),
        // Tests name their COS (a fake, or the local one where they test it).
        ("LOCAL_COS", "false"),
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

/// A running server on a loopback port, with its own SQLite file unless
/// `DATABASE_URL` is overridden; stopped when dropped.
pub struct TestApp {
    pub base: String,
    /// Where `/metrics` is served when `METRICS_BIND` is set.
    pub metrics_base: Option<String>,
    /// `127.0.0.1:port` of the local COS when `LOCAL_COS` is on.
    pub local_cos: Option<String>,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
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
    let dir = tempfile::tempdir().unwrap();
    let own_db = format!("sqlite://{}", dir.path().join("cosgate.db").display());
    let mut vars = vec![("DATABASE_URL", own_db.as_str())];
    vars.extend_from_slice(overrides);
    let app = Application::build(test_settings(&vars))
        .await
        .expect("starts on port 0");
    let base = format!("http://127.0.0.1:{}", app.port());
    let metrics_base = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let local_cos = app.local_cos_port().map(|port| format!("127.0.0.1:{port}"));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        metrics_base,
        local_cos,
        client: reqwest::Client::new(),
        stop: Some(stop),
        _dir: dir,
    }
}

/// A server whose WeChat is `wechat`, plus `overrides`.
pub async fn spawn_app_with_wechat(wechat: &FakeWechat, overrides: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![("WECHAT_API_BASE", wechat.base.as_str())];
    vars.extend_from_slice(overrides);
    spawn_app_with(&vars).await
}

impl TestApp {
    pub async fn get(&self, path: &str, authorization: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(auth) = authorization {
            req = req.header("Authorization", auth);
        }
        req.send().await.expect("the server answers")
    }

    /// `POST path` with a JSON body and a bearer token for `sub` (see
    /// `token_for`).
    pub async fn post_as(
        &self,
        sub: &str,
        path: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token_for(sub))
            .json(&body)
            .send()
            .await
            .expect("the server answers")
    }

    /// `POST path` with a JSON body and the test OAuth client's credentials.
    pub async fn post_as_client(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .json(&body)
            .send()
            .await
            .expect("the server answers")
    }

    /// Stops the server, letting in-flight connections close.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
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

/// Checks that `resp` is a refusal with `status` and `error_code` `code` (and
/// an error body, see `error_code`), and returns the body for further checks.
/// Awaited like an `async fn`; a failure names the line that called it, the
/// URL and the body.
#[track_caller]
pub fn assert_refused(
    resp: reqwest::Response,
    status: u16,
    code: &str,
) -> impl Future<Output = serde_json::Value> + '_ {
    let caller = std::panic::Location::caller();
    async move {
        let url = resp.url().clone();
        let (got, error, body) = error_code(resp).await;
        assert_eq!(
            (got, error.as_str()),
            (status, code),
            "{caller}: {url}: {body}"
        );
        body
    }
}

/// Says why a test is skipped, on the terminal itself: libtest captures
/// `eprintln!`, but not writes to the stderr handle, so this shows in a plain
/// `cargo test`.
pub fn skip(reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
}

/// The Python that can `import modules` (comma-separated): CI's venv, else
/// the system's. Without one the test is skipped on a developer's machine
/// (saying `pip install packages`) and fails under CI.
pub fn python_with(modules: &str, packages: &str) -> Option<std::path::PathBuf> {
    use std::{path::PathBuf, process::Command};
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/.venv/bin/python");
    let found = [venv, PathBuf::from("python3")].into_iter().find(|python| {
        Command::new(python)
            .args(["-c", &format!("import {modules}")])
            .output()
            .is_ok_and(|out| out.status.success())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install {packages} (.ci/requirements.txt)"
        );
        skip(&format!("needs `pip install {packages}` (or .ci/.venv)"));
    }
    found
}

/// Runs `python script args…` off the runtime's threads and reads the JSON
/// report the script prints last; panics with its output when there is
/// none.
pub async fn python_report(
    python: std::path::PathBuf,
    script: std::path::PathBuf,
    args: Vec<String>,
) -> serde_json::Value {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "no report; stdout {stdout}\nstderr {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}
