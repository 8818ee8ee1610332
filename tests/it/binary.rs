//! The `cosgate` binary itself: it starts with no configuration, logs one
//! line per request without secrets, and stops cleanly on SIGTERM.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use crate::helpers::*;

pub(crate) fn cosgate() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cosgate"));
    // Run in an empty directory so a developer's .env does not leak in.
    cmd.current_dir(std::env::temp_dir())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd
}

/// A running `cosgate serve` in `dir` with `vars`, the lines it has logged
/// so far, where the rest of its log arrives, and its base URL.
pub(crate) struct Served {
    pub(crate) child: std::process::Child,
    pub(crate) log: Vec<String>,
    pub(crate) lines: std::sync::mpsc::Receiver<String>,
    pub(crate) base: String,
}

pub(crate) fn serve(dir: &std::path::Path, vars: &[(&str, &str)]) -> Served {
    serve_with(dir, test_vars(vars))
}

/// `cosgate serve` in `dir` with nothing but `vars` (and PATH) set: what
/// `cargo run` does on a fresh machine.
pub(crate) fn serve_as_is(dir: &std::path::Path, vars: &[(&str, &str)]) -> Served {
    serve_with(
        dir,
        vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

fn serve_with(dir: &std::path::Path, vars: impl IntoIterator<Item = (String, String)>) -> Served {
    let mut child = cosgate()
        .current_dir(dir)
        .envs(vars)
        .stderr(Stdio::piped())
        .spawn()
        .expect("cosgate starts");
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut log = Vec::new();
    let port = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("cosgate prints where it listens");
        log.push(line.clone());
        // A plain line, or the same words as a JSON log event.
        if let Some(rest) = line.split("Swagger UI at http://127.0.0.1:").nth(1) {
            break rest.split("/docs").next().unwrap_or_default().to_string();
        }
    };
    Served {
        child,
        log,
        lines,
        base: format!("http://127.0.0.1:{port}"),
    }
}

impl Served {
    /// SIGTERM, then the exit status; `log` then holds every line.
    pub(crate) fn stop(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let exit = tokio::task::block_in_place(|| self.child.wait()).unwrap();
        // The reader thread ends when the pipe closes.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.log.push(line);
        }
        exit
    }
}

