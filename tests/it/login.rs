//! WeChat login, accounts and refresh tokens, end to end: the real server on
//! loopback, a real SQLite file, and a fake WeChat on loopback.

use serde_json::{Value, json};

use crate::{fakes::FakeWechat, helpers::*};

const TOKEN: &str = "/auth/oauth/token";
const REFRESH: &str = "/auth/oauth/token/refresh";
const REGISTER: &str = "/auth/accounts/wxapp";
const SELF: &str = "/auth/accounts/self";

fn vector() -> Value {
    serde_json::from_str(include_str!("../vectors/wechat-encrypted-data.json")).unwrap()
}

async fn login(app: &TestApp, code: &str) -> Value {
    let resp = app.post_as_client(TOKEN, json!({"code": code})).await;
    assert_eq!(resp.status(), 200, "login with {code}");
    resp.json().await.unwrap()
}

async fn refresh(app: &TestApp, refresh_token: &Value) -> reqwest::Response {
    app.post_as_client(REFRESH, json!({"refresh_token": refresh_token}))
        .await
}

fn bearer(tokens: &Value) -> String {
    format!("Bearer {}", tokens["access_token"].as_str().unwrap())
}

#[tokio::test]
async fn a_code_logs_in_and_the_token_signs_only_the_callers_own_directory() {
    let wechat = FakeWechat::start().await;
    let app = spawn_app_with_wechat(&wechat, &[]).await;
    let tokens = login(&app, "user-alice").await;
    assert_eq!(tokens["token_type"], "jwt");
    assert_eq!(tokens["expires_in"], 900);
    let account = tokens["account_id"].as_str().unwrap().to_string();
    assert!(
        account.starts_with("acc_") && !account.contains("alice"),
        "ids are opaque: {account}"
    );

    let me: Value = app
        .get(SELF, Some(&bearer(&tokens)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], account.as_str());
    assert!(me["created_time"].as_i64().unwrap() >= now() as i64 - 5);

    let config: Value = app
        .get("/v1/qc_cos/config", Some(&bearer(&tokens)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(config["cos_path"], format!("/uploads/{account}"));
    let other = app
        .get(
            "/v1/qc_cos/config?cos_path=/uploads/acc_someone_else",
            Some(&bearer(&tokens)),
        )
        .await;
    assert_refused(other, 403, "path_not_allowed").await;

    let again = login(&app, "user-alice").await;
    assert_eq!(
        again["account_id"],
        account.as_str(),
        "the same user gets the same account"
    );
    assert_eq!(wechat.calls("user-alice"), 2);
}

#[tokio::test]
async fn the_2017_clients_form_logs_in_and_stores_the_decrypted_profile() {
    let wechat = FakeWechat::start().await;
    let app = spawn_app_with_wechat(&wechat, &[]).await;
    let v = vector();
    let body = json!({
        "username": v["encryptedData"], "password": v["iv"],
        "grant_type": "password", "auth_approach": "wxapp",
    });
    let resp = app
        .post_as_client(&format!("{TOKEN}?code=vector"), body)
        .await;
    assert_eq!(resp.status(), 200);
    let tokens: Value = resp.json().await.unwrap();
    assert_eq!(tokens["nickname"], "Band");
    let me: Value = app
        .get(
            SELF,
            Some(&format!("JWT {}", tokens["access_token"].as_str().unwrap())),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["nickname"], "Band");
    assert!(
        me["avatar"]
            .as_str()
            .unwrap()
            .starts_with("http://wx.qlogo.cn/")
    );
}

#[tokio::test]
async fn encrypted_data_that_does_not_decrypt_is_400_never_500() {
    let wechat = FakeWechat::start().await;
    let app = spawn_app_with_wechat(&wechat, &[]).await;
    let v = vector();
    let cases = [
        (
            "user-bob",
            json!({"encrypted_data": v["encryptedData"], "iv": v["iv"]}),
            "does not decrypt",
        ),
        (
            "vector",
            json!({"encrypted_data": v["encryptedData"], "iv": "AAAAAAAAAAAAAAAAAAAAAA=="}),
            "",
        ),
        (
            "vector",
            json!({"encrypted_data": "not base64!", "iv": v["iv"]}),
            "base64",
        ),
        (
            "vector",
            json!({"encrypted_data": v["encryptedData"]}),
            "go together",
        ),
        (
            "vector",
            json!({"encrypted_data": "AAAA", "iv": "AAAA"}),
            "16 bytes",
        ),
    ];
    for (code, mut body, reason) in cases {
        body["code"] = code.into();
        let (status, error, body) = error_code(app.post_as_client(TOKEN, body).await).await;
        assert_eq!(
            (status, error.as_str()),
            (400, "invalid_encrypted_data"),
            "{code}: {body}"
        );
        assert!(body["message"].as_str().unwrap().contains(reason), "{body}");
    }
}

#[tokio::test]
async fn wechat_refusals_and_outages_get_clear_statuses() {
    let wechat = FakeWechat::start().await;
    let app = spawn_app_with_wechat(&wechat, &[]).await;
    let cases = [
        ("invalid", 401, "invalid_wxapp_code", 1),
        ("limited", 429, "wechat_rate_limited", 1),
        ("risky", 403, "wechat_high_risk_user", 1),
        ("busy", 503, "wechat_unavailable", 2),
        ("slow", 503, "wechat_unavailable", 2),
        ("html", 502, "wechat_unavailable", 1),
        ("http500", 502, "wechat_unavailable", 1),
    ];
    for (code, status, error, calls) in cases {
        let (got_status, got_error, body) =
            error_code(app.post_as_client(TOKEN, json!({"code": code})).await).await;
        assert_eq!(
            (got_status, got_error.as_str()),
            (status, error),
            "{code}: {body}"
        );
        assert!(
            !body.to_string().contains(WXAPP_SECRET),
            "{code}: the app secret leaked"
        );
        assert_eq!(
            wechat.calls(code),
            calls,
            "{code}: only busy answers and timeouts are retried"
        );
    }
}

#[tokio::test]
async fn a_wrong_or_missing_client_is_401_with_a_basic_challenge() {
    let wechat = FakeWechat::start().await;
    let app = spawn_app_with_wechat(&wechat, &[]).await;
    let url = format!("{}{TOKEN}", app.base);
    let attempts = [
        app.client
            .post(&url)
            .basic_auth(CLIENT_ID, Some("wrong-secret"))
            .json(&json!({"code": "user-a"})),
        app.client
            .post(&url)
            .basic_auth("nobody", Some(CLIENT_SECRET))
            .json(&json!({"code": "user-a"})),
        app.client.post(&url).json(&json!({"code": "user-a"})),
        app.client
            .post(&url)
            .bearer_auth(token_for("x"))
            .json(&json!({"code": "user-a"})),
    ];
    for attempt in attempts {
        let resp = attempt.send().await.unwrap();
        assert_eq!(
            resp.headers().get("www-authenticate").unwrap(),
            r#"Basic realm="cosgate""#
        );
        let body = assert_refused(resp, 401, "invalid_client").await;
        assert!(!body.to_string().contains(CLIENT_SECRET));
    }
    assert_eq!(
        wechat.calls("user-a"),
        0,
        "WeChat is not asked for unauthenticated clients"
    );
}

#[tokio::test]
async fn a_login_without_a_body_or_with_a_bad_one_is_400_never_500() {
    let app = spawn_app().await;
    let url = format!("{}{TOKEN}?code=", app.base);
    let attempts = [
        app.client
            .post(&url)
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET)),
        app.client
            .post(&url)
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .header("content-type", "text/plain")
            .body("code=x"),
        app.client
            .post(&url)
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .header("content-type", "application/json")
            .body("{not json"),
    ];
    for (i, attempt) in attempts.into_iter().enumerate() {
        let (status, code, body) = error_code(attempt.send().await.unwrap()).await;
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid_request"),
            "attempt {i}: {body}"
        );
    }
}

