//! `GET /v1/qc_cos/config`: the 2017 client's flow, and every refusal.

use base64::{Engine, engine::general_purpose::STANDARD};

use crate::helpers::*;

/// The `a=…&k=…` fields of a v4 signature, after checking its HMAC with the
/// COS secret key, independently of cosgate's signer.
fn open_v4_sign(sign: &str) -> Vec<(String, String)> {
    let raw = STANDARD.decode(sign).expect("the sign is base64");
    let (digest, plain) = raw.split_at(20);
    let key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        COS_SECRET_KEY.as_bytes(),
    );
    ring::hmac::verify(&key, plain, digest).expect("the HMAC-SHA1 verifies with QCOS_SECRET_KEY");
    std::str::from_utf8(plain)
        .unwrap()
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

async fn config(app: &TestApp, sub: &str, query: &str) -> reqwest::Response {
    app.get(
        &format!("/v1/qc_cos/config{query}"),
        Some(&format!("JWT {}", token_for(sub))),
    )
    .await
}

#[tokio::test]
async fn the_seed_flow_signs_the_requested_directory_with_the_v4_layout() {
    let app = spawn_app().await;
    let before = now();
    let resp = config(&app, "acc1", "?cos_path=/uploads/acc1/photos").await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();

    let fields = open_v4_sign(body["sign"].as_str().unwrap());
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["a", "k", "e", "t", "r", "f", "b"],
        "the SDK's field order"
    );
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).unwrap().1.clone();
    assert_eq!(field("a"), APPID);
    assert_eq!(field("k"), COS_SECRET_ID);
    assert_eq!(field("f"), "/1250000000/examplebucket/uploads/acc1/photos");
    assert_eq!(field("b"), BUCKET);
    let t: u64 = field("t").parse().unwrap();
    let e: u64 = field("e").parse().unwrap();
    assert!(t >= before && t <= now(), "signed now");
    assert_eq!(e - t, 3600, "QCOS_SIGN_TTL defaults to the seed's hour");
    assert!(field("r").parse::<u32>().unwrap() < 1_000_000_000);

    assert_eq!(body["expired"].as_u64(), Some(e));
    assert_eq!(body["cos_path"], "/uploads/acc1/photos");
    assert_eq!(body["bucket"], BUCKET);
    assert_eq!(body["appid"], APPID);
    assert_eq!(body["region"], "ap-guangzhou");
    assert_eq!(
        body["upload_url"],
        "https://ap-guangzhou.file.myqcloud.com/files/v2/1250000000/examplebucket/uploads/acc1/photos"
    );
}

#[tokio::test]
async fn without_cos_path_the_caller_gets_its_own_directory() {
    let app = spawn_app().await;
    let body: serde_json::Value = config(&app, "acc1", "").await.json().await.unwrap();
    assert_eq!(body["cos_path"], "/uploads/acc1");
    let fields = open_v4_sign(body["sign"].as_str().unwrap());
    assert!(fields.contains(&("f".into(), "/1250000000/examplebucket/uploads/acc1".into())));
}

#[tokio::test]
async fn non_ascii_and_spaces_are_signed_percent_encoded() {
    let app = spawn_app().await;
    let resp = config(
        &app,
        "acc1",
        "?cos_path=/uploads/acc1/%E5%9B%BE%E7%89%87%20a",
    )
    .await;
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["cos_path"], "/uploads/acc1/图片 a");
    let fields = open_v4_sign(body["sign"].as_str().unwrap());
    assert!(fields.contains(&(
        "f".into(),
        "/1250000000/examplebucket/uploads/acc1/%E5%9B%BE%E7%89%87%20a".into()
    )));
}

#[tokio::test]
async fn two_signatures_use_different_nonces() {
    let app = spawn_app().await;
    let a: serde_json::Value = config(&app, "acc1", "").await.json().await.unwrap();
    let b: serde_json::Value = config(&app, "acc1", "").await.json().await.unwrap();
    assert_ne!(a["sign"], b["sign"]);
}

