//! The HTTP edge: the only part of cosgate that knows about requests and
//! responses.
//!
//! The typed operations are generated from docs/v1.yml by build.rs and
//! included here; each `<tag>.rs` implements that tag's trait by
//! translating requests into calls on the domain services (`login`,
//! `signing`) and their answers and errors ([`error`]) into responses.
//! [`middleware`], `/metrics` and the example pages live here too.
//! Generated code is never edited by hand; to change an operation, change
//! docs/v1.yml.

mod accounts;
mod auth;
mod cos;
pub mod enums;
pub mod error;
mod examples;
pub mod json;
mod metrics;
mod middleware;
mod moderation;
mod ops;
pub mod payload;
pub mod security;
mod uploads;

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, IntoEndpoint, Response, Route};
use poem_openapi::OpenApiService;

use crate::{
    config::Settings, login::Login, metrics::Metrics, ratelimit::Limits, sessions::Sessions,
    signing::Signing, store::Store, tokens::JwtKeys, uploads::Uploads,
};

#[allow(clippy::all, missing_docs, unreachable_patterns)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/api.rs"));
}

pub use generated::*;

/// What the handlers share, built once at startup (`crate::app`).
#[derive(Debug)]
pub struct AppState {
    pub settings: Settings,
    pub jwt: Arc<JwtKeys>,
    pub clients: Arc<security::OAuthClients>,
    pub login: Login,
    /// Which login sessions were ended, for the JWT extractor.
    pub sessions: Arc<Sessions>,
    /// COS signatures and STS credentials.
    pub signing: Arc<Signing>,
    /// Upload sessions.
    pub uploads: Arc<Uploads>,
    /// `MODERATION=wechat`: checks WeChat's pushed verdicts.
    pub media_check: Option<Arc<crate::media_check::MediaCheck>>,
    /// For readiness; the services keep their own handles.
    pub store: Store,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
}

/// The webhooks cosgate sends to the app's backend (`src/webhooks.rs`), as
/// docs/v1.yml's `x-webhooks` describes them: listed in the served spec so
/// that Swagger UI shows the body's schema. OpenAPI 3.0 has no `webhooks`;
/// poem-openapi serves them under that name anyway, and the conformance test
/// compares the two.
#[poem_openapi::Webhook]
pub trait CosgateWebhooks {
    /// An upload event, sent to the app's backend (WEBHOOK_URL)
    ///
    /// Sent when `WEBHOOK_URL` is set, as Standard Webhooks (standardwebhooks.com):
    /// the headers `webhook-id` (the event's id, the same on every retry: deduplicate
    /// on it), `webhook-timestamp` (unix seconds of the attempt) and
    /// `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per
    /// secret of `WEBHOOK_SECRETS`, space-separated). Verify them with the official
    /// `standardwebhooks` library before trusting the body. Delivery is at least once:
    /// any 2xx ends it, 410 stops it for good, anything else (or no answer within
    /// `WEBHOOK_TIMEOUT_MS`) is retried with exponential back-off and jitter for
    /// `WEBHOOK_MAX_AGE_SECONDS`.
    #[oai(
        name = "upload-event",
        method = "post",
        operation_id = "upload_event",
        tag = "ApiTags::Uploads"
    )]
    fn upload_event(&self, event: payload::JsonBody<UploadEvent>) -> EventReceived;
}

/// What the app's backend answers a webhook.
#[derive(Debug, poem_openapi::ApiResponse)]
pub enum EventReceived {
    /// Any 2xx marks the event delivered.
    #[oai(status = 200)]
    Ok,
}

