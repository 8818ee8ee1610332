//! Development's local COS (`LOCAL_COS`): the official SDKs upload to it
//! with signatures they compute themselves (from cosgate's per-request
//! signatures, its STS credentials, its upload sessions), and it refuses
//! what COS refuses, with COS's codes. Nothing here shares cosgate's code:
//! the SDKs sign, the local COS checks.

use std::{path::PathBuf, process::Command};

use serde_json::{Value, json};

use crate::{helpers::*, js_sdk::js_tooling_ready, uploads::bytes};

/// cosgate with its local COS on a free loopback port; `None` (skipped)
/// without node and tests/js.
async fn local_world(vars: &[(&str, &str)]) -> Option<(TestApp, String)> {
    if !js_tooling_ready() {
        return None;
    }
    let mut all = vec![
        ("LOCAL_COS", "true"),
        ("LOCAL_COS_BIND", "127.0.0.1:0"),
        ("UPLOAD_PART_BYTES", "1048576"),
    ];
    all.extend_from_slice(vars);
    let app = spawn_app_with(&all).await;
    let host = app.local_cos.clone().expect("the local COS is on");
    Some((app, host))
}

/// The local COS's answer to an unsigned or hostile request: status and
/// COS's `<Code>`.
async fn cos_error(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap();
    let code = body
        .split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next())
        .unwrap_or_default()
        .to_string();
    (status, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_sdk_uploads_to_the_local_cos_with_per_request_signatures() {
    per_request_flow("root").await;
}

/// The same with `QCOS_SIGNING=sts`: cosgate signs with credentials from the
/// local STS, and the local COS checks their token and policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_request_signatures_made_with_local_sts_credentials_work_too() {
    per_request_flow("sts").await;
}

