//! Upload sessions end to end: cosgate chooses the key, signs the exact size
//! and type, and verifies the object at a fake COS (`tests/js/fake_cos.py`)
//! that checks every signature, every signed header and every part with its
//! own implementation of Tencent's documents. Bytes are fetched back and
//! compared; quotas are read from the store itself.

use base64::{Engine, engine::general_purpose::STANDARD};
use cosgate::store::Store;
use serde_json::{Value, json};

use crate::{
    fakes::{FakeCos, start_fake_cos},
    helpers::*,
    js_sdk::{fetch_bytes, js_tooling_ready},
};

pub(crate) const UPLOADS: &str = "/v1/uploads";

/// Seeded bytes, incompressible.
pub(crate) fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn md5_b64(data: &[u8]) -> String {
    STANDARD.encode(md5_digest(data))
}

/// MD5, written here from RFC 1321 so the test depends on nothing of
/// cosgate's and no extra crate.
pub(crate) fn md5_digest(data: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32)
        .collect();
    let (mut a0, mut b0, mut c0, mut d0) =
        (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_le_bytes());
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    let mut out = [0u8; 16];
    for (i, w) in [a0, b0, c0, d0].iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

pub(crate) fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_tests_md5_is_md5() {
    assert_eq!(hex(&md5_digest(b"")), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(
        hex(&md5_digest(b"The quick brown fox jumps over the lazy dog")),
        "9e107d9d372bb6826bd81d3542a419d6"
    );
}

/// The fake COS and cosgate in front of it; `vars` added.
pub(crate) async fn world(vars: &[(&str, &str)]) -> Option<(FakeCos, TestApp)> {
    if !js_tooling_ready() {
        return None;
    }
    let cos = start_fake_cos();
    let endpoint = format!("http://{}", cos.host);
    let mut all = vec![
        ("QCOS_ENDPOINT", endpoint.as_str()),
        ("UPLOAD_PART_BYTES", "1048576"),
    ];
    all.extend_from_slice(vars);
    let app = spawn_app_with(&all).await;
    Some((cos, app))
}

pub(crate) async fn create(app: &TestApp, account: &str, body: Value) -> reqwest::Response {
    app.post_as(account, UPLOADS, body).await
}

pub(crate) async fn created(app: &TestApp, account: &str, body: Value) -> Value {
    let resp = create(app, account, body.clone()).await;
    assert_eq!(resp.status(), 201, "{body}");
    resp.json().await.unwrap()
}

pub(crate) async fn call(
    app: &TestApp,
    account: &str,
    method: reqwest::Method,
    path: &str,
) -> reqwest::Response {
    app.client
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(token_for(account))
        .send()
        .await
        .unwrap()
}

pub(crate) async fn complete(app: &TestApp, account: &str, id: &str) -> reqwest::Response {
    call(
        app,
        account,
        reqwest::Method::POST,
        &format!("{UPLOADS}/{id}/complete"),
    )
    .await
}

/// Sends `body` to a signed request (`url` and `headers`), optionally with
/// headers replaced; the status COS answered.
pub(crate) async fn send(signed: &Value, body: Vec<u8>, replace: &[(&str, &str)]) -> u16 {
    let mut req = reqwest::Client::new().put(signed["url"].as_str().unwrap());
    for (name, value) in signed["headers"].as_object().unwrap() {
        if name.eq_ignore_ascii_case("content-length") {
            continue; // reqwest sends the body's own length
        }
        let value = replace
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(value.as_str().unwrap(), |(_, v)| v);
        req = req.header(name.as_str(), value);
    }
    req.body(body).send().await.unwrap().status().as_u16()
}

/// Puts 7 other bytes at `key` through a per-request signature: another
/// path to a session's key, which exists when sessions share the upload
/// root (`UPLOAD_SESSION_ROOT=/uploads` with unmetered grants allowed).
pub(crate) async fn replace_at_cos(app: &TestApp, account: &str, key: &str) {
    let auth: Value = app
        .post_as(
            account,
            "/v1/qc_cos/authorization",
            json!({"method": "put", "key": key, "headers": {"Content-Length": "7", "Content-Type": "image/jpeg"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let replaced = reqwest::Client::new()
        .put(auth["url"].as_str().unwrap())
        .header("Authorization", auth["authorization"].as_str().unwrap())
        .header("Content-Type", "image/jpeg")
        .body(vec![9u8; 7])
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), 200);
}

/// A completed upload's bytes, through its `download_url`.
async fn download(answer: &Value) -> (u16, Vec<u8>) {
    let url = answer["download_url"]
        .as_str()
        .expect("a completed upload has a download_url");
    let got = reqwest::get(url).await.unwrap();
    (got.status().as_u16(), got.bytes().await.unwrap().to_vec())
}

async fn sign_parts(app: &TestApp, account: &str, id: &str, numbers: &[i64]) -> reqwest::Response {
    app.post_as(
        account,
        &format!("{UPLOADS}/{id}/parts"),
        json!({"part_numbers": numbers}),
    )
    .await
}

pub(crate) async fn signed_parts(
    app: &TestApp,
    account: &str,
    id: &str,
    numbers: &[i64],
) -> Vec<Value> {
    let resp = sign_parts(app, account, id, numbers).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["parts"].as_array().unwrap().clone()
}

/// The part of `data` that part `n` (1-based) of a plan of `size` holds.
fn part_of(data: &[u8], size: usize, n: usize) -> Vec<u8> {
    data[(n - 1) * size..(n * size).min(data.len())].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_upload_is_verified_at_cos_and_recorded() {
    let Some((_cos, app)) = world(&[]).await else {
        return;
    };
    let data = bytes(150 * 1024, 1);
    let answer = created(
        &app,
        "acc1",
        json!({"filename": "../../acc2/cat.jpg", "size_bytes": data.len(), "content_type": "image/jpeg",
               "content_md5": md5_b64(&data)}),
    )
    .await;
    assert_eq!(answer["status"], "pending");
    assert_eq!(
        answer["filename"], "../../acc2/cat.jpg",
        "kept, never in the key"
    );
    let key = answer["key"].as_str().unwrap();
    let id = answer["id"].as_str().unwrap();
    assert!(
        key.starts_with("sessions/acc1/") && key.ends_with(&format!("/{id}.jpg")),
        "{key}"
    );
    assert!(!key.contains("cat") && !key.contains(".."), "{key}");
    let put = &answer["put"];
    assert_eq!(put["headers"]["Content-Type"], "image/jpeg");
    assert_eq!(put["headers"]["Content-Length"], data.len().to_string());
    let resp = complete(&app, "acc1", id).await;
    assert_refused(resp, 409, "upload_incomplete").await;

    assert_eq!(send(put, data.clone(), &[]).await, 200);
    let done: Value = complete(&app, "acc1", id).await.json().await.unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["etag"], hex(&md5_digest(&data)));
    assert!(done.get("put").is_none());
    let again: Value = complete(&app, "acc1", id).await.json().await.unwrap();
    assert_eq!(again, done, "completing twice answers the same");
    assert!(key.starts_with("sessions/acc1/"), "{key}");
    let (status, back) = download(&done).await;
    assert_eq!(status, 200);
    assert!(back == data, "the bytes differ");
    // The same signed PUT cannot replace what was verified.
    assert_eq!(send(put, bytes(data.len(), 99), &[]).await, 409);
    let (_, still) = download(&done).await;
    assert!(still == data, "not replaced");
    let listed: Value = call(&app, "acc1", reqwest::Method::GET, UPLOADS)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["uploads"][0]["id"], id);
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("cosgate_uploads_total{outcome=\"completed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "cosgate_upload_completed_bytes_total {}",
            data.len()
        )),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_upload_is_planned_signed_per_part_and_completed_by_cosgate() {
    let Some((_cos, app)) = world(&[]).await else {
        return;
    };
    let part = 1024 * 1024;
    let data = bytes(3 * part + 300_000, 2);
    let answer = created(
        &app,
        "acc1",
        json!({"filename": "clip.mp4", "size_bytes": data.len(), "content_type": "video/mp4", "profile": "video"}),
    )
    .await;
    let id = answer["id"].as_str().unwrap().to_string();
    assert_eq!(answer["multipart"]["part_size"], part);
    assert_eq!(answer["multipart"]["part_count"], 4);
    assert!(answer.get("put").is_none());
    // Two parts, then the app forgets everything and asks where it was.
    for p in signed_parts(&app, "acc1", &id, &[1, 2]).await {
        let n = p["part_number"].as_u64().unwrap() as usize;
        assert_eq!(p["headers"]["Content-Length"], part.to_string());
        assert_eq!(send(&p, part_of(&data, part, n), &[]).await, 200);
    }
    let resp = complete(&app, "acc1", &id).await;
    assert_refused(resp, 409, "upload_incomplete").await;
    let state: Value = call(
        &app,
        "acc1",
        reqwest::Method::GET,
        &format!("{UPLOADS}/{id}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(state["multipart"]["parts_present"], json!([1, 2]));
    for p in signed_parts(&app, "acc1", &id, &[3, 4]).await {
        let n = p["part_number"].as_u64().unwrap() as usize;
        assert_eq!(send(&p, part_of(&data, part, n), &[]).await, 200);
    }
    let done: Value = complete(&app, "acc1", &id).await.json().await.unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    assert!(done["etag"].as_str().unwrap().ends_with("-4"), "{done}");
    let (status, back) = download(&done).await;
    assert_eq!(status, 200);
    assert!(back == data, "the bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cos_refuses_every_body_but_the_declared_one() {
    let Some((_cos, app)) = world(&[]).await else {
        return;
    };
    let data = bytes(20_000, 3);
    let answer = created(
        &app,
        "acc1",
        json!({"filename": "a.png", "size_bytes": data.len(), "content_type": "image/png",
               "content_md5": md5_b64(&data)}),
    )
    .await;
    let put = &answer["put"];
    let longer = [data.clone(), vec![0]].concat();
    assert_eq!(send(put, longer, &[]).await, 403, "a longer body");
    assert_eq!(
        send(put, data[..data.len() - 1].to_vec(), &[]).await,
        403,
        "a shorter body"
    );
    assert_eq!(
        send(put, data.clone(), &[("Content-Type", "text/html")]).await,
        403,
        "another type"
    );
    let mut other = data.clone();
    other[0] ^= 1;
    assert_eq!(
        send(put, other, &[]).await,
        400,
        "another body of that size (Content-MD5)"
    );
    let resp = complete(&app, "acc1", answer["id"].as_str().unwrap()).await;
    assert_refused(resp, 409, "upload_incomplete").await;

    // Parts: another size, a number outside the plan.
    let big = bytes(2 * 1024 * 1024 + 5, 4);
    let answer = created(
        &app,
        "acc1",
        json!({"filename": "b.jpg", "size_bytes": big.len(), "content_type": "image/jpeg"}),
    )
    .await;
    let id = answer["id"].as_str().unwrap();
    let parts = signed_parts(&app, "acc1", id, &[1]).await;
    assert_eq!(
        send(&parts[0], vec![1; 1000], &[]).await,
        403,
        "a part of another size"
    );
    for numbers in [vec![0], vec![4], vec![-1], vec![]] {
        let resp = sign_parts(&app, "acc1", id, &numbers).await;
        let body = assert_refused(resp, 400, "invalid_request").await;
        assert!(body.get("parts").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_replaced_before_completion_is_rejected_and_deleted() {
    // Sessions in the upload root, which other grants write too: the
    // misconfiguration under which another path exists.
    let Some((_cos, app)) = world(&[
        ("QCOS_STORAGE_BYTES_PER_ACCOUNT", "100000"),
        ("QCOS_ALLOW_UNMETERED_GRANTS", "true"),
        ("UPLOAD_SESSION_ROOT", "/uploads"),
    ])
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
    // Another path to the same key: a per-request signature, another size.
    replace_at_cos(&app, "acc1", key).await;
    let body = assert_refused(complete(&app, "acc1", id).await, 422, "upload_mismatch").await;
    assert!(
        body["message"].as_str().unwrap().contains("7 bytes"),
        "{body}"
    );
    let (status, _) = fetch_bytes(&app, "acc1", key).await;
    assert_eq!(status, 404, "deleted at COS");
    let state: Value = call(
        &app,
        "acc1",
        reqwest::Method::GET,
        &format!("{UPLOADS}/{id}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(state["status"], "rejected");
    // Its PUT still works until it expires, so its bytes stay held until
    // then (the sweeper gives them back; see the test below).
    let held = create(
        &app,
        "acc1",
        json!({"filename": "b.jpg", "size_bytes": 100000, "content_type": "image/jpeg"}),
    )
    .await;
    assert_refused(held, 403, "storage_quota_exceeded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_sessions_are_refused() {
    let Some((_cos, app)) = world(&[("UPLOAD_TTL", "1")]).await else {
        return;
    };
    for (body, status, code) in [
        (
            json!({"filename": "x.svg", "size_bytes": 10, "content_type": "image/svg+xml"}),
            415,
            "unsupported_media_type",
        ),
        (
            json!({"filename": "x.html", "size_bytes": 10, "content_type": "text/html"}),
            415,
            "unsupported_media_type",
        ),
        (
            json!({"filename": "x.gif", "size_bytes": 10, "content_type": "image/gif", "profile": "avatar"}),
            415,
            "unsupported_media_type",
        ),
        (
            json!({"filename": "x.png", "size_bytes": 3 * 1024 * 1024, "content_type": "image/png", "profile": "avatar"}),
            403,
            "upload_too_large",
        ),
        (
            json!({"filename": "x.png", "size_bytes": 0, "content_type": "image/png"}),
            400,
            "invalid_request",
        ),
        (
            json!({"filename": "x.png", "size_bytes": 5, "content_type": "image/png", "profile": "nope"}),
            400,
            "invalid_request",
        ),
        (
            json!({"filename": "x.png", "size_bytes": 5, "content_type": "image/png", "content_md5": "short"}),
            400,
            "invalid_request",
        ),
        (
            json!({"filename": "a\u{0}b", "size_bytes": 5, "content_type": "image/png"}),
            400,
            "invalid_request",
        ),
    ] {
        let answer = assert_refused(create(&app, "acc1", body.clone()).await, status, code).await;
        assert!(
            answer.get("put").is_none() && answer.get("key").is_none(),
            "{body}"
        );
    }
    let answer = created(
        &app,
        "acc1",
        json!({"filename": "a.jpg", "size_bytes": 10, "content_type": "image/jpeg"}),
    )
    .await;
    let id = answer["id"].as_str().unwrap();
    for (method, path) in [
        (reqwest::Method::GET, format!("{UPLOADS}/{id}")),
        (reqwest::Method::POST, format!("{UPLOADS}/{id}/complete")),
        (reqwest::Method::DELETE, format!("{UPLOADS}/{id}")),
    ] {
        let resp = call(&app, "acc2", method, &path).await;
        let body = assert_refused(resp, 404, "upload_not_found").await;
        assert!(body.get("put").is_none());
    }
    let resp = sign_parts(&app, "acc2", id, &[1]).await;
    assert_refused(resp, 404, "upload_not_found").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_refused(complete(&app, "acc1", id).await, 410, "upload_expired").await;
    let state: Value = call(
        &app,
        "acc1",
        reqwest::Method::GET,
        &format!("{UPLOADS}/{id}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(state["status"], "expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_quota_on_unmetered_grants_need_a_session() {
    let app = spawn_app_with(&[("QCOS_DAILY_UPLOAD_BYTES_PER_ACCOUNT", "1000000")]).await;
    for (path, body) in [
        (
            "/v1/qc_cos/authorization",
            json!({"method": "put", "key": "uploads/acc1/a", "headers": {"Content-Length": "5"}}),
        ),
        (
            "/v1/qc_cos/authorization",
            json!({"method": "put", "key": "uploads/acc1/a", "headers": {"Content-Length": "5"}, "query": {"partNumber": "1", "uploadId": "u"}}),
        ),
        ("/v1/qc_cos/post_policy", json!({})),
        ("/v1/qc_cos/credentials", json!({})),
    ] {
        let resp = app.post_as("acc1", path, body.clone()).await;
        let answer = assert_refused(resp, 403, "upload_session_required").await;
        for field in ["authorization", "fields", "TmpSecretKey"] {
            assert!(answer.get(field).is_none(), "{path} {body}");
        }
    }
    let resp = app
        .get(
            "/v1/qc_cos/config",
            Some(&format!("Bearer {}", token_for("acc1"))),
        )
        .await;
    assert_refused(resp, 403, "upload_session_required").await;
    // Nor a presigned PUT or an exact-key form, whose bytes no session holds.
    let resp = app
        .post_as(
            "acc1",
            "/v1/qc_cos/presigned_url",
            json!({"method": "put", "key": "uploads/acc1/a", "content_length": 5}),
        )
        .await;
    assert_refused(resp, 403, "upload_session_required").await;
    let resp = app
        .post_as(
            "acc1",
            "/v1/qc_cos/post_policy",
            json!({"key": "uploads/acc1/a"}),
        )
        .await;
    assert_refused(resp, 403, "upload_session_required").await;
    // Reads are signed as before.
    let resp = app
        .post_as(
            "acc1",
            "/v1/qc_cos/presigned_url",
            json!({"method": "get", "key": "uploads/acc1/a"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    // A zero-length part is never signed, quota or not.
    let open = spawn_app().await;
    let resp = open
        .post_as(
            "acc1",
            "/v1/qc_cos/authorization",
            json!({"method": "put", "key": "uploads/acc1/a", "headers": {"Content-Length": "0"}, "query": {"partNumber": "1", "uploadId": "u"}}),
        )
        .await;
    let answer = assert_refused(resp, 400, "invalid_request").await;
    assert!(answer.get("authorization").is_none());
}

/// 30 concurrent sessions against quotas that fit 10: exactly 10 succeed.
async fn quotas_hold_under_concurrency(database_url: &str, account: &str) {
    let Some((_cos, app)) = world(&[
        ("DATABASE_URL", database_url),
        ("QCOS_DAILY_UPLOAD_BYTES_PER_ACCOUNT", "10000"),
        ("QCOS_STORAGE_BYTES_PER_ACCOUNT", "10000"),
    ])
    .await
    else {
        return;
    };
    let app = &app;
    let answers = futures_util::future::join_all((0..30).map(|i| async move {
        create(
            app,
            account,
            json!({"filename": format!("{i}.jpg"), "size_bytes": 1000, "content_type": "image/jpeg"}),
        )
        .await
    }))
    .await;
    let mut ok = 0;
    for resp in answers {
        match resp.status().as_u16() {
            201 => ok += 1,
            _ => {
                let body = assert_refused(resp, 429, "quota_exceeded").await;
                assert!(body.get("put").is_none());
            }
        }
    }
    assert_eq!(ok, 10, "exactly the quota");
    let store = Store::connect(database_url).await.unwrap();
    assert_eq!(store.stored_bytes(account).await.unwrap(), 10_000);
    // Deleting one gives its bytes back to both quotas.
    let listed: Value = call(app, account, reqwest::Method::GET, UPLOADS)
        .await
        .json()
        .await
        .unwrap();
    let first = listed["uploads"][0]["id"].as_str().unwrap().to_string();
    let deleted: Value = call(
        app,
        account,
        reqwest::Method::DELETE,
        &format!("{UPLOADS}/{first}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(deleted["status"], "deleted");
    // Its signed PUT still works for a while: its bytes stay held, on both
    // quotas, until the sweeper gives them back.
    assert_eq!(store.stored_bytes(account).await.unwrap(), 10_000);
    let again = create(
        app,
        account,
        json!({"filename": "x.jpg", "size_bytes": 1000, "content_type": "image/jpeg"}),
    )
    .await;
    assert_refused(again, 429, "quota_exceeded").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_hold_under_concurrency_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("q.db").display());
    quotas_hold_under_concurrency(&url, "acc_sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_hold_under_concurrency_on_postgres() {
    let Ok(url) = std::env::var("COSGATE_TEST_POSTGRES_URL") else {
        skip("the upload quotas on PostgreSQL (set COSGATE_TEST_POSTGRES_URL)");
        return;
    };
    let account = format!("acc_pg_{}", now());
    quotas_hold_under_concurrency(&url, &account).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_that_reached_cos_but_not_the_store_is_finished_on_retry() {
    // Another path to the session's upload exists only with sessions in the
    // upload root.
    let Some((_cos, app)) = world(&[("UPLOAD_SESSION_ROOT", "/uploads")]).await else {
        return;
    };
    let part = 1024 * 1024;
    let data = bytes(2 * part + 10, 6);
    let answer = created(
        &app,
        "acc1",
        json!({"filename": "v.mp4", "size_bytes": data.len(), "content_type": "video/mp4", "profile": "video"}),
    )
    .await;
    let (id, key) = (
        answer["id"].as_str().unwrap(),
        answer["key"].as_str().unwrap(),
    );
    for p in signed_parts(&app, "acc1", id, &[1, 2, 3]).await {
        let n = p["part_number"].as_u64().unwrap() as usize;
        assert_eq!(send(&p, part_of(&data, part, n), &[]).await, 200);
    }
    // As if cosgate had completed at COS and died before its store update:
    // the upload is completed at COS by another path.
    let upload_id = {
        let state: Value = call(
            &app,
            "acc1",
            reqwest::Method::GET,
            &format!("{UPLOADS}/{id}"),
        )
        .await
        .json()
        .await
        .unwrap();
        assert_eq!(state["multipart"]["parts_present"], json!([1, 2, 3]));
        list_upload_id(&app, key).await
    };
    let xml: String = (1..=3)
        .map(|n| {
            format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>\"{}\"</ETag></Part>",
                hex(&md5_digest(&part_of(&data, part, n)))
            )
        })
        .collect();
    let auth: Value = app
        .post_as(
            "acc1",
            "/v1/qc_cos/authorization",
            json!({"method": "post", "key": key, "query": {"uploadId": upload_id}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let done_at_cos = reqwest::Client::new()
        .post(format!(
            "{}?uploadId={upload_id}",
            auth["url"].as_str().unwrap()
        ))
        .header("Authorization", auth["authorization"].as_str().unwrap())
        .body(format!(
            "<CompleteMultipartUpload>{xml}</CompleteMultipartUpload>"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(done_at_cos.status(), 200);
    let done: Value = complete(&app, "acc1", id).await.json().await.unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    let (status, back) = download(&done).await;
    assert_eq!(status, 200);
    assert!(back == data);
}

/// The COS upload id of the multipart upload at `key`, as a client lists
/// it (ListMultipartUploads through a per-request signature).
async fn list_upload_id(app: &TestApp, key: &str) -> String {
    let auth: Value = app
        .post_as(
            "acc1",
            "/v1/qc_cos/authorization",
            json!({"method": "get", "key": "", "query": {"uploads": "", "prefix": key}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let base = auth["url"].as_str().unwrap();
    let listed = reqwest::Client::new()
        .get(format!("{base}?uploads&prefix={key}"))
        .header("Authorization", auth["authorization"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = listed.find("<UploadId>").expect("an upload is listed") + "<UploadId>".len();
    let end = listed[start..].find("</UploadId>").unwrap() + start;
    listed[start..end].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_sdk_uploads_through_sessions() {
    let Some((cos, app)) = world(&[]).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (small, large) = (dir.path().join("small.jpg"), dir.path().join("large.mp4"));
    std::fs::write(&small, bytes(100_000, 7)).unwrap();
    std::fs::write(&large, bytes(2 * 1024 * 1024 + 77, 8)).unwrap();
    let report = crate::js_sdk::node_report(
        "sdk_session.cjs",
        [
            app.base.clone(),
            token_for("acc1"),
            cos.host.clone(),
            small.display().to_string(),
            large.display().to_string(),
        ],
        crate::js_sdk::NO_ENV,
    )
    .await;
    assert!(report.get("error").is_none(), "{report}");
    assert_eq!(report["put"]["status"], 200, "{report}");
    assert_eq!(report["put_elsewhere"], "refused", "{report}");
    assert_eq!(report["other_upload_id"], "refused", "{report}");
    assert!(
        report["refusals"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r == "403 operation_not_allowed"),
        "{report}"
    );
    assert_eq!(report["small"]["status"], "completed", "{report}");
    assert_eq!(report["parts_present"], json!([1, 2, 3]), "{report}");
    assert_eq!(report["large"]["status"], "completed", "{report}");
    for (upload, file) in [(&report["small"], &small), (&report["large"], &large)] {
        let key = &upload["key"];
        let (status, back) = download(upload).await;
        assert_eq!(status, 200);
        assert!(
            back == std::fs::read(file).unwrap(),
            "{key}: the bytes differ"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cos_that_does_not_answer_is_503_and_gives_the_bytes_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    // Nothing listens on port 9.
    let app = spawn_app_with(&[
        ("DATABASE_URL", db.as_str()),
        ("QCOS_ENDPOINT", "http://127.0.0.1:9"),
        ("UPLOAD_PART_BYTES", "1048576"),
        ("QCOS_STORAGE_BYTES_PER_ACCOUNT", "100000000"),
    ])
    .await;
    let resp = create(
        &app,
        "acc1",
        json!({"filename": "v.mp4", "size_bytes": 3 * 1024 * 1024, "content_type": "video/mp4", "profile": "video"}),
    )
    .await;
    let body = assert_refused(resp, 503, "cos_unavailable").await;
    assert!(body.get("multipart").is_none());
    assert!(
        !body["message"].as_str().unwrap().contains("127.0.0.1"),
        "{body}"
    );
    let store = Store::connect(&db).await.unwrap();
    assert_eq!(store.stored_bytes("acc1").await.unwrap(), 0, "given back");
    let listed: Value = call(&app, "acc1", reqwest::Method::GET, UPLOADS)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["uploads"][0]["status"], "rejected");
    // Completing a single upload against an unreachable COS is 503 too.
    let single = created(
        &app,
        "acc1",
        json!({"filename": "a.jpg", "size_bytes": 10, "content_type": "image/jpeg"}),
    )
    .await;
    let resp = complete(&app, "acc1", single["id"].as_str().unwrap()).await;
    assert_refused(resp, 503, "cos_unavailable").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_session_holds_its_bytes_until_its_signatures_stop_working() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("h.db").display());
    let Some((_cos, app)) = world(&[
        ("DATABASE_URL", db.as_str()),
        ("QCOS_STORAGE_BYTES_PER_ACCOUNT", "100000"),
        ("UPLOAD_TTL", "2"),
        ("UPLOAD_SWEEP_SECONDS", "1"),
        // To read the key back with a presigned GET.
        ("UPLOAD_SESSION_ROOT", "/uploads"),
    ])
    .await
    else {
        return;
    };
    let store = Store::connect(&db).await.unwrap();
    let data = bytes(40_000, 11);
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
    assert!(
        answer["put"]["expired_time"].as_i64().unwrap() <= answer["expires_time"].as_i64().unwrap()
    );
    let deleted: Value = call(
        &app,
        "acc1",
        reqwest::Method::DELETE,
        &format!("{UPLOADS}/{id}"),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(deleted["status"], "deleted");
    // The PUT signed before the delete still works at COS: its bytes stay
    // counted.
    assert_eq!(send(&answer["put"], data, &[]).await, 200);
    assert_eq!(store.stored_bytes("acc1").await.unwrap(), 40_000, "held");
    // Once it stops working, the sweeper cleans the key and gives them back.
    let started = std::time::Instant::now();
    while store.stored_bytes("acc1").await.unwrap() != 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(8),
            "never released"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (status, _) = fetch_bytes(&app, "acc1", key).await;
    assert_eq!(status, 404, "what was put after the delete is gone");
    // A session nobody completes expires on its own, cleaned the same way.
    let forgotten = created(
        &app,
        "acc1",
        json!({"filename": "b.jpg", "size_bytes": 10, "content_type": "image/jpeg"}),
    )
    .await;
    let id = forgotten["id"].as_str().unwrap();
    let started = std::time::Instant::now();
    loop {
        let row = store.upload(id).await.unwrap().unwrap();
        if row.status == cosgate::store::UploadStatus::Expired && row.held_until == 0 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(8),
            "never swept"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(store.stored_bytes("acc1").await.unwrap(), 0);
    // Without WEBHOOK_URL no event is stored (none would ever leave).
    assert_eq!(store.outbox_depth().await.unwrap(), (0, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_sts_mode_sessions_are_signed_with_credentials_confined_to_the_session_directory() {
    let Some((_sts, _cos, app)) = crate::sts::sts_world().await else {
        return;
    };
    let data = bytes(64 * 1024, 12);
    let answer = created(
        &app,
        "acc1",
        json!({"filename": "s.jpg", "size_bytes": data.len(), "content_type": "image/jpeg"}),
    )
    .await;
    let url = answer["put"]["url"].as_str().unwrap();
    assert!(
        url.contains("q-ak=AKIDtmp") && url.contains("x-cos-security-token="),
        "{url}"
    );
    // An unsigned copy from another account's object is refused by COS:
    // the credentials reach only the session's directory.
    let mut req = reqwest::Client::new().put(url);
    for (name, value) in answer["put"]["headers"].as_object().unwrap() {
        if !name.eq_ignore_ascii_case("content-length") {
            req = req.header(name.as_str(), value.as_str().unwrap());
        }
    }
    let copied = req
        .header(
            "x-cos-copy-source",
            "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/uploads/acc2/secret.jpg",
        )
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        copied.status(),
        403,
        "a copy from outside the session directory"
    );
    assert_eq!(send(&answer["put"], data.clone(), &[]).await, 200);
    let done: Value = complete(&app, "acc1", answer["id"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    let (status, back) = download(&done).await;
    assert_eq!(status, 200);
    assert!(back == data);
}
