//! cos-js-sdk-v5, in Node, uploading with signatures from cosgate to a fake
//! COS on loopback (`tests/js/fake_cos.py`) that checks them with its own
//! implementation of Tencent's document.

use std::{path::PathBuf, process::Command};

use poem::EndpointExt;

use crate::{
    fakes::{FakeCos, js_dir, start_fake_cos},
    helpers::*,
};

/// Whether node, python3 and `npm install --prefix tests/js` are there; under
/// CI they must be.
pub fn js_tooling_ready() -> bool {
    let ready = js_dir().join("node_modules/cos-js-sdk-v5").exists()
        && Command::new("node").arg("--version").output().is_ok()
        && Command::new("python3").arg("--version").output().is_ok();
    if !ready {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install node, python3 and tests/js"
        );
        skip("needs node, python3 and `npm install --prefix tests/js`");
    }
    ready
}

/// The fake COS, and cosgate with it as the bucket's endpoint. Keep the
/// `FakeCos` alive as long as the app.
async fn spawn_app_with_fake_cos() -> (FakeCos, TestApp) {
    let cos = start_fake_cos();
    let endpoint = format!("http://{}", cos.host);
    let app = spawn_app_with(&[("QCOS_ENDPOINT", endpoint.as_str())]).await;
    (cos, app)
}

/// No environment for [`node_report`].
pub const NO_ENV: [(&str, &str); 0] = [];

