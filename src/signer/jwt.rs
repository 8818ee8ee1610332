//! cosgate's access tokens: JWTs with `iss`, `aud`, `sub` (the account id),
//! `iat`, `exp` and `scopes`, signed with HS256 (a shared secret, the
//! default) or EdDSA (an Ed25519 key pair, whose public half other services
//! fetch from `/.well-known/jwks.json`).
//!
//! Minting (once per login) goes through `jsonwebtoken`. Verifying (on every
//! signing request) is the hot path, so it is done here on keys prepared
//! once, with `ring`: the header and the claims are each parsed once, and the
//! key is chosen by `kid` *before* the header's `alg` is read, and must be
//! of that algorithm — a token can never pick how it is checked, so neither
//! `none` nor HS256-over-the-public-key can pass. Time is an argument: the
//! time claims are checked against the `now` the caller passes, so expiry is
//! tested with a frozen clock.

use std::{borrow::Cow, fmt};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use ring::{hmac, signature};
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
    #[error("the token is not signed with the algorithm of its key")]
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

/// An Ed25519 key that cannot be used, from [`Ed25519Key::from_pem`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an Ed25519 key in PEM (PKCS#8 \"PRIVATE KEY\" or \"PUBLIC KEY\")")]
pub struct KeyError;

/// An Ed25519 key read from PEM: a private key (which can sign) or only its
/// public half (which can verify, for a retired key).
#[derive(Clone)]
pub struct Ed25519Key {
    /// PKCS#8 v1 DER of the private key, if this is one.
    private: Option<secrecy::SecretSlice<u8>>,
    public: [u8; 32],
}

impl fmt::Debug for Ed25519Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519Key")
            .field("private", &self.private.as_ref().map(|_| "** redacted **"))
            .field("kid", &key_id(&self.public))
            .finish()
    }
}

/// The DER prefix of a PKCS#8 v1 Ed25519 private key (RFC 8410), followed
/// by the 32-byte seed.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

impl Ed25519Key {
    /// Reads `openssl genpkey -algorithm ed25519` output, or
    /// `openssl pkey -pubout` output for a key that only verifies.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        if let Ok(private) = EncodingKey::from_ed_pem(pem) {
            return Self::from_pkcs8(private.as_bytes());
        }
        let public = jsonwebtoken::DecodingKey::from_ed_pem(pem).map_err(|_| KeyError)?;
        let public = public.try_get_as_bytes().map_err(|_| KeyError)?;
        Ok(Self {
            private: None,
            public: public.try_into().map_err(|_| KeyError)?,
        })
    }

    /// A new random key, for development.
    pub fn generate() -> Self {
        let mut der = PKCS8_ED25519_PREFIX.to_vec();
        der.extend_from_slice(&crate::clock::random_bytes::<32>());
        Self::from_pkcs8(&der).expect("a fresh seed is a valid key")
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(
            &EncodingKey::from_ed_der(der),
            Algorithm::EdDSA,
        )
        .map_err(|_| KeyError)?;
        let jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(pair) = jwk.algorithm else {
            return Err(KeyError);
        };
        let public = B64.decode(pair.x).map_err(|_| KeyError)?;
        Ok(Self {
            private: Some(der.to_vec().into()),
            public: public.try_into().map_err(|_| KeyError)?,
        })
    }

    /// True when this key can sign.
    pub fn is_private(&self) -> bool {
        self.private.is_some()
    }
}

/// One key a token may name: its `kid`, and how its signature is checked.
struct Verifier {
    kid: String,
    check: Check,
}

enum Check {
    Hs256(hmac::Key),
    EdDsa(signature::UnparsedPublicKey<[u8; 32]>),
}

impl Check {
    /// The header `alg` this key's tokens carry.
    fn alg(&self) -> &'static str {
        match self {
            Check::Hs256(_) => "HS256",
            Check::EdDsa(_) => "EdDSA",
        }
    }

    fn verify(&self, signing_input: &[u8], signature: &[u8]) -> Result<(), TokenError> {
        match self {
            // `hmac::verify` compares in constant time.
            Check::Hs256(key) => hmac::verify(key, signing_input, signature),
            Check::EdDsa(key) => key.verify(signing_input, signature),
        }
        .map_err(|_| TokenError::BadSignature)
    }
}

/// A public key as `/.well-known/jwks.json` lists it (RFC 8037 `OKP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicJwk {
    pub kid: String,
    /// The base64url public key.
    pub x: String,
}

/// Mints tokens with the current key (its id in the header's `kid`) and
/// verifies tokens of the current and of previous keys, so a key can be
/// rotated without logging everyone out. A token without a `kid` (minted
/// before rotation, or by the 2017 client's tooling) is checked against the
/// current key only.
pub struct JwtKeys {
    kid: String,
    algorithm: Algorithm,
    encoding: EncodingKey,
    /// The current key first, then the previous ones.
    verifiers: Vec<Verifier>,
    /// The EdDSA keys among `verifiers`, as published.
    jwks: Vec<PublicJwk>,
    issuer: String,
    audience: String,
    leeway: u64,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.verifiers.iter().map(|v| v.kid.as_str()).collect();
        f.debug_struct("JwtKeys")
            .field("secret", &"** redacted **")
            .field("algorithm", &self.algorithm)
            .field("kids", &kids)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .finish()
    }
}

/// The longest token part decoded on the stack; anything longer is not one
/// of cosgate's tokens.
const MAX_HEADER_BYTES: usize = 256;
/// The longest claims set accepted (cosgate's own are about 150 bytes).
const MAX_CLAIMS_BYTES: usize = 4096;