#[tokio::test]
async fn a_login_without_a_code_is_400() {
    let app = spawn_app().await;
    assert_refused(
        app.post_as_client(TOKEN, json!({})).await,
        400,
        "invalid_request",
    )
    .await;
    assert_refused(
        app.post_as_client(TOKEN, json!({"code": "x".repeat(300)}))
            .await,
        400,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replayed_one_kills_its_family() {
    let wechat = FakeWechat::start().await;
    let app = spawn_app_with_wechat(&wechat, &[]).await;
    let first = login(&app, "user-carol").await;

    let resp = refresh(&app, &first["refresh_token"]).await;
    assert_eq!(resp.status(), 200);
    let second: Value = resp.json().await.unwrap();
    assert_eq!(second["account_id"], first["account_id"]);
    assert_ne!(
        second["refresh_token"], first["refresh_token"],
        "a new refresh token"
    );
    assert_eq!(
        app.get(SELF, Some(&bearer(&second))).await.status(),
        200,
        "the new access token works"
    );

    // The first refresh token again: a replay.
    let body = assert_refused(
        refresh(&app, &first["refresh_token"]).await,
        401,
        "invalid_refresh_token",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("already used"));
    let (status, _, body) = error_code(refresh(&app, &second["refresh_token"]).await).await;
    assert_eq!(status, 401, "the replay revoked the family: {body}");

    let other_login = login(&app, "user-carol").await;
    assert_eq!(
        refresh(&app, &other_login["refresh_token"]).await.status(),
        200,
        "a new login is a new family"
    );
}

#[tokio::test]
async fn an_unknown_refresh_token_is_401() {
    let app = spawn_app().await;
    assert_refused(
        refresh(&app, &json!("made-up")).await,
        401,
        "invalid_refresh_token",
    )
    .await;
}

#[tokio::test]
async fn without_auto_registration_users_register_explicitly() {
    let wechat = FakeWechat::start().await;
    let app = spawn_app_with_wechat(&wechat, &[("AUTO_REGISTER", "false")]).await;
    assert_refused(
        app.post_as_client(TOKEN, json!({"code": "user-dave"}))
            .await,
        401,
        "wxapp_not_registered",
    )
    .await;

    // The 2017 client's registration form: {username, password, code}.
    let resp = app.post_as_client(REGISTER, json!({"code": "vector", "username": vector()["encryptedData"], "password": vector()["iv"]})).await;
    assert_eq!(resp.status(), 201);
    let account: Value = resp.json().await.unwrap();
    assert_eq!(account["nickname"], "Band");
    assert_refused(
        app.post_as_client(REGISTER, json!({"code": "vector"}))
            .await,
        409,
        "wxapp_already_registered",
    )
    .await;

    let tokens = login(&app, "vector").await;
    assert_eq!(tokens["account_id"], account["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_logins_of_one_user_make_one_account() {
    let wechat = FakeWechat::start().await;
    let app = std::sync::Arc::new(spawn_app_with_wechat(&wechat, &[]).await);
    let logins: Vec<_> = (0..12)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                app.post_as_client(TOKEN, json!({"code": "user-erin"}))
                    .await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for login in logins {
        let resp = login.await.unwrap();
        assert_eq!(resp.status(), 200);
        ids.push(
            resp.json::<Value>().await.unwrap()["account_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
}

#[tokio::test]
async fn accounts_and_refresh_tokens_survive_a_restart_on_the_same_file() {
    let wechat = FakeWechat::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("keep.db").display());
    let app = spawn_app_with_wechat(&wechat, &[("DATABASE_URL", db.as_str())]).await;
    let tokens = login(&app, "user-frank").await;
    app.stop().await;

    let app = spawn_app_with_wechat(&wechat, &[("DATABASE_URL", db.as_str())]).await;
    let resp = refresh(&app, &tokens["refresh_token"]).await;
    assert_eq!(resp.status(), 200, "the refresh token outlived the restart");
    let fresh: Value = resp.json().await.unwrap();
    let me: Value = app
        .get(SELF, Some(&bearer(&fresh)))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], tokens["account_id"]);
}

#[tokio::test]
async fn development_codes_log_in_without_wechat() {
    let wechat = FakeWechat::start().await;
    let app = spawn_app_with_wechat(&wechat, &[]).await;
    let tokens = login(&app, "dev-newcomer").await;
    assert!(tokens["account_id"].as_str().unwrap().starts_with("acc_"));
    assert!(
        tokens.get("nickname").is_none(),
        "an unknown nickname is absent, not null: {tokens}"
    );
    assert_eq!(wechat.calls("dev-newcomer"), 0);
}

#[tokio::test]
async fn production_never_accepts_development_codes() {
    let wechat = FakeWechat::start().await;
    let app = spawn_app_with_wechat(
        &wechat,
        &[
            ("COSGATE_ENV", "production"),
            ("METRICS_TOKEN", "test-metrics-token"),
            ("QCOS_APPID", "1253000000"),
            ("QCOS_BUCKET_NAME", "photos"),
            ("OAUTH_CLIENTS", "test-client:test-client-secret"),
        ],
    )
    .await;
    assert_refused(
        app.post_as_client(TOKEN, json!({"code": "dev-newcomer"}))
            .await,
        401,
        "invalid_wxapp_code",
    )
    .await;
    assert_eq!(
        wechat.calls("dev-newcomer"),
        1,
        "the code went to WeChat, which refused it"
    );
}

#[tokio::test]
async fn who_am_i_needs_a_token() {
    let app = spawn_app().await;
    assert_refused(app.get(SELF, None).await, 401, "invalid_token").await;
    assert_refused(
        app.get(SELF, Some(&format!("Bearer {}", token_for("acc_gone"))))
            .await,
        404,
        "account_not_found",
    )
    .await;
}

#[tokio::test]
async fn logout_revokes_the_login_and_refresh_tokens_belong_to_their_client() {
    let app = spawn_app_with(&[(
        "OAUTH_CLIENTS",
        "test-client:test-client-secret,other:other-client-secret",
    )])
    .await;
    let login = |code: &'static str| {
        app.post_as_client("/auth/oauth/token", serde_json::json!({"code": code}))
    };
    let as_other = |path: &str, body: serde_json::Value| {
        app.client
            .post(format!("{}{path}", app.base))
            .basic_auth("other", Some("other-client-secret"))
            .json(&body)
            .send()
    };
    let tokens: serde_json::Value = login("dev-logout").await.json().await.unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();

    // Another client can neither use nor revoke it.
    assert_refused(
        as_other(
            "/auth/oauth/token/refresh",
            serde_json::json!({"refresh_token": refresh}),
        )
        .await
        .unwrap(),
        401,
        "invalid_refresh_token",
    )
    .await;
    let revoked = as_other("/auth/oauth/revoke", serde_json::json!({"token": refresh}))
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200, "RFC 7009: no hint either way");
    let rotated: serde_json::Value = app
        .post_as_client(
            "/auth/oauth/token/refresh",
            serde_json::json!({"refresh_token": refresh}),
        )
        .await
        .json()
        .await
        .unwrap();
    let next = rotated["refresh_token"]
        .as_str()
        .expect("still valid for its own client");

    // Logout: the whole login is gone.
    let resp = app
        .post_as_client(
            "/auth/oauth/revoke",
            serde_json::json!({"token": next, "token_type_hint": "refresh_token"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_refused(
        app.post_as_client(
            "/auth/oauth/token/refresh",
            serde_json::json!({"refresh_token": next}),
        )
        .await,
        401,
        "invalid_refresh_token",
    )
    .await;
    // Unknown tokens are revoked quietly; a client without credentials is not.
    let unknown = app
        .post_as_client("/auth/oauth/revoke", serde_json::json!({"token": "nope"}))
        .await;
    assert_eq!(unknown.status(), 200);
    let anonymous = app
        .client
        .post(format!("{}/auth/oauth/revoke", app.base))
        .json(&serde_json::json!({"token": next}))
        .send()
        .await
        .unwrap();
    assert_refused(anonymous, 401, "invalid_client").await;
}
