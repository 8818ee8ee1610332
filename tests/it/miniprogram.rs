//! The mini-program example as WeChat developers use it: the shipped
//! `examples/miniprogram/upload.js`, unmodified, with cos-wx-sdk-v5 from npm,
//! under Node with a `wx` written from WeChat's documented API
//! (`tests/js/wx_shim.cjs`), against cosgate and a fake COS that checks every
//! signature with its own implementation of Tencent's document.

use serde_json::{Value, json};

use crate::{
    fakes::{FakeCos, start_fake_cos},
    helpers::{CLIENT_ID, CLIENT_SECRET, TestApp, spawn_app_with},
    js_sdk::{fetch_bytes, js_tooling_ready, node_report},
    sts::sts_world,
};

/// Picture-like bytes: a JPEG header and a seeded, incompressible rest.
fn picture(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.push(x as u8);
    }
    bytes
}

/// The shipped example, logged in as `code`, running `steps`.
async fn run_example(
    app: &TestApp,
    cos: &FakeCos,
    code: &str,
    steps: Value,
    chunk: &'static str,
) -> Value {
    node_report(
        "miniprogram.cjs",
        [
            app.base.clone(),
            cos.host.clone(),
            CLIENT_ID.to_string(),
            CLIENT_SECRET.to_string(),
            code.to_string(),
            steps.to_string(),
        ],
        [("CHUNK_SIZE", chunk)],
    )
    .await
}

/// The fake COS, and cosgate with it as the bucket's endpoint and `vars`.
async fn with_fake_cos(vars: &[(&str, &str)]) -> (FakeCos, TestApp) {
    let cos = start_fake_cos();
    let endpoint = format!("http://{}", cos.host);
    let mut all = vec![("QCOS_ENDPOINT", endpoint.as_str())];
    all.extend_from_slice(vars);
    let app = spawn_app_with(&all).await;
    (cos, app)
}

fn wx_sdk_ready() -> bool {
    js_tooling_ready()
        && crate::fakes::js_dir()
            .join("node_modules/cos-wx-sdk-v5/dist/cos-wx-sdk-v5.js")
            .exists()
}