/// The generated API bound to `handlers`, as poem-openapi serves it. The
/// version is Cargo's (a test keeps docs/v1.yml's equal to it).
pub fn api_service<T>(handlers: T) -> OpenApiService<CosgateApi<T>, &'static dyn CosgateWebhooks>
where
    CosgateApi<T>: poem_openapi::OpenApi,
{
    OpenApiService::new(CosgateApi(handlers), SPEC_TITLE, env!("CARGO_PKG_VERSION"))
        .description(SPEC_DESCRIPTION)
        .license(env!("CARGO_PKG_LICENSE"))
        .server(
            poem_openapi::ServerObject::new("/")
                .description("The server that serves this document"),
        )
        .webhooks::<&'static dyn CosgateWebhooks>()
}

/// The whole HTTP service over `state`: the API, Swagger UI at `/docs`, the
/// spec at `/openapi.yaml` and `/openapi.json`, `/metrics` unless it has
/// its own listener, the examples in development, and the middlewares
/// ([`middleware`]).
pub fn service(state: Arc<AppState>) -> impl Endpoint<Output = Response> {
    let cors = middleware::cors(&state.settings.cors_origins);
    let front = Arc::new(middleware::Front {
        metrics: state.metrics.clone(),
        max_body: state.settings.max_body_bytes,
        request_ids: middleware::RequestIds::new(),
    });
    let gate = Arc::new(middleware::Gate {
        verifiers: Arc::new(security::Verifiers {
            jwt: state.jwt.clone(),
            sessions: state.sessions.clone(),
            clients: state.clients.clone(),
        }),
        limits: state.limits.clone(),
        trusted_proxies: state.settings.trusted_proxies.clone(),
        metrics: state.metrics.clone(),
        media_check: state.media_check.clone(),
    });
    // With METRICS_BIND, /metrics has a listener of its own.
    let scrape = state
        .settings
        .metrics_bind
        .is_none()
        .then(|| metrics::endpoint(&state));
    let examples = (!state.settings.is_production()).then(|| examples::route(&state.settings));
    let api = api_service(Handlers::new(state));
    let mut route = Route::new()
        .at(
            "/openapi.json",
            spec_endpoint(spec_json_of(&api), "application/json"),
        )
        .at(
            "/openapi.yaml",
            spec_endpoint(spec_yaml_of(&api), "application/x-yaml"),
        )
        .nest("/docs", api.swagger_ui());
    if let Some(examples) = examples {
        route = route.nest("/examples", examples);
    }
    if let Some(scrape) = scrape {
        route = route.at("/metrics", scrape);
    }
    Beside {
        api: api.into_endpoint(),
        side: route,
    }
    .around(move |next, req| middleware::gate(next, req, gate.clone()))
    .with_if(cors.is_some(), cors.unwrap_or_default())
    .around(move |next, req| middleware::front(next, req, front.clone()))
    .map_to_response()
}

/// The API at the root and, beside it, the few paths it does not serve
/// (the spec, Swagger UI, the examples, `/metrics`): one test of the path
/// instead of nesting the API in a route, whose rewrite of the URI every
/// API request would pay.
struct Beside {
    api: poem::endpoint::BoxEndpoint<'static>,
    side: Route,
}

impl Beside {
    /// Whether `path` is one of `side`'s (or under one of its nests).
    fn is_side(path: &str) -> bool {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        matches!(path, "/openapi.json" | "/openapi.yaml" | "/metrics")
            || under("/docs")
            || under("/examples")
    }
}

impl Endpoint for Beside {
    type Output = Response;

    async fn call(&self, req: poem::Request) -> poem::Result<Response> {
        if Self::is_side(req.uri().path()) {
            self.side.call(req).await
        } else {
            self.api.call(req).await
        }
    }
}

/// `/metrics` alone, for its own listener (`METRICS_BIND`).
pub fn metrics_service(state: &AppState) -> Route {
    Route::new().at("/metrics", metrics::endpoint(state))
}

/// The served spec as YAML, for `cosgate spec`: built over [`SpecOnly`], so
/// it needs neither settings nor a database.
pub fn spec_yaml() -> String {
    spec_yaml_of(&api_service(SpecOnly))
}

/// The served spec as JSON.
pub fn spec_json() -> String {
    spec_json_of(&api_service(SpecOnly))
}

