//! `JWT_*` and `REFRESH_TOKEN_TTL`: how access and refresh tokens are made.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::SecretString;

use super::{
    MAX_ACCESS_TTL, MAX_JWT_LEEWAY, MAX_REFRESH_TTL, MIN_JWT_SECRET_BYTES, defaults, placeholder,
    reader::Reader,
};
use crate::{
    clock::random_bytes,
    tokens::{Ed25519Key, JwtKeys},
};

/// `JWT_ALGORITHM`: how access tokens are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    /// A shared secret (`JWT_SECRET`), the default.
    Hs256,
    /// An Ed25519 key pair (`JWT_PRIVATE_KEY_FILE`); the public key is
    /// served at `/.well-known/jwks.json`.
    EdDsa,
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub algorithm: JwtAlgorithm,
    /// `JWT_SECRET`: signs with HS256. With EdDSA it is not needed (an
    /// ephemeral one verifies nothing anybody holds).
    pub secret: SecretString,
    /// `JWT_PRIVATE_KEY_FILE`: signs with EdDSA.
    pub private_key: Option<Ed25519Key>,
    /// `JWT_PREVIOUS_KEY_FILES`: retired Ed25519 keys (private or public
    /// PEM) whose tokens still verify and which the JWKS still lists.
    pub previous_keys: Vec<Ed25519Key>,
    /// `JWT_PREVIOUS_SECRETS`: retired secrets whose tokens still verify
    /// (each token names its secret by `kid`) until they are removed.
    pub previous: Vec<SecretString>,
    pub issuer: String,
    pub audience: String,
    /// Seconds of clock difference tolerated on `exp`, `iat` and `nbf`.
    pub leeway: u64,
    /// Lifetime of access tokens issued at login, seconds.
    pub access_ttl: u64,
    /// Lifetime of refresh tokens, seconds.
    pub refresh_ttl: u64,
}

impl JwtSettings {
    pub(super) fn read(r: &mut Reader<'_>) -> Self {
        let algorithm = match r.get("JWT_ALGORITHM").as_deref() {
            None | Some("HS256") => JwtAlgorithm::Hs256,
            Some("EdDSA") => JwtAlgorithm::EdDsa,
            Some(other) => {
                r.problem("JWT_ALGORITHM", format!("{other:?} is not HS256 or EdDSA"));
                JwtAlgorithm::Hs256
            }
        };
        let (secret, private_key) = match algorithm {
            JwtAlgorithm::Hs256 => (read_secret(r), None),
            JwtAlgorithm::EdDsa => (ephemeral_secret(), Some(read_private_key(r))),
        };
        let previous = read_previous(r);
        let previous_keys = read_previous_keys(r);
        let leeway = r.parse_within(
            "JWT_LEEWAY",
            defaults::JWT_LEEWAY,
            0..=MAX_JWT_LEEWAY,
            " seconds",
        );
        let access_ttl = r.parse_within(
            "JWT_ACCESS_TTL",
            defaults::JWT_ACCESS_TTL,
            60..=MAX_ACCESS_TTL,
            " seconds",
        );
        // A refresh token that dies before its access token is useless.
        let refresh_ttl = r.parse_within(
            "REFRESH_TOKEN_TTL",
            defaults::REFRESH_TOKEN_TTL,
            access_ttl..=MAX_REFRESH_TTL,
            " seconds",
        );
        Self {
            algorithm,
            secret,
            private_key,
            previous_keys,
            previous,
            issuer: r.text("JWT_ISSUER", defaults::JWT_ISSUER),
            audience: r.text("JWT_AUDIENCE", defaults::JWT_AUDIENCE),
            leeway,
            access_ttl,
            refresh_ttl,
        }
    }

    pub fn keys(&self) -> JwtKeys {
        let current = self
            .private_key
            .as_ref()
            .and_then(|key| JwtKeys::ed25519(key, &self.issuer, &self.audience, self.leeway));
        current
            .unwrap_or_else(|| {
                JwtKeys::new(&self.secret, &self.issuer, &self.audience, self.leeway)
            })
            .with_previous(&self.previous)
            .with_previous_ed25519(&self.previous_keys)
    }
}