/// Uploads a 150 KiB and a 2.5 MiB picture through the user's own picker
/// flow, and checks COS holds exactly their bytes.
async fn small_and_large_pictures_upload(app: &TestApp, cos: &FakeCos) {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.jpg");
    let large = dir.path().join("large.jpg");
    std::fs::write(&small, picture(150 * 1024, 1)).unwrap();
    std::fs::write(&large, picture(2560 * 1024, 2)).unwrap();
    let steps = json!([{"pick": small}, {"pick": large}]);
    let report = run_example(app, cos, "dev-photographer", steps, "1048576").await;
    let account = report["account"].as_str().expect("logged in").to_string();
    for (step, file) in report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .zip([&small, &large])
    {
        assert_eq!(step["ok"], true, "{report}");
        let name = file.file_name().unwrap().to_str().unwrap();
        let key = format!("uploads/{account}/{name}");
        let (status, bytes) = fetch_bytes(app, &account, &key).await;
        assert_eq!(status, 200, "{key}");
        assert!(
            bytes == std::fs::read(file).unwrap(),
            "{key}: the bytes differ"
        );
    }
    let requests = report["requests"].as_array().unwrap();
    assert!(
        requests
            .iter()
            .any(|r| r.as_str().unwrap().contains("uploadId=")),
        "the large one went in parts: {requests:?}"
    );
    assert!(
        !requests
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("UPLOAD ")),
        "no POST Object form: {requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_example_uploads_small_and_large_pictures_with_the_root_key() {
    if !wx_sdk_ready() {
        return;
    }
    let (cos, app) = with_fake_cos(&[]).await;
    small_and_large_pictures_upload(&app, &cos).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_example_uploads_small_and_large_pictures_in_sts_mode() {
    if !wx_sdk_ready() {
        return;
    }
    let Some((_sts, cos, app)) = sts_world().await else {
        return;
    };
    small_and_large_pictures_upload(&app, &cos).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_sees_why_cosgate_refused() {
    if !wx_sdk_ready() {
        return;
    }
    let (cos, app) = with_fake_cos(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("theirs.jpg");
    std::fs::write(&file, picture(20 * 1024, 3)).unwrap();
    let steps = json!([{"file": file, "key": "uploads/acc_someone_else/theirs.jpg"}]);
    let report = run_example(&app, &cos, "dev-intruder", steps, "1048576").await;
    let step = &report["steps"][0];
    assert_eq!(step["ok"], false, "{report}");
    assert_eq!(step["error_code"], "path_not_allowed", "{report}");
    let (status, _) = fetch_bytes(
        &app,
        "acc_someone_else",
        "uploads/acc_someone_else/theirs.jpg",
    )
    .await;
    assert_eq!(status, 404, "nothing was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_larger_than_a_minutes_signing_allowance_completes() {
    if !wx_sdk_ready() {
        return;
    }
    // Four signatures a minute; the file needs six parts and more requests.
    let (cos, app) = with_fake_cos(&[("RATE_LIMIT_SIGN_PER_MIN", "4")]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.jpg");
    std::fs::write(&file, picture(6 * 1024 * 1024 - 1000, 4)).unwrap();
    let report = run_example(
        &app,
        &cos,
        "dev-patient",
        json!([{"pick": file}]),
        "1048576",
    )
    .await;
    assert_eq!(report["steps"][0]["ok"], true, "{report}");
    let signed = report["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.as_str().unwrap().contains("/v1/qc_cos/authorization"))
        .count();
    assert!(
        signed > 4,
        "more signatures than the minute's allowance: {signed}"
    );
    let account = report["account"].as_str().unwrap();
    let key = format!("uploads/{account}/long.jpg");
    let (status, bytes) = fetch_bytes(&app, account, &key).await;
    assert_eq!(status, 200);
    assert!(bytes == std::fs::read(&file).unwrap());
}

#[tokio::test]
async fn a_host_that_is_not_the_buckets_is_refused_naming_the_right_one() {
    let app = spawn_app_with(&[("QCOS_ENDPOINT", "https://img.example.com")]).await;
    let resp = app
        .post_as(
            "acc1",
            "/v1/qc_cos/authorization",
            json!({
                "Method": "put", "Key": "uploads/acc1/a.jpg", "Pathname": "/uploads/acc1/a.jpg",
                "Headers": {"Host": "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com", "Content-Length": 5},
                "Query": {},
            }),
        )
        .await;
    let body = crate::helpers::assert_refused(resp, 400, "invalid_request").await;
    assert!(body.get("authorization").is_none());
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("img.example.com"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_example_uploads_through_sessions() {
    if !wx_sdk_ready() {
        return;
    }
    let (cos, app) = with_fake_cos(&[("UPLOAD_PART_BYTES", "1048576")]).await;
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.jpg");
    let large = dir.path().join("large.mp4");
    let svg = dir.path().join("trick.svg");
    std::fs::write(&small, picture(150 * 1024, 5)).unwrap();
    std::fs::write(&large, picture(2560 * 1024, 6)).unwrap();
    std::fs::write(&svg, b"<svg/>").unwrap();
    let steps = json!([
        {"session": small, "type": "image/jpeg", "profile": "photo"},
        {"session": large, "type": "video/mp4", "profile": "video"},
        {"session": svg, "type": "image/svg+xml", "profile": "photo"},
    ]);
    let report = run_example(&app, &cos, "dev-sessions", steps, "1048576").await;
    let account = report["account"].as_str().unwrap().to_string();
    for (step, file) in report["steps"].as_array().unwrap()[..2]
        .iter()
        .zip([&small, &large])
    {
        assert_eq!(step["ok"], true, "{report}");
        let upload = &step["upload"];
        assert_eq!(upload["status"], "completed", "{report}");
        assert_eq!(upload["size_bytes"], std::fs::metadata(file).unwrap().len());
        assert!(
            upload["key"]
                .as_str()
                .unwrap()
                .starts_with(&format!("sessions/{account}/"))
        );
        let got = reqwest::get(upload["download_url"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(got.status(), 200);
        let bytes = got.bytes().await.unwrap().to_vec();
        assert!(bytes == std::fs::read(file).unwrap(), "the bytes differ");
    }
    assert_eq!(report["steps"][2]["ok"], false);
    assert_eq!(
        report["steps"][2]["error_code"], "unsupported_media_type",
        "{report}"
    );
}
