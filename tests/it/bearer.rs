//! Every way a token can be wrong gets 401 `invalid_token` with a
//! `WWW-Authenticate` challenge; a valid token without the scope gets 403.

use crate::helpers::*;

const PATH: &str = "/v1/qc_cos/config";

fn claims(iss: &str, aud: &str, iat: u64, exp: u64) -> String {
    format!(
        r#"{{"iss":"{iss}","aud":"{aud}","sub":"acc1","iat":{iat},"exp":{exp},"scopes":["open"]}}"#
    )
}

async fn assert_invalid_token(app: &TestApp, authorization: Option<&str>, why: &str) {
    let resp = app.get(PATH, authorization).await;
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let (status, code, body) = error_code(resp).await;
    assert_eq!(
        (status, code.as_str()),
        (401, "invalid_token"),
        "{why}: {body}"
    );
    let challenge = challenge.unwrap_or_else(|| panic!("{why}: no WWW-Authenticate"));
    assert!(
        challenge.starts_with("Bearer realm=\"cosgate\", error=\"invalid_token\""),
        "{why}: {challenge}"
    );
    if let Some(auth) = authorization {
        let token = auth.split_once(' ').map_or(auth, |(_, t)| t);
        if token.len() > 8 {
            assert!(
                !body.to_string().contains(token),
                "{why}: the token is echoed"
            );
        }
    }
}

#[tokio::test]
async fn a_request_without_authorization_is_refused() {
    let app = spawn_app().await;
    assert_invalid_token(&app, None, "no header").await;
}

#[tokio::test]
async fn the_wrong_scheme_or_an_empty_token_is_refused() {
    let app = spawn_app().await;
    let token = token_for("acc1");
    assert_invalid_token(&app, Some(&format!("Basic {token}")), "basic scheme").await;
    assert_invalid_token(&app, Some(&token), "no scheme").await;
    assert_invalid_token(&app, Some("Bearer "), "empty token").await;
}

#[tokio::test]
async fn a_malformed_token_is_refused() {
    let app = spawn_app().await;
    assert_invalid_token(&app, Some("Bearer not.a.jwt"), "garbage").await;
    assert_invalid_token(&app, Some("JWT abc"), "garbage with JWT scheme").await;
}

#[tokio::test]
async fn a_token_with_a_bad_signature_is_refused() {
    let app = spawn_app().await;
    let now = now();
    let token = forge(
        HS256,
        &claims("cosgate", "cosgate", now, now + 600),
        b"some-other-secret-some-other-secret!",
    );
    assert_invalid_token(&app, Some(&format!("Bearer {token}")), "other secret").await;
    // Change the first signature character: all six of its bits count.
    let token = token_for("acc1");
    let at = token.rfind('.').unwrap() + 1;
    let swapped = if token.as_bytes()[at] == b'A' {
        "B"
    } else {
        "A"
    };
    let tampered = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
    assert_invalid_token(&app, Some(&format!("Bearer {tampered}")), "tampered").await;
}

#[tokio::test]
async fn alg_none_and_algorithms_other_than_hs256_are_refused() {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
    let app = spawn_app().await;
    let now = now();
    let body = claims("cosgate", "cosgate", now, now + 600);
    let none = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        B64.encode(&body)
    );
    assert_invalid_token(&app, Some(&format!("Bearer {none}")), "alg none").await;
    let hs512 = forge(
        r#"{"alg":"HS512","typ":"JWT"}"#,
        &body,
        JWT_SECRET.as_bytes(),
    );
    assert_invalid_token(&app, Some(&format!("Bearer {hs512}")), "alg HS512").await;
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = spawn_app().await;
    let now = now();
    let token = forge(
        HS256,
        &claims("cosgate", "cosgate", now - 7200, now - 3600),
        JWT_SECRET.as_bytes(),
    );
    assert_invalid_token(&app, Some(&format!("Bearer {token}")), "expired").await;
}

#[tokio::test]
async fn a_token_that_is_not_yet_valid_is_refused() {
    let app = spawn_app().await;
    let now = now();
    let token = forge(
        HS256,
        &claims("cosgate", "cosgate", now + 3600, now + 7200),
        JWT_SECRET.as_bytes(),
    );
    assert_invalid_token(
        &app,
        Some(&format!("Bearer {token}")),
        "issued in the future",
    )
    .await;
}

#[tokio::test]
async fn a_token_for_another_issuer_or_audience_is_refused() {
    let app = spawn_app().await;
    let now = now();
    let iss = forge(
        HS256,
        &claims("evil", "cosgate", now, now + 600),
        JWT_SECRET.as_bytes(),
    );
    assert_invalid_token(&app, Some(&format!("Bearer {iss}")), "issuer").await;
    let aud = forge(
        HS256,
        &claims("cosgate", "other", now, now + 600),
        JWT_SECRET.as_bytes(),
    );
    assert_invalid_token(&app, Some(&format!("Bearer {aud}")), "audience").await;
}

#[tokio::test]
async fn both_the_jwt_and_bearer_schemes_are_accepted() {
    let app = spawn_app().await;
    let token = token_for("acc1");
    for scheme in ["JWT", "Bearer", "bearer"] {
        let resp = app.get(PATH, Some(&format!("{scheme} {token}"))).await;
        assert_eq!(resp.status(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn a_valid_token_without_the_open_scope_is_forbidden() {
    let app = spawn_app().await;
    let now = now();
    let token = forge(
        HS256,
        &format!(
            r#"{{"iss":"cosgate","aud":"cosgate","sub":"acc1","iat":{now},"exp":{},"scopes":["register"]}}"#,
            now + 600
        ),
        JWT_SECRET.as_bytes(),
    );
    assert_refused(
        app.get(PATH, Some(&format!("Bearer {token}"))).await,
        403,
        "insufficient_scope",
    )
    .await;
}

#[tokio::test]
async fn a_token_minted_by_cosgate_token_logic_is_accepted() {
    let app = spawn_app().await;
    let keys = test_settings(&[]).jwt.keys();
    let token = keys.mint("acc9", &["open"], now(), 60).unwrap();
    let resp = app.get(PATH, Some(&format!("Bearer {token}"))).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_rotated_secret_keeps_its_tokens_until_it_is_removed() {
    const OLD: &str = "the-old-secret-the-old-secret-0123";
    let old_keys = cosgate::tokens::JwtKeys::new(
        &secrecy::SecretString::from(OLD.to_string()),
        "cosgate",
        "cosgate",
        30,
    );
    let issued_before = old_keys.mint("acc1", &["open"], now(), 600).unwrap();

    let rotated = spawn_app_with(&[("JWT_PREVIOUS_SECRETS", OLD)]).await;
    let ok = rotated
        .get(
            "/v1/qc_cos/config",
            Some(&format!("Bearer {issued_before}")),
        )
        .await;
    assert_eq!(ok.status(), 200, "a token of the previous secret passes");

    let retired = spawn_app().await;
    let body = assert_refused(
        retired
            .get(
                "/v1/qc_cos/config",
                Some(&format!("Bearer {issued_before}")),
            )
            .await,
        401,
        "invalid_token",
    )
    .await;
    assert!(body.get("sign").is_none());
}