/// Runs `node tests/js/<script> args…` off the async runtime and returns the
/// JSON report it prints last (cos-js-sdk-v5 prints a tip of its own first).
pub async fn node_report<const A: usize, const E: usize, V>(
    script: &'static str,
    args: [String; A],
    envs: [(&'static str, V); E],
) -> serde_json::Value
where
    V: AsRef<std::ffi::OsStr> + Send + 'static,
{
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(js_dir().join(script))
            .args(args)
            .envs(envs)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap_or_else(|_| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        panic!("no report from {script}; stdout:\n{stdout}\nstderr:\n{stderr}")
    })
}

/// What `key` holds in the fake COS, fetched with a presigned GET from
/// cosgate as `account`.
async fn fetch_back(app: &TestApp, account: &str, key: &str) -> (u16, String) {
    let (status, bytes) = fetch_bytes(app, account, key).await;
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The same, as bytes.
pub(crate) async fn fetch_bytes(app: &TestApp, account: &str, key: &str) -> (u16, Vec<u8>) {
    let presigned: serde_json::Value = app
        .post_as(
            account,
            "/v1/qc_cos/presigned_url",
            serde_json::json!({"method": "get", "key": key}),
        )
        .await
        .json()
        .await
        .unwrap();
    let got = reqwest::get(presigned["url"].as_str().unwrap())
        .await
        .unwrap();
    (got.status().as_u16(), got.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_sdk_uploads_through_cosgate_and_cos_verifies_every_signature() {
    if !js_tooling_ready() {
        return;
    }
    let (cos, app) = spawn_app_with_fake_cos().await;
    let report = node_report(
        "sdk_upload.cjs",
        [app.base.clone(), token_for("acc1"), cos.host.clone()],
        [
            ("KEY", "uploads/acc1/我的 照片+(1).txt"),
            ("OTHER_KEY", "uploads/acc2/x.txt"),
            ("BIG_KEY", "uploads/acc1/big file.bin"),
        ],
    )
    .await;
    assert!(report["error"].is_null(), "{report}");
    assert_eq!(
        report["put"]["status"], 200,
        "the SDK's upload was accepted by COS: {report}"
    );
    assert_eq!(
        report["put_elsewhere"], "refused",
        "cosgate would not sign another account's key"
    );
    assert_eq!(report["presigned_get"]["status"], 200, "{report}");
    assert_eq!(
        report["presigned_get"]["matches"], true,
        "the presigned GET returns what was uploaded"
    );
    assert_eq!(
        report["tampered"], 403,
        "a header changed after signing is refused by COS"
    );
    assert_eq!(
        report["wrong_length"], 403,
        "a body longer than the signed Content-Length is refused by COS: {report}"
    );

    // uploadFile above the slice size goes multipart, every step signed by
    // cosgate and verified by the fake COS, and the object is whole.
    assert_eq!(report["upload_file"]["status"], 200, "{report}");
    let steps: Vec<&str> = report["upload_file_requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for step in [
        "GET prefix&uploads",
        "POST uploads",
        "PUT partNumber&uploadId",
        "POST uploadId",
    ] {
        assert!(steps.contains(&step), "{step} missing from {steps:?}");
    }
    assert_eq!(
        steps
            .iter()
            .filter(|s| s.starts_with("PUT partNumber"))
            .count(),
        3,
        "2 MiB + a bit in 1 MiB slices: {steps:?}"
    );
    let (status, bytes) = fetch_bytes(&app, "acc1", "uploads/acc1/big file.bin").await;
    assert_eq!(status, 200);
    // The same bytes sdk_upload.cjs made: the parts were assembled in order.
    let expected: Vec<u8> = (0..2 * 1024 * 1024 + 12345)
        .map(|i: usize| ((i * 7 + 3) % 251) as u8)
        .collect();
    assert_eq!(bytes.len(), expected.len());
    assert!(
        bytes[..] == expected[..],
        "the object is whole and in order"
    );

    // The SDK's putObjectCopy never gets a signature.
    assert_eq!(report["copy"], "refused", "{report}");
    assert_eq!(
        report["copy_refusals"][0], "403 operation_not_allowed",
        "{report}"
    );
}

/// `examples/browser/upload.html` as served by cosgate in development, in a
/// real Chromium: log in, pick a file, upload through cos-js-sdk-v5 to the
/// fake COS, see success; then fetch the object back with a presigned URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_example_uploads_a_picked_file() {
    let example_sdk = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/browser/node_modules/cos-js-sdk-v5/dist/cos-js-sdk-v5.min.js");
    if !js_tooling_ready() || !super::swagger_ui::browser_ready() {
        return;
    }
    assert!(
        example_sdk.exists() || std::env::var_os("CI").is_none(),
        "CI must npm install examples/browser"
    );
    if !example_sdk.exists() {
        skip("needs `npm install --prefix examples/browser`");
        return;
    }
    let (_cos, app) = spawn_app_with_fake_cos().await;
    let url = format!("{}/examples/upload", app.base);
    let content = format!("picked in chromium at {}", now());
    let seen = node_report(
        "browser_upload.mjs",
        [url, "hello world.txt".into(), content.clone()],
        crate::js_sdk::NO_ENV,
    )
    .await;
    assert!(seen["error"].is_null(), "{seen}");
    let key = seen["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no key: {seen}"));
    assert!(
        seen["status"]
            .as_str()
            .unwrap()
            .starts_with("uploaded uploads/acc_"),
        "{seen}"
    );
    assert_eq!(
        seen["progress"].to_string().trim_matches('"'),
        "100",
        "{seen}"
    );
    for host in seen["requests"].as_array().unwrap() {
        assert!(
            host.as_str().unwrap().starts_with("127.0.0.1:"),
            "the page reached {host}"
        );
    }

    // The object is in the fake COS, under the logged-in account's directory.
    let account = key.split('/').nth(1).unwrap();
    let (status, text) = fetch_back(&app, account, key).await;
    assert_eq!((status, text.as_str()), (200, content.as_str()));
}

/// Where the second origin's page server finds cosgate, known only once
/// cosgate (which must be told the page's origin first) has started.
type CosgateBase = std::sync::Arc<std::sync::OnceLock<String>>;

/// A static server on a second loopback origin serving the browser example
/// (the page as cosgate renders it, and the SDK file): a web front end
/// hosted apart from cosgate. Returns its origin.
async fn second_origin(cosgate: CosgateBase) -> String {
    use poem::{
        Route, get, handler,
        listener::{Acceptor, Listener},
        web::{Data, Html},
    };
    #[handler]
    async fn page(cosgate: Data<&CosgateBase>) -> Html<String> {
        let url = format!("{}/examples/upload", cosgate.get().unwrap());
        Html(reqwest::get(url).await.unwrap().text().await.unwrap())
    }
    // The page's scripts, as a static host would serve them.
    let script = |file: &str| {
        let js = std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("examples/browser")
                .join(file),
        )
        .unwrap();
        poem::endpoint::make_sync(move |_| {
            poem::Response::builder()
                .content_type("text/javascript")
                .body(js.clone())
        })
    };
    let route = Route::new()
        .at("/upload", get(page))
        .at("/upload.js", script("upload.js"))
        .at(
            "/node_modules/cos-js-sdk-v5/dist/cos-js-sdk-v5.min.js",
            script("node_modules/cos-js-sdk-v5/dist/cos-js-sdk-v5.min.js"),
        )
        .at(
            "/node_modules/openapi-fetch/dist/index.mjs",
            script("node_modules/openapi-fetch/dist/index.mjs"),
        )
        .data(cosgate);
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(route));
    format!("http://127.0.0.1:{port}")
}

