//! Least privilege, tried as an attacker with an ordinary login would try
//! it, through real HTTP: every refusal has its status and `error_code` and
//! carries no signature; every allowed operation is signed.

use serde_json::{Value, json};

use crate::helpers::*;

const SIGN: &str = "/v1/qc_cos/authorization";

/// Sends `body` and checks the refusal: status, code, and nothing signed.
async fn refused(app: &TestApp, path: &str, body: Value, status: u16, code: &str) {
    let (got, error, answer) = error_code(app.post_as("acc1", path, body.clone()).await).await;
    assert_eq!((got, error.as_str()), (status, code), "{body}: {answer}");
    for signed in ["authorization", "url", "fields", "sign"] {
        assert!(
            answer.get(signed).is_none(),
            "{body} got a signature: {answer}"
        );
    }
    assert!(!answer.to_string().contains("q-signature"), "{answer}");
}

fn put(key: &str, headers: Value, query: Value) -> Value {
    json!({"method": "put", "key": key, "headers": headers, "query": query})
}

const MINE: &str = "uploads/acc1/a.png";
const OTHER_BUCKET_OBJECT: &str = "otherbucket-1250000000.cos.ap-guangzhou.myqcloud.com/secret.txt";

#[tokio::test]
async fn hostile_requests_with_a_valid_login_get_no_signature() {
    let app = spawn_app().await;
    let len = json!({"Content-Length": "10"});
    let forbidden = "operation_not_allowed";
    let cases: Vec<(Value, u16, &str)> = vec![
        // Copies read any object the root key can read.
        (
            put(
                MINE,
                json!({"Content-Length": "0", "x-cos-copy-source": OTHER_BUCKET_OBJECT}),
                json!({}),
            ),
            403,
            forbidden,
        ),
        (
            put(
                MINE,
                json!({"Content-Length": "0", "X-COS-COPY-SOURCE": OTHER_BUCKET_OBJECT}),
                json!({}),
            ),
            403,
            forbidden,
        ),
        (
            put(
                MINE,
                json!({"Content-Length": "0", "x-cos-copy-source": OTHER_BUCKET_OBJECT, "x-cos-copy-source-range": "bytes=0-9"}),
                json!({"partNumber": "1", "uploadId": "u"}),
            ),
            403,
            forbidden,
        ),
        (
            put(
                MINE,
                json!({"Content-Length": "0", "x-cos-metadata-directive": "Replaced"}),
                json!({}),
            ),
            403,
            forbidden,
        ),
        // ACLs and grants.
        (
            put(
                MINE,
                json!({"Content-Length": "0", "x-cos-acl": "public-read"}),
                json!({"acl": ""}),
            ),
            403,
            forbidden,
        ),
        (
            put(
                MINE,
                json!({"Content-Length": "10", "x-cos-acl": "public-read"}),
                json!({}),
            ),
            403,
            forbidden,
        ),
        (
            put(
                MINE,
                json!({"Content-Length": "10", "x-cos-grant-read": "id=\"100000000001\""}),
                json!({}),
            ),
            403,
            forbidden,
        ),
        (
            put(
                MINE,
                json!({"Content-Length": "10", "x-cos-grant-full-control": "id=\"1\""}),
                json!({}),
            ),
            403,
            forbidden,
        ),
        (
            json!({"method": "get", "key": MINE, "query": {"acl": ""}}),
            403,
            forbidden,
        ),
        (
            json!({"method": "put", "key": MINE, "query": {"ACL": ""}, "headers": len}),
            403,
            forbidden,
        ),
        // Tagging, restore, select, symlinks, append, multi-delete.
        (
            put(MINE, len.clone(), json!({"tagging": ""})),
            403,
            forbidden,
        ),
        (
            put(
                MINE,
                json!({"Content-Length": "10", "x-cos-tagging": "a=b"}),
                json!({}),
            ),
            403,
            forbidden,
        ),
        (
            json!({"method": "delete", "key": MINE, "query": {"tagging": ""}}),
            403,
            forbidden,
        ),
        (
            json!({"method": "post", "key": MINE, "query": {"restore": ""}}),
            403,
            forbidden,
        ),
        (
            json!({"method": "post", "key": MINE, "query": {"select": "", "select-type": "2"}}),
            403,
            forbidden,
        ),
        (
            put(MINE, len.clone(), json!({"symlink": ""})),
            403,
            forbidden,
        ),
        (
            json!({"method": "get", "key": MINE, "query": {"symlink": ""}}),
            403,
            forbidden,
        ),
        (
            json!({"method": "post", "key": MINE, "query": {"append": "", "position": "0"}}),
            403,
            forbidden,
        ),
        (
            json!({"method": "post", "key": MINE, "query": {"delete": ""}}),
            403,
            forbidden,
        ),
        // Bucket configuration sub-resources.
        (
            put(MINE, len.clone(), json!({"policy": ""})),
            403,
            forbidden,
        ),
        (put(MINE, len.clone(), json!({"cors": ""})), 403, forbidden),
        (
            put(MINE, len.clone(), json!({"lifecycle": ""})),
            403,
            forbidden,
        ),
        (
            json!({"method": "get", "key": MINE, "query": {"versioning": ""}}),
            403,
            forbidden,
        ),
        (
            json!({"method": "delete", "key": MINE, "query": {"versionId": "v1"}}),
            403,
            forbidden,
        ),
        // Operations outside the default list.
        (json!({"method": "delete", "key": MINE}), 403, forbidden),
        (json!({"method": "options", "key": MINE}), 403, forbidden),
        // Cloud Infinite writing results anywhere.
        (
            put(
                MINE,
                json!({"Content-Length": "10", "Pic-Operations":
            "{\"is_pic_info\":1,\"rules\":[{\"fileid\":\"/uploads/acc2/x.png\",\"rule\":\"imageMogr2/format/png\"}]}"}),
                json!({}),
            ),
            403,
            forbidden,
        ),
        (
            put(
                MINE,
                json!({"Content-Length": "10", "Pic-Operations":
            "{\"is_pic_info\":1,\"rules\":[{\"fileid\":\"x.png\",\"rule\":\"imageMogr2/format/png\"}]}"}),
                json!({}),
            ),
            403,
            forbidden,
        ),
        // Sizes: none, too big, nonsense.
        (put(MINE, json!({}), json!({})), 400, "invalid_request"),
        (
            put(MINE, json!({"Content-Length": "5368709120"}), json!({})),
            403,
            "upload_too_large",
        ),
        (
            put(MINE, json!({"Content-Length": "10485761"}), json!({})),
            403,
            "upload_too_large",
        ),
        (
            put(MINE, json!({"Content-Length": "-1"}), json!({})),
            400,
            "invalid_request",
        ),
        (
            put(MINE, json!({"Content-Length": "lots"}), json!({})),
            400,
            "invalid_request",
        ),
        (
            put(
                MINE,
                json!({"Content-Length": "10", "content-length": "99999999999"}),
                json!({}),
            ),
            400,
            "invalid_request",
        ),
        (
            put(MINE, json!({}), json!({"partNumber": "1", "uploadId": "u"})),
            400,
            "invalid_request",
        ),
        (
            put(
                MINE,
                json!({"Content-Length": "10"}),
                json!({"partNumber": "10001", "uploadId": "u"}),
            ),
            400,
            "invalid_request",
        ),
        (
            put(
                MINE,
                json!({"Content-Length": "10"}),
                json!({"partNumber": "1", "uploadId": "u", "UPLOADID": "v"}),
            ),
            400,
            "invalid_request",
        ),
        // Listing other accounts' unfinished uploads.
        (
            json!({"method": "get", "key": "", "query": {"uploads": "", "prefix": "uploads/"}}),
            400,
            "invalid_key",
        ),
        (
            json!({"method": "get", "key": "", "query": {"uploads": "", "prefix": "uploads/acc2/x"}}),
            403,
            "path_not_allowed",
        ),
        // Keys that normalise into another directory.
        (
            put("uploads/acc1/．．/acc2/x.png", len.clone(), json!({})),
            400,
            "invalid_key",
        ),
        (
            put("uploads/acc1／..／acc2/x.png", len.clone(), json!({})),
            400,
            "invalid_key",
        ),
    ];
    assert!(cases.len() >= 38);
    for (body, status, code) in cases {
        refused(&app, SIGN, body, status, code).await;
    }
}

