//! The v5 endpoints over real HTTP: what they sign, what they refuse.
//! Signatures are re-derived here from Tencent's formulas with `ring`, not
//! with cosgate's signer.

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use crate::helpers::*;

const HOST: &str = "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac_sha1_hex(key: &[u8], msg: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    hex(ring::hmac::sign(&key, msg.as_bytes()).as_ref())
}

fn sha1_hex(msg: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, msg.as_bytes()).as_ref())
}

fn auth_param<'a>(authorization: &'a str, name: &str) -> &'a str {
    authorization
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap()
}

#[tokio::test]
async fn a_request_below_the_callers_directory_is_signed_as_the_document_says() {
    let app = spawn_app().await;
    let before = now();
    let resp = app.post_as("acc1", "/v1/qc_cos/authorization", json!({"method": "PUT", "key": "uploads/acc1/a b+(1).png", "headers": {"Content-Length": "4"}}))
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let auth = body["authorization"].as_str().unwrap();
    let (start, end) = (
        body["start_time"].as_u64().unwrap(),
        body["expired_time"].as_u64().unwrap(),
    );
    assert!(
        start >= before - 60 && start <= now() - 60 + 1,
        "a minute in the past for phone clocks"
    );
    assert_eq!(end - start, 60 + 900, "QCOS_V5_TTL defaults to 900 s");
    assert_eq!(body["host"], HOST);
    assert_eq!(
        body["url"],
        format!("https://{HOST}/uploads/acc1/a%20b%2B%281%29.png")
    );
    assert_eq!(
        auth_param(auth, "q-header-list"),
        "content-length;host",
        "the size is signed"
    );
    assert_eq!(auth_param(auth, "q-sign-time"), format!("{start};{end}"));

    // Tencent's formulas, step by step.
    let key_time = format!("{start};{end}");
    let sign_key = hmac_sha1_hex(COS_SECRET_KEY.as_bytes(), &key_time);
    let http_string = format!("put\n/uploads/acc1/a b+(1).png\n\ncontent-length=4&host={HOST}\n");
    let string_to_sign = format!("sha1\n{key_time}\n{}\n", sha1_hex(&http_string));
    assert_eq!(
        auth_param(auth, "q-signature"),
        hmac_sha1_hex(sign_key.as_bytes(), &string_to_sign)
    );
    assert_eq!(auth_param(auth, "q-ak"), COS_SECRET_ID);
}

#[tokio::test]
async fn headers_are_filtered_as_the_js_and_wx_sdks_filter_them() {
    let app = spawn_app().await;
    let body = json!({
        "method": "put", "key": "uploads/acc1/x.png",
        "headers": {"Content-Type": "image/png", "Content-Length": "5", "User-Agent": "wx", "x-cos-meta-a": "1",
                    "x-cos-meta-empty": ""},
        "query": {"uploadId": "u1", "partNumber": "1"},
    });
    let body: Value = app
        .post_as("acc1", "/v1/qc_cos/authorization", body)
        .await
        .json()
        .await
        .unwrap();
    let auth = body["authorization"].as_str().unwrap();
    assert_eq!(
        auth_param(auth, "q-header-list"),
        "content-length;host;x-cos-meta-a",
        "no content-type, user-agent or empty header"
    );
    assert_eq!(auth_param(auth, "q-url-param-list"), "partnumber;uploadid");
    assert_eq!(
        body["host"], HOST,
        "the client cannot choose another bucket's host"
    );
    // Naming another bucket's host is refused, not silently replaced.
    let evil = json!({
        "method": "put", "key": "uploads/acc1/x.png",
        "headers": {"Content-Length": "5", "Host": "evil-1250000000.cos.ap-guangzhou.myqcloud.com"},
    });
    let resp = app.post_as("acc1", "/v1/qc_cos/authorization", evil).await;
    let refused = assert_refused(resp, 400, "invalid_request").await;
    assert!(refused.get("authorization").is_none());
    assert!(
        refused["message"].as_str().unwrap().contains(HOST),
        "{refused}"
    );
}

