//! `JWT_*` and `REFRESH_TOKEN_TTL`: how access and refresh tokens are made.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::SecretString;

use super::{
    MAX_ACCESS_TTL, MAX_JWT_LEEWAY, MAX_REFRESH_TTL, MIN_JWT_SECRET_BYTES, defaults, placeholder,
    reader::Reader,
};
use crate::{clock::random_bytes, signer::jwt::JwtKeys};

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub secret: SecretString,
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
        let secret = read_secret(r);
        let previous = read_previous(r);
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
            secret,
            previous,
            issuer: r.text("JWT_ISSUER", defaults::JWT_ISSUER),
            audience: r.text("JWT_AUDIENCE", defaults::JWT_AUDIENCE),
            leeway,
            access_ttl,
            refresh_ttl,
        }
    }

    pub fn keys(&self) -> JwtKeys {
        JwtKeys::new(&self.secret, &self.issuer, &self.audience, self.leeway)
            .with_previous(&self.previous)
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

/// A development JWT secret that lives as long as the process: tokens from
/// a previous run stop working, which is the point.
fn ephemeral_secret() -> SecretString {
    SecretString::from(URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}