/// A failed assertion must not leave a server running.
impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_logs_requests_without_secrets_and_stops_on_sigterm() {
    let token = token_for("acc1");
    let dir = tempfile::tempdir().unwrap();
    let mut served = serve(dir.path(), &[("RUST_LOG", "info")]);
    let base = served.base.clone();
    let client = reqwest::Client::new();
    let ok = client
        .get(format!(
            "{base}/v1/qc_cos/config?cos_path=/uploads/acc1/secret-dir"
        ))
        .header("Authorization", format!("JWT {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let sign = ok.json::<serde_json::Value>().await.unwrap()["sign"]
        .as_str()
        .unwrap()
        .to_string();

    let exit = served.stop();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
    assert!(
        dir.path().join("cosgate.db").exists(),
        "the default SQLite file is created"
    );
    let log = served.log.join("\n");

    assert!(
        log.contains("DEVELOPMENT mode"),
        "the development banner is shown:\n{log}"
    );
    assert!(
        log.contains("path=/v1/qc_cos/config") && log.contains("status=200"),
        "access line:\n{log}"
    );
    assert!(log.contains("shutting down"), "{log}");
    for secret in [
        token.as_str(),
        sign.as_str(),
        COS_SECRET_KEY,
        JWT_SECRET,
        "secret-dir",
    ] {
        assert!(!log.contains(secret), "{secret:?} reached the log:\n{log}");
    }
}

#[test]
fn production_without_secrets_refuses_to_start_and_names_them() {
    let out = cosgate().env("COSGATE_ENV", "production").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for name in [
        "JWT_SECRET",
        "QCOS_SECRET_KEY",
        "QCOS_SECRET_ID",
        "QCOS_APPID",
        "QCOS_BUCKET_NAME",
        "QCOS_REGION",
    ] {
        assert!(stderr.contains(name), "{name} not named:\n{stderr}");
    }
}

#[test]
fn token_prints_a_jwt_the_server_accepts() {
    let out = cosgate()
        .envs(test_vars(&[]))
        .args(["token", "--sub", "acc7", "--ttl", "120"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let claims = test_settings(&[])
        .jwt
        .keys()
        .verify(token.trim(), now())
        .expect("the token verifies");
    assert_eq!(claims.sub, "acc7");
    assert_eq!(claims.scopes, ["open"]);
    assert_eq!(claims.exp - claims.iat, 120);
}

#[test]
fn token_is_refused_in_production_without_force_and_without_a_shared_secret() {
    let prod = test_vars(&[
        ("COSGATE_ENV", "production"),
        ("METRICS_TOKEN", "test-metrics-token"),
        ("QCOS_APPID", "1253000000"),
        ("QCOS_BUCKET_NAME", "photos"),
        ("OAUTH_CLIENTS", "test-client:test-client-secret-long"),
    ]);
    let out = cosgate()
        .envs(&prod)
        .args(["token", "--sub", "a"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    let forced = cosgate()
        .envs(&prod)
        .args(["token", "--sub", "a", "--force"])
        .output()
        .unwrap();
    assert!(forced.status.success());

    let out = cosgate().args(["token", "--sub", "a"]).output().unwrap();
    assert!(
        !out.status.success(),
        "no JWT_SECRET: the server would not accept it"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("JWT_SECRET is not set"));
    let out = cosgate()
        .env("JWT_ALGORITHM", "EdDSA")
        .args(["token", "--sub", "a"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "an EdDSA key made up for this process"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("JWT_PRIVATE_KEY_FILE is not set"));
}

#[test]
fn spec_prints_the_served_document() {
    let out = cosgate().arg("spec").output().unwrap();
    assert!(out.status.success());
    let spec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(spec["paths"]["/v1/qc_cos/config"]["get"].is_object());
    let yaml = cosgate().args(["spec", "--yaml"]).output().unwrap();
    assert!(String::from_utf8_lossy(&yaml.stdout).contains("operationId: get_qc_cos_config"));
}

#[test]
fn a_bad_command_line_exits_2_with_usage() {
    let out = cosgate().arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // clap's usage line.
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage:"));
}

#[test]
fn spec_needs_neither_settings_nor_a_database_even_in_production() {
    let dir = tempfile::tempdir().unwrap();
    let out = cosgate()
        .current_dir(dir.path())
        .env("COSGATE_ENV", "production")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:9/none")
        .args(["spec", "--yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(yaml.contains("operationId: get_qc_cos_config"));
    assert!(
        yaml.contains(&format!("version: {}", env!("CARGO_PKG_VERSION"))),
        "the served version is Cargo's"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no database file was created"
    );
}

#[test]
fn spec_into_a_closed_pipe_exits_quietly() {
    let mut child = cosgate()
        .arg("spec")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Like `cosgate spec | head -c0`: the reader goes away at once.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{stderr}");
}

#[test]
fn production_with_the_example_jwt_secret_refuses_to_start_naming_it() {
    let example = include_str!("../../.env.example");
    let secret = example
        .lines()
        .find_map(|line| line.strip_prefix("JWT_SECRET="))
        .unwrap();
    let out = cosgate()
        .envs(test_vars(&[
            ("COSGATE_ENV", "production"),
            ("JWT_SECRET", secret),
            ("QCOS_APPID", "1253000000"),
            ("QCOS_BUCKET_NAME", "photos"),
            ("OAUTH_CLIENTS", "test-client:test-client-secret-long"),
        ]))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("JWT_SECRET: is a placeholder"), "{stderr}");
    assert!(!stderr.contains(secret), "{stderr}");
}

#[test]
fn real_credentials_without_cosgate_env_refuse_to_start_naming_it() {
    let mut vars = test_vars(&[]);
    vars.remove("COSGATE_ENV");
    let out = cosgate().envs(&vars).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("COSGATE_ENV: not set, but real credentials are"),
        "{stderr}"
    );
    assert!(!stderr.contains(COS_SECRET_KEY_VALUE_MARKER), "{stderr}");
}

/// The test COS key is `secretkey`, a word that also appears in messages;
/// this is the whole `KEY=value` form that must never be echoed.
const COS_SECRET_KEY_VALUE_MARKER: &str = "QCOS_SECRET_KEY=secretkey";

#[test]
fn version_and_per_command_help_come_from_clap() {
    let out = cosgate().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("cosgate {}", env!("CARGO_PKG_VERSION"))
    );
    let out = cosgate().args(["token", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("--sub <SUB>") && help.contains("--force"),
        "{help}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_that_is_echoed_in_the_response() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = serve(dir.path(), &[("RUST_LOG", "info"), ("LOG_FORMAT", "json")]);
    let base = served.base.clone();
    let client = reqwest::Client::new();
    let given = client
        .get(format!("{base}/v1/qc_cos/config"))
        .header("X-Request-Id", "req-from-client.42")
        .bearer_auth(token_for("acc1"))
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "req-from-client.42");
    let made = client
        .get(format!("{base}/nowhere"))
        .header("X-Request-Id", "not ok/../{}")
        .send()
        .await
        .unwrap();
    let generated = made.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 32, "a new id replaces an ill-formed one");

    assert!(served.stop().success());
    let log = &served.log;
    let json: Vec<serde_json::Value> = log
        .iter()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let access: Vec<&serde_json::Value> = json
        .iter()
        .filter(|l| l["target"] == "cosgate::access")
        .collect();
    assert_eq!(access.len(), 2, "{log:?}");
    assert_eq!(access[0]["span"]["request_id"], "req-from-client.42");
    assert_eq!(access[0]["fields"]["status"], 200);
    assert_eq!(access[1]["span"]["request_id"], generated.as_str());
    assert_eq!(access[1]["fields"]["status"], 404);
    assert!(!log.join("\n").contains(&token_for("acc1")[..40]));
}

/// One worker of the crash storm: logs in, refreshes once, and keeps the
/// answered refresh token (never presenting it again), until the server
/// stops answering. Returns every status it saw.
async fn crash_storm_worker(
    base: String,
    prefix: String,
    kept: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) -> Vec<u16> {
    let client = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        client
            .post(format!("{base}{path}"))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .json(&body)
            .send()
    };
    let mut statuses = Vec::new();
    for n in 0.. {
        let code = format!("dev-{prefix}{}", n % 8);
        let Ok(login) = post("/auth/oauth/token", serde_json::json!({ "code": code })).await else {
            break;
        };
        statuses.push(login.status().as_u16());
        let Ok(tokens) = login.json::<serde_json::Value>().await else {
            continue;
        };
        let Some(first) = tokens["refresh_token"].as_str() else {
            continue;
        };
        let body = serde_json::json!({ "refresh_token": first });
        let Ok(refreshed) = post("/auth/oauth/token/refresh", body).await else {
            break;
        };
        statuses.push(refreshed.status().as_u16());
        if let Ok(next) = refreshed.json::<serde_json::Value>().await
            && let Some(token) = next["refresh_token"].as_str()
        {
            kept.lock().unwrap().push(token.to_string());
        }
    }
    statuses
}

/// 16 workers log in and refresh against the binary; it is killed with
/// SIGKILL mid-storm and restarted on the same store, twice; then every
/// refresh token that was ever answered must still refresh.
async fn crash_storm(vars: &[(&str, &str)], prefix: &str) {
    let dir = tempfile::tempdir().unwrap();
    let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut statuses = Vec::new();
    let mut served = serve(dir.path(), vars);
    for crash in 0..2 {
        let workers: Vec<_> = (0..16)
            .map(|i| {
                tokio::spawn(crash_storm_worker(
                    served.base.clone(),
                    format!("{prefix}{crash}-{i}-"),
                    kept.clone(),
                ))
            })
            .collect();
        let target = (crash + 1) * 150;
        for _ in 0..600 {
            if kept.lock().unwrap().len() >= target {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        served.child.kill().unwrap(); // SIGKILL: no shutdown, no flush
        tokio::task::block_in_place(|| served.child.wait()).unwrap();
        for worker in workers {
            statuses.extend(worker.await.unwrap());
        }
        served = serve(dir.path(), vars);
    }
    let server_errors: Vec<_> = statuses.iter().filter(|s| **s >= 500).collect();
    assert!(
        server_errors.is_empty(),
        "{} requests: {server_errors:?}",
        statuses.len()
    );
    let kept = kept.lock().unwrap().clone();
    assert!(
        kept.len() >= 300,
        "only {} refresh tokens answered",
        kept.len()
    );
    let client = reqwest::Client::new();
    let mut lost = 0;
    for token in &kept {
        let resp = client
            .post(format!("{}/auth/oauth/token/refresh", served.base))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .json(&serde_json::json!({ "refresh_token": token }))
            .send()
            .await
            .unwrap();
        if resp.status() != 200 {
            lost += 1;
        }
    }
    assert_eq!(
        lost,
        0,
        "of {} answered refresh tokens, {lost} were lost",
        kept.len()
    );
    assert!(served.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_a_login_storm_loses_no_answered_refresh_token_on_sqlite() {
    crash_storm(&[], "crash").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_a_login_storm_loses_no_answered_refresh_token_on_postgres() {
    let Ok(url) = std::env::var("COSGATE_TEST_POSTGRES_URL") else {
        skip("kill -9 during the login storm on PostgreSQL (set COSGATE_TEST_POSTGRES_URL)");
        return;
    };
    crash_storm(
        &[("DATABASE_URL", url.as_str())],
        &format!("crash{}-", now()),
    )
    .await;
}

/// Every line of `lines` is a JSON object; their `fields.message`s.
fn all_json(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|line| {
            let event: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            event["fields"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn with_log_format_json_every_line_the_process_writes_is_json() {
    // Development: the banner too.
    let dir = tempfile::tempdir().unwrap();
    let mut served = serve(dir.path(), &[("LOG_FORMAT", "json")]);
    let resp = reqwest::get(format!("{}/healthz", served.base))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(served.stop().success());
    let messages = all_json(&served.log);
    assert!(
        messages.iter().any(|m| m.contains("DEVELOPMENT mode")),
        "{messages:?}"
    );

    // Production with v4 named: its warning at start.
    let dir = tempfile::tempdir().unwrap();
    let mut served = serve(
        dir.path(),
        &[
            ("LOG_FORMAT", "json"),
            ("COSGATE_ENV", "production"),
            ("QCOS_APPID", "1253000000"),
            ("QCOS_BUCKET_NAME", "photos"),
            ("METRICS_TOKEN", "test-metrics-token"),
            ("QCOS_SIGNING", "root"),
            ("QCOS_V4_ENABLED", "true"),
        ],
    );
    assert!(served.stop().success());
    let messages = all_json(&served.log);
    assert!(
        messages.iter().any(|m| m.contains("QCOS_V4_ENABLED=true")),
        "{messages:?}"
    );
    assert!(messages.iter().any(|m| m.contains("QCOS_SIGNING=root")));

    // A start that fails on its settings.
    let out = cosgate()
        .envs(test_vars(&[
            ("LOG_FORMAT", "json"),
            ("COSGATE_ENV", "production"),
            ("QCOS_APPID", "1253000000"),
            ("QCOS_BUCKET_NAME", "photos"),
        ]))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let lines: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(String::from)
        .collect();
    let messages = all_json(&lines);
    assert!(
        messages
            .iter()
            .any(|m| m.contains("METRICS_TOKEN: production needs")),
        "{messages:?}"
    );
}

/// An upload session and its reserved bytes survive kill -9 between create
/// and complete: after a restart on the same store, both a single and a
/// multipart session complete, and the bytes are counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_sessions_survive_kill_9_between_create_and_complete() {
    if !crate::js_sdk::js_tooling_ready() {
        return;
    }
    let cos = crate::fakes::start_fake_cos();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://{}", cos.host);
    let db = format!("sqlite://{}", dir.path().join("sessions.db").display());
    let vars = [
        ("QCOS_ENDPOINT", endpoint.as_str()),
        ("QCOS_STORAGE_BYTES_PER_ACCOUNT", "10000000"),
        ("UPLOAD_PART_BYTES", "1048576"),
        ("DATABASE_URL", db.as_str()),
    ];
    let client = reqwest::Client::new();
    let token = token_for("acc1");
    let mut served = serve(dir.path(), &vars);
    let create = |base: String, body: serde_json::Value| {
        let req = client
            .post(format!("{base}/v1/uploads"))
            .bearer_auth(&token)
            .json(&body);
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 201);
            resp.json::<serde_json::Value>().await.unwrap()
        }
    };
    let small: Vec<u8> = (0..30_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let large: Vec<u8> = (0..(2 * 1024 * 1024 + 9u32))
        .map(|i| (i * 13 % 249) as u8)
        .collect();
    let single = create(
        served.base.clone(),
        serde_json::json!({"filename": "a.jpg", "size_bytes": small.len(), "content_type": "image/jpeg"}),
    )
    .await;
    let multi = create(
        served.base.clone(),
        serde_json::json!({"filename": "b.mp4", "size_bytes": large.len(), "content_type": "video/mp4", "profile": "video"}),
    )
    .await;
    served.child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    let _ = served.child.wait();

    let restarted = serve(dir.path(), &vars);
    let base = restarted.base.clone();
    // Exactly the headers the session signed (reqwest sets the length).
    let mut put = client.put(single["put"]["url"].as_str().unwrap());
    for (name, value) in single["put"]["headers"].as_object().unwrap() {
        if !name.eq_ignore_ascii_case("content-length") {
            put = put.header(name.as_str(), value.as_str().unwrap());
        }
    }
    let put = put.body(small.clone()).send().await.unwrap();
    assert_eq!(put.status(), 200);
    let id = multi["id"].as_str().unwrap();
    let parts: serde_json::Value = client
        .post(format!("{base}/v1/uploads/{id}/parts"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"part_numbers": [1, 2, 3]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for part in parts["parts"].as_array().unwrap() {
        let n = part["part_number"].as_u64().unwrap() as usize;
        let body = large[(n - 1) * 1048576..(n * 1048576).min(large.len())].to_vec();
        let sent = client
            .put(part["url"].as_str().unwrap())
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(sent.status(), 200);
    }
    for session in [&single, &multi] {
        let id = session["id"].as_str().unwrap();
        let done: serde_json::Value = client
            .post(format!("{base}/v1/uploads/{id}/complete"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(done["status"], "completed", "{done}");
    }
    drop(restarted);
    let store = cosgate::store::Store::connect(&db).await.unwrap();
    assert_eq!(
        store.stored_bytes("acc1").await.unwrap(),
        (small.len() + large.len()) as i64,
        "counted once"
    );
}

/// A rollout that migrates once, before its replicas start: `serve` told
/// not to migrate refuses an older schema and names the command; `cosgate
/// migrate` brings it up to date (twice is harmless); then `serve` starts
/// on it without migrating and is ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_runs_apart_from_serve() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("rollout.db").display());
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count();
    let vars = [
        ("DATABASE_URL", db.as_str()),
        ("DATABASE_MIGRATE_ON_START", "false"),
    ];
    let refused = cosgate()
        .current_dir(dir.path())
        .envs(test_vars(&vars))
        .arg("serve")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!("0 of {migrations} migrations have run"))
            && stderr.contains("cosgate migrate"),
        "{stderr}"
    );
    for _ in 0..2 {
        let out = cosgate()
            .current_dir(dir.path())
            .envs(test_vars(&vars))
            .arg("migrate")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("{migrations} of {migrations} migrations have run")),
            "{stdout}"
        );
    }
    let mut served = serve(dir.path(), &vars);
    let ready = reqwest::get(format!("{}/readyz", served.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert!(served.stop().success());

    // A newer build migrated it (a rollback to this one): both ways start.
    let file = dir.path().join("rollout.db");
    let newer = Command::new("python3")
        .args(["-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); \
c.execute(\"INSERT INTO _sqlx_migrations VALUES (99990101000000, 'newer', CURRENT_TIMESTAMP, 1, x'00', 0)\"); c.commit()"])
        .arg(&file)
        .status()
        .unwrap();
    assert!(newer.success());
    for migrate in ["false", "true"] {
        let mut served = serve(
            dir.path(),
            &[
                ("DATABASE_URL", db.as_str()),
                ("DATABASE_MIGRATE_ON_START", migrate),
            ],
        );
        let ready = reqwest::get(format!("{}/readyz", served.base))
            .await
            .unwrap();
        assert_eq!(ready.status(), 200, "DATABASE_MIGRATE_ON_START={migrate}");
        assert!(served.stop().success());
    }
}
