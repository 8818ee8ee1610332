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
    /// The login session (its refresh-token family) the token was issued
    /// to; tokens of a session that was logged out are refused. Absent from
    /// tokens minted outside a login (`cosgate token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
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
        self.mint_for_session(sub, scopes, None, now, ttl)
    }

    /// [`mint`](Self::mint) for the login session `sid`.
    pub fn mint_for_session(
        &self,
        sub: &str,
        scopes: &[&str],
        sid: Option<&str>,
        now: u64,
        ttl: u64,
    ) -> Result<String, TokenError> {
        let claims = Claims {
            sid: sid.map(String::from),
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
    crate::signer::hex(&ring::digest::digest(&ring::digest::SHA256, key).as_ref()[..8])
}

// A key decides its algorithm: `none`, other HMACs and algorithm confusion
// between HS256 and EdDSA are refused; the tests pin that along with each
// refusal reason.
#[cfg(test)]
mod tests;
