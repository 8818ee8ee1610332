//! Upload events delivered to the app's backend as Standard Webhooks
//! (standardwebhooks.com): `webhook-id` (the event's, the same on every
//! attempt), `webhook-timestamp` (the attempt's) and `webhook-signature`
//! (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` for each configured
//! secret).
//!
//! A worker loop over the outbox (`src/store/outbox.rs`): it claims due
//! events (a lease per event, so replicas never deliver one at once and an
//! event claimed by a replica that died is taken up again), sends each, and
//! records the outcome: 2xx delivered, 410 the endpoint is gone (no more
//! attempts), anything else retried with exponential back-off and jitter
//! until `WEBHOOK_MAX_AGE_SECONDS`. Secrets never reach a log.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use ring::hmac;
use secrecy::ExposeSecret;

use crate::{
    clock::{random_below, unix_now},
    config::WebhookSettings,
    metrics::Metrics,
    outbound::transport_error,
    store::{Attempt, DueEvent, Store, StoreError},
};

/// How many due events one round takes.
const BATCH: i64 = 20;
/// How long a claim outlasts an attempt's timeout: when a replica dies
/// mid-delivery, another delivers the event once this has passed.
const CLAIM_MARGIN_SECONDS: u64 = 10;
/// The longest wait between two attempts.
const MAX_BACKOFF_SECONDS: u64 = 3600;

/// Delivers the outbox to `WEBHOOK_URL`.
pub struct Deliverer {
    url: String,
    keys: Vec<hmac::Key>,
    http: reqwest::Client,
    timeout: Duration,
    retry_base_ms: u64,
    max_age: u64,
    store: Store,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Deliverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer")
            .field("url", &self.url)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl Deliverer {
    /// `None` when no endpoint is configured.
    pub fn new(settings: &WebhookSettings, store: Store, metrics: Arc<Metrics>) -> Option<Self> {
        let url = settings.url.clone()?;
        let timeout = Duration::from_millis(settings.timeout_ms);
        Some(Self {
            url,
            keys: settings
                .secrets
                .iter()
                .map(|s| hmac::Key::new(hmac::HMAC_SHA256, s.expose_secret()))
                .collect(),
            http: crate::outbound::client(timeout),
            timeout,
            retry_base_ms: settings.retry_base_ms,
            max_age: settings.max_age,
            store,
            metrics,
        })
    }

    /// Delivers what is due, every `poll`, for as long as the process runs.
    pub fn spawn(self: Arc<Self>, poll: Duration) {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(poll);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if let Err(e) = self.round(unix_now()).await {
                    tracing::warn!(error = %e, "webhook round failed");
                }
            }
        });
    }

    /// One round: every due event this worker can claim is attempted once.
    pub async fn round(&self, now: u64) -> Result<usize, StoreError> {
        let mut attempted = 0;
        for event in self.store.due_events(now as i64, BATCH).await? {
            // The claim outlasts the attempt (its timeout) and the write of
            // its outcome; it is read from the clock now, not at the round's
            // start, since earlier attempts of this round took their time.
            let claimed_at = unix_now();
            let until = claimed_at + self.timeout.as_secs() + CLAIM_MARGIN_SECONDS;
            if !self
                .store
                .claim_event(&event.id, claimed_at as i64, until as i64)
                .await?
            {
                continue;
            }
            let outcome = self.attempt(&event, unix_now()).await;
            self.store
                .event_attempted(&event.id, unix_now() as i64, outcome)
                .await?;
            attempted += 1;
        }
        let (depth, oldest) = self.store.outbox_depth().await?;
        self.metrics
            .outbox(depth, oldest.map_or(0, |t| now.saturating_sub(t as u64)));
        Ok(attempted)
    }

    /// Sends `event` once; what to record.
    async fn attempt(&self, event: &DueEvent, now: u64) -> Attempt {
        let timestamp = now.to_string();
        let signed = format!("{}.{timestamp}.{}", event.id, event.payload);
        let signature = self
            .keys
            .iter()
            .map(|key| format!("v1,{}", STANDARD.encode(hmac::sign(key, signed.as_bytes()))))
            .collect::<Vec<_>>()
            .join(" ");
        let sent = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", &timestamp)
            .header("webhook-signature", signature)
            .body(event.payload.clone())
            .send()
            .await;
        let status = match sent {
            Ok(resp) => i64::from(resp.status().as_u16()),
            Err(e) => {
                tracing::info!(event = %event.id, reason = %transport_error(&e.without_url()), "webhook not delivered");
                0
            }
        };
        let outcome = if (200..300).contains(&status) {
            Attempt::Delivered { status }
        } else if status == 410 || now.saturating_sub(event.created_at as u64) >= self.max_age {
            Attempt::GiveUp { status }
        } else {
            Attempt::Retry {
                status,
                next_attempt_at: (now + self.backoff(event.attempts as u32)) as i64,
            }
        };
        let label = match outcome {
            Attempt::Delivered { .. } => "delivered",
            Attempt::Retry { .. } => "retried",
            Attempt::GiveUp { .. } => "gave_up",
        };
        self.metrics.event(event_type(&event.event_type), label);
        outcome
    }

    /// The wait before attempt `attempts + 2`: the base doubled per attempt
    /// made, up to an hour, with ±25 % jitter so that retries spread out.
    fn backoff(&self, attempts: u32) -> u64 {
        let base = self.retry_base_ms.saturating_mul(1 << attempts.min(20));
        let jitter = base / 4;
        let jittered =
            base - jitter + u64::from(random_below((2 * jitter).min(u32::MAX as u64) as u32 + 1));
        (jittered / 1000).clamp(1, MAX_BACKOFF_SECONDS)
    }
}

/// The event type as a metrics label (a fixed set).
fn event_type(name: &str) -> &'static str {
    match name {
        "upload.completed" => "upload.completed",
        "upload.rejected" => "upload.rejected",
        "upload.deleted" => "upload.deleted",
        "upload.expired" => "upload.expired",
        _ => "other",
    }
}
