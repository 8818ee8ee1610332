//! What an attacker with an ordinary login (or none) tries, through real
//! HTTP: the root-key v4 path, flooding the STS cache, keys that other
//! software rewrites, signing after logout, oversized header blocks, forged
//! `X-Forwarded-For`, active downloads, bodies written before reading. Each
//! refusal asserts its status, its `error_code` and that no signature came
//! back.

use std::collections::BTreeSet;

use percent_encoding::percent_decode_str;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    fakes::FakeSts,
    helpers::{TestApp, assert_refused, spawn_app_with, token_for},
    sts::{credentials, spawn_app_with_sts},
};

/// Settings of a production server that starts in a test.
const PRODUCTION: &[(&str, &str)] = &[
    ("COSGATE_ENV", "production"),
    ("QCOS_APPID", "1253000000"),
    ("QCOS_BUCKET_NAME", "photos"),
    ("METRICS_TOKEN", "test-metrics-token"),
    ("QCOS_SIGNING", "root"),
];

/// No field of `body` carries a signature or credentials.
fn assert_nothing_signed(body: &Value) {
    for field in [
        "sign",
        "authorization",
        "url",
        "fields",
        "TmpSecretKey",
        "SecurityToken",
    ] {
        assert!(body.get(field).is_none(), "{field} came back: {body}");
    }
}

