//! cosgate's STS client against a fake STS on loopback
//! (`tests/js/fake_sts.py`) that verifies the TC3 signature and the CAM
//! policy with its own implementation of Tencent's documents.

use std::time::Duration;

use cosgate::{
    paths::CosDir,
    policy::{cam, operation::AllowedActions},
    signer::Credentials,
    sts::{StsClient, StsError},
};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    fakes::{FakeCos, FakeSts, STS_SECRET_ID, STS_SECRET_KEY, STS_SEED, start_fake_cos_with},
    helpers::*,
};

fn client(sts: &FakeSts, secret_key: &str) -> StsClient {
    StsClient::new(
        &sts.base,
        "ap-guangzhou",
        Credentials::new(STS_SECRET_ID, SecretString::from(secret_key.to_string())),
        Duration::from_millis(1000),
    )
}

fn policy_for(account: &str) -> String {
    let dir = CosDir::parse(&format!("/uploads/{account}")).unwrap();
    let actions: Vec<_> = AllowedActions::default().iter().collect();
    let bucket = cam::Bucket {
        region: "ap-guangzhou",
        appid: APPID,
        name: BUCKET,
    };
    serde_json::to_string(&cam::policy(bucket, &dir, &actions, 1000).unwrap()).unwrap()
}

#[tokio::test]
async fn a_signed_request_gets_credentials_the_fake_can_check() {
    let Some(sts) = FakeSts::start() else { return };
    let creds = client(&sts, STS_SECRET_KEY)
        .federation_token("cg-acc1", &policy_for("acc1"), 1800, now())
        .await
        .expect("the fake STS accepts cosgate's TC3 signature and policy");
    // The fake derives the key from the id with its seed; recompute it here.
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, STS_SEED.as_bytes());
    let expected: String = ring::hmac::sign(&key, creds.tmp_secret_id.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(creds.tmp_secret_key.expose_secret(), &expected);
    assert!(creds.expired_time >= now() + 1790 && creds.expired_time <= now() + 1801);
    assert!(!creds.token().is_empty());
}

#[tokio::test]
async fn refusals_are_not_retried_and_outages_are_retried_once() {
    let Some(sts) = FakeSts::start() else { return };
    let policy = policy_for("acc1");
    let good = client(&sts, STS_SECRET_KEY);

    let wrong_key = client(&sts, "not-the-key")
        .federation_token("cg-acc1", &policy, 1800, now())
        .await;
    assert_eq!(
        wrong_key.unwrap_err(),
        StsError::Refused("AuthFailure.SignatureFailure".into())
    );

    let cases = [
        (
            "cg-sts-auth-1",
            StsError::Refused("AuthFailure.SecretIdNotFound".into()),
            1,
        ),
        ("cg-sts-limit-1", StsError::LimitExceeded, 1),
        (
            "cg-sts-slow-1",
            StsError::Unavailable("timed out".into()),
            2,
        ),
        (
            "cg-sts-garbage-1",
            StsError::BadAnswer("HTTP 200, not STS's JSON".into()),
            1,
        ),
    ];
    for (name, expected, calls) in cases {
        let got = good.federation_token(name, &policy, 1800, now()).await;
        assert_eq!(got.unwrap_err(), expected, "{name}");
        assert_eq!(sts.calls(name).await, calls, "{name}: calls");
    }
    let flaky = good
        .federation_token("cg-sts-flaky-1", &policy, 1800, now())
        .await;
    assert!(flaky.is_ok(), "an InternalError is retried once");
    assert_eq!(sts.calls("cg-sts-flaky-1").await, 2);
}

#[tokio::test]
async fn the_fake_refuses_a_policy_that_reaches_beyond_one_directory() {
    let Some(sts) = FakeSts::start() else { return };
    let wide = policy_for("acc1").replace("/uploads/acc1/*", "/uploads/*");
    let got = client(&sts, STS_SECRET_KEY)
        .federation_token("cg-acc1", &wide, 1800, now())
        .await;
    assert_eq!(
        got.unwrap_err(),
        StsError::Refused("InvalidParameterValue.PolicyInvalid".into())
    );
}

/// cosgate whose STS is the fake (its root key is the one the fake knows).
pub(crate) async fn spawn_app_with_sts(sts: &FakeSts, overrides: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![
        ("TENCENT_STS_ENDPOINT", sts.base.as_str()),
        ("QCOS_SECRET_ID", STS_SECRET_ID),
        ("QCOS_SECRET_KEY", STS_SECRET_KEY),
    ];
    vars.extend_from_slice(overrides);
    spawn_app_with(&vars).await
}

