//! The HTTP edge: the only part of cosgate that knows about requests and
//! responses.
//!
//! The typed operations are generated from docs/v1.yml by build.rs and
//! included here; each `<tag>.rs` implements that tag's trait by calling the
//! policy and the signer. Generated code is never edited by hand; to change
//! an operation, change docs/v1.yml.

mod accounts;
mod auth;
mod config;
pub mod error;
mod ops;
pub mod security;

use std::{sync::Arc, time::Duration};

use crate::{
    config::Settings,
    signer::jwt::JwtKeys,
    store::{Store, StoreError},
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
    pub store: Store,
    pub wechat: WechatClient,
}

impl AppState {
    /// Connects the store (migrating it) and builds the keys and clients.
    pub async fn new(settings: Settings) -> Result<Self, StoreError> {
        let store = Store::connect(&settings.database_url).await?;
        let login = &settings.login;
        let wechat = WechatClient::new(
            &login.wechat_api_base,
            &login.wxapp_id,
            login.wxapp_secret.clone(),
            Duration::from_millis(login.wechat_timeout_ms),
            login.dev_login,
        );
        Ok(Self {
            jwt: Arc::new(settings.jwt.keys()),
            clients: Arc::new(security::OAuthClients::new(&login.oauth_clients)),
            store,
            wechat,
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

/// The methods docs/v1.yml defines for a concrete request path, for the
/// `Allow` header of a 405; `None` if no operation has that path.
pub fn allowed_methods(path: &str) -> Option<String> {
    let matches = |template: &str| {
        let (t, p): (Vec<_>, Vec<_>) = (template.split('/').collect(), path.split('/').collect());
        t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t.starts_with('{') || t == p)
    };
    let methods: Vec<&str> = OPERATIONS
        .iter()
        .filter(|(_, template)| matches(template))
        .map(|(method, _)| *method)
        .collect();
    (!methods.is_empty()).then(|| methods.join(", "))
}

#[cfg(test)]
mod tests {
    use super::allowed_methods;

    #[test]
    fn allowed_methods_come_from_the_spec() {
        assert_eq!(allowed_methods("/v1/qc_cos/config").as_deref(), Some("GET"));
        assert_eq!(allowed_methods("/healthz").as_deref(), Some("GET"));
        assert_eq!(allowed_methods("/v1/qc_cos"), None);
    }
}