#[tokio::test]
async fn v4_is_off_in_production_unless_named() {
    let off = spawn_app_with(PRODUCTION).await;
    let resp = off
        .get(
            "/v1/qc_cos/config",
            Some(&format!("Bearer {}", token_for("acc1"))),
        )
        .await;
    let body = assert_refused(resp, 403, "v4_disabled").await;
    assert_nothing_signed(&body);

    let mut named = PRODUCTION.to_vec();
    named.push(("QCOS_V4_ENABLED", "true"));
    let on = spawn_app_with(&named).await;
    let resp = on
        .get(
            "/v1/qc_cos/config",
            Some(&format!("Bearer {}", token_for("acc1"))),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(body["sign"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(body["cos_path"], "/uploads/acc1");
}

#[tokio::test]
async fn one_account_cannot_flood_the_sts_cache() {
    let Some(sts) = FakeSts::start() else { return };
    let app = spawn_app_with_sts(&sts, &[]).await;
    // Another account's credentials, cached before the flood.
    assert_eq!(credentials(&app, "acc2", None).await.status(), 200);
    let subsets = [
        json!(["PutObject"]),
        json!(["GetObject"]),
        json!(["PutObject", "GetObject"]),
        json!(["UploadPart", "InitiateMultipartUpload"]),
        json!(["HeadObject"]),
        json!(["ListParts"]),
        json!(["AbortMultipartUpload", "PutObject"]),
        json!(["PostObject"]),
    ];
    let (mut granted, mut limited) = (0, 0);
    for i in 0..1000 {
        let mut body = json!({"duration_seconds": 60 + (i * 7) % 1700});
        if i % 5 != 0 {
            body["actions"] = subsets[i % subsets.len()].clone();
        }
        let resp = credentials(&app, "acc1", Some(body)).await;
        match resp.status().as_u16() {
            200 => granted += 1,
            _ => {
                let body = assert_refused(resp, 429, "rate_limited").await;
                assert_nothing_signed(&body);
                limited += 1;
            }
        }
    }
    let calls = sts.calls("cg-acc1").await;
    assert!(
        calls <= 8,
        "at most 8 STS calls per account per window, got {calls}"
    );
    assert!(
        granted > 0 && limited > 0,
        "{granted} granted, {limited} limited"
    );
    // The other account's entry was not evicted: no new STS call for it.
    assert_eq!(credentials(&app, "acc2", None).await.status(), 200);
    assert_eq!(sts.calls("cg-acc2").await, 1);
    eprintln!("1000 requests: {granted} answered, {limited} refused, {calls} STS calls");
}

/// The pieces hostile key segments are made of: each class a way some
/// decoder, filesystem or renderer reads a name differently from COS.
const PIECES: &[&str] = &[
    // plain
    "a",
    "photo.jpg",
    "acc2",
    "uploads",
    // dot-segments and what Windows strips to them
    ".",
    "..",
    "...",
    ".. ",
    ". .",
    " ",
    "a.",
    // percent-escapes of `.`, `/`, `\`, once, twice, thrice
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%5c",
    "%252e",
    "%252f",
    "%25252e",
    "%20",
    "%c0%ae",
    // look-alikes of `.`, `/` and `\` (NFKC and UTS #39)
    "\u{FF0E}",
    "\u{FF0F}",
    "\u{FF3C}",
    "\u{2024}",
    "\u{FE52}",
    "\u{2215}",
    "\u{2044}",
    "\u{29F8}",
    "\u{29F9}",
    "\u{2571}",
    "\u{3002}",
    "\u{0660}",
    "\u{06F0}",
    // look-alikes, percent-encoded (once and twice)
    "%ef%bc%8e",
    "%e2%88%95",
    "%25ef%25bc%258e",
    "%25e2%2588%2595",
    // invisible: bidirectional and zero-width controls
    "\u{202E}",
    "\u{2066}",
    "\u{200B}",
    "\u{200D}",
    "\u{FEFF}",
    "%e2%80%ae",
    // spaces other decoders make of other characters
    "\u{00A0}",
    "\u{3000}",
    "+",
];

/// A seeded generator (xorshift): the same keys on every run.
struct Seeded(u64);

impl Seeded {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Keys below the caller's directory, made of 1–4 segments of 1–3 pieces.
fn hostile_keys(count: usize) -> Vec<String> {
    let mut rng = Seeded(0x05ee_dc05_9a7e);
    let mut keys = BTreeSet::new();
    while keys.len() < count {
        let segments = 1 + rng.below(4);
        let key: Vec<String> = (0..segments)
            .map(|_| {
                let pieces = 1 + rng.below(3);
                (0..pieces)
                    .map(|_| PIECES[rng.below(PIECES.len())])
                    .collect()
            })
            .collect();
        keys.insert(format!("uploads/acc1/{}", key.join("/")));
    }
    keys.into_iter().collect()
}

/// Every path another program may read for `key` (below
/// `uploads/acc1/`): its part the client chose percent-decoded until nothing
/// changes, NFKC, Windows' stripping of trailing dots and spaces, and
/// folded by confusables (UTS #39), alone and in sequence. The directory's
/// own ASCII name is read as it is (folding would turn `acc1` into `accl`
/// on both sides of the comparison).
fn readings(key: &str) -> Vec<String> {
    let chosen = key
        .strip_prefix("uploads/acc1/")
        .expect("keys are the caller's");
    suffix_readings(chosen)
        .into_iter()
        .map(|r| format!("uploads/acc1/{r}"))
        .collect()
}

fn suffix_readings(key: &str) -> Vec<String> {
    use unicode_normalization::UnicodeNormalization;
    let decode = |s: &str| {
        let mut s = s.to_string();
        for _ in 0..8 {
            let next = percent_decode_str(&s).decode_utf8_lossy().into_owned();
            if next == s {
                break;
            }
            s = next;
        }
        s
    };
    let nfkc = |s: &str| s.nfkc().collect::<String>();
    // Win32 path normalisation: trailing spaces and dots go, but a name of
    // dots alone is the current or the parent directory.
    let windows = |s: &str| {
        s.replace('\\', "/")
            .split('/')
            .map(|seg| {
                let trimmed = seg.trim_end_matches(' ');
                if !trimmed.is_empty() && trimmed.bytes().all(|b| b == b'.') {
                    if trimmed.len() >= 2 { ".." } else { "." }
                } else {
                    trimmed.trim_end_matches(['.', ' '])
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    };
    let fold = |s: &str| unicode_security::skeleton(s).collect::<String>();
    let mut out = vec![key.to_string()];
    for _ in 0..3 {
        let mut next = Vec::new();
        for r in &out {
            next.extend([decode(r), nfkc(r), windows(r), fold(r)]);
        }
        out.extend(next);
        out.sort();
        out.dedup();
    }
    out
}

/// Whether `path`, resolved as a filesystem or URL resolver would (`\` as
/// `/`, `.` and empty segments dropped, `..` going up), leaves
/// `uploads/acc1/`.
fn escapes(path: &str) -> bool {
    let mut resolved: Vec<&str> = Vec::new();
    let path = path.replace('\\', "/");
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if resolved.pop().is_none() {
                    return true;
                }
            }
            other => resolved.push(other),
        }
    }
    !(resolved.len() > 2 && resolved[0] == "uploads" && resolved[1] == "acc1")
}

#[test]
fn the_escape_check_itself_catches_escapes() {
    assert!(escapes("uploads/acc1/../acc2/x"));
    assert!(escapes("uploads/acc1/./../../x"));
    assert!(escapes("uploads/acc1\\..\\acc2/x"));
    assert!(!escapes("uploads/acc1/a/../b"));
    assert!(
        readings("uploads/acc1/%252e%252e/acc2")
            .iter()
            .any(|r| escapes(r))
    );
    assert!(readings("uploads/acc1/.. /acc2").iter().any(|r| escapes(r)));
    assert!(
        readings("uploads/acc1/\u{FF0E}\u{FF0E}/acc2")
            .iter()
            .any(|r| escapes(r))
    );
    assert!(
        readings("uploads/acc1/..\u{2215}acc2")
            .iter()
            .any(|r| escapes(r))
    );
}

#[tokio::test]
async fn no_key_that_another_reader_moves_out_of_the_directory_is_signed() {
    let app = spawn_app_with(&[]).await;
    let keys = hostile_keys(20_000);
    let escaping = keys
        .iter()
        .filter(|k| readings(k).iter().any(|r| escapes(r)))
        .count();
    assert!(escaping > 5_000, "the generator makes escapes: {escaping}");
    let app = &app;
    let answers = futures_util::future::join_all(keys.chunks(1250).map(|chunk| async move {
        let mut signed = Vec::new();
        for key in chunk {
            let resp = app
                .post_as(
                    "acc1",
                    "/v1/qc_cos/authorization",
                    json!({"method": "put", "key": key, "headers": {"Content-Length": "1"}}),
                )
                .await;
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            match status {
                200 => signed.push(key.clone()),
                400 | 403 => {
                    assert!(
                        ["invalid_key", "path_not_allowed"]
                            .contains(&body["error_code"].as_str().unwrap_or_default()),
                        "{key:?}: {body}"
                    );
                    assert_nothing_signed(&body);
                }
                other => panic!("{key:?}: {other} {body}"),
            }
        }
        signed
    }))
    .await;
    let signed: Vec<String> = answers.into_iter().flatten().collect();
    for key in &signed {
        let moved: Vec<String> = readings(key).into_iter().filter(|r| escapes(r)).collect();
        assert!(
            moved.is_empty(),
            "{key:?} was signed but reads as {moved:?}"
        );
    }
    eprintln!(
        "{} keys: {escaping} escape under some reading, {} signed, none of those escapes",
        keys.len(),
        signed.len()
    );
}

#[tokio::test]
async fn each_class_of_rewritten_key_is_refused_by_every_v5_endpoint() {
    let app = spawn_app_with(&[]).await;
    for segment in [
        "...",
        ".. ",
        "%2e%2e%20",
        "%25ef%25bc%258e%25ef%25bc%258e",
        "a\u{2215}..",
        "..\u{2044}acc2",
        "x\u{29F8}y",
        "photo\u{202E}gpj.exe",
        "a\u{200B}b",
        "..\u{00A0}",
        "..\u{3000}",
        "..+",
        "%c0%ae%c0%ae",
        "%u002e%u002e",
        "${filename}",
    ] {
        let key = format!("uploads/acc1/{segment}/f.txt");
        let put = json!({"method": "put", "key": key, "headers": {"Content-Length": "1"}});
        let resp = app.post_as("acc1", "/v1/qc_cos/authorization", put).await;
        assert_nothing_signed(&assert_refused(resp, 400, "invalid_key").await);
        let presign = json!({"method": "put", "key": key, "content_length": 1});
        let resp = app
            .post_as("acc1", "/v1/qc_cos/presigned_url", presign)
            .await;
        assert_nothing_signed(&assert_refused(resp, 400, "invalid_key").await);
        let form = json!({"key": key});
        let resp = app.post_as("acc1", "/v1/qc_cos/post_policy", form).await;
        assert_nothing_signed(&assert_refused(resp, 400, "invalid_key").await);
        let dir = format!("/uploads/acc1/{segment}");
        let url = format!(
            "/v1/qc_cos/config?cos_path={}",
            percent_encoding::utf8_percent_encode(&dir, percent_encoding::NON_ALPHANUMERIC)
        );
        let resp = app
            .get(&url, Some(&format!("Bearer {}", token_for("acc1"))))
            .await;
        assert_nothing_signed(&assert_refused(resp, 400, "invalid_path").await);
    }
}

/// Logs in with a development code; the answer.
async fn log_in(app: &TestApp, code: &str) -> Value {
    let resp = app
        .post_as_client("/auth/oauth/token", json!({"code": code}))
        .await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn sign_with(app: &TestApp, access_token: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/v1/qc_cos/authorization", app.base))
        .bearer_auth(access_token)
        .json(&json!({"method": "get", "key": "uploads/x/a.txt"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn after_logout_the_access_token_signs_nothing_on_either_replica() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("shared.db").display());
    let vars = [
        ("DATABASE_URL", db.as_str()),
        ("SESSION_CHECK_SECONDS", "1"),
        ("QCOS_PER_ACCOUNT_DIRS", "false"),
    ];
    let (a, b) = (spawn_app_with(&vars).await, spawn_app_with(&vars).await);
    let tokens = log_in(&a, "dev-leaver").await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let other = log_in(&b, "dev-stayer").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sign_with(&a, &access).await.status(), 200);
    assert_eq!(
        sign_with(&b, &access).await.status(),
        200,
        "B knows the login"
    );

    let resp = a
        .post_as_client(
            "/auth/oauth/revoke",
            json!({"token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let started = std::time::Instant::now();
    // At once on the replica that logged out.
    let body = assert_refused(sign_with(&a, &access).await, 401, "invalid_token").await;
    assert_nothing_signed(&body);
    // Within SESSION_CHECK_SECONDS on the other.
    loop {
        let resp = sign_with(&b, &access).await;
        if resp.status() == 401 {
            assert_nothing_signed(&assert_refused(resp, 401, "invalid_token").await);
            break;
        }
        assert_eq!(resp.status(), 200);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "B still signs after 3 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    eprintln!("replica B stopped signing after {:?}", started.elapsed());
    let resp = a
        .client
        .post(format!("{}/v1/qc_cos/credentials", a.base))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_nothing_signed(&assert_refused(resp, 401, "invalid_token").await);
    // Another login of the same server is untouched.
    assert_eq!(sign_with(&a, &other).await.status(), 200);
    assert_eq!(sign_with(&b, &other).await.status(), 200);
}

#[tokio::test]
async fn header_blocks_over_the_limit_get_431_before_any_handler() {
    let app = spawn_app_with(&[]).await;
    let sign = |headers: Vec<(String, String)>| {
        let mut req = app
            .client
            .post(format!("{}/v1/qc_cos/authorization", app.base))
            .bearer_auth(token_for("acc1"))
            .json(&json!({"method": "get", "key": "uploads/acc1/a.txt"}));
        for (name, value) in headers {
            req = req.header(name, value);
        }
        req.send()
    };
    let one_big = vec![("x-padding".to_string(), "a".repeat(64 * 1024))];
    let body = assert_refused(sign(one_big).await.unwrap(), 431, "headers_too_large").await;
    assert_nothing_signed(&body);
    let many: Vec<(String, String)> = (0..66)
        .map(|i| (format!("x-pad-{i}"), "b".repeat(1024)))
        .collect();
    let body = assert_refused(sign(many).await.unwrap(), 431, "headers_too_large").await;
    assert_nothing_signed(&body);
    let fits: Vec<(String, String)> = (0..10)
        .map(|i| (format!("x-pad-{i}"), "c".repeat(1024)))
        .collect();
    assert_eq!(sign(fits).await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_forged_forwarded_for_behind_a_trusted_proxy_is_not_believed() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("RATE_LIMIT_LOGIN_PER_MIN", "2"),
    ])
    .await;
    // The proxy appends `ip:port`; the client forges a new left-hand entry
    // each time, hoping to be a new client.
    let login = |forwarded: String| {
        app.client
            .post(format!("{}/auth/oauth/token", app.base))
            .basic_auth("test-client", Some("test-client-secret"))
            .header("X-Forwarded-For", forwarded)
            .json(&json!({"code": "dev-forger"}))
            .send()
    };
    for i in 0..2 {
        let resp = login(format!("198.51.100.{i}, 203.0.113.9:4711"))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let resp = login("198.51.100.77, 203.0.113.9:5000".into())
        .await
        .unwrap();
    let body = assert_refused(resp, 429, "rate_limited").await;
    assert!(body.get("access_token").is_none());
    // Behind garbage nothing to the left counts: all such requests are the
    // proxy's own.
    for i in 0..2 {
        let resp = login(format!("198.51.100.{i}, unknown")).await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    let resp = login("198.51.100.99, unknown".into()).await.unwrap();
    assert_refused(resp, 429, "rate_limited").await;
    // IPv6 clients rotating inside their /64 are one client.
    for i in 1..=2 {
        let resp = login(format!("2001:db8:7:7::{i}")).await.unwrap();
        assert_eq!(resp.status(), 200);
    }
    let resp = login("2001:db8:7:7:ffff::1".into()).await.unwrap();
    assert_refused(resp, 429, "rate_limited").await;
}

#[tokio::test]
async fn downloads_cannot_be_served_as_active_content() {
    let app = spawn_app_with(&[]).await;
    for active in [
        "text/html",
        "image/svg+xml",
        "application/xhtml+xml",
        "text/javascript",
        "TEXT/HTML; charset=utf-8",
    ] {
        let ask = json!({
            "method": "get",
            "key": "uploads/acc1/photo.jpg",
            "query": {"response-content-type": active},
        });
        let resp = app.post_as("acc1", "/v1/qc_cos/authorization", ask).await;
        let body = assert_refused(resp, 403, "operation_not_allowed").await;
        assert_nothing_signed(&body);
    }
    let passive = json!({
        "method": "get",
        "key": "uploads/acc1/photo.jpg",
        "query": {
            "response-content-type": "image/jpeg",
            "response-content-disposition": "attachment; filename=\"p.html\"",
        },
    });
    let resp = app
        .post_as("acc1", "/v1/qc_cos/authorization", passive)
        .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn clients_that_write_a_whole_oversized_body_before_reading_get_the_413() {
    let app = spawn_app_with(&[]).await;
    let address = app.base.trim_start_matches("http://").to_string();
    let body = vec![b'x'; 1024 * 1024];
    let token = token_for("acc1");
    let clients = (0..50).map(|_| {
        let (address, body, token) = (address.clone(), body.clone(), token.clone());
        tokio::spawn(async move {
            let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
            let head = format!(
                "POST /v1/qc_cos/authorization HTTP/1.1\r\nHost: {address}\r\n\
                 Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n",
                body.len()
            );
            socket.write_all(head.as_bytes()).await.unwrap();
            // The server has decided by now; a server that answered and
            // closed would make the kernel reset the connection on the
            // writes below, and the answer would be lost.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            // All of it before reading a byte, as urllib does.
            let written = socket.write_all(&body).await;
            let mut answer = Vec::new();
            let read = socket.read_to_end(&mut answer).await;
            format!("{written:?} {read:?} {}", String::from_utf8_lossy(&answer))
        })
    });
    for answer in futures_util::future::join_all(clients).await {
        let answer = answer.unwrap();
        assert!(answer.starts_with("Ok(()) Ok("), "{answer}");
        assert!(answer.contains("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("payload_too_large"), "{answer}");
    }
}
