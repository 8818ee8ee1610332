//! Several replicas as one server: rate limits shared through a real
//! `redis-server` (and what happens when it goes away), and two cosgate
//! processes on one PostgreSQL serving one user's uploads alternately.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{
    binary::serve,
    fakes::start_fake_cos,
    helpers::*,
    js_sdk::js_tooling_ready,
    uploads::{UPLOADS, bytes, send},
};

/// A `redis-server` on a free loopback port, killed when dropped.
struct Redis {
    url: String,
    child: Child,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Redis {
    /// `None` (skipped) where redis-server is not installed; CI installs it.
    fn start() -> Option<Self> {
        Self::start_on(None)
    }

    fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// On `port`, or a free one.
    fn start_on(port: Option<u16>) -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install redis-server"
            );
            skip("needs redis-server");
            return None;
        }
        let port = port.unwrap_or_else(|| {
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        });
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Self {
            url: format!("redis://127.0.0.1:{port}"),
            child,
        })
    }
}

async fn sign(app: &TestApp, account: &str) -> reqwest::Response {
    let auth = format!("Bearer {}", token_for(account));
    app.get("/v1/qc_cos/config", Some(&auth)).await
}

/// Two replicas on one Redis: requests alternated between them are limited
/// in total; a replica started later (a restart) agrees; when Redis goes
/// away each replica limits on its own, never refusing everything and never
/// letting everything through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_hold_in_total_across_replicas_and_degrade_to_per_replica() {
    let Some(redis) = Redis::start() else {
        return;
    };
    let vars = [
        ("RATE_LIMIT_SIGN_PER_MIN", "10"),
        ("REDIS_URL", redis.url.as_str()),
    ];
    let a = spawn_app_with(&vars).await;
    let b = spawn_app_with(&vars).await;
    let mut answered = 0;
    for i in 0..30 {
        let resp = sign(if i % 2 == 0 { &a } else { &b }, "acc1").await;
        match resp.status().as_u16() {
            200 => answered += 1,
            429 => {
                let body = assert_refused(resp, 429, "rate_limited").await;
                assert!(body.get("sign").is_none());
            }
            other => panic!("{other}"),
        }
    }
    assert_eq!(answered, 10, "10 a minute in total, not 10 per replica");
    // A replica that starts now (a restart) reads the same state.
    let c = spawn_app_with(&vars).await;
    assert_eq!(sign(&c, "acc1").await.status(), 429);
    assert_eq!(sign(&c, "acc2").await.status(), 200, "per account");

    // Redis goes away: each replica limits on its own.
    drop(redis);
    let mut by_replica = [0, 0];
    for i in 0..40 {
        let resp = sign(if i % 2 == 0 { &a } else { &b }, "acc1").await;
        match resp.status().as_u16() {
            200 => by_replica[i % 2] += 1,
            429 => {}
            other => panic!("an outage must not be {other}"),
        }
    }
    // Each replica answered 5 of the shared 10 and charged them locally
    // too: 5 more each (give or take the one earned back every 6 s), not a
    // fresh 10 and not none.
    assert!(
        by_replica.iter().all(|n| (5..=6).contains(n)),
        "per replica while Redis is away: {by_replica:?}"
    );
}