/// `JWT_SECRET`: production wants one of at least
/// [`MIN_JWT_SECRET_BYTES`] that is nobody's example; development makes one
/// up for the life of the process when it is unset.
fn read_secret(r: &mut Reader<'_>) -> SecretString {
    const HOW: &str = "use at least 32 random bytes (openssl rand -base64 48)";
    const _: () = assert!(MIN_JWT_SECRET_BYTES == 32, "HOW names the minimum");
    match r.get("JWT_SECRET") {
        Some(s) if !r.dev && s.len() < MIN_JWT_SECRET_BYTES => {
            r.problem(
                "JWT_SECRET",
                format!("{} bytes is too short; {HOW}", s.len()),
            );
            SecretString::from(s)
        }
        Some(s) if !r.dev && placeholder::looks_like_one(&s) => {
            r.problem(
                "JWT_SECRET",
                format!("is a placeholder or an example's value; {HOW}"),
            );
            SecretString::from(s)
        }
        Some(s) => SecretString::from(s),
        None if r.dev => {
            r.filled_in.push("JWT_SECRET");
            ephemeral_secret()
        }
        None => {
            r.problem("JWT_SECRET", format!("not set; {HOW}"));
            SecretString::from(String::new())
        }
    }
}

/// `JWT_PREVIOUS_SECRETS`, comma-separated; production holds them to the
/// same standard as `JWT_SECRET`. Never echoed.
fn read_previous(r: &mut Reader<'_>) -> Vec<SecretString> {
    let Some(raw) = r.get("JWT_PREVIOUS_SECRETS") else {
        return Vec::new();
    };
    let mut previous = Vec::new();
    for (i, secret) in raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
    {
        if !r.dev && (secret.len() < MIN_JWT_SECRET_BYTES || placeholder::looks_like_one(secret)) {
            r.problem(
                "JWT_PREVIOUS_SECRETS",
                format!(
                    "entry {} is shorter than {MIN_JWT_SECRET_BYTES} bytes or a placeholder",
                    i + 1
                ),
            );
        }
        previous.push(SecretString::from(secret.to_string()));
    }
    previous
}

/// `JWT_PRIVATE_KEY_FILE`: an Ed25519 private key in PEM (`openssl genpkey
/// -algorithm ed25519`). Development makes one up for the life of the
/// process when it is unset.
fn read_private_key(r: &mut Reader<'_>) -> Ed25519Key {
    const HOW: &str = "openssl genpkey -algorithm ed25519 -out jwt-ed25519.pem";
    let Some(path) = r.get("JWT_PRIVATE_KEY_FILE") else {
        if r.dev {
            r.filled_in.push("JWT_PRIVATE_KEY_FILE");
        } else {
            r.problem(
                "JWT_PRIVATE_KEY_FILE",
                format!("not set with JWT_ALGORITHM=EdDSA; {HOW}"),
            );
        }
        return Ed25519Key::generate();
    };
    match read_key_file(&path) {
        Ok(key) if key.is_private() => key,
        Ok(_) => {
            r.problem(
                "JWT_PRIVATE_KEY_FILE",
                format!("{path} holds a public key; {HOW}"),
            );
            Ed25519Key::generate()
        }
        Err(why) => {
            r.problem("JWT_PRIVATE_KEY_FILE", why);
            Ed25519Key::generate()
        }
    }
}

/// `JWT_PREVIOUS_KEY_FILES`, comma-separated paths.
fn read_previous_keys(r: &mut Reader<'_>) -> Vec<Ed25519Key> {
    let Some(raw) = r.get("JWT_PREVIOUS_KEY_FILES") else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    for path in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match read_key_file(path) {
            Ok(key) => keys.push(key),
            Err(why) => r.problem("JWT_PREVIOUS_KEY_FILES", why),
        }
    }
    keys
}

/// The key in the PEM file at `path`; the error names the path, never the
/// file's content.
fn read_key_file(path: &str) -> Result<Ed25519Key, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    Ed25519Key::from_pem(&pem).map_err(|e| format!("{path}: {e}"))
}

/// A development JWT secret that lives as long as the process: tokens from
/// a previous run stop working, which is the point.
fn ephemeral_secret() -> SecretString {
    SecretString::from(URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}
