//! The `GetFederationToken` call itself, TC3-signed, retried once on a
//! transient failure and never on a refusal.

use std::{fmt, time::Duration};

use secrecy::SecretString;
use serde::Deserialize;

use super::{StsError, TemporaryCredentials};
use crate::{
    outbound::transport_error,
    signer::{Credentials, tc3},
};

const VERSION: &str = "2018-08-13";
const ACTION: &str = "GetFederationToken";
const CONTENT_TYPE: &str = "application/json; charset=utf-8";

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
}
