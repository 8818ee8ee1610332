//! Load for the upload operations, for `bench/uploads.sh`: `COUNT` upload
//! sessions created (`POST /v1/uploads`), their bodies PUT to the COS the
//! answers name, then each completed (`POST /v1/uploads/{id}/complete`,
//! which verifies the object at COS). One virtual user per token in
//! `TOKENS_FILE`, each its own account, all at once; each phase ends before
//! the next starts, so each is timed alone. Prints one line per phase,
//! `phase count seconds per_second p50_ms p99_ms errors`, then, for create
//! and complete, the store operations each took (`/metrics` read before
//! and after): `store phase name=per_request,…`.
//!
//! `cargo run --release --example upload_load -- BASE_URL TOKENS_FILE COUNT SIZE`

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

/// What one phase measured.
struct Phase {
    latencies: Vec<Duration>,
    elapsed: Duration,
    errors: usize,
}

impl Phase {
    fn print(&self, name: &str) {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let at = |q: f64| {
            sorted
                .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        let count = sorted.len() + self.errors;
        println!(
            "{name} {count} {:.2} {:.0} {:.2} {:.2} {}",
            self.elapsed.as_secs_f64(),
            sorted.len() as f64 / self.elapsed.as_secs_f64(),
            at(0.50),
            at(0.99),
            self.errors
        );
    }
}

/// Runs `job` on every item, `concurrency` at once; keeps what succeeded.
async fn phase<T, U, F, Fut>(items: Vec<T>, concurrency: usize, job: F) -> (Phase, Vec<U>)
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<U, String>>,
{
    let started = Instant::now();
    let results: Vec<(Duration, Result<U, String>)> = stream::iter(items)
        .map(|item| {
            let fut = job(item);
            async move {
                let t = Instant::now();
                let r = fut.await;
                (t.elapsed(), r)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut latencies = Vec::new();
    let mut done = Vec::new();
    let mut errors = 0;
    for (latency, result) in results {
        match result {
            Ok(value) => {
                latencies.push(latency);
                done.push(value);
            }
            Err(e) => {
                if errors == 0 {
                    eprintln!("first error: {e}");
                }
                errors += 1;
            }
        }
    }
    let phase = Phase {
        latencies,
        elapsed,
        errors,
    };
    (phase, done)
}

/// The store operations cosgate has timed so far, by name, from its
/// `/metrics` (open in development).
async fn store_operations(
    client: &reqwest::Client,
    base: &str,
) -> Result<BTreeMap<String, f64>, String> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.split_once("store_query_duration_seconds_count{query=\"") else {
            continue;
        };
        let (name, value) = rest.1.split_once("\"} ").ok_or("a malformed line")?;
        counts.insert(
            name.to_string(),
            value.parse().map_err(|_| "a malformed count")?,
        );
    }
    Ok(counts)
}

/// `name=n` per store operation between two scrapes, per done request.
fn per_request(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    done: usize,
) -> String {
    let parts: Vec<String> = after
        .iter()
        .map(|(name, n)| (name, n - before.get(name).copied().unwrap_or(0.0)))
        .filter(|(_, delta)| *delta > 0.0)
        .map(|(name, delta)| format!("{name}={:.2}", delta / done.max(1) as f64))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(",")
    }
}

async fn json_ok(resp: reqwest::Response) -> Result<Value, String> {
    let status = resp.status();
    let body = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, tokens_file, count, size] = args.as_slice() else {
        return Err("usage: upload_load BASE_URL TOKENS_FILE COUNT SIZE".into());
    };
    let tokens: Vec<String> = std::fs::read_to_string(tokens_file)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let count: usize = count.parse()?;
    let size: usize = size.parse()?;
    let concurrency = tokens.len();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency * 2)
        .build()?;
    let body = bytes::Bytes::from(vec![0x5a_u8; size]);

    let before_create = store_operations(&client, base).await?;
    let sessions: Vec<String> = (0..count)
        .map(|i| tokens[i % concurrency].clone())
        .collect();
    let (created, sessions) = phase(sessions, concurrency, |token| {
        let client = client.clone();
        let url = format!("{base}/v1/uploads");
        async move {
            let resp = client
                .post(url)
                .bearer_auth(&token)
                .json(&json!({"filename": "photo.jpg", "size_bytes": size, "content_type": "image/jpeg"}))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            Ok((token, json_ok(resp).await?))
        }
    })
    .await;

    let after_create = store_operations(&client, base).await?;
    let (put, sessions) = phase(sessions, concurrency, |(token, session)| {
        let client = client.clone();
        let body = body.clone();
        async move {
            let put = &session["put"];
            let url = put["url"].as_str().ok_or("no put.url")?;
            let mut request = client.put(url).body(body);
            for (name, value) in put["headers"].as_object().ok_or("no put.headers")? {
                // reqwest writes Content-Length from the body itself.
                if !name.eq_ignore_ascii_case("content-length") {
                    request = request.header(name, value.as_str().unwrap_or_default());
                }
            }
            let resp = request.send().await.map_err(|e| e.to_string())?;
            if !resp.status().is_success() {
                return Err(format!("PUT: {}", resp.status()));
            }
            let id = session["id"].as_str().ok_or("no id")?.to_string();
            Ok((token, id))
        }
    })
    .await;

    let before_complete = store_operations(&client, base).await?;
    let (completed, done) = phase(sessions, concurrency, |(token, id)| {
        let client = client.clone();
        let url = format!("{base}/v1/uploads/{id}/complete");
        async move {
            let resp = client
                .post(url)
                .bearer_auth(&token)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let session = json_ok(resp).await?;
            match session["status"].as_str() {
                Some("completed") => Ok(()),
                other => Err(format!("completed as {other:?}")),
            }
        }
    })
    .await;

    let after_complete = store_operations(&client, base).await?;

    created.print("create");
    put.print("put");
    completed.print("complete");
    println!(
        "store create {}",
        per_request(&before_create, &after_create, created.latencies.len())
    );
    println!(
        "store complete {}",
        per_request(&before_complete, &after_complete, done.len())
    );
    Ok(())
}