impl JwtKeys {
    /// HS256 with `secret`. `leeway` is how many seconds of clock difference
    /// `exp`, `nbf` and `iat` tolerate.
    pub fn new(secret: &SecretString, issuer: &str, audience: &str, leeway: u64) -> Self {
        let secret = secret.expose_secret().as_bytes();
        let kid = key_id(secret);
        Self {
            encoding: EncodingKey::from_secret(secret),
            algorithm: Algorithm::HS256,
            verifiers: vec![hs256_verifier(secret)],
            jwks: Vec::new(),
            kid,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            leeway,
        }
    }

    /// EdDSA with the private `key`; `None` if `key` is only a public key.
    pub fn ed25519(key: &Ed25519Key, issuer: &str, audience: &str, leeway: u64) -> Option<Self> {
        let der = key.private.as_ref()?.expose_secret();
        let mut keys = Self {
            encoding: EncodingKey::from_ed_der(der),
            algorithm: Algorithm::EdDSA,
            verifiers: Vec::new(),
            jwks: Vec::new(),
            kid: key_id(&key.public),
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            leeway,
        };
        keys.add_ed25519(key);
        Some(keys)
    }

    /// Also verifies tokens made with `previous` HS256 secrets, until they
    /// are removed from the list (also after a move to EdDSA).
    pub fn with_previous(mut self, previous: &[SecretString]) -> Self {
        for secret in previous {
            self.verifiers
                .push(hs256_verifier(secret.expose_secret().as_bytes()));
        }
        self
    }

    /// Also verifies (and publishes) `previous` Ed25519 keys.
    pub fn with_previous_ed25519(mut self, previous: &[Ed25519Key]) -> Self {
        for key in previous {
            self.add_ed25519(key);
        }
        self
    }

    fn add_ed25519(&mut self, key: &Ed25519Key) {
        let kid = key_id(&key.public);
        self.jwks.push(PublicJwk {
            kid: kid.clone(),
            x: B64.encode(key.public),
        });
        self.verifiers.push(Verifier {
            kid,
            check: Check::EdDsa(signature::UnparsedPublicKey::new(
                &signature::ED25519,
                key.public,
            )),
        });
    }

    /// The `kid` of the current key.
    pub fn key_id(&self) -> &str {
        &self.kid
    }

    /// The public keys other services may verify tokens with: the EdDSA
    /// keys, current first; none with HS256, whose secret is never shown.
    pub fn public_keys(&self) -> &[PublicJwk] {
        &self.jwks
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
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        encode(&header, &claims, &self.encoding).map_err(|_| TokenError::Encode)
    }

    /// Verifies `token` at time `now` and returns its claims.
    pub fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let (signing_input, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (header, claims) = signing_input.split_once('.').ok_or(TokenError::Malformed)?;

        let mut buf = [0u8; MAX_HEADER_BYTES];
        let header: JoseHeader<'_> = decode_json(header, &mut buf)?;
        if header.crit.is_some() {
            // RFC 7515 §4.1.11: extensions cosgate does not understand.
            return Err(TokenError::Malformed);
        }
        let verifier = match &header.kid {
            None => &self.verifiers[0],
            Some(kid) => self
                .verifiers
                .iter()
                .find(|v| v.kid == *kid)
                .ok_or(TokenError::UnknownKey)?,
        };
        if header.alg != verifier.check.alg() {
            return Err(TokenError::WrongAlgorithm);
        }
        let mut sig = [0u8; 64];
        let len = B64
            .decode_slice(signature, &mut sig)
            .map_err(|_| TokenError::Malformed)?;
        verifier
            .check
            .verify(signing_input.as_bytes(), &sig[..len])?;

        // Only now, with the signature checked, are the claims read.
        if claims.len() > MAX_CLAIMS_BYTES * 4 / 3 + 4 {
            return Err(TokenError::Malformed);
        }
        let claims = B64.decode(claims).map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&claims).map_err(|e| {
            if e.to_string().starts_with("missing field") {
                TokenError::MissingClaim
            } else {
                TokenError::Malformed
            }
        })?;
        if claims.iss != self.issuer {
            return Err(TokenError::WrongIssuer);
        }
        if claims.aud != self.audience {
            return Err(TokenError::WrongAudience);
        }
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

/// The JOSE header fields cosgate reads; others (`typ`, …) are ignored.
#[derive(Deserialize)]
struct JoseHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

/// Decodes a base64url part into `buf` and parses it as JSON.
fn decode_json<'b, T: Deserialize<'b>>(part: &str, buf: &'b mut [u8]) -> Result<T, TokenError> {
    let len = B64
        .decode_slice(part, buf)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&buf[..len]).map_err(|_| TokenError::Malformed)
}

fn hs256_verifier(secret: &[u8]) -> Verifier {
    Verifier {
        kid: key_id(secret),
        check: Check::Hs256(hmac::Key::new(hmac::HMAC_SHA256, secret)),
    }
}

/// A key's id: the first 16 hex digits of the SHA-256 of the HS256 secret or
/// of the Ed25519 public key, stable across restarts and replicas without
/// configuration, and telling nothing useful about a secret of 32 random
/// bytes.
fn key_id(key: &[u8]) -> String {
    super::hex(&ring::digest::digest(&ring::digest::SHA256, key).as_ref()[..8])
}

/// A key decides its algorithm: `none`, other HMACs and algorithm confusion
/// between HS256 and EdDSA are refused; these tests pin that along with each
/// refusal reason.
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
}
