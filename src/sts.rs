//! Tencent Cloud STS `GetFederationToken` (API 3.0, `Version: 2018-08-13`):
//! temporary COS credentials confined by a CAM policy.
//!
//! Requests are signed with TC3-HMAC-SHA256 (`crate::signer::tc3`). A
//! transient failure (timeout, unreachable, HTTP 5xx, `InternalError`) is
//! retried once; a refusal (`AuthFailure.*`, a bad policy) never is. The
//! secret parts of the answer are `SecretString`s and never logged. Knows no
//! HTTP server types and no store.

use std::{fmt, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::{
    outbound::transport_error,
    signer::{Credentials, tc3},
};

const VERSION: &str = "2018-08-13";
const ACTION: &str = "GetFederationToken";
const CONTENT_TYPE: &str = "application/json; charset=utf-8";

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
}

/// A client for one account's STS, over HTTPS (or a fake on loopback).
pub struct StsClient {
    http: reqwest::Client,
    endpoint: String,
    host: String,
    region: String,
    credentials: Credentials,
}

impl fmt::Debug for StsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StsClient")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("credentials", &self.credentials)
            .finish()
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Response")]
    response: Answer,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "Error")]
    error: Option<ApiError>,
    #[serde(rename = "Credentials")]
    credentials: Option<Granted>,
    #[serde(rename = "ExpiredTime")]
    expired_time: Option<u64>,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(rename = "Code")]
    code: String,
}

#[derive(Deserialize)]
struct Granted {
    #[serde(rename = "Token")]
    token: String,
    #[serde(rename = "TmpSecretId")]
    tmp_secret_id: String,
    #[serde(rename = "TmpSecretKey")]
    tmp_secret_key: String,
}

impl StsClient {
    /// `endpoint` is `https://sts.tencentcloudapi.com` unless a test points
    /// it at a fake.
    pub fn new(endpoint: &str, region: &str, credentials: Credentials, timeout: Duration) -> Self {
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let host = endpoint
            .split_once("://")
            .map_or(endpoint.as_str(), |(_, host)| host)
            .to_string();
        let http = crate::outbound::client(timeout);
        Self {
            http,
            endpoint,
            host,
            region: region.to_string(),
            credentials,
        }
    }

    /// Credentials named `name` with the CAM `policy` (JSON), valid for
    /// `duration` seconds from `now`. Retried once on a transient failure.
    pub async fn federation_token(
        &self,
        name: &str,
        policy: &str,
        duration: u64,
        now: u64,
    ) -> Result<TemporaryCredentials, StsError> {
        match self.call(name, policy, duration, now).await {
            Err(StsError::Unavailable(why)) => {
                tracing::warn!(reason = %why, "STS unavailable; retrying once");
                self.call(name, policy, duration, now).await
            }
            other => other,
        }
    }

    async fn call(
        &self,
        name: &str,
        policy: &str,
        duration: u64,
        now: u64,
    ) -> Result<TemporaryCredentials, StsError> {
        // The policy travels URL-encoded, as the API's document requires.
        let encoded: String =
            percent_encoding::utf8_percent_encode(policy, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let payload = serde_json::json!({
            "Name": name,
            "Policy": encoded,
            "DurationSeconds": duration,
        })
        .to_string();
        let authorization = tc3::sign(
            &self.credentials,
            &tc3::Request {
                host: &self.host,
                service: "sts",
                content_type: CONTENT_TYPE,
                payload: payload.as_bytes(),
                timestamp: now,
            },
        );
        let resp = self
            .http
            .post(format!("{}/", self.endpoint))
            .header("Authorization", authorization.to_string())
            .header("Content-Type", CONTENT_TYPE)
            .header("Host", &self.host)
            .header("X-TC-Action", ACTION)
            .header("X-TC-Version", VERSION)
            .header("X-TC-Region", &self.region)
            .header("X-TC-Timestamp", now.to_string())
            .body(payload)
            .send()
            .await
            .map_err(|e| StsError::Unavailable(transport_error(&e)))?;
        let status = resp.status();
        if status.is_server_error() {
            return Err(StsError::Unavailable(format!("HTTP {}", status.as_u16())));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| StsError::Unavailable(transport_error(&e)))?;
        let answer = serde_json::from_slice::<Envelope>(&body)
            .map_err(|_| StsError::BadAnswer(format!("HTTP {}, not STS's JSON", status.as_u16())))?
            .response;
        if let Some(error) = answer.error {
            return Err(classify_error(&error.code));
        }
        match (answer.credentials, answer.expired_time) {
            (Some(c), Some(expired_time))
                if !c.tmp_secret_id.is_empty()
                    && !c.tmp_secret_key.is_empty()
                    && !c.token.is_empty() =>
            {
                Ok(TemporaryCredentials {
                    tmp_secret_id: c.tmp_secret_id,
                    tmp_secret_key: SecretString::from(c.tmp_secret_key),
                    session_token: SecretString::from(c.token),
                    expired_time,
                })
            }
            _ => Err(StsError::BadAnswer("no credentials".into())),
        }
    }
}

/// STS's error codes, by what cosgate can do about them. The code is
/// Tencent's text, not a secret.
fn classify_error(code: &str) -> StsError {
    if code.contains("LimitExceeded") {
        StsError::LimitExceeded
    } else if code.starts_with("InternalError") || code == "ResourceUnavailable" {
        StsError::Unavailable(code.to_string())
    } else {
        StsError::Refused(code.to_string())
    }
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
    fn errors_are_classified_by_what_can_be_done() {
        assert_eq!(classify_error("LimitExceeded"), StsError::LimitExceeded);
        assert_eq!(
            classify_error("RequestLimitExceeded"),
            StsError::LimitExceeded
        );
        assert!(matches!(
            classify_error("InternalError"),
            StsError::Unavailable(_)
        ));
        assert!(matches!(
            classify_error("AuthFailure.SignatureFailure"),
            StsError::Refused(_)
        ));
        assert!(matches!(
            classify_error("InvalidParameter.PolicyTooLong"),
            StsError::Refused(_)
        ));
    }

    #[test]
    fn the_cache_stays_within_its_bound() {
        let client = StsClient::new(
            "http://127.0.0.1:9",
            "ap-guangzhou",
            Credentials::new("AKID", SecretString::from("k".to_string())),
            Duration::from_millis(100),
        );
        let cache = CredentialCache::new(client, 2, Default::default());
        for (i, account) in ["a", "b", "c", "d"].iter().enumerate() {
            cache.entry((account.to_string(), "PutObject".into(), 1800), i as u64);
        }
        let entries = cache.entries.lock().unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries.contains_key(&("d".to_string(), "PutObject".into(), 1800)));
    }

