//! Swagger UI, rendered by a real headless Chromium (Debian's `chromium`).
//!
//! Without a Chromium on the PATH this test says so and passes on a
//! developer's machine; under CI (`CI` set) a missing browser fails it.

use std::process::Command;

use crate::helpers::*;

/// Whether Chromium, node and `tests/js` are there to drive pages.
pub fn browser_ready() -> bool {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let ready = chromium().is_some()
        && dir.join("node_modules/playwright-core").exists()
        && Command::new("node").arg("--version").output().is_ok();
    if !ready {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium, node and tests/js"
        );
        skip("needs chromium, node and `npm install --prefix tests/js`");
    }
    ready
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|bin| {
            Command::new(bin)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_renders_every_operation_and_the_authorize_button() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium (apt-get install chromium)"
        );
        skip("no chromium on PATH (apt-get install chromium)");
        return;
    };
    let app = spawn_app().await;
    let url = format!("{}/docs/", app.base);
    let profile = tempfile::tempdir().unwrap();
    let profile_arg = format!("--user-data-dir={}", profile.path().display());
    let dom = tokio::task::spawn_blocking(move || {
        Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--no-first-run",
                "--virtual-time-budget=15000",
                "--dump-dom",
                &profile_arg,
                &url,
            ])
            .output()
            .expect("chromium runs")
    })
    .await
    .unwrap();
    let html = String::from_utf8_lossy(&dom.stdout);
    // Swagger UI gives each operation the id `operations-{tag}-{operationId}`.
    for id in [
        "operations-Cos-get_qc_cos_config",
        "operations-Ops-get_health",
    ] {
        assert!(
            html.contains(id),
            "{id} not rendered; stderr:\n{}",
            String::from_utf8_lossy(&dom.stderr)
        );
    }
    assert!(
        html.contains("btn authorize"),
        "the Authorize button (security schemes) is missing"
    );
    assert!(
        html.contains("腾讯云配置"),
        "the operation summary is shown"
    );
}

/// Logs in through Swagger UI as a front-end developer would (Authorize with
/// the OAuth client, "Try it out" on the login operation), driven by
/// playwright-core in `tests/js/` (`npm install --prefix tests/js`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_authorizes_with_both_schemes_and_logs_in() {
    let browser_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    if !browser_ready() {
        return;
    }
    let app = spawn_app().await;
    let url = format!("{}/docs/", app.base);
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(browser_dir.join("swagger_login.mjs"))
            .args([url.as_str(), CLIENT_ID, CLIENT_SECRET])
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "no report; stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(seen["error"].is_null(), "{seen}");
    let schemes = seen["schemes"].to_string();
    assert!(
        schemes.contains("jwt") && schemes.contains("oauth_client"),
        "Authorize lists: {schemes}"
    );
    assert_eq!(seen["status"], "200", "{seen}");
    let body: serde_json::Value = serde_json::from_str(seen["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["token_type"], "jwt");
    assert!(body["account_id"].as_str().unwrap().starts_with("acc_"));
}