/// Two `cosgate serve` processes on one PostgreSQL and one Redis, with
/// requests alternated between them: an upload created on one completes on
/// the other; the storage quota holds exactly when both take uploads at
/// once; killing one loses nothing either answered. (Logout across
/// replicas, webhooks and the sweeper across replicas have their own tests:
/// `ops.rs`, `webhooks.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_behave_as_one_server() {
    let Ok(database_url) = std::env::var("COSGATE_TEST_POSTGRES_URL") else {
        skip("two processes on PostgreSQL (set COSGATE_TEST_POSTGRES_URL)");
        return;
    };
    if !js_tooling_ready() {
        return;
    }
    let Some(redis) = Redis::start() else {
        return;
    };
    let cos = start_fake_cos();
    let endpoint = format!("http://{}", cos.host);
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("DATABASE_URL", database_url.as_str()),
        ("REDIS_URL", redis.url.as_str()),
        ("QCOS_ENDPOINT", endpoint.as_str()),
        ("QCOS_STORAGE_BYTES_PER_ACCOUNT", "100000"),
        ("RATE_LIMIT_SIGN_PER_MIN", "1000"),
    ];
    let mut first = serve(dir.path(), &vars);
    let second = serve(dir.path(), &vars);
    let bases = [first.base.clone(), second.base.clone()];
    let client = reqwest::Client::new();
    let account = format!("acc-r{}", now());
    let token = token_for(&account);
    let create = |base: &str, size: usize| {
        client
            .post(format!("{base}{UPLOADS}"))
            .bearer_auth(&token)
            .json(&json!({"filename": "a.jpg", "size_bytes": size, "content_type": "image/jpeg"}))
            .send()
    };

    // Created on one, put, completed on the other.
    let data = bytes(20_000, 1);
    let answer: Value = create(&bases[0], data.len())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = answer["id"].as_str().unwrap().to_string();
    assert_eq!(send(&answer["put"], data.clone(), &[]).await, 200);
    let done: Value = client
        .post(format!("{}{UPLOADS}/{id}/complete", bases[1]))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "completed", "{done}");

    // 80,000 bytes left of the quota; 20 sessions of 10,000 asked of both
    // replicas at once: exactly 8 are granted.
    let asks = (0..20).map(|i| create(&bases[i % 2], 10_000));
    let statuses: Vec<u16> = futures_util_join(asks).await;
    let granted = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(granted, 8, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 403),
        "{statuses:?}"
    );

    // Killed mid-load: what either answered is in the store.
    let store = cosgate::store::Store::connect(&database_url).await.unwrap();
    let before = store.stored_bytes(&account).await.unwrap();
    assert_eq!(before, 100_000, "20,000 completed + 8 × 10,000 held");
    first.child.kill().unwrap(); // SIGKILL
    let _ = first.child.wait();
    let listed: Value = client
        .get(format!("{}{UPLOADS}?limit=50", bases[1]))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["uploads"].as_array().unwrap().len(), 9, "{listed}");
    assert_eq!(store.stored_bytes(&account).await.unwrap(), before);
    drop(second);
}

/// Runs the requests at once; their statuses, in order.
async fn futures_util_join<F>(requests: impl Iterator<Item = F>) -> Vec<u16>
where
    F: std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
{
    let tasks: Vec<_> = requests.map(tokio::spawn).collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap().unwrap().status().as_u16());
    }
    statuses
}

/// Alternates `n` signing requests for `account` between `a` and `b`; how
/// many were answered.
async fn answered(a: &TestApp, b: &TestApp, account: &str, n: usize) -> usize {
    let mut answered = 0;
    for i in 0..n {
        let resp = sign(if i % 2 == 0 { a } else { b }, account).await;
        match resp.status().as_u16() {
            200 => answered += 1,
            429 => {}
            other => panic!("{other}"),
        }
    }
    answered
}

/// Redis down when the replicas start: they start, and limit on their own;
/// once Redis is up they share; after Redis restarts (its state gone) they
/// share again, with no restart of theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_start_without_redis_and_share_once_it_answers_again() {
    let Some(first) = Redis::start() else {
        return;
    };
    let (port, url) = (first.port(), first.url.clone());
    drop(first); // nothing listens there now
    let vars = [
        ("RATE_LIMIT_SIGN_PER_MIN", "10"),
        ("REDIS_URL", url.as_str()),
    ];
    let a = spawn_app_with(&vars).await;
    let b = spawn_app_with(&vars).await;
    assert_eq!(answered(&a, &b, "acc1", 30).await, 20, "10 per replica");

    let redis = Redis::start_on(Some(port)).unwrap();
    // The replicas try again every 2 s.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(
        answered(&a, &b, "acc2", 30).await,
        10,
        "shared once Redis answers"
    );

    // Redis restarts empty: after their 5 s pause the replicas use it again.
    drop(redis);
    assert_eq!(
        answered(&a, &b, "acc3", 30).await,
        20,
        "per replica while it is away"
    );
    let _redis = Redis::start_on(Some(port)).unwrap();
    tokio::time::sleep(Duration::from_millis(5500)).await;
    assert_eq!(answered(&a, &b, "acc4", 30).await, 10, "shared again");
}