#[tokio::test]
async fn each_allowed_operation_is_signed_with_its_size_bound() {
    let app = spawn_app().await;
    let allowed = [
        put(MINE, json!({"Content-Length": "10"}), json!({})),
        json!({"method": "post", "key": MINE, "query": {"uploads": ""}}),
        put(
            MINE,
            json!({"Content-Length": "10485760"}),
            json!({"partNumber": "10000", "uploadId": "u"}),
        ),
        json!({"method": "post", "key": MINE, "query": {"uploadId": "u"}}),
        json!({"method": "delete", "key": MINE, "query": {"uploadId": "u"}}),
        json!({"method": "get", "key": MINE, "query": {"uploadId": "u"}}),
        json!({"method": "get", "key": "", "query": {"uploads": "", "prefix": MINE}}),
        json!({"method": "get", "key": MINE, "query": {"response-content-type": "image/png"}}),
        json!({"method": "head", "key": MINE}),
    ];
    for body in allowed {
        let resp = app.post_as("acc1", SIGN, body.clone()).await;
        assert_eq!(resp.status(), 200, "{body}");
        let answer: Value = resp.json().await.unwrap();
        let auth = answer["authorization"].as_str().unwrap();
        let method = body["method"].as_str().unwrap();
        if method == "put" {
            assert!(
                auth.contains("q-header-list=content-length;host"),
                "the size is signed: {auth}"
            );
        }
    }
    // What the default list leaves out is there when configured.
    let app = spawn_app_with(&[("QCOS_ALLOWED_ACTIONS", "PutObject,DeleteObject")]).await;
    let delete = app
        .post_as("acc1", SIGN, json!({"method": "delete", "key": MINE}))
        .await;
    assert_eq!(delete.status(), 200);
    refused(
        &app,
        SIGN,
        json!({"method": "get", "key": MINE}),
        403,
        "operation_not_allowed",
    )
    .await;
    refused(
        &app,
        "/v1/qc_cos/post_policy",
        json!({}),
        403,
        "operation_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn pic_operations_are_signed_only_when_enabled_and_only_into_the_callers_directory() {
    let app = spawn_app_with(&[("QCOS_ALLOW_PIC_OPERATIONS", "true")]).await;
    let ops = |fileid: &str| {
        put(
            "uploads/acc1/pics/a.jpg",
            json!({"Content-Length": "10", "Pic-Operations": format!(
                "{{\"is_pic_info\":1,\"rules\":[{{\"fileid\":\"{fileid}\",\"rule\":\"imageMogr2/format/png\"}}]}}")}),
            json!({}),
        )
    };
    let ok = app.post_as("acc1", SIGN, ops("a.png")).await;
    assert_eq!(ok.status(), 200);
    let auth: Value = ok.json().await.unwrap();
    assert!(
        auth["authorization"]
            .as_str()
            .unwrap()
            .contains("pic-operations"),
        "the rules are signed, so they cannot be swapped"
    );
    for hostile in ["/uploads/acc2/a.png", "../../acc2/a.png", "/a.png"] {
        refused(&app, SIGN, ops(hostile), 403, "operation_not_allowed").await;
    }
}

#[tokio::test]
async fn presigned_and_form_uploads_follow_the_same_policy() {
    let app = spawn_app().await;
    let presign = "/v1/qc_cos/presigned_url";
    refused(
        &app,
        presign,
        json!({"method": "put", "key": MINE}),
        400,
        "invalid_request",
    )
    .await;
    refused(
        &app,
        presign,
        json!({"method": "put", "key": MINE, "content_length": 10485761}),
        403,
        "upload_too_large",
    )
    .await;
    refused(
        &app,
        presign,
        json!({"method": "put", "key": MINE, "content_length": -1}),
        400,
        "invalid_request",
    )
    .await;
    // Fields the contract does not have are refused by name, not dropped.
    for field in ["headers", "query"] {
        let body = json!({"method": "get", "key": MINE, field: {"x-cos-acl": "public-read"}});
        let answer = assert_refused(
            app.post_as("acc1", presign, body).await,
            400,
            "invalid_request",
        )
        .await;
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    let signed: Value = app
        .post_as(
            "acc1",
            presign,
            json!({"method": "put", "key": MINE, "content_length": 10}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        signed["url"]
            .as_str()
            .unwrap()
            .contains("q-header-list=content-length%3Bhost")
            || signed["url"]
                .as_str()
                .unwrap()
                .contains("q-header-list=content-length;host"),
        "{signed}"
    );

    // The form's limit is the server's, and no body at all is `{}`.
    let resp = app
        .client
        .post(format!("{}/v1/qc_cos/post_policy", app.base))
        .bearer_auth(token_for("acc1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let form: Value = resp.json().await.unwrap();
    assert_eq!(form["max_size_bytes"], 10 * 1024 * 1024);
    assert_eq!(form["fields"]["key"], "uploads/acc1/${filename}");
}

#[tokio::test]
async fn tokens_without_a_subject_and_doubled_credentials_are_refused() {
    let app = spawn_app().await;
    assert_refused(
        app.get(
            "/v1/qc_cos/config",
            Some(&format!("Bearer {}", token_for(""))),
        )
        .await,
        401,
        "invalid_token",
    )
    .await;

    let resp = app
        .client
        .get(format!("{}/v1/qc_cos/config", app.base))
        .header("Authorization", format!("JWT {}", token_for("acc1")))
        .header("Authorization", "JWT junk")
        .send()
        .await
        .unwrap();
    let answer = assert_refused(resp, 400, "invalid_request").await;
    assert!(answer.get("sign").is_none());

    let resp = app
        .client
        .post(format!("{}/auth/oauth/token", app.base))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .header("Authorization", "Basic junk")
        .json(&json!({"code": "x"}))
        .send()
        .await
        .unwrap();
    assert_refused(resp, 400, "invalid_request").await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_unread() {
    let app = spawn_app().await;
    let big = format!("{{\"code\": \"{}\"}}", "x".repeat(70 * 1024));
    // Declared length: refused before the body is read.
    let resp = app
        .client
        .post(format!("{}/auth/oauth/token", app.base))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .header("Content-Type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_refused(resp, 413, "payload_too_large").await;
    // Chunked: read only up to the limit.
    let chunks = futures_stream(big.into_bytes());
    let resp = app
        .client
        .post(format!("{}{SIGN}", app.base))
        .bearer_auth(token_for("acc1"))
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_refused(resp, 413, "payload_too_large").await;
    // A small chunked body still works.
    let small = futures_stream(
        json!({"method": "get", "key": MINE})
            .to_string()
            .into_bytes(),
    );
    let resp = app
        .client
        .post(format!("{}{SIGN}", app.base))
        .bearer_auth(token_for("acc1"))
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(small))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// A body sent in 1 KiB chunks with no Content-Length.
fn futures_stream(
    bytes: Vec<u8>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(1024).map(|c| Ok(c.to_vec())).collect();
    futures_util::stream::iter(chunks)
}

/// Concurrent signing from one account never exceeds the daily quota, the
/// refusal says when to come back, and the count survives a restart.
async fn quota_holds(database_url: &str, account: &str) {
    let vars = [
        ("DATABASE_URL", database_url),
        ("QCOS_DAILY_UPLOAD_BYTES_PER_ACCOUNT", "1000"),
        ("QCOS_ALLOW_UNMETERED_GRANTS", "true"),
        ("QCOS_MAX_UPLOAD_BYTES", "1000"),
    ];
    let app = spawn_app_with(&vars).await;
    let key = format!("uploads/{account}/a.bin");
    let body = put(&key, json!({"Content-Length": "100"}), json!({}));
    let answers =
        futures_util::future::join_all((0..30).map(|_| app.post_as(account, SIGN, body.clone())))
            .await;
    let ok = answers.iter().filter(|r| r.status() == 200).count();
    assert_eq!(ok, 10, "1000 bytes a day in signatures of 100");
    let refusal = answers.into_iter().find(|r| r.status() == 429).unwrap();
    let retry_after: u64 = refusal.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry_after));
    let (_, code, _) = error_code(refusal).await;
    assert_eq!(code, "quota_exceeded");
    app.stop().await;

    // The count is in the store, not in the process.
    let app = spawn_app_with(&vars).await;
    refused_as(&app, account, body.clone(), 429, "quota_exceeded").await;
    // Form policies count their largest size.
    refused_as(&app, account, json!({}), 429, "quota_exceeded").await;
}

async fn refused_as(app: &TestApp, account: &str, body: Value, status: u16, code: &str) {
    let path = if body.get("method").is_some() {
        SIGN
    } else {
        "/v1/qc_cos/post_policy"
    };
    assert_refused(app.post_as(account, path, body).await, status, code).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_quota_holds_under_concurrency_and_across_restarts_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("quota.db").display());
    quota_holds(&url, "acc1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_quota_holds_under_concurrency_and_across_restarts_on_postgres() {
    let Ok(url) = std::env::var("COSGATE_TEST_POSTGRES_URL") else {
        skip("the quota on PostgreSQL (set COSGATE_TEST_POSTGRES_URL)");
        return;
    };
    // A fresh account each run: the database is shared with other tests.
    let account = format!("acc_quota_{}", now());
    quota_holds(&url, &account).await;
}

#[tokio::test]
async fn oversized_header_blocks_are_refused_before_any_handler_runs() {
    let app = spawn_app().await;
    let sent = app
        .client
        .get(format!("{}/v1/qc_cos/config", app.base))
        .bearer_auth(token_for("acc1"))
        .header("X-Padding", "a".repeat(512 * 1024))
        .send()
        .await;
    // hyper answers 431 (or closes the connection) while reading the head.
    if let Ok(resp) = sent {
        assert_eq!(resp.status(), 431);
    }
    // And the server is still there for everyone else.
    let ok = app
        .get(
            "/v1/qc_cos/config",
            Some(&format!("Bearer {}", token_for("acc1"))),
        )
        .await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_header_signature_for_post_object_is_refused_naming_the_sdk_option() {
    let app = spawn_app().await;
    // What cos-wx-sdk-v5's uploadFile asks for a small file by default, as
    // the SDK passes it to getAuthorization.
    let sdk = json!({
        "Bucket": "examplebucket-1250000000", "Region": "ap-guangzhou",
        "Method": "post", "Key": "", "Pathname": "/", "Query": {}, "Headers": {},
        "Scope": [{"action": "name/cos:PostObject", "bucket": "examplebucket-1250000000",
                   "region": "ap-guangzhou", "prefix": ""}],
        "ForceSignHost": true,
    });
    for body in [sdk, json!({"method": "post", "key": MINE})] {
        refused(&app, SIGN, body.clone(), 403, "operation_not_allowed").await;
        let resp = app.post_as("acc1", SIGN, body).await;
        let (_, _, answer) = error_code(resp).await;
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("SimpleUploadMethod: 'putObject'"),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn the_sdks_options_are_taken_as_they_come_and_nothing_else() {
    let app = spawn_app().await;
    // Numbers where the SDKs give numbers, header names in any case.
    let sdk = json!({
        "Bucket": "examplebucket-1250000000", "Region": "ap-guangzhou",
        "Method": "put", "Key": MINE, "Pathname": format!("/{MINE}"),
        "Query": {"partNumber": 1, "uploadId": "u"}, "Headers": {"CONTENT-LENGTH": 1048576},
        "SystemClockOffset": 0, "ForceSignHost": true,
    });
    let resp = app.post_as("acc1", SIGN, sdk).await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    let auth = answer["authorization"].as_str().unwrap();
    assert!(auth.contains("q-header-list=content-length;host"), "{auth}");
    assert!(
        auth.contains("q-url-param-list=partnumber;uploadid"),
        "{auth}"
    );
    for (body, status, code) in [
        (
            json!({"Method": "put", "method": "put", "Key": MINE}),
            400,
            "invalid_request",
        ),
        (
            json!({"Method": "get", "Key": MINE, "Bucket": "other-1250000000"}),
            400,
            "invalid_request",
        ),
        (
            json!({"Method": "get", "Key": MINE, "Region": "ap-beijing"}),
            400,
            "invalid_request",
        ),
        (
            json!({"Method": "get", "Key": MINE, "Pathname": "/uploads/acc2/x"}),
            400,
            "invalid_request",
        ),
        (
            json!({"Method": "get", "Key": MINE, "Unknown": 1}),
            400,
            "invalid_request",
        ),
        (
            json!({"Method": "get", "Key": MINE, "Headers": {"x-cos-meta-a": {"b": 1}}}),
            400,
            "invalid_request",
        ),
        (
            json!({"Method": "get", "Key": MINE, "Query": {"a": null}}),
            400,
            "invalid_request",
        ),
        (
            json!({"Method": "get", "Key": MINE, "ForceSignHost": false}),
            400,
            "invalid_request",
        ),
        (json!({"Key": MINE}), 400, "invalid_request"),
        (
            json!({"Method": "put", "Key": "uploads/acc2/x", "Headers": {"Content-Length": 1}}),
            403,
            "path_not_allowed",
        ),
    ] {
        refused(&app, SIGN, body, status, code).await;
    }
}