/// The browser example served from a second origin calls cosgate across
/// origins: with that origin in `CORS_ALLOWED_ORIGINS` the login and the
/// signing preflights pass and the upload lands; without it Chromium
/// refuses to let the page read cosgate's answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_example_works_from_another_origin_only_when_cors_allows_it() {
    let example_sdk = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples/browser/node_modules/cos-js-sdk-v5/dist/cos-js-sdk-v5.min.js");
    if !js_tooling_ready() || !super::swagger_ui::browser_ready() || !example_sdk.exists() {
        assert!(std::env::var_os("CI").is_none(), "CI runs the browser");
        skip("needs chromium and `npm install --prefix examples/browser`");
        return;
    }
    let cos = start_fake_cos();
    let endpoint = format!("http://{}", cos.host);
    for allowed in [true, false] {
        let cosgate_base = CosgateBase::default();
        let origin = second_origin(cosgate_base.clone()).await;
        let listed = if allowed {
            origin.clone()
        } else {
            "https://app.example.com".to_string()
        };
        let app = spawn_app_with(&[
            ("QCOS_ENDPOINT", endpoint.as_str()),
            ("CORS_ALLOWED_ORIGINS", listed.as_str()),
        ])
        .await;
        cosgate_base.set(app.base.clone()).unwrap();
        let url = format!("{origin}/upload?cosgate={}", app.base);
        let content = format!("from another origin at {}", now());
        let seen = node_report(
            "browser_upload.mjs",
            [url, "cross.txt".into(), content.clone()],
            crate::js_sdk::NO_ENV,
        )
        .await;
        if allowed {
            assert!(seen["error"].is_null(), "{seen}");
            let key = seen["key"]
                .as_str()
                .unwrap_or_else(|| panic!("no key: {seen}"));
            let account = key.split('/').nth(1).unwrap();
            let (status, text) = fetch_back(&app, account, key).await;
            assert_eq!((status, text.as_str()), (200, content.as_str()));
        } else {
            let refused = seen["login_error"].as_str().unwrap_or_default();
            assert!(refused.starts_with("login failed"), "{seen}");
            assert!(seen["key"].is_null(), "{seen}");
        }
        let hosts: Vec<&str> = seen["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|h| h.as_str())
            .collect();
        let page_host = origin.trim_start_matches("http://");
        let cosgate_host = app.base.trim_start_matches("http://");
        assert!(
            hosts.contains(&page_host) && hosts.contains(&cosgate_host),
            "{seen}"
        );
    }
}

/// A browser-style form upload with a POST policy from cosgate, checked by
/// the fake COS (signature, every condition, expiry).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_upload_with_cosgates_post_policy_is_accepted_and_its_limits_hold() {
    if !js_tooling_ready() {
        return;
    }
    let (_cos, app) = spawn_app_with_fake_cos().await;
    let policy: serde_json::Value = app
        .post_as(
            "acc1",
            "/v1/qc_cos/post_policy",
            serde_json::json!({"content_type_prefix": "text/", "max_size_bytes": 64}),
        )
        .await
        .json()
        .await
        .unwrap();
    let form = |content_type: &str, body: &'static [u8]| {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in policy["fields"].as_object().unwrap() {
            form = form.text(k.clone(), v.as_str().unwrap().to_string());
        }
        form.text("Content-Type", content_type.to_string()).part(
            "file",
            reqwest::multipart::Part::bytes(body).file_name("note.txt"),
        )
    };
    let url = policy["url"].as_str().unwrap();
    let post = |form| app.client.post(url).multipart(form).send();

    assert_eq!(
        post(form("text/plain", b"hello form"))
            .await
            .unwrap()
            .status(),
        204,
        "a valid form upload"
    );
    assert_eq!(
        post(form("text/plain", &[b'x'; 65]))
            .await
            .unwrap()
            .status(),
        403,
        "over max_size_bytes"
    );
    assert_eq!(
        post(form("image/png", b"hello")).await.unwrap().status(),
        403,
        "wrong Content-Type"
    );

    let mut tampered = reqwest::multipart::Form::new();
    for (k, v) in policy["fields"].as_object().unwrap() {
        let v = if k == "key" {
            "uploads/acc2/${filename}".to_string()
        } else {
            v.as_str().unwrap().to_string()
        };
        tampered = tampered.text(k.clone(), v);
    }
    let tampered = tampered.text("Content-Type", "text/plain").part(
        "file",
        reqwest::multipart::Part::bytes(&b"x"[..]).file_name("x.txt"),
    );
    assert_eq!(
        post(tampered).await.unwrap().status(),
        403,
        "a key outside the policy's prefix"
    );

    let (status, text) = fetch_back(&app, "acc1", "uploads/acc1/note.txt").await;
    assert_eq!(
        (status, text.as_str()),
        (200, "hello form"),
        "${{filename}} became the file's name"
    );
}