    #[test]
    fn federation_names_fit_sts_rules() {
        assert_eq!(
            federation_name("acc_0123456789abcdef01234567"),
            "cg-acc_0123456789abcdef01234567"
        );
        assert_eq!(federation_name("a b/c").len(), 8);
        assert!(federation_name(&"x".repeat(100)).len() <= 32);
    }

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

/// Credentials handed out for one account and one set of actions, reused
/// until half their lifetime has passed, so a burst of SDK calls costs one
/// STS call. Concurrent misses for the same key wait for one STS call.
/// Bounded: past `max_entries`, the oldest entries are dropped.
pub struct CredentialCache {
    client: StsClient,
    max_entries: usize,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    entries: std::sync::Mutex<std::collections::HashMap<CacheKey, Entry>>,
}

/// Account, action set (as CAM names, sorted) and lifetime asked for.
type CacheKey = (String, String, u64);

#[derive(Clone)]
struct Entry {
    created: u64,
    cell: std::sync::Arc<tokio::sync::OnceCell<Issued>>,
}

/// Credentials and when they were issued (the server's clock).
#[derive(Debug, Clone)]
pub struct Issued {
    pub credentials: TemporaryCredentials,
    pub start_time: u64,
}

impl fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialCache")
            .field("client", &self.client)
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

impl CredentialCache {
    pub fn new(
        client: StsClient,
        max_entries: usize,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> Self {
        Self {
            client,
            max_entries,
            metrics,
            entries: Default::default(),
        }
    }

    /// The account's credentials for `actions`, from the cache while they
    /// are in the first half of their life, else from STS with `policy`,
    /// once `admit` (the quota) has allowed a new grant.
    pub async fn get<E, F>(
        &self,
        account: &str,
        actions: &str,
        policy: &str,
        duration: u64,
        now: u64,
        admit: impl FnOnce() -> F,
    ) -> Result<Issued, E>
    where
        E: From<StsError>,
        F: std::future::Future<Output = Result<(), E>>,
    {
        let key = (account.to_string(), actions.to_string(), duration);
        let entry = self.entry(key, now);
        let issued = entry
            .cell
            .get_or_try_init(|| async {
                admit().await?;
                let name = federation_name(account);
                let started = std::time::Instant::now();
                let credentials = self
                    .client
                    .federation_token(&name, policy, duration, now)
                    .await;
                let outcome = match &credentials {
                    Ok(_) => "ok",
                    Err(StsError::Refused(_)) => "refused",
                    Err(StsError::LimitExceeded) => "rate_limited",
                    Err(StsError::Unavailable(_)) => "unavailable",
                    Err(StsError::BadAnswer(_)) => "bad_answer",
                };
                self.metrics.upstream("sts", outcome, started.elapsed());
                let credentials = credentials?;
                Ok::<_, E>(Issued {
                    credentials,
                    start_time: now,
                })
            })
            .await?;
        Ok(issued.clone())
    }

    /// The live entry for `key`, or a new empty one in its place.
    fn entry(&self, key: CacheKey, now: u64) -> Entry {
        let mut entries = self
            .entries
            .lock()
            .expect("no panic while holding the lock");
        let usable = |e: &Entry| match e.cell.get() {
            // Still being fetched, or failed and to be fetched again.
            None => true,
            Some(issued) => {
                let half = issued.start_time
                    + issued
                        .credentials
                        .expired_time
                        .saturating_sub(issued.start_time)
                        / 2;
                now < half
            }
        };
        if let Some(entry) = entries.get(&key).filter(|e| usable(e)) {
            return entry.clone();
        }
        if entries.len() >= self.max_entries {
            entries.retain(|_, e| usable(e));
            while entries.len() >= self.max_entries {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, e)| e.created)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => entries.remove(&k),
                    None => break,
                };
            }
        }
        let entry = Entry {
            created: now,
            cell: Default::default(),
        };
        entries.insert(key, entry.clone());
        entry
    }
}

/// GetFederationToken's `Name`: at most 32 of `[\w+=,.@-]`.
fn federation_name(account: &str) -> String {
    let clean: String = account
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("cg-{clean}").chars().take(32).collect()
}