fn spec_json_of<T>(api: &OpenApiService<CosgateApi<T>, &'static dyn CosgateWebhooks>) -> String
where
    CosgateApi<T>: poem_openapi::OpenApi,
{
    respell_headers(api.spec(), |name| format!("\"{name}\":"))
}

fn spec_yaml_of<T>(api: &OpenApiService<CosgateApi<T>, &'static dyn CosgateWebhooks>) -> String
where
    CosgateApi<T>: poem_openapi::OpenApi,
{
    respell_headers(api.spec_yaml(), |name| format!(" {name}:\n"))
}

/// poem-openapi writes response header names upper-cased; docs/v1.yml's
/// spelling (`Retry-After`) is what clients generated from the served spec
/// should see. Each name is replaced where it stands as a key, as `key`
/// writes one.
fn respell_headers(mut spec: String, key: impl Fn(&str) -> String) -> String {
    for name in RESPONSE_HEADERS {
        spec = spec.replace(&key(&name.to_uppercase()), &key(name));
    }
    spec
}

fn spec_endpoint(spec: String, content_type: &'static str) -> impl Endpoint {
    poem::endpoint::make_sync(move |_| {
        Response::builder()
            .content_type(content_type)
            .body(spec.clone())
    })
}

/// Implements every tag's trait; one file per tag.
#[derive(Debug, Clone)]
pub struct Handlers {
    state: Arc<AppState>,
}

impl Handlers {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

/// Whether a concrete path matches a route as poem writes it (`:x` matches
/// any one segment).
fn route_matches(route: &str, path: &str) -> bool {
    let (mut r, mut p) = (route.split('/'), path.split('/'));
    loop {
        match (r.next(), p.next()) {
            (None, None) => return true,
            (Some(r), Some(p)) if r.starts_with(':') || r == p => {}
            _ => return false,
        }
    }
}

/// The methods docs/v1.yml defines for a concrete request path, for the
/// `Allow` header of a 405; `None` if no operation has that path.
pub fn allowed_methods(path: &str) -> Option<String> {
    let methods: Vec<&str> = OPERATIONS
        .iter()
        .filter(|(_, route, _, _)| route_matches(route, path))
        .map(|(method, _, _, _)| *method)
        .collect();
    (!methods.is_empty()).then(|| methods.join(", "))
}

/// The operationId serving `method path`, or `none` (for metrics labels,
/// which must never hold a client's path).
pub fn operation_id(method: &str, path: &str) -> &'static str {
    OPERATIONS
        .iter()
        .find(|(m, route, _, _)| {
            // It runs on every request: an exact match needs no segment walk.
            m.eq_ignore_ascii_case(method)
                && (*route == path || (route.contains(':') && route_matches(route, path)))
        })
        .map_or("none", |(_, _, id, _)| *id)
}

#[cfg(test)]
mod tests {
    use super::allowed_methods;

    #[test]
    fn the_spec_and_cargo_give_the_same_version() {
        assert_eq!(
            super::SPEC_VERSION,
            env!("CARGO_PKG_VERSION"),
            "docs/v1.yml's info.version must be Cargo.toml's version"
        );
    }

    #[test]
    fn operation_ids_come_from_the_spec() {
        assert_eq!(
            super::operation_id("GET", "/v1/qc_cos/config"),
            "get_qc_cos_config"
        );
        assert_eq!(super::operation_id("POST", "/v1/qc_cos/config"), "none");
        assert_eq!(super::operation_id("GET", "/etc/passwd"), "none");
    }

    #[test]
    fn allowed_methods_come_from_the_spec() {
        assert_eq!(allowed_methods("/v1/qc_cos/config").as_deref(), Some("GET"));
        assert_eq!(allowed_methods("/healthz").as_deref(), Some("GET"));
        assert_eq!(allowed_methods("/v1/qc_cos"), None);
    }
}
