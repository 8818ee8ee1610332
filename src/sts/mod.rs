//! Tencent Cloud STS `GetFederationToken` (API 3.0, `Version: 2018-08-13`):
//! temporary COS credentials confined by a CAM policy.
//!
//! Requests are signed with TC3-HMAC-SHA256 (`crate::signer::tc3`). A
//! transient failure (timeout, unreachable, HTTP 5xx, `InternalError`) is
//! retried once; a refusal (`AuthFailure.*`, a bad policy) never is. The
//! secret parts of the answer are `SecretString`s and never logged. Knows no
//! HTTP server types and no store.
//!
//! [`client`] makes the call; [`cache`] keeps what it granted per account
//! until half-life, so a burst of SDK calls costs one STS call.

mod cache;
mod client;

pub use cache::{CredentialCache, Issued};
pub use client::StsClient;

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::signer::Credentials;

/// What STS granted.
#[derive(Clone)]
pub struct TemporaryCredentials {
    pub tmp_secret_id: String,
    pub tmp_secret_key: SecretString,
    pub session_token: SecretString,
    /// Unix seconds.
    pub expired_time: u64,
}

impl fmt::Debug for TemporaryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemporaryCredentials")
            .field("tmp_secret_id", &self.tmp_secret_id)
            .field("tmp_secret_key", &"** redacted **")
            .field("session_token", &"** redacted **")
            .field("expired_time", &self.expired_time)
            .finish()
    }
}

impl TemporaryCredentials {
    /// The pair to sign COS requests with.
    pub fn signing_credentials(&self) -> Credentials {
        Credentials::new(self.tmp_secret_id.clone(), self.tmp_secret_key.clone())
    }
}

/// Why STS gave no credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StsError {
    /// STS refused cosgate's own request (its key, signature or policy):
    /// an operator's problem, never retried.
    #[error("STS refused the request ({0})")]
    Refused(String),
    /// STS's rate limit.
    #[error("STS is rate-limiting; retry later")]
    LimitExceeded,
    /// STS did not answer in time, or answered 5xx or `InternalError`.
    #[error("STS is unavailable: {0}")]
    Unavailable(String),
    /// STS answered something cosgate does not understand.
    #[error("STS gave an unexpected answer: {0}")]
    BadAnswer(String),
    /// The account asked for more new credentials than the cache allows per
    /// window; cosgate did not call STS.
    #[error("too many new credentials for this account; retry in {retry_after} s")]
    TooManyGrants { retry_after: u64 },
}

impl TemporaryCredentials {
    /// The session token, which goes to the client with the credentials.
    pub fn token(&self) -> &str {
        self.session_token.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret_or_the_token() {
        let creds = TemporaryCredentials {
            tmp_secret_id: "AKIDtmp".into(),
            tmp_secret_key: SecretString::from("tmp-secret".to_string()),
            session_token: SecretString::from("the-token".to_string()),
            expired_time: 1,
        };
        let shown = format!("{creds:?}");
        assert!(
            !shown.contains("tmp-secret") && !shown.contains("the-token"),
            "{shown}"
        );
        assert!(shown.contains("AKIDtmp"));
    }
}
