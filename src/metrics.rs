//! What an operator scrapes at `/metrics` (OpenMetrics 1.0 text): requests
//! by operation and status with their latency, signatures issued by kind,
//! refusals by `error_code`, WeChat and STS calls by outcome with their
//! latency, store operations' latency, and rate-limit rejections. One
//! registry per server (no globals), and never an account id, key or token
//! as a label.

use std::{fmt, time::Duration};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    error_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    service: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    service: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueryLabels {
    query: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScopeLabels {
    scope: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_buckets() -> Histogram {
    // 100 µs to ~3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histograms<OperationLabels>,
    signatures: Family<KindLabels, Counter>,
    refusals: Family<CodeLabels, Counter>,
    upstream: Family<UpstreamLabels, Counter>,
    upstream_seconds: Histograms<ServiceLabels>,
    rate_limited: Family<ScopeLabels, Counter>,
    store_seconds: Histograms<QueryLabels>,
    uploads: Family<OutcomeLabels, Counter>,
    upload_bytes: Counter,
    events: Family<EventLabels, Counter>,
    outbox_depth: Gauge,
    outbox_oldest_seconds: Gauge,
    sweeps: Counter,
    swept: Family<OutcomeLabels, Counter>,
    moderation: Family<OutcomeLabels, Counter>,
}

/// An upload event and how its delivery attempt went.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    event_type: &'static str,
    outcome: &'static str,
}

/// An upload session's outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("cosgate");
        let requests = Family::default();
        let request_seconds: Histograms<OperationLabels> =
            Family::new_with_constructor(latency_buckets);
        let signatures = Family::default();
        let refusals = Family::default();
        let upstream = Family::default();
        let upstream_seconds: Histograms<ServiceLabels> =
            Family::new_with_constructor(latency_buckets);
        let rate_limited = Family::default();
        let store_seconds: Histograms<QueryLabels> = Family::new_with_constructor(latency_buckets);
        registry.register(
            "requests",
            "HTTP requests by operationId and status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "HTTP request latency by operationId",
            request_seconds.clone(),
        );
        registry.register(
            "signatures",
            "Signatures and credentials issued, by kind",
            signatures.clone(),
        );
        registry.register("refusals", "Error answers by error_code", refusals.clone());
        registry.register(
            "upstream_calls",
            "Calls to WeChat and STS by outcome",
            upstream.clone(),
        );
        registry.register(
            "upstream_duration_seconds",
            "Latency of calls to WeChat and STS",
            upstream_seconds.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit, by scope",
            rate_limited.clone(),
        );
        registry.register(
            "store_query_duration_seconds",
            "Latency of store operations (busy retries included), by operation",
            store_seconds.clone(),
        );
        let uploads = Family::default();
        let upload_bytes = Counter::default();
        registry.register(
            "uploads",
            "Upload sessions by outcome (created, completed, rejected, expired, deleted)",
            uploads.clone(),
        );
        registry.register(
            "upload_completed_bytes",
            "Bytes of the upload sessions verified and completed",
            upload_bytes.clone(),
        );
        let events = Family::default();
        let outbox_depth = Gauge::default();
        let outbox_oldest_seconds = Gauge::default();
        let sweeps = Counter::default();
        let swept = Family::default();
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts by event type and outcome (delivered, retried, gave_up)",
            events.clone(),
        );
        registry.register(
            "outbox_depth",
            "Upload events not delivered yet",
            outbox_depth.clone(),
        );
        registry.register(
            "outbox_oldest_age_seconds",
            "Age of the oldest upload event not delivered yet",
            outbox_oldest_seconds.clone(),
        );
        registry.register(
            "sweeper_runs",
            "Rounds of the upload sweeper",
            sweeps.clone(),
        );
        registry.register(
            "sweeper_removed",
            "What the sweeper removed (expired sessions, released holds, orphan multipart uploads)",
            swept.clone(),
        );
        let moderation = Family::default();
        registry.register(
            "moderation",
            "Moderation by step and verdict (started, normal, sensitive, suspicious, uncheckable, timed_out, released, operator_rejected)",
            moderation.clone(),
        );
        Self {
            events,
            outbox_depth,
            outbox_oldest_seconds,
            sweeps,
            swept,
            moderation,
            uploads,
            upload_bytes,
            store_seconds,
            registry,
            requests,
            request_seconds,
            signatures,
            refusals,
            upstream,
            upstream_seconds,
            rate_limited,
        }
    }
}

impl Metrics {
    /// One answered request; `operation` is an operationId or `none`.
    pub fn request(&self, operation: &'static str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels { operation, status })
            .inc();
        self.request_seconds
            .get_or_create(&OperationLabels { operation })
            .observe(took.as_secs_f64());
    }

    /// One signature or credential grant: `v4`, `v5_request`, `presigned`,
    /// `post_policy`, `sts_credentials`.
    pub fn signature(&self, kind: &'static str) {
        self.signatures.get_or_create(&KindLabels { kind }).inc();
    }

    /// One error answer.
    pub fn refusal(&self, error_code: &str) {
        self.refusals
            .get_or_create(&CodeLabels {
                error_code: error_code.to_string(),
            })
            .inc();
    }

    /// One call to `service` (`wechat`, `sts`) that ended in `outcome`.
    pub fn upstream(&self, service: &'static str, outcome: &'static str, took: Duration) {
        self.upstream
            .get_or_create(&UpstreamLabels { service, outcome })
            .inc();
        self.upstream_seconds
            .get_or_create(&ServiceLabels { service })
            .observe(took.as_secs_f64());
    }

    /// One upload session that reached `outcome`; `bytes` completed.
    pub fn upload(&self, outcome: &'static str, bytes: u64) {
        self.uploads.get_or_create(&OutcomeLabels { outcome }).inc();
        if bytes > 0 {
            self.upload_bytes.inc_by(bytes);
        }
    }

    /// One moderation step or verdict.
    pub fn moderation(&self, outcome: &'static str) {
        self.moderation
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// One webhook delivery attempt of an `event_type` event.
    pub fn event(&self, event_type: &'static str, outcome: &'static str) {
        self.events
            .get_or_create(&EventLabels {
                event_type,
                outcome,
            })
            .inc();
    }

    /// The outbox as the last worker round saw it.
    pub fn outbox(&self, depth: i64, oldest_age_seconds: u64) {
        self.outbox_depth.set(depth);
        self.outbox_oldest_seconds.set(oldest_age_seconds as i64);
    }

    /// One sweeper round and what it removed.
    pub fn sweep(&self, expired: usize, released: usize, orphans: usize) {
        self.sweeps.inc();
        for (what, n) in [
            ("expired", expired),
            ("released", released),
            ("orphan_multipart", orphans),
        ] {
            if n > 0 {
                self.swept
                    .get_or_create(&OutcomeLabels { outcome: what })
                    .inc_by(n as u64);
            }
        }
    }

    /// One request refused by the `sign` or `login` rate limit.
    pub fn rate_limited(&self, scope: &'static str) {
        self.rate_limited
            .get_or_create(&ScopeLabels { scope })
            .inc();
    }

    /// One store operation (`login`, `rotate_refresh_token`, …) and how
    /// long it took.
    pub fn store_query(&self, query: &'static str, took: Duration) {
        self.store_seconds
            .get_or_create(&QueryLabels { query })
            .observe(took.as_secs_f64());
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}
