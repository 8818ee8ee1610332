//! The HTTP edge: the only part of cosgate that knows about requests and
//! responses.
//!
//! The typed operations are generated from docs/v1.yml by build.rs and
//! included here; each `<tag>.rs` implements that tag's trait by calling the
//! policy and the signer. Generated code is never edited by hand; to change
//! an operation, change docs/v1.yml.

mod accounts;
mod auth;
mod cos;
pub mod error;
pub mod json;
mod ops;
pub mod payload;
pub mod security;

use std::{sync::Arc, time::Duration};

use crate::{
    config::Settings,
    login::{Login, LoginPolicy},
    metrics::Metrics,
    ratelimit::Limits,
    signer::jwt::JwtKeys,
    store::{Store, StoreError},
    sts::{CredentialCache, StsClient},
    wechat::WechatClient,
};

#[allow(clippy::all, missing_docs, unreachable_patterns)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/api.rs"));
}

pub use generated::*;

/// What the handlers share, built once at startup.
#[derive(Debug)]
pub struct AppState {
    pub settings: Settings,
    pub jwt: Arc<JwtKeys>,
    pub clients: Arc<security::OAuthClients>,
    pub login: Login,
    /// For the upload quota; the login keeps its own handle.
    pub store: Store,
    /// Per-account temporary credentials from STS.
    pub sts: CredentialCache,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// Connects the store (migrating it) and builds the keys and clients.
    pub async fn new(settings: Settings) -> Result<Self, StoreError> {
        let metrics = Arc::new(Metrics::default());
        let store = Store::connect(&settings.database_url)
            .await?
            .with_metrics(metrics.clone());
        let login = &settings.login;
        let wechat = WechatClient::new(
            &login.wechat_api_base,
            &login.wxapp_id,
            login.wxapp_secret.clone(),
            Duration::from_millis(login.wechat_timeout_ms),
            login.dev_login,
        );
        let jwt = Arc::new(settings.jwt.keys());
        let policy = LoginPolicy {
            auto_register: login.auto_register,
            access_ttl: settings.jwt.access_ttl,
            refresh_ttl: settings.jwt.refresh_ttl,
        };
        let sts = &settings.sts;
        let sts = CredentialCache::new(
            StsClient::new(
                &sts.endpoint,
                &settings.cos.region,
                settings.cos.credentials.clone(),
                Duration::from_millis(sts.timeout_ms),
            ),
            sts.cache_entries,
            metrics.clone(),
        );
        let limits = Limits::new(
            settings.rate_limit_sign_per_min,
            settings.rate_limit_login_per_min,
        );
        limits.spawn_janitor();
        Ok(Self {
            sts,
            limits,
            clients: Arc::new(security::OAuthClients::new(&login.oauth_clients)),
            login: Login::new(store.clone(), wechat, jwt.clone(), policy, metrics.clone()),
            metrics,
            store,
            jwt,
            settings,
        })
    }
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
        .filter(|(_, route, _)| route_matches(route, path))
        .map(|(method, _, _)| *method)
        .collect();
    (!methods.is_empty()).then(|| methods.join(", "))
}

/// The operationId serving `method path`, or `none` (for metrics labels,
/// which must never hold a client's path).
pub fn operation_id(method: &str, path: &str) -> &'static str {
    OPERATIONS
        .iter()
        .find(|(m, route, _)| {
            // It runs on every request: an exact match needs no segment walk.
            m.eq_ignore_ascii_case(method)
                && (*route == path || (route.contains(':') && route_matches(route, path)))
        })
        .map_or("none", |(_, _, id)| *id)
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
