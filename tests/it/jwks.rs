//! EdDSA access tokens: the public key at `/.well-known/jwks.json` verifies
//! them with an independent implementation, and no token can choose its own
//! way of being checked.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, jwk::JwkSet};

use crate::helpers::*;

/// RFC 8037 Appendix A's key pair.
const PRIVATE_PEM: &str = include_str!("../vectors/rfc8037-ed25519.pem");
const PUBLIC_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

async fn eddsa_app(dir: &tempfile::TempDir) -> (TestApp, String) {
    let file = dir.path().join("jwt-ed25519.pem");
    std::fs::write(&file, PRIVATE_PEM).unwrap();
    let file = file.to_str().unwrap().to_string();
    let app = spawn_app_with(&[("JWT_ALGORITHM", "EdDSA"), ("JWT_PRIVATE_KEY_FILE", &file)]).await;
    (app, file)
}

#[tokio::test]
async fn the_jwks_publishes_the_ed25519_key_and_its_tokens_verify_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let (app, file) = eddsa_app(&dir).await;
    let resp = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(resp.status(), 200);
    let set: JwkSet = resp.json().await.unwrap();
    assert_eq!(set.keys.len(), 1);
    let jwk = &set.keys[0];
    let jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(pair) = &jwk.algorithm else {
        panic!("not an OKP key: {jwk:?}");
    };
    assert_eq!(
        pair.x, PUBLIC_X,
        "RFC 8037's public key for its private key"
    );

    // A token as the server mints it (same settings), used against the
    // server, and verified by ed25519-dalek from the published JWK alone.
    let settings = test_settings(&[("JWT_ALGORITHM", "EdDSA"), ("JWT_PRIVATE_KEY_FILE", &file)]);
    let token = settings
        .jwt
        .keys()
        .mint("acc1", &["open"], now(), 600)
        .unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.kid, jwk.common.key_id);
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["cosgate"]);
    validation.set_issuer(&["cosgate"]);
    let claims =
        decode::<serde_json::Value>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap()
            .claims;
    assert_eq!(claims["sub"], "acc1");
    let ok = app
        .get("/v1/qc_cos/config", Some(&format!("Bearer {token}")))
        .await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn hs256_tokens_forged_with_the_public_key_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = eddsa_app(&dir).await;
    let set: serde_json::Value = app
        .get("/.well-known/jwks.json", None)
        .await
        .json()
        .await
        .unwrap();
    let kid = set["keys"][0]["kid"].as_str().unwrap().to_string();
    let claims = format!(
        r#"{{"iss":"cosgate","aud":"cosgate","sub":"acc1","iat":{},"exp":{},"scopes":["open"]}}"#,
        now(),
        now() + 600
    );
    let public = B64.decode(PUBLIC_X).unwrap();
    for (what, secret) in [
        ("raw public key", public.as_slice()),
        ("x as published", PUBLIC_X.as_bytes()),
        ("the JWKS document", set.to_string().as_bytes()),
        ("the old HS256 secret", JWT_SECRET.as_bytes()),
    ] {
        for header in [
            format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#),
            r#"{"alg":"HS256","typ":"JWT"}"#.to_string(),
        ] {
            let token = forge(&header, &claims, secret);
            let (status, code, body) = error_code(
                app.get("/v1/qc_cos/config", Some(&format!("Bearer {token}")))
                    .await,
            )
            .await;
            assert_eq!(
                (status, code.as_str()),
                (401, "invalid_token"),
                "{what}: {body}"
            );
            assert!(body.get("sign").is_none());
        }
    }
    let none = format!(
        "{}.{}.",
        B64.encode(format!(r#"{{"alg":"none","kid":"{kid}"}}"#)),
        B64.encode(&claims)
    );
    assert_refused(
        app.get("/v1/qc_cos/config", Some(&format!("Bearer {none}")))
            .await,
        401,
        "invalid_token",
    )
    .await;
}

#[tokio::test]
async fn with_hs256_the_key_set_is_empty() {
    let app = spawn_app().await;
    let resp = app.get("/.well-known/jwks.json", None).await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"keys": []}));
    assert!(!body.to_string().contains(JWT_SECRET));
}
