//! cosgate's access tokens: HS256 JWTs with `iss`, `aud`, `sub` (the account
//! id), `iat`, `exp` and `scopes`.
//!
//! Time is an argument here too: `jsonwebtoken` checks the signature, the
//! algorithm, `iss` and `aud`; the time claims are checked against the `now`
//! the caller passes, so expiry is tested with a frozen clock.

use std::fmt;

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode, errors::ErrorKind,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// What a verified token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The account id; also names the account's upload directory.
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl Claims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Why a token was refused. The `Display` text is safe to send to the client:
/// it never includes the token or the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(
        "the token is not a well-formed cosgate JWT (bad encoding, or iss, aud, sub, iat or exp missing)"
    )]
    Malformed,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token is not signed with HS256")]
    WrongAlgorithm,
    #[error("the token lacks a required claim (iss, aud, sub, iat, exp)")]
    MissingClaim,
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    /// Minting failed; only possible with claims that cannot be serialised.
    #[error("the token could not be encoded")]
    Encode,
    /// Its `kid` names no key this server holds (a retired secret).
    #[error("the token was signed with a key this server no longer accepts")]
    UnknownKey,
}

/// Mints tokens with the current HS256 secret (its key id in the header's
/// `kid`) and verifies tokens of the current and of previous secrets, so a
/// secret can be rotated without logging everyone out. A token without a
/// `kid` (minted before rotation, or by the 2017 client's tooling) is checked
/// against the current secret only.
pub struct JwtKeys {
    kid: String,
    encoding: EncodingKey,
    /// The current key first, then the previous ones.
    decoding: Vec<(String, DecodingKey)>,
    validation: Validation,
    issuer: String,
    audience: String,
    leeway: u64,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.decoding.iter().map(|(kid, _)| kid.as_str()).collect();
        f.debug_struct("JwtKeys")
            .field("secret", &"** redacted **")
            .field("kids", &kids)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .finish()
    }
}

impl JwtKeys {
    /// `leeway` is how many seconds of clock difference `exp`, `nbf` and `iat`
    /// tolerate.
    pub fn new(secret: &SecretString, issuer: &str, audience: &str, leeway: u64) -> Self {
        let secret = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["iss", "aud", "sub", "exp"]);
        // Time claims are checked in `verify` against the caller's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        let kid = key_id(secret);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: vec![(kid.clone(), DecodingKey::from_secret(secret))],
            kid,
            validation,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            leeway,
        }
    }

    /// Also verifies tokens made with `previous` secrets, until they are
    /// removed from the list.
    pub fn with_previous(mut self, previous: &[SecretString]) -> Self {
        for secret in previous {
            let secret = secret.expose_secret().as_bytes();
            self.decoding
                .push((key_id(secret), DecodingKey::from_secret(secret)));
        }
        self
    }

    /// The `kid` of the current secret.
    pub fn key_id(&self) -> &str {
        &self.kid
    }

    /// Issues a token for `sub` valid from `now` for `ttl` seconds.
    pub fn mint(
        &self,
        sub: &str,
        scopes: &[&str],
        now: u64,
        ttl: u64,
    ) -> Result<String, TokenError> {
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: sub.to_string(),
            iat: now,
            exp: now + ttl,
            nbf: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        encode(&header, &claims, &self.encoding).map_err(|_| TokenError::Encode)
    }

    /// Verifies `token` at time `now` and returns its claims.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        let key = match &header.kid {
            None => &self.decoding[0].1,
            Some(kid) => {
                &self
                    .decoding
                    .iter()
                    .find(|(known, _)| known == kid)
                    .ok_or(TokenError::UnknownKey)?
                    .1
            }
        };
        let claims = decode::<Claims>(token, key, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    TokenError::WrongAlgorithm
                }
                ErrorKind::MissingRequiredClaim(_) => TokenError::MissingClaim,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                _ => TokenError::Malformed,
            })?
            .claims;
        // An empty `sub` names no account (and no directory).
        if claims.sub.trim().is_empty() {
            return Err(TokenError::MissingClaim);
        }
        if claims.exp + self.leeway <= now {
            return Err(TokenError::Expired);
        }
        let starts = claims.nbf.unwrap_or(claims.iat).max(claims.iat);
        if starts > now + self.leeway {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }
}

/// A secret's key id: the first 16 hex digits of its SHA-256, stable across
/// restarts and replicas without configuration, and telling nothing useful
/// about a secret of 32 random bytes.
fn key_id(secret: &[u8]) -> String {
    super::hex(&ring::digest::digest(&ring::digest::SHA256, secret).as_ref()[..8])
}

/// The `Validation` above must reject every algorithm but HS256, including
/// `none`; these tests pin that along with each refusal reason.
#[cfg(test)]
mod tests {
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
}