#[tokio::test]
async fn keys_outside_the_callers_directory_or_malformed_are_refused() {
    let app = spawn_app().await;
    let cases = [
        ("uploads/acc2/x.png", 403, "path_not_allowed"),
        ("uploads/acc10/x.png", 403, "path_not_allowed"),
        ("uploads/acc1", 403, "path_not_allowed"),
        ("x.png", 403, "path_not_allowed"),
        ("uploads/acc1/../acc2/x.png", 400, "invalid_key"),
        ("uploads/acc1/%2e%2e/x.png", 400, "invalid_key"),
        ("uploads//acc1/x.png", 400, "invalid_key"),
        ("", 400, "invalid_key"),
    ];
    for (key, status, code) in cases {
        for (path, body) in [
            (
                "/v1/qc_cos/authorization",
                json!({"method": "put", "key": key, "headers": {"Content-Length": "1"}}),
            ),
            (
                "/v1/qc_cos/presigned_url",
                json!({"method": "put", "key": key, "content_length": 1}),
            ),
            ("/v1/qc_cos/post_policy", json!({"key": key})),
        ] {
            let (got, error, body) = error_code(app.post_as("acc1", path, body).await).await;
            assert_eq!(
                (got, error.as_str()),
                (status, code),
                "{path} {key:?}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn bad_methods_and_unsigned_hosts_are_400() {
    let app = spawn_app().await;
    for (path, body) in [
        (
            "/v1/qc_cos/authorization",
            json!({"method": "PATCH", "key": "uploads/acc1/x"}),
        ),
        (
            "/v1/qc_cos/authorization",
            json!({"method": "put", "key": "uploads/acc1/x", "sign_host": false}),
        ),
        (
            "/v1/qc_cos/presigned_url",
            json!({"method": "delete", "key": "uploads/acc1/x"}),
        ),
        (
            "/v1/qc_cos/presigned_url",
            json!({"method": "get", "key": "uploads/acc1/x", "expires_in": 0}),
        ),
        (
            "/v1/qc_cos/post_policy",
            json!({"key": "uploads/acc1/x", "key_prefix": "uploads/acc1/"}),
        ),
        ("/v1/qc_cos/post_policy", json!({"max_size_bytes": -1})),
    ] {
        assert_refused(
            app.post_as("acc1", path, body).await,
            400,
            "invalid_request",
        )
        .await;
    }
}

#[tokio::test]
async fn presigned_urls_carry_the_signature_and_never_outlive_the_limit() {
    let app = spawn_app().await;
    let body: Value = app
        .post_as(
            "acc1",
            "/v1/qc_cos/presigned_url",
            json!({"method": "GET", "key": "uploads/acc1/图.png"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let url = body["url"].as_str().unwrap();
    let (start, end) = (
        body["start_time"].as_u64().unwrap(),
        body["expired_time"].as_u64().unwrap(),
    );
    assert!(url.starts_with(&format!("https://{HOST}/uploads/acc1/%E5%9B%BE.png?q-sign-algorithm=sha1&q-ak={COS_SECRET_ID}&q-sign-time={start}%3B{end}&")), "{url}");
    assert!(url.contains("&q-header-list=host&q-url-param-list=&q-signature="));
    let asks = |expires_in: i64| json!({"method": "put", "key": "uploads/acc1/x", "expires_in": expires_in, "content_length": 5});
    let short: Value = app
        .post_as("acc1", "/v1/qc_cos/presigned_url", asks(30))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        short["expired_time"].as_u64().unwrap() - short["start_time"].as_u64().unwrap(),
        60 + 30
    );
    let long: Value = app
        .post_as("acc1", "/v1/qc_cos/presigned_url", asks(999_999))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        long["expired_time"].as_u64().unwrap() - long["start_time"].as_u64().unwrap(),
        60 + 900,
        "clamped"
    );
}

fn policy_of(body: &Value) -> Value {
    let policy = STANDARD
        .decode(body["fields"]["policy"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&policy).unwrap()
}

#[tokio::test]
async fn a_post_policy_pins_bucket_prefix_size_and_type_and_verifies() {
    let app = spawn_app().await;
    let resp = app
        .post_as(
            "acc1",
            "/v1/qc_cos/post_policy",
            json!({"content_type_prefix": "image/", "max_size_bytes": 2048}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["url"], format!("https://{HOST}/"));
    assert_eq!(body["max_size_bytes"], 2048);
    let fields = &body["fields"];
    assert_eq!(fields["key"], "uploads/acc1/${filename}");
    assert_eq!(fields["q-sign-algorithm"], "sha1");
    assert_eq!(fields["q-ak"], COS_SECRET_ID);
    let policy = policy_of(&body);
    let conditions = policy["conditions"].as_array().unwrap();
    for expected in [
        json!({"bucket": "examplebucket-1250000000"}),
        json!(["starts-with", "$key", "uploads/acc1/"]),
        json!(["content-length-range", 0, 2048]),
        json!(["starts-with", "$Content-Type", "image/"]),
        json!({"q-sign-time": fields["q-key-time"]}),
    ] {
        assert!(
            conditions.contains(&expected),
            "{expected} missing from {policy}"
        );
    }
    let end: i64 = fields["q-key-time"]
        .as_str()
        .unwrap()
        .split(';')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(body["expired_time"], end);
    assert!(policy["expiration"].as_str().unwrap().ends_with('Z'));

    // StringToSign is SHA-1 of the policy JSON text itself.
    let policy_text =
        String::from_utf8(STANDARD.decode(fields["policy"].as_str().unwrap()).unwrap()).unwrap();
    let sign_key = hmac_sha1_hex(
        COS_SECRET_KEY.as_bytes(),
        fields["q-key-time"].as_str().unwrap(),
    );
    assert_eq!(
        fields["q-signature"],
        hmac_sha1_hex(sign_key.as_bytes(), &sha1_hex(&policy_text))
    );
}

#[tokio::test]
async fn a_post_policy_for_an_exact_key_or_a_subdirectory() {
    let app = spawn_app().await;
    let exact: Value = app
        .post_as(
            "acc1",
            "/v1/qc_cos/post_policy",
            json!({"key": "uploads/acc1/avatar.png"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(exact["fields"]["key"], "uploads/acc1/avatar.png");
    assert!(
        policy_of(&exact)["conditions"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": "uploads/acc1/avatar.png"}))
    );
    assert_eq!(
        exact["max_size_bytes"],
        10 * 1024 * 1024,
        "the server's limit by default"
    );

    let sub: Value = app
        .post_as(
            "acc1",
            "/v1/qc_cos/post_policy",
            json!({"key_prefix": "uploads/acc1/avatars", "max_size_bytes": 1_i64 << 40}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        sub["fields"]["key"], "uploads/acc1/avatars/${filename}",
        "a prefix is a directory"
    );
    assert_eq!(
        sub["max_size_bytes"],
        10 * 1024 * 1024,
        "never more than the server allows"
    );

    assert_refused(
        app.post_as(
            "acc1",
            "/v1/qc_cos/post_policy",
            json!({"key_prefix": "uploads/acc10"}),
        )
        .await,
        403,
        "path_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn a_number_or_bool_for_a_string_field_is_400_naming_the_field_and_signs_nothing() {
    let app = spawn_app().await;
    for (path, body, field) in [
        (
            "/v1/qc_cos/post_policy",
            json!({"content_type_prefix": 541881623027u64}),
            "content_type_prefix",
        ),
        ("/v1/qc_cos/post_policy", json!({"key": 5}), "key"),
        (
            "/v1/qc_cos/post_policy",
            json!({"max_size_bytes": null}),
            "max_size_bytes",
        ),
        ("/v1/qc_cos/post_policy", json!({"key": null}), "key"),
        (
            "/v1/qc_cos/authorization",
            json!({"method": true, "key": "uploads/acc1/x"}),
            "method",
        ),
        (
            "/v1/qc_cos/authorization",
            json!({"method": "put", "key": "uploads/acc1/x", "headers": {"content-length": 5.5}}),
            "headers",
        ),
        (
            "/v1/qc_cos/authorization",
            json!({"Method": "put", "Key": "uploads/acc1/x", "Query": {"partNumber": true}}),
            "Query",
        ),
        (
            "/v1/qc_cos/presigned_url",
            json!({"method": "get", "key": 12}),
            "key",
        ),
    ] {
        let body = assert_refused(
            app.post_as("acc1", path, body).await,
            400,
            "invalid_request",
        )
        .await;
        let text = body.to_string();
        assert!(text.contains(&format!("`{field}`")), "{path}: {text}");
        for signed in ["q-signature", "authorization", "fields", "url"] {
            assert!(body.get(signed).is_none(), "{path}: {text}");
        }
    }
}
