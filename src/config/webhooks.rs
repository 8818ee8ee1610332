//! `WEBHOOK_*`: where upload events go and how they are signed.

use base64::{Engine, engine::general_purpose::STANDARD};
use secrecy::SecretBox;

use super::reader::Reader;

/// The shortest webhook secret accepted (Standard Webhooks: 24 to 64 bytes).
const MIN_SECRET_BYTES: usize = 24;

pub struct WebhookSettings {
    /// `WEBHOOK_URL`: the app's endpoint; `None` sends no events (and
    /// stores none).
    pub url: Option<String>,
    /// `WEBHOOK_SECRETS`: `whsec_…` secrets, comma-separated; every
    /// delivery is signed with each (so an endpoint can move to a new one).
    pub secrets: Vec<SecretBox<Vec<u8>>>,
    /// `WEBHOOK_TIMEOUT_MS`: one attempt's timeout.
    pub timeout_ms: u64,
    /// `WEBHOOK_RETRY_BASE_MS`: the first retry's delay; each next one
    /// doubles (with jitter), up to an hour.
    pub retry_base_ms: u64,
    /// `WEBHOOK_MAX_AGE_SECONDS`: how long an event is retried.
    pub max_age: u64,
    /// `WEBHOOK_POLL_MS`: how often the worker looks for due events.
    pub poll_ms: u64,
}

/// Neither the URL (it may carry a token) nor the secrets.
impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("url", &self.url.as_ref().map(|_| "<set>"))
            .field("secrets", &self.secrets.len())
            .field("timeout_ms", &self.timeout_ms)
            .field("retry_base_ms", &self.retry_base_ms)
            .field("max_age", &self.max_age)
            .field("poll_ms", &self.poll_ms)
            .finish()
    }
}

impl Clone for WebhookSettings {
    fn clone(&self) -> Self {
        use secrecy::ExposeSecret;
        Self {
            url: self.url.clone(),
            secrets: self
                .secrets
                .iter()
                .map(|s| SecretBox::new(Box::new(s.expose_secret().clone())))
                .collect(),
            timeout_ms: self.timeout_ms,
            retry_base_ms: self.retry_base_ms,
            max_age: self.max_age,
            poll_ms: self.poll_ms,
        }
    }
}

impl WebhookSettings {
    pub(super) fn read(r: &mut Reader<'_>) -> Self {
        let url = r.get("WEBHOOK_URL");
        if let Some(url) = &url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            // Never echoed: a URL may carry a token.
            r.problem("WEBHOOK_URL", "is not an http:// or https:// URL");
        }
        let mut secrets = Vec::new();
        for (i, raw) in r
            .get("WEBHOOK_SECRETS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
        {
            // Never echo the secret: name it by position.
            match raw
                .strip_prefix("whsec_")
                .and_then(|b64| STANDARD.decode(b64).ok())
            {
                Some(bytes) if bytes.len() >= MIN_SECRET_BYTES => {
                    secrets.push(SecretBox::new(Box::new(bytes)));
                }
                _ => r.problem(
                    "WEBHOOK_SECRETS",
                    format!(
                        "secret {} is not whsec_ and the base64 of at least {MIN_SECRET_BYTES} bytes",
                        i + 1
                    ),
                ),
            }
        }
        if url.is_some() && secrets.is_empty() {
            r.problem(
                "WEBHOOK_SECRETS",
                "WEBHOOK_URL needs a secret to sign with (whsec_ and base64: openssl rand -base64 32)",
            );
        }
        Self {
            url,
            secrets,
            timeout_ms: r.parse_within("WEBHOOK_TIMEOUT_MS", 5000, 100..=60_000, " ms"),
            retry_base_ms: r.parse_within("WEBHOOK_RETRY_BASE_MS", 5000, 10..=600_000, " ms"),
            max_age: r.parse_within(
                "WEBHOOK_MAX_AGE_SECONDS",
                3 * 86_400,
                60..=30 * 86_400,
                " seconds",
            ),
            poll_ms: r.parse_within("WEBHOOK_POLL_MS", 1000, 10..=60_000, " ms"),
        }
    }
}