#[tokio::test]
async fn malformed_paths_are_400_invalid_path_with_the_reason() {
    let app = spawn_app().await;
    let long = format!("/uploads/acc1/{}", "a".repeat(1100));
    let cases = [
        ("/uploads/acc1/../acc2", "`.` or `..` segment"),
        ("/uploads/acc1/./x", "`.` or `..` segment"),
        ("/uploads//acc1", "empty segment"),
        ("/uploads/acc1/a%5Cb", "backslash"),
        ("/uploads/acc1/a%00b", "control character"),
        ("/uploads/acc1/a%0Ab", "control character"),
        ("/uploads/acc1/%252e%252e", "percent-encoded"),
        ("uploads/acc1", "must start with `/`"),
        (long.as_str(), "bytes long"),
    ];
    for (path, reason) in cases {
        let resp = config(&app, "acc1", &format!("?cos_path={path}")).await;
        let body = assert_refused(resp, 400, "invalid_path").await;
        assert!(
            body["message"].as_str().unwrap().contains(reason),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn another_accounts_directory_is_403_path_not_allowed() {
    let app = spawn_app().await;
    for path in [
        "/uploads/acc2",
        "/uploads/acc2/x",
        "/uploads",
        "/",
        "/elsewhere/acc1",
        "/uploads/acc10",
    ] {
        assert_refused(
            config(&app, "acc1", &format!("?cos_path={path}")).await,
            403,
            "path_not_allowed",
        )
        .await;
    }
}

#[tokio::test]
async fn an_account_id_that_is_no_directory_name_gets_nothing_signed() {
    let app = spawn_app().await;
    assert_refused(config(&app, "..", "").await, 403, "path_not_allowed").await;
}

#[tokio::test]
async fn with_shared_directories_any_path_below_the_root_is_allowed() {
    let app = spawn_app_with(&[
        ("QCOS_PER_ACCOUNT_DIRS", "false"),
        ("QCOS_UPLOAD_ROOT", "/xrzeti"),
    ])
    .await;
    let resp = config(&app, "acc1", "?cos_path=/xrzeti/acc2").await;
    assert_eq!(resp.status(), 200);
    let (status, _, _) = error_code(config(&app, "acc1", "?cos_path=/uploads").await).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn the_configured_ttl_sets_the_expiry() {
    let app = spawn_app_with(&[("QCOS_SIGN_TTL", "600")]).await;
    let body: serde_json::Value = config(&app, "acc1", "").await.json().await.unwrap();
    let fields = open_v4_sign(body["sign"].as_str().unwrap());
    let get = |n: &str| {
        fields
            .iter()
            .find(|(k, _)| k == n)
            .unwrap()
            .1
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(get("e") - get("t"), 600);
}

#[tokio::test]
async fn no_answer_ever_contains_a_secret() {
    let app = spawn_app().await;
    let mut bodies = String::new();
    for query in [
        "",
        "?cos_path=/uploads/acc1/x",
        "?cos_path=/uploads/acc2",
        "?cos_path=/../x",
    ] {
        bodies += &config(&app, "acc1", query).await.text().await.unwrap();
    }
    bodies += &app
        .get("/v1/qc_cos/config", Some("Bearer nope"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !bodies.contains(COS_SECRET_KEY),
        "the COS secret key leaked"
    );
    assert!(!bodies.contains(JWT_SECRET), "the JWT secret leaked");
}

#[tokio::test]
async fn health_needs_no_credentials() {
    let app = spawn_app().await;
    let body: serde_json::Value = app.get("/healthz", None).await.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn an_unknown_path_is_404_in_the_error_shape() {
    let app = spawn_app().await;
    assert_refused(app.get("/v1/nope", None).await, 404, "not_found").await;
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(format!("{}/v1/qc_cos/config", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers().get("allow").unwrap(), "GET");
    assert_refused(resp, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn an_empty_cos_path_means_the_callers_own_directory() {
    let app = spawn_app().await;
    let body: serde_json::Value = config(&app, "acc1", "?cos_path=")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["cos_path"], "/uploads/acc1");
}
