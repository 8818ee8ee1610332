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
            .field("url", &"<set>")
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
            // Redirects are not followed: a 3xx is retried like any other
            // answer (see `outbound::client`).
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
                // Each round in a task of its own: a panic in one is logged
                // and the next round still runs.
                let worker = self.clone();
                match tokio::spawn(async move { worker.round(unix_now()).await }).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "webhook round failed"),
                    Err(e) => tracing::error!(error = %e, "webhook round panicked"),
                }
            }
        });
    }

    /// One round: every due event this worker can claim is attempted once,
    /// batch after batch while full batches come.
    pub async fn round(&self, now: u64) -> Result<usize, StoreError> {
        let mut attempted = 0;
        loop {
            let due = self.store.due_events(unix_now() as i64, BATCH).await?;
            let full = due.len() as i64 == BATCH;
            attempted += self.deliver(due).await?;
            if !full {
                break;
            }
        }
        let (depth, oldest) = self.store.outbox_depth().await?;
        self.metrics
            .outbox(depth, oldest.map_or(0, |t| now.saturating_sub(t as u64)));
        Ok(attempted)
    }

    /// Claims and attempts each of `due`; how many it attempted.
    async fn deliver(&self, due: Vec<DueEvent>) -> Result<usize, StoreError> {
        let mut attempted = 0;
        for event in due {
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
            let recorded = self
                .store
                .event_attempted(&event.id, unix_now() as i64, outcome, until as i64)
                .await?;
            if !recorded {
                // The claim ran out first (a very slow store): another worker
                // has the event now, and decides for it.
                tracing::warn!(event = %event.id, "webhook claim ran out before its outcome was recorded");
            }
            attempted += 1;
        }
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
        if !(200..300).contains(&status) && status != 0 {
            tracing::info!(event = %event.id, status, "webhook answered without 2xx");
        }
        let label = match outcome {
            Attempt::Delivered { .. } => "delivered",
            Attempt::Retry { .. } => "retried",
            Attempt::GiveUp { .. } => "gave_up",
        };
        self.metrics.event(event_type(&event.event_type), label);
        outcome
    }

    /// The wait before attempt `attempts + 2`, in seconds: the base
    /// doubled per attempt made, capped at an hour, then ±25 % jitter so
    /// that retries spread out (also at the cap), at least a second.
    fn backoff(&self, attempts: u32) -> u64 {
        backoff_ms(self.retry_base_ms, attempts, random_below) / 1000
    }
}

/// [`Deliverer::backoff`] in milliseconds, with the random source given
/// (`random_below(n)` is uniform in `0..n`).
fn backoff_ms(base_ms: u64, attempts: u32, random_below: impl Fn(u32) -> u32) -> u64 {
    let capped = base_ms
        .saturating_mul(1 << attempts.min(20))
        .min(MAX_BACKOFF_SECONDS * 1000);
    // At most an hour in ms: a quarter of it and twice that fit in u32.
    let jitter = capped / 4;
    let spread = u64::from(random_below((2 * jitter) as u32 + 1));
    (capped - jitter + spread).max(1000)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_is_capped_at_an_hour_and_keeps_its_jitter() {
        let low = |n: u32| backoff_ms(5000, n, |_| 0);
        let high = |n: u32| backoff_ms(5000, n, |bound| bound - 1);
        assert_eq!((low(0), high(0)), (3750, 6250));
        assert_eq!((low(1), high(1)), (7500, 12500));
        // Capped before the jitter: spread around the hour, not pinned to it.
        assert_eq!((low(30), high(30)), (2_700_000, 4_500_000));
        // The largest base and the most attempts neither overflow nor panic.
        assert_eq!(backoff_ms(600_000, u32::MAX, |b| b - 1), 4_500_000);
        assert_eq!(backoff_ms(u64::MAX, 63, |_| 0), 2_700_000);
        // A tiny base still waits a second.
        assert_eq!(backoff_ms(10, 0, |_| 0), 1000);
    }
}