async fn per_request_flow(signing: &str) {
    let Some((app, cos)) = local_world(&[("QCOS_SIGNING", signing)]).await else {
        return;
    };
    let report = crate::js_sdk::node_report(
        "sdk_upload.cjs",
        [app.base.clone(), token_for("acc1"), cos.clone()],
        [
            ("KEY", "uploads/acc1/我的 照片+(1).txt"),
            ("OTHER_KEY", "uploads/acc2/x.txt"),
            ("BIG_KEY", "uploads/acc1/big file.bin"),
        ],
    )
    .await;
    assert!(report["error"].is_null(), "{report}");
    assert_eq!(report["put"]["status"], 200, "{report}");
    assert_eq!(report["presigned_get"]["matches"], true, "{report}");
    assert_eq!(report["tampered"], 403, "a header changed after signing");
    assert_eq!(
        report["wrong_length"], 403,
        "a body longer than the signed Content-Length: {report}"
    );
    assert_eq!(report["upload_file"]["status"], 200, "multipart: {report}");
    // The multipart object is whole, read back through a presigned GET.
    let presigned: Value = app
        .post_as(
            "acc1",
            "/v1/qc_cos/presigned_url",
            json!({"method": "GET", "key": "uploads/acc1/big file.bin"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let got = reqwest::get(presigned["url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    let expected: Vec<u8> = (0..2 * 1024 * 1024 + 12345)
        .map(|i: usize| ((i * 7 + 3) % 251) as u8)
        .collect();
    assert!(
        got.bytes().await.unwrap()[..] == expected[..],
        "whole, in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_sdks_sts_flow_works_locally_and_the_policy_is_enforced() {
    let Some((app, cos)) = local_world(&[]).await else {
        return;
    };
    let report = crate::js_sdk::node_report(
        "sdk_sts.cjs",
        [app.base.clone(), token_for("acc1"), cos.clone()],
        [
            ("KEY", "uploads/acc1/sts note.txt"),
            ("BIG_KEY", "uploads/acc1/sts big.bin"),
            ("OTHER_KEY", "uploads/acc2/theirs.txt"),
        ],
    )
    .await;
    assert!(report["error"].is_null(), "{report}");
    assert_eq!(report["allow_prefix"], "uploads/acc1/*");
    assert_eq!(report["put"]["status"], 200, "{report}");
    assert_eq!(report["upload_file"]["status"], 200, "multipart: {report}");
    assert_eq!(
        report["put_elsewhere"]["error"], 403,
        "outside the prefix: {report}"
    );
    assert_eq!(report["copy_elsewhere"]["error"], 403, "{report}");
    assert_eq!(report["second"]["status"], 200, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_sessions_complete_against_the_local_cos() {
    let Some((app, cos)) = local_world(&[]).await else {
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
            cos,
            small.display().to_string(),
            large.display().to_string(),
        ],
        crate::js_sdk::NO_ENV,
    )
    .await;
    assert!(report.get("error").is_none(), "{report}");
    assert_eq!(report["put"]["status"], 200, "{report}");
    assert_eq!(report["put_elsewhere"], "refused", "{report}");
    assert_eq!(report["small"]["status"], "completed", "{report}");
    assert_eq!(report["large"]["status"], "completed", "{report}");
    for (upload, file) in [(&report["small"], &small), (&report["large"], &large)] {
        let got = reqwest::get(upload["download_url"].as_str().unwrap())
            .await
            .unwrap();
        assert_eq!(got.status(), 200, "{upload}");
        assert!(
            got.bytes().await.unwrap()[..] == std::fs::read(file).unwrap()[..],
            "{upload}: the bytes differ"
        );
    }
}

#[tokio::test]
async fn hostile_requests_get_coss_errors() {
    let Some((app, cos)) = local_world(&[]).await else {
        return;
    };
    let client = reqwest::Client::new();
    let url = format!("http://{cos}/uploads/acc1/x.txt");
    // Unsigned.
    let resp = client.put(&url).body("x").send().await.unwrap();
    assert_eq!(cos_error(resp).await, (403, "AccessDenied".into()));

    // A signature for 5 bytes, then one byte altered, then 6 bytes sent.
    let signed: Value = app
        .post_as(
            "acc1",
            "/v1/qc_cos/authorization",
            json!({"method": "PUT", "key": "uploads/acc1/x.txt", "headers": {"Content-Length": "5"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let auth = signed["authorization"].as_str().unwrap().to_string();
    let mut altered = auth.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'0' { b'1' } else { b'0' };
    let altered = String::from_utf8(altered).unwrap();
    let resp = client
        .put(&url)
        .header("Authorization", &altered)
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(cos_error(resp).await, (403, "SignatureDoesNotMatch".into()));
    let resp = client
        .put(&url)
        .header("Authorization", &auth)
        .body("hello!")
        .send()
        .await
        .unwrap();
    assert_eq!(cos_error(resp).await, (403, "SignatureDoesNotMatch".into()));
    let resp = client
        .put(&url)
        .header("Authorization", &auth)
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the signed request itself is accepted");

    // A key that was never written; an unknown SecretId; a wrong MD5.
    let get = |key: &str| {
        let key = key.to_string();
        let app = &app;
        async move {
            let presigned: Value = app
                .post_as(
                    "acc1",
                    "/v1/qc_cos/presigned_url",
                    json!({"method": "GET", "key": key}),
                )
                .await
                .json()
                .await
                .unwrap();
            presigned["url"].as_str().unwrap().to_string()
        }
    };
    let missing = get("uploads/acc1/none.txt").await;
    assert_eq!(
        cos_error(client.get(&missing).send().await.unwrap()).await,
        (404, "NoSuchKey".into())
    );
    let stranger = missing.replace("q-ak=AKIDEXAMPLE", "q-ak=AKIDstranger");
    assert_eq!(
        cos_error(client.get(&stranger).send().await.unwrap()).await,
        (403, "InvalidAccessKeyId".into())
    );
    let md5: Value = app
        .post_as(
            "acc1",
            "/v1/qc_cos/authorization",
            json!({"method": "PUT", "key": "uploads/acc1/m.txt",
                   "headers": {"Content-Length": "5", "Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let resp = client
        .put(format!("http://{cos}/uploads/acc1/m.txt"))
        .header("Authorization", md5["authorization"].as_str().unwrap())
        .header("Content-MD5", "AAAAAAAAAAAAAAAAAAAAAA==")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(cos_error(resp).await, (400, "BadDigest".into()));
    // A signature cosgate made for an abort (`UploadId`, any case) stays an
    // abort: it never deletes the object at the key.
    let abort: Value = app
        .post_as(
            "acc1",
            "/v1/qc_cos/authorization",
            json!({"method": "DELETE", "key": "uploads/acc1/x.txt", "query": {"UploadId": "0123456789abcdef0123456789abcdef"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let resp = client
        .delete(format!("{url}?UploadId=0123456789abcdef0123456789abcdef"))
        .header("Authorization", abort["authorization"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(cos_error(resp).await, (404, "NoSuchUpload".into()));
    let still = get("uploads/acc1/x.txt").await;
    assert_eq!(
        client.get(&still).send().await.unwrap().status(),
        200,
        "not deleted"
    );
    // Another name for loopback (DNS rebinding) is not this bucket.
    let resp = client
        .get(&still)
        .header(
            "Host",
            format!("rebound.example:{}", cos.rsplit(':').next().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(cos_error(resp).await, (400, "InvalidHost".into()));
    // Preflights are answered for the browser example.
    let preflight = client
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", "http://127.0.0.1:7777")
        .header("Access-Control-Request-Method", "PUT")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(
        preflight.headers()["access-control-allow-headers"],
        "authorization,content-type"
    );
}

/// The Python that has cos-python-sdk-v5.
fn python_with_cos_sdk() -> Option<PathBuf> {
    python_with("qcloud_cos", "cos-python-sdk-v5")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_uploads_downloads_and_lists_parts_and_is_refused_as_by_cos() {
    let Some(python) = python_with_cos_sdk() else {
        return;
    };
    let Some((app, cos)) = local_world(&[]).await else {
        return;
    };
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/external/local_cos_python_sdk.py");
    let (base, token) = (app.base.clone(), token_for("acc1"));
    let report = python_report(python, script, vec![base, token, cos]).await;
    assert!(report["error"].is_null(), "{report}");
    assert_eq!(report["put"], 200, "{report}");
    assert_eq!(report["get_matches"], true, "{report}");
    assert_eq!(report["multipart_matches"], true, "{report}");
    assert_eq!(report["listed_parts"], json!([1, 2]), "{report}");
    assert_eq!(report["aborted_listing"], 404, "{report}");
    for (what, code) in [
        ("outside_prefix", "AccessDenied"),
        ("altered_signature", "SignatureDoesNotMatch"),
        ("expired", "AccessDenied"),
        ("longer_body", "SignatureDoesNotMatch"),
        ("too_large", "AccessDenied"),
        ("form_other_key", "AccessDenied"),
        ("form_too_large", "AccessDenied"),
    ] {
        assert_eq!(report[what]["code"], code, "{what}: {report}");
        assert!(
            report[what]["status"] == 403 || report[what]["status"] == 400,
            "{what}: {report}"
        );
    }
    assert_eq!(
        report["form_ok"], 204,
        "the form within its policy: {report}"
    );
}

/// A 1×1 PNG, so Chromium really decodes what comes back.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// The README's promise: `cargo run` with nothing configured, the example
/// page, a picture, each of the three flows, and the picture comes back
/// from the local bucket. Only the ports differ from the defaults (tests
/// run side by side).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_example_uploads_a_picture_against_cargo_runs_defaults() {
    use base64::Engine;
    if !crate::swagger_ui::browser_ready() || !js_tooling_ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let picture = dir.path().join("pixel.png");
    std::fs::write(
        &picture,
        base64::engine::general_purpose::STANDARD
            .decode(PNG)
            .unwrap(),
    )
    .unwrap();
    let served = crate::binary::serve_as_is(
        dir.path(),
        &[
            ("COSGATE_BIND", "127.0.0.1:0"),
            ("LOCAL_COS_BIND", "127.0.0.1:0"),
        ],
    );
    let banner = served.log.join("\n");
    assert!(banner.contains("uploads go to the local COS"), "{banner}");
    let url = format!("{}/examples/upload", served.base);
    let file = picture.display().to_string();
    for flow in ["session", "request", "sts"] {
        let seen = crate::js_sdk::node_report(
            "browser_upload.mjs",
            [url.clone(), format!("{flow} pixel.png"), String::new()],
            [
                ("FLOW", flow.to_string()),
                ("CONTENT_FILE", file.clone()),
                ("MIME", "image/png".to_string()),
            ],
        )
        .await;
        assert!(seen["error"].is_null(), "{flow}: {seen}");
        assert!(
            seen["status"].as_str().unwrap().starts_with("uploaded "),
            "{flow}: {seen}"
        );
        assert_eq!(seen["read_back_matches"], true, "{flow}: {seen}");
        assert_eq!(
            seen["preview_width"], 1,
            "{flow}: the page shows it: {seen}"
        );
        for host in seen["requests"].as_array().unwrap() {
            assert!(host.as_str().unwrap().starts_with("127.0.0.1:"), "{host}");
        }
    }
    // Development's placeholder key is public, so it is not the bucket's:
    // a request signed with it by the official SDK is refused.
    let local = loop {
        let line = served
            .lines
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the local COS says where it listens");
        if let Some(rest) = line.split("endpoint=http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    if let Some(python) = python_with_cos_sdk() {
        let script = format!(
            "from qcloud_cos import CosConfig, CosS3Client\n\
             from qcloud_cos.cos_exception import CosServiceError\n\
             c = CosS3Client(CosConfig(Region='ap-guangzhou', SecretId='AKIDplaceholder', \
             SecretKey='placeholder-secret-key', Scheme='http', Domain='{local}'))\n\
             try:\n    c.put_object(Bucket='examplebucket-1250000000', Key='uploads/x.txt', Body=b'x')\n    print('stored')\n\
             except CosServiceError as e:\n    print(e.get_status_code(), e.get_error_code())\n"
        );
        let out = Command::new(python).args(["-c", &script]).output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "403 SignatureDoesNotMatch",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The objects are in the folder beside the database.
    let stored = std::fs::read_dir(dir.path().join("cosgate-cos/objects"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_none())
        .count();
    assert_eq!(stored, 3, "one object per flow");
}

#[test]
fn production_refuses_to_start_a_local_cos() {
    let out = crate::binary::cosgate()
        .envs([
            ("COSGATE_ENV", "production"),
            ("LOCAL_COS", "true"),
            ("LOCAL_COS_BIND", "127.0.0.1:0"),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("LOCAL_COS: the local COS is for development only"),
        "{said}"
    );
}
