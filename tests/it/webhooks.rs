//! Upload events as the app's backend receives them: a receiver built on the
//! official `standardwebhooks` package (`tests/js/webhook_receiver.py`)
//! verifies every delivery and counts what arrived by `webhook-id`, against
//! cosgate in process and as a binary killed with -9, on SQLite and on one
//! PostgreSQL shared by two processes. The sweeper is checked at the fake
//! COS, which lists what it still holds.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use cosgate::store::{Store, UploadStatus};
use serde_json::{Value, json};

use crate::{
    binary::serve,
    fakes::{FakeCos, start_fake_cos},
    helpers::*,
    js_sdk::js_tooling_ready,
    uploads::{
        UPLOADS, bytes, call, complete, created, hex, md5_digest, replace_at_cos, send,
        signed_parts, world,
    },
};

/// The receiver's secret (Standard Webhooks' documented example secret).
pub(crate) const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A secret being retired: cosgate signs with both during a rotation.
const OLD_SECRET: &str = "whsec_b2xkLW9sZC1vbGQtb2xkLW9sZC1vbGQtb2xkLW9sZA==";

/// The receiver, killed when dropped.
pub(crate) struct Receiver {
    base: String,
    port: u16,
    child: Child,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python that has `standardwebhooks`.
fn python() -> Option<PathBuf> {
    python_with("standardwebhooks", "standardwebhooks")
}

impl Receiver {
    /// On `port` (0: any); `None` when the tooling is missing.
    pub(crate) fn start(port: u16) -> Option<Self> {
        let python = python()?;
        let mut child = Command::new(python)
            .arg(crate::fakes::js_dir().join("webhook_receiver.py"))
            .args([SECRET, &port.to_string(), OLD_SECRET])
            .stdout(Stdio::piped())
            .spawn()
            .expect("the receiver starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().expect("the receiver prints its port");
        Some(Self {
            base: format!("http://127.0.0.1:{port}"),
            port,
            child,
        })
    }

    pub(crate) fn url(&self) -> String {
        format!("{}/hook", self.base)
    }

    async fn plan(&self, plan: Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/__plan", self.base))
            .json(&plan)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
    }

    pub(crate) async fn log(&self) -> Value {
        reqwest::get(format!("{}/__log", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The log once `done` holds of it, within `within`.
    pub(crate) async fn wait_for(&self, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let log = self.log().await;
            if done(&log) {
                return log;
            }
            assert!(started.elapsed() < within, "not in time: {}", brief(&log));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn selfcheck(&self) -> Value {
        reqwest::Client::new()
            .post(format!("{}/__selfcheck", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// The fake COS and cosgate sending its events to `receiver`, retrying
/// every second; `vars` added.
pub(crate) async fn hooked(
    receiver: &Receiver,
    vars: &[(&str, &str)],
) -> Option<(FakeCos, TestApp)> {
    let url = receiver.url();
    let mut all = vec![
        ("WEBHOOK_URL", url.as_str()),
        ("WEBHOOK_SECRETS", SECRET),
        ("WEBHOOK_RETRY_BASE_MS", "10"),
        ("WEBHOOK_POLL_MS", "100"),
    ];
    all.extend_from_slice(vars);
    world(&all).await
}

/// Creates a session for `account` and deletes it (an `upload.deleted`
/// event); its id.
async fn delete_a_session(app: &TestApp, account: &str) -> String {
    let answer = created(
        app,
        account,
        json!({"filename": "b.jpg", "size_bytes": 10, "content_type": "image/jpeg"}),
    )
    .await;
    let id = answer["id"].as_str().unwrap().to_string();
    let resp = call(
        app,
        account,
        reqwest::Method::DELETE,
        &format!("{UPLOADS}/{id}"),
    )
    .await;
    assert_eq!(resp.status(), 200);
    id
}

/// The receiver's log, short enough for a failure message.
pub(crate) fn brief(log: &Value) -> String {
    format!(
        "attempts {}, delivered {}, invalid {}, overlaps {}",
        log["attempts"].as_array().map_or(0, Vec::len),
        log["delivered"].as_object().map_or(0, |d| d.len()),
        log["invalid"],
        log["overlaps"]
    )
}

/// `tests/js/webhook_verify.cjs` (the npm `standardwebhooks`) on a delivery.
fn node_verify(delivery: &str) -> Value {
    use std::io::Write;
    let mut child = Command::new("node")
        .arg(crate::fakes::js_dir().join("webhook_verify.cjs"))
        .arg(SECRET)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(delivery.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the npm package refused a delivery");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The delivered events of `event_type`.
pub(crate) fn delivered_of(log: &Value, event_type: &str) -> Vec<Value> {
    log["events"]
        .as_object()
        .unwrap()
        .values()
        .filter(|event| event["type"] == event_type)
        .cloned()
        .collect()
}

/// What the fake COS holds: object paths and multipart uploads in progress.
pub(crate) async fn cos_state(host: &str) -> Value {
    reqwest::get(format!("http://{host}/__debug/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Starts a multipart upload at the fake COS as if a client had, `age`
/// seconds ago, outside cosgate's sessions.
async fn orphan(host: &str, key: &str, age: u64) -> String {
    let started: Value = reqwest::Client::new()
        .post(format!("http://{host}/__debug/initiate"))
        .json(&json!({"key": key, "age_seconds": age}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    started["upload_id"].as_str().unwrap().to_string()
}

async fn metrics(app: &TestApp) -> String {
    app.get("/metrics", None).await.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_upload_is_announced_once_signed_and_retried_with_the_same_id() {
    let Some(receiver) = Receiver::start(0) else {
        return;
    };
    receiver
        .plan(json!({"statuses": [500, 500, 500], "default": 200}))
        .await;
    let url = receiver.url();
    let secrets = format!("{OLD_SECRET},{SECRET}");
    let Some((_cos, app)) = world(&[
        ("WEBHOOK_URL", url.as_str()),
        ("WEBHOOK_SECRETS", secrets.as_str()),
        ("WEBHOOK_RETRY_BASE_MS", "10"),
        ("WEBHOOK_POLL_MS", "100"),
    ])
    .await
    else {
        return;
    };
    let data = bytes(70_000, 5);
    let answer = created(
        &app,
        "acc1",
        json!({"filename": "holiday.png", "size_bytes": data.len(), "content_type": "image/png"}),
    )
    .await;
    let id = answer["id"].as_str().unwrap();
    assert_eq!(send(&answer["put"], data.clone(), &[]).await, 200);
    let done: Value = complete(&app, "acc1", id).await.json().await.unwrap();
    assert_eq!(done["status"], "completed");
    // Completing again changes nothing, so it announces nothing.
    assert_eq!(complete(&app, "acc1", id).await.status(), 200);

    let log = receiver
        .wait_for(Duration::from_secs(30), |log| {
            !log["delivered"].as_object().unwrap().is_empty()
        })
        .await;
    let attempts = log["attempts"].as_array().unwrap();
    let statuses: Vec<i64> = attempts
        .iter()
        .map(|a| a["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 500, 500, 200], "{log}");
    let event_id = attempts[0]["id"].as_str().unwrap();
    assert!(
        attempts.iter().all(|a| a["id"] == event_id),
        "one webhook-id on every retry: {log}"
    );
    assert_eq!(log["invalid"], 0, "every delivery verified: {log}");
    let event = &log["events"][event_id];
    assert_eq!(event["type"], "upload.completed");
    let data_ = &event["data"];
    assert_eq!(data_["upload_id"], id);
    assert_eq!(data_["account_id"], "acc1");
    assert_eq!(data_["key"], answer["key"]);
    assert_eq!(data_["filename"], "holiday.png");
    assert_eq!(data_["size_bytes"], data.len());
    assert_eq!(data_["content_type"], "image/png");
    assert_eq!(data_["profile"], answer["profile"]);
    assert_eq!(
        data_["etag"],
        hex(&md5_digest(&data)),
        "the ETag COS verified"
    );
    assert_eq!(data_["completed_time"], done["completed_time"]);

    // What the library refuses: the same delivery tampered, re-signed with
    // an old timestamp, or checked with another secret.
    let check = receiver.selfcheck().await;
    assert_eq!(check["original"], "accepted", "{check}");
    assert_eq!(check["old_secret"], "accepted", "signed with both: {check}");
    for refused in ["tampered", "old_timestamp", "wrong_secret"] {
        assert!(
            check[refused].as_str().unwrap().starts_with("refused"),
            "{refused}: {check}"
        );
    }

    // The same delivery through the npm package, as README's Node.js
    // receiver does it.
    let last = reqwest::get(format!("{}/__last", receiver.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let node = node_verify(&last);
    assert_eq!(node["type"], "upload.completed", "{node}");
    assert_eq!(node["upload_id"], id);
    for refused in ["tampered", "wrong_secret"] {
        assert!(
            node[refused].as_str().unwrap().starts_with("refused"),
            "{refused}: {node}"
        );
    }

    // Delivered is done: no attempt follows.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        receiver.log().await["attempts"].as_array().unwrap().len(),
        4
    );
    let metrics = metrics(&app).await;
    for line in [
        "cosgate_webhook_attempts_total{event_type=\"upload.completed\",outcome=\"retried\"} 3",
        "cosgate_webhook_attempts_total{event_type=\"upload.completed\",outcome=\"delivered\"} 1",
        "cosgate_outbox_depth 0",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }

    // A session deleted before its upload is announced too.
    let dropped_id = &delete_a_session(&app, "acc1").await;
    let log = receiver
        .wait_for(Duration::from_secs(10), |log| {
            !delivered_of(log, "upload.deleted").is_empty()
        })
        .await;
    let deleted = delivered_of(&log, "upload.deleted");
    assert_eq!(deleted.len(), 1, "{log}");
    assert_eq!(deleted[0]["data"]["upload_id"], dropped_id.as_str());
    assert_eq!(delivered_of(&log, "upload.completed").len(), 1, "{log}");
    for event in log["events"].as_object().unwrap().values() {
        conforms(event);
    }
}

/// `event` is what docs/v1.yml's UploadEvent says: the required fields,
/// no other, none null, of the declared types.
pub(crate) fn conforms(event: &Value) {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/v1.yml")).unwrap();
    let spec: Value = serde_yaml_ng::from_str(&text).unwrap();
    let schemas = &spec["components"]["schemas"];
    for (value, schema) in [
        (event, &schemas["UploadEvent"]),
        (&event["data"], &schemas["UploadEventData"]),
    ] {
        let fields = value.as_object().unwrap();
        for required in schema["required"].as_array().unwrap() {
            assert!(
                fields.contains_key(required.as_str().unwrap()),
                "{required} in {value}"
            );
        }
        for (name, field) in fields {
            let declared = &schema["properties"][name];
            let ok = match declared["type"].as_str() {
                Some("string") => field.is_string(),
                Some("integer") => field.is_i64(),
                _ => declared["$ref"].is_string() && field.is_object(),
            };
            assert!(ok, "{name}: {field} is not {declared}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_answers_410_gets_no_more_attempts() {
    let Some(receiver) = Receiver::start(0) else {
        return;
    };
    receiver.plan(json!({"default": 410})).await;
    let Some((_cos, app)) = hooked(&receiver, &[]).await else {
        return;
    };
    delete_a_session(&app, "acc1").await;
    receiver
        .wait_for(Duration::from_secs(10), |log| {
            !log["attempts"].as_array().unwrap().is_empty()
        })
        .await;
    // Retries would come after a second; none does.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let log = receiver.log().await;
    assert_eq!(log["attempts"].as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log["attempts"][0]["status"], 410);
    let metrics = metrics(&app).await;
    for line in [
        "cosgate_webhook_attempts_total{event_type=\"upload.deleted\",outcome=\"gave_up\"} 1",
        "cosgate_outbox_depth 0",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

/// A redirect is an answer like any other: not followed (a 303 would turn
/// the POST into a GET whose 200 would count as delivered), retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_retried_not_followed() {
    let Some(receiver) = Receiver::start(0) else {
        return;
    };
    receiver
        .plan(json!({"statuses": [303, 307], "default": 200}))
        .await;
    let Some((_cos, app)) = hooked(&receiver, &[]).await else {
        return;
    };
    delete_a_session(&app, "acc1").await;
    let log = receiver
        .wait_for(Duration::from_secs(15), |log| {
            !log["delivered"].as_object().unwrap().is_empty()
        })
        .await;
    let statuses: Vec<i64> = log["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [303, 307, 200], "{}", brief(&log));
    assert_eq!(log["redirected"], 0, "a redirect was followed");
    let metrics = metrics(&app).await;
    assert!(
        metrics.contains(
            "cosgate_webhook_attempts_total{event_type=\"upload.deleted\",outcome=\"retried\"} 2"
        ),
        "{metrics}"
    );
}

/// The receiver is down when the upload completes; cosgate is killed with
/// -9 before it could deliver; after a restart (the receiver back) the event
/// arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_survives_kill_9_while_the_receiver_is_down() {
    if !js_tooling_ready() {
        return;
    }
    let Some(receiver) = Receiver::start(0) else {
        return;
    };
    let (port, url) = (receiver.port, receiver.url());
    drop(receiver); // down: connections to its port are refused
    let cos = start_fake_cos();
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://{}", cos.host);
    let db = format!("sqlite://{}", dir.path().join("events.db").display());
    let vars = [
        ("QCOS_ENDPOINT", endpoint.as_str()),
        ("DATABASE_URL", db.as_str()),
        ("WEBHOOK_URL", url.as_str()),
        ("WEBHOOK_SECRETS", SECRET),
        ("WEBHOOK_RETRY_BASE_MS", "10"),
        ("WEBHOOK_POLL_MS", "100"),
    ];
    let mut served = serve(dir.path(), &vars);
    let client = reqwest::Client::new();
    let token = token_for("acc1");
    let data = bytes(20_000, 3);
    let answer: Value = client
        .post(format!("{}{UPLOADS}", served.base))
        .bearer_auth(&token)
        .json(&json!({"filename": "a.jpg", "size_bytes": data.len(), "content_type": "image/jpeg"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = answer["id"].as_str().unwrap();
    assert_eq!(send(&answer["put"], data.clone(), &[]).await, 200);
    let done: Value = client
        .post(format!("{}{UPLOADS}/{id}/complete", served.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    // Let it fail against the closed port at least once, then kill it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ready = client
        .get(format!("{}/readyz", served.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ready.status(),
        200,
        "a receiver that is down is not cosgate's readiness"
    );
    served.child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    let _ = served.child.wait();
    let mut killed_log = served.log.clone();
    while let Ok(line) = served.lines.recv_timeout(Duration::from_secs(2)) {
        killed_log.push(line);
    }
    let store = Store::connect(&db).await.unwrap();
    assert_eq!(store.outbox_depth().await.unwrap().0, 1, "still queued");

    let Some(receiver) = Receiver::start(port) else {
        return;
    };
    let mut restarted = serve(dir.path(), &vars);
    let log = receiver
        .wait_for(Duration::from_secs(20), |log| {
            !log["delivered"].as_object().unwrap().is_empty()
        })
        .await;
    let completed = delivered_of(&log, "upload.completed");
    assert_eq!(completed.len(), 1, "{log}");
    assert_eq!(completed[0]["data"]["upload_id"], id);
    assert_eq!(completed[0]["data"]["size_bytes"], data.len());
    assert_eq!(log["invalid"], 0);
    restarted.stop();
    let secret = SECRET.trim_start_matches("whsec_");
    for log in [&killed_log, &restarted.log] {
        assert!(
            !log.join("\n").contains(secret),
            "the secret reached the log"
        );
    }
    assert!(
        killed_log
            .iter()
            .any(|l| l.contains("webhook not delivered")),
        "the failed attempts are logged"
    );
}

/// 200 events queued on one PostgreSQL, delivered by two cosgate processes
/// while the receiver takes its time; one process is killed with -9 half
/// way. Every event arrives; no event is ever being delivered by both at
/// once; an event that arrives twice is the one the killed process had sent
/// but not yet recorded (its claim runs out, the other delivers it again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_deliver_every_event_and_never_one_at_once() {
    let Ok(database_url) = std::env::var("COSGATE_TEST_POSTGRES_URL") else {
        skip("two replicas delivering events on PostgreSQL (set COSGATE_TEST_POSTGRES_URL)");
        return;
    };
    if !js_tooling_ready() {
        return;
    }
    let Some(receiver) = Receiver::start(0) else {
        return;
    };
    receiver
        .plan(json!({"default": 200, "delay_ms": 100}))
        .await;
    let cos = start_fake_cos();
    let endpoint = format!("http://{}", cos.host);
    // Queue 200 events through the API, with an endpoint nobody reads yet
    // (its worker's next look is a minute away).
    let account = format!("acc-{}", now());
    let queued = {
        let app = spawn_app_with(&[
            ("DATABASE_URL", database_url.as_str()),
            ("QCOS_ENDPOINT", endpoint.as_str()),
            ("WEBHOOK_URL", "http://127.0.0.1:9/hook"),
            ("WEBHOOK_SECRETS", SECRET),
            ("WEBHOOK_POLL_MS", "60000"),
        ])
        .await;
        let mut ids = Vec::new();
        for i in 0..200 {
            let answer = created(
                &app,
                &account,
                json!({"filename": format!("{i}.jpg"), "size_bytes": 10, "content_type": "image/jpeg"}),
            )
            .await;
            let id = answer["id"].as_str().unwrap().to_string();
            let resp = call(
                &app,
                &account,
                reqwest::Method::DELETE,
                &format!("{UPLOADS}/{id}"),
            )
            .await;
            assert_eq!(resp.status(), 200);
            ids.push(id);
        }
        ids
    };
    let dir = tempfile::tempdir().unwrap();
    let url = receiver.url();
    let vars = [
        ("DATABASE_URL", database_url.as_str()),
        ("QCOS_ENDPOINT", endpoint.as_str()),
        ("WEBHOOK_URL", url.as_str()),
        ("WEBHOOK_SECRETS", SECRET),
        ("WEBHOOK_TIMEOUT_MS", "1000"),
        ("WEBHOOK_POLL_MS", "50"),
    ];
    let mut first = serve(dir.path(), &vars);
    let _second = serve(dir.path(), &vars);
    let ours = |log: &Value| -> usize {
        delivered_of(log, "upload.deleted")
            .iter()
            .filter(|e| e["data"]["account_id"] == account.as_str())
            .count()
    };
    receiver
        .wait_for(Duration::from_secs(60), |log| ours(log) >= 40)
        .await;
    first.child.kill().unwrap(); // SIGKILL, mid-delivery
    let _ = first.child.wait();
    receiver
        .wait_for(Duration::from_secs(90), |log| ours(log) >= 200)
        .await;
    // Until nothing is left to deliver: an event the killed process had in
    // flight is delivered again once its claim has run out.
    let store = Store::connect(&database_url).await.unwrap();
    let started = Instant::now();
    while store.outbox_depth().await.unwrap().0 > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the outbox never emptied"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = receiver.log().await;
    let delivered: std::collections::HashSet<String> = delivered_of(&log, "upload.deleted")
        .iter()
        .filter(|e| e["data"]["account_id"] == account.as_str())
        .map(|e| e["data"]["upload_id"].as_str().unwrap().to_string())
        .collect();
    for id in &queued {
        assert!(delivered.contains(id), "{id} never delivered");
    }
    assert_eq!(
        log["overlaps"],
        0,
        "an event delivered by both at once: {}",
        brief(&log)
    );
    assert_eq!(log["invalid"], 0);
    // By id: how many of ours were answered 2xx more than once.
    let twice: Vec<(&String, &Value)> = log["delivered"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(id, n)| {
            n.as_u64().unwrap() > 1
                && log["events"][id.as_str()]["data"]["account_id"] == account.as_str()
        })
        .collect();
    eprintln!("events delivered twice: {} ({twice:?})", twice.len());
    assert!(
        twice.len() <= 1 && twice.iter().all(|(_, n)| n.as_u64() == Some(2)),
        "only the event the killed process had in flight may arrive twice: {twice:?}"
    );
}

/// An object replaced at COS before completion (another grant writing the
/// same key) is rejected, and the backend hears why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_upload_is_announced_with_the_reason() {
    let Some(receiver) = Receiver::start(0) else {
        return;
    };
    let Some((_cos, app)) = hooked(
        &receiver,
        &[
            ("QCOS_ALLOW_UNMETERED_GRANTS", "true"),
            ("UPLOAD_SESSION_ROOT", "/uploads"),
        ],
    )
    .await
    else {
        return;
    };
    let data = bytes(30_000, 5);
    let answer = created(
        &app,
        "acc1",
        json!({"filename": "a.jpg", "size_bytes": data.len(), "content_type": "image/jpeg"}),
    )
    .await;
    let (id, key) = (
        answer["id"].as_str().unwrap(),
        answer["key"].as_str().unwrap(),
    );
    assert_eq!(send(&answer["put"], data, &[]).await, 200);
    replace_at_cos(&app, "acc1", key).await;
    assert_refused(complete(&app, "acc1", id).await, 422, "upload_mismatch").await;
    let log = receiver
        .wait_for(Duration::from_secs(10), |log| {
            !delivered_of(log, "upload.rejected").is_empty()
        })
        .await;
    let rejected = delivered_of(&log, "upload.rejected");
    assert_eq!(rejected.len(), 1, "{}", brief(&log));
    assert_eq!(rejected[0]["data"]["upload_id"], id);
    assert!(
        rejected[0]["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("7 bytes"),
        "{}",
        rejected[0]
    );
    assert!(delivered_of(&log, "upload.completed").is_empty());
    conforms(&rejected[0]);
}

/// An endpoint slower than `WEBHOOK_TIMEOUT_MS` counts as a failure: the
/// event is sent again, with the same id, until one answer comes in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_slower_than_the_timeout_is_retried_with_the_same_id() {
    let Some(receiver) = Receiver::start(0) else {
        return;
    };
    receiver
        .plan(json!({"default": 200, "delay_ms": 1500}))
        .await;
    let url = receiver.url();
    let Some((_cos, app)) = world(&[
        ("WEBHOOK_URL", url.as_str()),
        ("WEBHOOK_SECRETS", SECRET),
        ("WEBHOOK_TIMEOUT_MS", "300"),
        ("WEBHOOK_RETRY_BASE_MS", "10"),
        ("WEBHOOK_POLL_MS", "100"),
    ])
    .await
    else {
        return;
    };
    delete_a_session(&app, "acc1").await;
    // The receiver records an attempt once it answers, late.
    receiver
        .wait_for(Duration::from_secs(10), |log| {
            !log["attempts"].as_array().unwrap().is_empty()
        })
        .await;
    receiver.plan(json!({"default": 200, "delay_ms": 0})).await;
    let delivered =
        "cosgate_webhook_attempts_total{event_type=\"upload.deleted\",outcome=\"delivered\"} 1";
    let started = Instant::now();
    let metrics = loop {
        let metrics = metrics(&app).await;
        if metrics.contains(delivered) {
            break metrics;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "never delivered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        metrics.contains(
            "cosgate_webhook_attempts_total{event_type=\"upload.deleted\",outcome=\"retried\"}"
        ),
        "{metrics}"
    );
    let log = receiver.log().await;
    let ids: std::collections::HashSet<&str> = log["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "one event, one id: {}", brief(&log));
    assert!(
        log["attempts"].as_array().unwrap().len() >= 2,
        "{}",
        brief(&log)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweeper_removes_what_was_abandoned_and_gives_its_bytes_back() {
    let Some(receiver) = Receiver::start(0) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("sweep.db").display());
    let url = receiver.url();
    let Some((cos, app)) = world(&[
        ("DATABASE_URL", db.as_str()),
        ("QCOS_STORAGE_BYTES_PER_ACCOUNT", "10000000"),
        ("UPLOAD_TTL", "3"),
        ("UPLOAD_SWEEP_SECONDS", "1"),
        ("UPLOAD_ORPHAN_SECONDS", "3600"),
        ("WEBHOOK_URL", url.as_str()),
        ("WEBHOOK_SECRETS", SECRET),
        ("WEBHOOK_POLL_MS", "100"),
    ])
    .await
    else {
        return;
    };
    let store = Store::connect(&db).await.unwrap();
    // Multipart uploads outside any session: one a day old, one just begun.
    let old = orphan(&cos.host, "sessions/someone/old.bin", 86_400).await;
    let fresh = orphan(&cos.host, "uploads/someone/fresh.bin", 0).await;
    let old_sdk = orphan(&cos.host, "uploads/someone/old.bin", 7200).await;
    // A multipart session with a part uploaded, never completed.
    let large = bytes(1_500_000, 8);
    let multi = created(
        &app,
        "acc1",
        json!({"filename": "v.mp4", "size_bytes": large.len(), "content_type": "video/mp4", "profile": "video"}),
    )
    .await;
    let multi_id = multi["id"].as_str().unwrap();
    let part = &signed_parts(&app, "acc1", multi_id, &[1]).await[0];
    let sent = reqwest::Client::new()
        .put(part["url"].as_str().unwrap())
        .body(large[..1_048_576].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let cos_upload = store
        .upload(multi_id)
        .await
        .unwrap()
        .unwrap()
        .cos_upload_id
        .unwrap();
    // A single upload whose object was put, never completed.
    let small = bytes(30_000, 9);
    let single = created(
        &app,
        "acc1",
        json!({"filename": "a.jpg", "size_bytes": small.len(), "content_type": "image/jpeg"}),
    )
    .await;
    assert_eq!(send(&single["put"], small.clone(), &[]).await, 200);
    let single_key = format!("/{}", single["key"].as_str().unwrap());
    let state = cos_state(&cos.host).await;
    assert!(
        state["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == &single_key)
    );
    assert_eq!(
        store.stored_bytes("acc1").await.unwrap(),
        (large.len() + small.len()) as i64
    );

    let started = Instant::now();
    while store.stored_bytes("acc1").await.unwrap() != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never released"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for id in [multi_id, single["id"].as_str().unwrap()] {
        let row = store.upload(id).await.unwrap().unwrap();
        assert_eq!(row.status, UploadStatus::Expired);
    }
    let state = cos_state(&cos.host).await;
    let uploads: Vec<&str> = state["uploads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert!(
        !uploads.contains(&cos_upload.as_str()),
        "the session's parts: {state}"
    );
    assert!(!uploads.contains(&old.as_str()), "the old orphan: {state}");
    assert!(
        !uploads.contains(&old_sdk.as_str()),
        "the old one under the upload root: {state}"
    );
    assert!(
        uploads.contains(&fresh.as_str()),
        "the fresh one is left: {state}"
    );
    assert!(
        !state["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k == &single_key),
        "the unconfirmed object: {state}"
    );
    let log = receiver
        .wait_for(Duration::from_secs(10), |log| {
            delivered_of(log, "upload.expired").len() >= 2
        })
        .await;
    let mut expired: Vec<String> = delivered_of(&log, "upload.expired")
        .iter()
        .map(|e| e["data"]["upload_id"].as_str().unwrap().to_string())
        .collect();
    expired.sort();
    let mut ids = vec![
        multi_id.to_string(),
        single["id"].as_str().unwrap().to_string(),
    ];
    ids.sort();
    assert_eq!(expired, ids);
    let metrics = metrics(&app).await;
    for line in [
        "cosgate_sweeper_removed_total{outcome=\"expired\"} 2",
        "cosgate_sweeper_removed_total{outcome=\"orphan_multipart\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

/// Two replicas on one store: only the holder of the `sweeper` lease sweeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_sweep_at_once() {
    if !js_tooling_ready() {
        return;
    }
    let cos = start_fake_cos();
    let endpoint = format!("http://{}", cos.host);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("lease.db").display());
    let vars = [
        ("DATABASE_URL", db.as_str()),
        ("QCOS_ENDPOINT", endpoint.as_str()),
        ("UPLOAD_SWEEP_SECONDS", "1"),
    ];
    let a = spawn_app_with(&vars).await;
    let b = spawn_app_with(&vars).await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let runs = |text: String| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix("cosgate_sweeper_runs_total "))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let (ra, rb) = (runs(metrics(&a).await), runs(metrics(&b).await));
    assert!(
        (ra >= 3 && rb == 0) || (rb >= 3 && ra == 0),
        "one replica sweeps, every second: {ra} and {rb}"
    );
}

/// The lease itself, on SQLite and PostgreSQL: of many takers at once one
/// gets it; its holder renews it; another gets it only once it has run out.
async fn one_holder_at_a_time(database_url: &str) {
    let store = Store::connect(database_url).await.unwrap();
    let name = format!(
        "test-{}",
        hex(&md5_digest(format!("{:?}", Instant::now()).as_bytes()))
    );
    let t = now() as i64;
    let takers = (0..8).map(|i| {
        let (store, name) = (store.clone(), name.clone());
        tokio::spawn(async move {
            store
                .take_lease(&name, &format!("h{i}"), t, t + 60)
                .await
                .unwrap()
        })
    });
    let mut won = Vec::new();
    for (i, taker) in takers.enumerate() {
        if taker.await.unwrap() {
            won.push(i);
        }
    }
    assert_eq!(won.len(), 1, "{won:?}");
    let holder = format!("h{}", won[0]);
    let other = format!("h{}", (won[0] + 1) % 8);
    assert!(
        store
            .take_lease(&name, &holder, t + 30, t + 90)
            .await
            .unwrap(),
        "renewed"
    );
    assert!(
        !store
            .take_lease(&name, &other, t + 60, t + 120)
            .await
            .unwrap(),
        "still held"
    );
    assert!(
        store
            .take_lease(&name, &other, t + 90, t + 150)
            .await
            .unwrap(),
        "run out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_lease_holder_at_a_time_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    one_holder_at_a_time(&format!("sqlite://{}", dir.path().join("l.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_lease_holder_at_a_time_on_postgres() {
    let Ok(url) = std::env::var("COSGATE_TEST_POSTGRES_URL") else {
        skip("the lease on PostgreSQL (set COSGATE_TEST_POSTGRES_URL)");
        return;
    };
    one_holder_at_a_time(&url).await;
}
