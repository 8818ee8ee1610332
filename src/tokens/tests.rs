use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};

use super::*;

const NOW: u64 = 1_700_000_000;

fn keys() -> JwtKeys {
    JwtKeys::new(
        &SecretString::from("0123456789abcdef0123456789abcdef"),
        "cosgate",
        "cosgate",
        30,
    )
}

/// A token with any header and claims, signed with HS256 under `secret`.
fn forge(header: &str, claims: &str, secret: &[u8]) -> String {
    let signing_input = format!("{}.{}", B64.encode(header), B64.encode(claims));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let sig = ring::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(sig.as_ref()))
}

fn claims_json(iss: &str, aud: &str, iat: u64, exp: u64) -> String {
    format!(
        r#"{{"iss":"{iss}","aud":"{aud}","sub":"acc1","iat":{iat},"exp":{exp},"scopes":["open"]}}"#
    )
}

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

#[test]
fn a_minted_token_verifies_with_its_claims() {
    let token = keys().mint("acc1", &["open"], NOW, 3600).unwrap();
    let claims = keys().verify(&token, NOW + 10).unwrap();
    assert_eq!(claims.sub, "acc1");
    assert_eq!(claims.exp, NOW + 3600);
    assert!(claims.has_scope("open"));
}

#[test]
fn a_hand_built_hs256_token_verifies() {
    let token = forge(
        HS256,
        &claims_json("cosgate", "cosgate", NOW, NOW + 60),
        SECRET,
    );
    assert_eq!(keys().verify(&token, NOW).unwrap().sub, "acc1");
}

#[test]
fn an_expired_token_is_refused_after_the_leeway() {
    let token = keys().mint("acc1", &["open"], NOW, 60).unwrap();
    assert!(
        keys().verify(&token, NOW + 60 + 29).is_ok(),
        "within leeway"
    );
    assert_eq!(
        keys().verify(&token, NOW + 60 + 30),
        Err(TokenError::Expired)
    );
}

#[test]
fn a_token_from_the_future_is_refused() {
    let token = keys().mint("acc1", &["open"], NOW + 3600, 60).unwrap();
    assert_eq!(keys().verify(&token, NOW), Err(TokenError::NotYetValid));
    let nbf = r#"{"iss":"cosgate","aud":"cosgate","sub":"a","iat":1700000000,"exp":1800000000,"nbf":1700000999}"#;
    assert_eq!(
        keys().verify(&forge(HS256, nbf, SECRET), NOW),
        Err(TokenError::NotYetValid)
    );
}

#[test]
fn a_token_signed_with_another_secret_is_refused() {
    let token = forge(
        HS256,
        &claims_json("cosgate", "cosgate", NOW, NOW + 60),
        b"another-secret-another-secret-!!",
    );
    assert_eq!(keys().verify(&token, NOW), Err(TokenError::BadSignature));
}

#[test]
fn alg_none_and_other_algorithms_are_refused() {
    let claims = claims_json("cosgate", "cosgate", NOW, NOW + 60);
    let none = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        B64.encode(&claims)
    );
    assert!(matches!(
        keys().verify(&none, NOW),
        Err(TokenError::WrongAlgorithm | TokenError::Malformed)
    ));
    let hs512 = forge(r#"{"alg":"HS512","typ":"JWT"}"#, &claims, SECRET);
    assert_eq!(keys().verify(&hs512, NOW), Err(TokenError::WrongAlgorithm));
}

#[test]
fn wrong_issuer_or_audience_is_refused() {
    let iss = forge(
        HS256,
        &claims_json("someone-else", "cosgate", NOW, NOW + 60),
        SECRET,
    );
    assert_eq!(keys().verify(&iss, NOW), Err(TokenError::WrongIssuer));
    let aud = forge(
        HS256,
        &claims_json("cosgate", "other-app", NOW, NOW + 60),
        SECRET,
    );
    assert_eq!(keys().verify(&aud, NOW), Err(TokenError::WrongAudience));
}

