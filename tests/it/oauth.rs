//! cosgate's token endpoints as a standard OAuth client library uses them:
//! authlib (Python) refreshes with a form-encoded RFC 6749 request and
//! client_secret_basic, revokes with RFC 7009, and reads RFC 6749's `error`
//! from every refusal (`tests/external/oauth_client.py`).

use std::path::PathBuf;

use crate::{fakes::FakeWechat, helpers::*};

/// The Python that has authlib (and requests, which the script uses).
fn python_with_authlib() -> Option<PathBuf> {
    python_with("authlib, requests", "authlib requests")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_refreshes_and_revokes_as_with_any_oauth_server() {
    let Some(python) = python_with_authlib() else {
        return;
    };
    let wechat = FakeWechat::start().await;
    let app = spawn_app_with_wechat(&wechat, &[]).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/external/oauth_client.py");
    let base = app.base.clone();
    let args = [base.as_str(), CLIENT_ID, CLIENT_SECRET, "user-authlib"];
    let report = python_report(python, script, args.map(String::from).to_vec()).await;
    assert!(report["error"].is_null(), "{report}");
    assert_eq!(report["login_status"], 200, "{report}");
    assert_eq!(report["refreshed"], true, "{report}");
    assert_eq!(report["token_type"], "jwt");
    assert_eq!(report["reused"], "invalid_grant", "{report}");
    assert_eq!(report["revoke_status"], 200, "{report}");
    assert_eq!(report["after_revoke"], "invalid_grant", "{report}");
    assert_eq!(report["wrong_secret"], "invalid_client", "{report}");
}

/// The same requests by hand: a form body, and the refusal's two codes.
#[tokio::test]
async fn form_encoded_token_requests_are_read_and_refusals_carry_both_codes() {
    let app = spawn_app().await;
    let refused = app
        .client
        .post(format!("{}/auth/oauth/token/refresh", app.base))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &"x".repeat(43)),
        ])
        .send()
        .await
        .unwrap();
    let body = assert_refused(refused, 401, "invalid_refresh_token").await;
    assert_eq!(body["error"], "invalid_grant");
    // A name twice, or a grant type that is not RFC 6749's refresh: 400.
    for form in [
        "refresh_token=a&refresh_token=b",
        "grant_type=password&refresh_token=a",
    ] {
        let resp = app
            .client
            .post(format!("{}/auth/oauth/token/refresh", app.base))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        let body = assert_refused(resp, 400, "invalid_request").await;
        assert_eq!(body["error"], "invalid_request", "{form}");
    }
    // Revocation takes the form RFC 7009 requires; an unknown token is 200.
    let revoked = app
        .client
        .post(format!("{}/auth/oauth/revoke", app.base))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("token", "y".repeat(43).as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
}
