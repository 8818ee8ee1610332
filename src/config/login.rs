//! `WXAPP_*`, `WECHAT_*`, `OAUTH_CLIENTS`, `AUTO_REGISTER`: who may log in,
//! and through which WeChat app.

use secrecy::SecretString;

use super::{MIN_CLIENT_SECRET_BYTES, defaults, placeholder, reader::Reader};

#[derive(Debug, Clone)]
pub struct LoginSettings {
    pub wxapp_id: String,
    pub wxapp_secret: SecretString,
    /// Base URL of WeChat's API; tests point it at a fake on loopback.
    pub wechat_api_base: String,
    pub wechat_timeout_ms: u64,
    /// The first login creates the account; otherwise register explicitly.
    pub auto_register: bool,
    /// `code = dev-<name>` logs in without WeChat. Development only.
    pub dev_login: bool,
    /// `OAUTH_CLIENTS`: `(client_id, client_secret)`.
    pub oauth_clients: Vec<(String, SecretString)>,
}

impl LoginSettings {
    pub(super) fn read(r: &mut Reader<'_>) -> Self {
        let wxapp_id = r.required("WXAPP_ID", placeholder::WXAPP_ID);
        let wxapp_secret = r.required("WXAPP_SECRET", placeholder::WXAPP_SECRET);
        let wechat_api_base = r.text("WECHAT_API_BASE", defaults::WECHAT_API_BASE);
        if !wechat_api_base.starts_with("https://") && !wechat_api_base.starts_with("http://") {
            r.problem(
                "WECHAT_API_BASE",
                format!("{wechat_api_base:?} is not an http(s) URL"),
            );
        }
        let wechat_timeout_ms = r.parse_within(
            "WECHAT_TIMEOUT_MS",
            defaults::WECHAT_TIMEOUT_MS,
            100..=30_000,
            " ms",
        );
        let clients = r.required("OAUTH_CLIENTS", placeholder::OAUTH_CLIENTS);
        // An unset list is reported once, by `required`.
        let oauth_clients = if clients.is_empty() {
            Vec::new()
        } else {
            parse_oauth_clients(&clients, r.dev).unwrap_or_else(|e| {
                r.problem("OAUTH_CLIENTS", e);
                Vec::new()
            })
        };
        Self {
            wxapp_id,
            wxapp_secret: SecretString::from(wxapp_secret),
            wechat_api_base,
            wechat_timeout_ms,
            auto_register: r.parse("AUTO_REGISTER", defaults::AUTO_REGISTER),
            dev_login: r.dev,
            oauth_clients,
        }
    }
}

/// `id:secret[,id:secret…]`. Secrets are never echoed in errors.
fn parse_oauth_clients(raw: &str, dev: bool) -> Result<Vec<(String, SecretString)>, String> {
    let mut clients = Vec::new();
    for (i, entry) in raw
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .enumerate()
    {
        let Some((id, secret)) = entry.split_once(':') else {
            return Err(format!("entry {} is not id:secret", i + 1));
        };
        if id.is_empty() || secret.is_empty() {
            return Err(format!("entry {} has an empty id or secret", i + 1));
        }
        if !dev && secret.len() < MIN_CLIENT_SECRET_BYTES {
            return Err(format!(
                "the secret of client {id:?} is shorter than {MIN_CLIENT_SECRET_BYTES} bytes"
            ));
        }
        if clients.iter().any(|(known, _)| known == id) {
            return Err(format!("client {id:?} is listed twice"));
        }
        clients.push((id.to_string(), SecretString::from(secret.to_string())));
    }
    if clients.is_empty() {
        return Err("no clients".into());
    }
    Ok(clients)
}