#[test]
fn missing_claims_and_garbage_are_refused() {
    let no_sub = r#"{"iss":"cosgate","aud":"cosgate","iat":1700000000,"exp":1800000000}"#;
    let missing = keys().verify(&forge(HS256, no_sub, SECRET), NOW);
    assert!(
        matches!(
            missing,
            Err(TokenError::MissingClaim | TokenError::Malformed)
        ),
        "{missing:?}"
    );
    assert_eq!(keys().verify("not-a-jwt", NOW), Err(TokenError::Malformed));
    assert_eq!(keys().verify("", NOW), Err(TokenError::Malformed));
}

#[test]
fn debug_never_shows_the_secret() {
    let shown = format!("{:?}", keys());
    assert!(!shown.contains("0123456789abcdef"), "{shown}");
    assert!(shown.contains("** redacted **"));
}

#[test]
fn tokens_carry_the_kid_and_previous_secrets_verify_until_removed() {
    let old = SecretString::from("old-old-old-old-old-old-old-old-0".to_string());
    let new = SecretString::from("new-new-new-new-new-new-new-new-1".to_string());
    let before = JwtKeys::new(&old, "cosgate", "cosgate", 30);
    let token = before.mint("acc1", &["open"], NOW, 600).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(before.key_id()));

    let rotated =
        JwtKeys::new(&new, "cosgate", "cosgate", 30).with_previous(std::slice::from_ref(&old));
    assert_ne!(rotated.key_id(), before.key_id());
    assert_eq!(rotated.verify(&token, NOW).unwrap().sub, "acc1");
    let fresh = rotated.mint("acc2", &["open"], NOW, 600).unwrap();
    assert_eq!(rotated.verify(&fresh, NOW).unwrap().sub, "acc2");

    let retired = JwtKeys::new(&new, "cosgate", "cosgate", 30);
    assert_eq!(retired.verify(&token, NOW), Err(TokenError::UnknownKey));
    // A token naming the old kid but signed with something else fails on
    // its signature, and one naming no kid is checked against the
    // current secret only.
    let mut forged_header = Header::new(Algorithm::HS256);
    forged_header.kid = Some(before.key_id().to_string());
    let claims = rotated.verify(&fresh, NOW).unwrap();
    let forged = encode(&forged_header, &claims, &EncodingKey::from_secret(b"guess")).unwrap();
    assert_eq!(rotated.verify(&forged, NOW), Err(TokenError::BadSignature));
    let no_kid = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(old.expose_secret().as_bytes()),
    )
    .unwrap();
    assert_eq!(rotated.verify(&no_kid, NOW), Err(TokenError::BadSignature));
}

/// RFC 8037 Appendix A's key pair.
const RFC8037_PRIVATE: &str = include_str!("../../tests/vectors/rfc8037-ed25519.pem");
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

fn rfc8037() -> Ed25519Key {
    Ed25519Key::from_pem(RFC8037_PRIVATE.as_bytes()).unwrap()
}

fn ed_keys() -> JwtKeys {
    JwtKeys::ed25519(&rfc8037(), "cosgate", "cosgate", 30).unwrap()
}

#[test]
fn rfc8037s_private_key_gives_its_published_public_key() {
    let keys = ed_keys();
    assert_eq!(keys.public_keys()[0].x, RFC8037_X);
    assert_eq!(keys.public_keys()[0].kid, keys.key_id());
    // Its public half alone, as `openssl pkey -pubout` writes it.
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend(B64.decode(RFC8037_X).unwrap());
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(&spki)
    );
    let public = Ed25519Key::from_pem(pem.as_bytes()).unwrap();
    assert!(!public.is_private());
    assert!(JwtKeys::ed25519(&public, "cosgate", "cosgate", 30).is_none());
    assert_eq!(
        Ed25519Key::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .unwrap_err(),
        KeyError
    );
}