pub(crate) async fn credentials(
    app: &TestApp,
    account: &str,
    body: Option<serde_json::Value>,
) -> reqwest::Response {
    let req = app
        .client
        .post(format!("{}/v1/qc_cos/credentials", app.base))
        .bearer_auth(token_for(account));
    match body {
        Some(body) => req.json(&body),
        None => req,
    }
    .send()
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_come_in_the_sdks_shape_confined_to_the_callers_directory_and_cached() {
    let Some(sts) = FakeSts::start() else { return };
    let app = spawn_app_with_sts(&sts, &[]).await;
    let before = now();
    let resp = credentials(&app, "acc1", None).await;
    assert_eq!(resp.status(), 200);
    let first: serde_json::Value = resp.json().await.unwrap();
    for field in [
        "TmpSecretId",
        "TmpSecretKey",
        "SecurityToken",
        "Bucket",
        "Region",
        "AllowPrefix",
    ] {
        assert!(first[field].is_string(), "{field}: {first}");
    }
    assert_eq!(first["AllowPrefix"], "uploads/acc1/*");
    assert_eq!(first["Bucket"], format!("{BUCKET}-{APPID}"));
    assert_eq!(first["Region"], "ap-guangzhou");
    assert_eq!(first["ScopeLimit"], false);
    let start = first["StartTime"].as_u64().unwrap();
    let end = first["ExpiredTime"].as_u64().unwrap();
    assert!(start >= before && start <= now(), "the server's clock");
    assert!(
        (1795..=1801).contains(&(end - start)),
        "QCOS_STS_TTL defaults to 1800 s"
    );

    // Within the cache window: the same credentials, no second STS call,
    // however many calls come at once.
    let again =
        futures_util::future::join_all((0..8).map(|_| credentials(&app, "acc1", None))).await;
    for resp in again {
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["TmpSecretId"], first["TmpSecretId"]);
    }
    assert_eq!(sts.calls("cg-acc1").await, 1);
    let fresh =
        futures_util::future::join_all((0..8).map(|_| credentials(&app, "acc2", None))).await;
    assert!(fresh.iter().all(|r| r.status() == 200));
    assert_eq!(
        sts.calls("cg-acc2").await,
        1,
        "concurrent misses make one STS call"
    );

    // A subset of the actions and a shorter life are another grant.
    let reads: serde_json::Value = credentials(
        &app,
        "acc1",
        Some(serde_json::json!({"actions": ["GetObject", "HeadObject"], "duration_seconds": 300})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_ne!(reads["TmpSecretId"], first["TmpSecretId"]);
    let life = reads["ExpiredTime"].as_u64().unwrap() - reads["StartTime"].as_u64().unwrap();
    assert!((295..=301).contains(&life), "{life}");
    let long: serde_json::Value = credentials(
        &app,
        "acc3",
        Some(serde_json::json!({"duration_seconds": 99_999})),
    )
    .await
    .json()
    .await
    .unwrap();
    let life = long["ExpiredTime"].as_u64().unwrap() - long["StartTime"].as_u64().unwrap();
    assert!(life <= 1801, "never more than the server allows: {life}");

    // acc1, acc2, acc1's reads, acc3: four STS calls, all ok.
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    let calls = crate::ops::sample(
        &metrics,
        "cosgate_upstream_calls_total",
        &[("service", "sts"), ("outcome", "ok")],
    );
    assert_eq!(calls, Some(4.0), "{metrics}");
    assert!(!metrics.contains("acc1"), "no account ids as labels");
}

#[tokio::test]
async fn asking_for_more_than_the_server_allows_gets_no_credentials() {
    let Some(sts) = FakeSts::start() else { return };
    let app = spawn_app_with_sts(&sts, &[]).await;
    for (body, status, code) in [
        (
            serde_json::json!({"actions": ["DeleteObject"]}),
            403,
            "operation_not_allowed",
        ),
        (
            serde_json::json!({"actions": ["PutObject", "PutBucketAcl"]}),
            400,
            "invalid_request",
        ),
        (serde_json::json!({"actions": [5]}), 400, "invalid_request"),
        (
            serde_json::json!({"duration_seconds": 0}),
            400,
            "invalid_request",
        ),
        (serde_json::json!({"Policy": "{}"}), 400, "invalid_request"),
    ] {
        let (got, error, answer) =
            error_code(credentials(&app, "acc1", Some(body.clone())).await).await;
        assert_eq!((got, error.as_str()), (status, code), "{body}: {answer}");
        assert!(answer.get("TmpSecretKey").is_none());
    }
    assert_eq!(sts.calls("cg-acc1").await, 0, "nothing reached STS");
}

#[tokio::test]
async fn sts_failures_have_their_statuses_and_reveal_nothing() {
    let Some(sts) = FakeSts::start() else { return };
    let app = spawn_app_with_sts(&sts, &[("TENCENT_STS_TIMEOUT_MS", "500")]).await;
    for (account, status, retry_after) in [
        ("sts-auth-9", 502, false),
        ("sts-garbage-9", 502, false),
        ("sts-limit-9", 503, true),
        ("sts-slow-9", 503, true),
    ] {
        let resp = credentials(&app, account, None).await;
        assert_eq!(
            resp.headers().contains_key("retry-after"),
            retry_after,
            "{account}"
        );
        let (got, code, answer) = error_code(resp).await;
        assert_eq!(
            (got, code.as_str()),
            (status, "sts_unavailable"),
            "{account}: {answer}"
        );
        let text = answer.to_string();
        for secret in [STS_SECRET_KEY, "AuthFailure", "LimitExceeded"] {
            assert!(!text.contains(secret), "{account}: {text}");
        }
    }
    // A failed grant is not cached: the next call asks again.
    let _ = credentials(&app, "sts-auth-9", None).await;
    assert_eq!(sts.calls("cg-sts-auth-9").await, 2);
}

#[tokio::test]
async fn a_new_grant_counts_against_the_daily_quota_and_a_reused_one_does_not() {
    let Some(sts) = FakeSts::start() else { return };
    let app = spawn_app_with_sts(
        &sts,
        &[
            ("QCOS_DAILY_UPLOAD_BYTES_PER_ACCOUNT", "2500"),
            ("QCOS_ALLOW_UNMETERED_GRANTS", "true"),
            ("QCOS_MAX_UPLOAD_BYTES", "1000"),
        ],
    )
    .await;
    for _ in 0..5 {
        assert_eq!(
            credentials(&app, "acc1", None).await.status(),
            200,
            "reused"
        );
    }
    // A shorter lifetime is the same capability: the cached credentials,
    // not charged again, their window clipped.
    let short = Some(serde_json::json!({"duration_seconds": 600}));
    let answer = credentials(&app, "acc1", short).await;
    assert_eq!(answer.status(), 200, "the same grant");
    let answer: serde_json::Value = answer.json().await.unwrap();
    let window = answer["ExpiredTime"].as_i64().unwrap() - answer["StartTime"].as_i64().unwrap();
    assert!((1..=600).contains(&window), "clipped to 600 s: {window}");
    let shorter = Some(serde_json::json!({"duration_seconds": 300}));
    assert_eq!(credentials(&app, "acc1", shorter).await.status(), 200);
    // Other actions are another capability: a second charge, then none
    // left for a third.
    let puts = Some(serde_json::json!({"actions": ["PutObject"]}));
    assert_eq!(
        credentials(&app, "acc1", puts).await.status(),
        200,
        "a second grant"
    );
    let parts = Some(serde_json::json!({"actions": ["PutObject", "UploadPart"]}));
    assert_refused(
        credentials(&app, "acc1", parts).await,
        429,
        "quota_exceeded",
    )
    .await;
    let reads = Some(serde_json::json!({"actions": ["GetObject"]}));
    assert_eq!(
        credentials(&app, "acc1", reads).await.status(),
        200,
        "reads cost nothing"
    );
    assert_eq!(sts.calls("cg-acc1").await, 3);
}

/// The fake STS, a fake COS that accepts its credentials, and cosgate in
/// STS signing mode in front of both.
pub(crate) async fn sts_world() -> Option<(FakeSts, FakeCos, TestApp)> {
    if !crate::js_sdk::js_tooling_ready() {
        return None;
    }
    let sts = FakeSts::start()?;
    let cos = start_fake_cos_with(STS_SECRET_ID, STS_SECRET_KEY, Some(STS_SEED));
    let endpoint = format!("http://{}", cos.host);
    let app = spawn_app_with_sts(
        &sts,
        &[
            ("QCOS_SIGNING", "sts"),
            ("QCOS_ENDPOINT", endpoint.as_str()),
        ],
    )
    .await;
    Some((sts, cos, app))
}

async fn sign(app: &TestApp, body: serde_json::Value) -> serde_json::Value {
    let resp = app.post_as("acc1", "/v1/qc_cos/authorization", body).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_sts_mode_signatures_work_only_with_the_token_and_cos_confines_them() {
    let Some((_sts, cos, app)) = sts_world().await else {
        return;
    };
    let url = format!("http://{}/uploads/acc1/note.txt", cos.host);
    let signed = sign(
        &app,
        serde_json::json!({"method": "put", "key": "uploads/acc1/note.txt", "headers": {"Content-Length": "5"}}),
    )
    .await;
    let authorization = signed["authorization"].as_str().unwrap();
    let token = signed["security_token"]
        .as_str()
        .expect("the token comes with it");
    assert!(
        authorization.contains("q-ak=AKIDtmp") && !authorization.contains(STS_SECRET_ID),
        "signed with the temporary credentials, not the root key: {authorization}"
    );
    let put = |headers: Vec<(&'static str, String)>| {
        let mut req = app.client.put(&url).body("hello");
        for (k, v) in headers {
            req = req.header(k, v);
        }
        req.send()
    };
    let auth = || ("Authorization", authorization.to_string());
    let tok = || ("x-cos-security-token", token.to_string());
    assert_eq!(put(vec![auth()]).await.unwrap().status(), 403, "no token");
    // An unsigned copy header naming another account's object: COS itself
    // refuses, because the credentials' policy does not grant reading it.
    let copy = (
        "x-cos-copy-source",
        format!("{}/uploads/acc2/secret.txt", cos.host),
    );
    assert_eq!(put(vec![auth(), tok(), copy]).await.unwrap().status(), 403);
    let acl = ("x-cos-acl", "public-read".to_string());
    assert_eq!(put(vec![auth(), tok(), acl]).await.unwrap().status(), 403);
    assert_eq!(put(vec![auth(), tok()]).await.unwrap().status(), 200);

    // Presigned URLs carry the token; the form carries it as a field.
    let app_ref = &app;
    let presign = |body: serde_json::Value| async move {
        let resp: serde_json::Value = app_ref
            .post_as("acc1", "/v1/qc_cos/presigned_url", body)
            .await
            .json()
            .await
            .unwrap();
        resp["url"].as_str().unwrap().to_string()
    };
    let get = presign(serde_json::json!({"method": "get", "key": "uploads/acc1/note.txt"})).await;
    assert!(get.contains("x-cos-security-token="), "{get}");
    let got = reqwest::get(&get).await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.text().await.unwrap(), "hello");
    let without_token = get
        .split("&x-cos-security-token=")
        .next()
        .unwrap()
        .to_string();
    assert_eq!(reqwest::get(&without_token).await.unwrap().status(), 403);

    let policy: serde_json::Value = app
        .client
        .post(format!("{}/v1/qc_cos/post_policy", app.base))
        .bearer_auth(token_for("acc1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        policy["fields"]["x-cos-security-token"].is_string(),
        "{policy}"
    );
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in policy["fields"].as_object().unwrap() {
        form = form.text(k.clone(), v.as_str().unwrap().to_string());
    }
    let form = form.part(
        "file",
        reqwest::multipart::Part::bytes(&b"by form"[..]).file_name("form.txt"),
    );
    let posted = app
        .client
        .post(policy["url"].as_str().unwrap())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_sdks_sts_flow_uploads_within_the_callers_directory_only() {
    let Some((sts, cos, app)) = sts_world().await else {
        return;
    };
    let report = crate::js_sdk::node_report(
        "sdk_sts.cjs",
        [app.base.clone(), token_for("acc1"), cos.host.clone()],
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
    assert_eq!(report["put_elsewhere"]["error"], 403, "{report}");
    assert_eq!(report["copy_elsewhere"]["error"], 403, "{report}");
    assert_eq!(report["second"]["status"], 200, "{report}");
    assert_eq!(report["get_authorization"], 2, "{report}");
    assert_eq!(
        sts.calls("cg-acc1").await,
        1,
        "the second getAuthorization was answered from cosgate's cache"
    );
}