#[test]
fn rfc8037s_published_signature_verifies() {
    // RFC 8037 A.4: {"alg":"EdDSA"} over "Example of Ed25519 signing".
    let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    let sig = B64
        .decode("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
        .unwrap();
    let check = &ed_keys().verifiers[0].check;
    assert_eq!(check.verify(input.as_bytes(), &sig), Ok(()));
    let mut tampered = sig.clone();
    tampered[0] ^= 1;
    assert_eq!(
        check.verify(input.as_bytes(), &tampered),
        Err(TokenError::BadSignature)
    );
}

#[test]
fn an_eddsa_token_verifies_and_says_so_in_its_header() {
    let keys = ed_keys();
    let token = keys.mint("acc1", &["open"], NOW, 600).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.kid.as_deref(), Some(keys.key_id()));
    assert_eq!(keys.verify(&token, NOW).unwrap().sub, "acc1");
    // An independent implementation (ed25519-dalek via jsonwebtoken)
    // agrees.
    let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["cosgate"]);
    validation.validate_exp = false;
    let decoded = jsonwebtoken::decode::<Claims>(
        &token,
        &jsonwebtoken::DecodingKey::from_ed_components(RFC8037_X).unwrap(),
        &validation,
    )
    .unwrap();
    assert_eq!(decoded.claims.sub, "acc1");
}

#[test]
fn algorithm_confusion_between_hs256_and_eddsa_is_refused() {
    let ed = ed_keys();
    let claims = claims_json("cosgate", "cosgate", NOW, NOW + 60);
    let public = B64.decode(RFC8037_X).unwrap();
    // HS256 keyed with everything an attacker knows of the public key.
    for secret in [
        public.as_slice(),
        RFC8037_X.as_bytes(),
        RFC8037_PRIVATE.as_bytes(),
    ] {
        for header in [
            format!(r#"{{"alg":"HS256","kid":"{}"}}"#, ed.key_id()),
            r#"{"alg":"HS256"}"#.to_string(),
        ] {
            let token = forge(&header, &claims, secret);
            assert_eq!(
                ed.verify(&token, NOW),
                Err(TokenError::WrongAlgorithm),
                "{header}"
            );
        }
    }
    // And the other way: a header saying EdDSA for the HS256 key.
    let hs = keys();
    let token = forge(
        &format!(r#"{{"alg":"EdDSA","kid":"{}"}}"#, hs.key_id()),
        &claims,
        SECRET,
    );
    assert_eq!(hs.verify(&token, NOW), Err(TokenError::WrongAlgorithm));
    let none = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none"}"#),
        B64.encode(&claims)
    );
    assert_eq!(ed.verify(&none, NOW), Err(TokenError::WrongAlgorithm));
}

#[test]
fn critical_header_extensions_are_refused() {
    let header = r#"{"alg":"HS256","crit":["exp"],"exp":1}"#;
    let token = forge(
        header,
        &claims_json("cosgate", "cosgate", NOW, NOW + 60),
        SECRET,
    );
    assert_eq!(keys().verify(&token, NOW), Err(TokenError::Malformed));
}

#[test]
fn moving_from_hs256_to_eddsa_keeps_the_old_tokens_until_removed() {
    let secret = SecretString::from(std::str::from_utf8(SECRET).unwrap());
    let before = keys().mint("acc1", &["open"], NOW, 600).unwrap();
    let moved = ed_keys().with_previous(std::slice::from_ref(&secret));
    assert_eq!(moved.verify(&before, NOW).unwrap().sub, "acc1");
    assert!(
        moved.public_keys().len() == 1,
        "the secret is never published"
    );
    assert_eq!(ed_keys().verify(&before, NOW), Err(TokenError::UnknownKey));
    // A retired Ed25519 key verifies and is still published.
    let retired = ed_keys().mint("acc2", &["open"], NOW, 600).unwrap();
    let next = JwtKeys::ed25519(&Ed25519Key::generate(), "cosgate", "cosgate", 30)
        .unwrap()
        .with_previous_ed25519(&[rfc8037()]);
    assert_eq!(next.verify(&retired, NOW).unwrap().sub, "acc2");
    assert_eq!(next.public_keys().len(), 2);
    assert_eq!(next.public_keys()[1].x, RFC8037_X);
}

#[test]
fn a_debug_of_a_key_never_shows_the_private_half() {
    let shown = format!("{:?}", rfc8037());
    assert!(shown.contains("** redacted **"), "{shown}");
    assert!(!shown.contains("MC4CAQ"), "{shown}");
}
