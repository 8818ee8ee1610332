//! Inside CORS: WeChat's check of the push URL, the login rate limit, the
//! request data the security extractors read, and the contract's answers
//! for what no operation handles.

use std::{net::IpAddr, sync::Arc};

use poem::{
    Endpoint, IntoResponse, Request, Response,
    error::ResponseError,
    http::{Method, StatusCode},
    middleware::Cors,
};

use crate::{
    api::{OPERATIONS, allowed_methods, error::ApiError, security::Verifiers},
    metrics::Metrics,
    ratelimit::Limits,
};

/// What [`gate`] needs.
pub(crate) struct Gate {
    pub verifiers: Arc<Verifiers>,
    pub limits: Limits,
    pub trusted_proxies: Vec<IpAddr>,
    pub metrics: Arc<Metrics>,
    /// `MODERATION=wechat`: WeChat's check of the push URL is answered here.
    pub media_check: Option<Arc<crate::media_check::MediaCheck>>,
}

/// Inside CORS: WeChat's check of the push URL (a plain-text answer no
/// generated operation gives); `RATE_LIMIT_LOGIN_PER_MIN` per client
/// address on the login operations (429 `rate_limited` with `Retry-After`
/// beyond); the [`Verifiers`] the security extractors read; and what no
/// operation handles (unknown paths, wrong methods) answered in the
/// contract's `Error` shape, with `Allow` on a 405.
pub(crate) async fn gate<E: Endpoint>(
    next: E,
    mut req: Request,
    gate: Arc<Gate>,
) -> poem::Result<Response> {
    if let Some(media_check) = &gate.media_check
        && req.method() == Method::GET
        && req.uri().path() == "/v1/moderation/wechat"
    {
        return Ok(crate::api::moderation::wechat_url_check(&req, media_check));
    }
    if logs_in(req.method().as_str(), req.uri().path())
        && let Some(address) = client_address(&req, &gate.trusted_proxies)
        && let Err(wait) = gate.limits.login(address).await
    {
        gate.metrics.rate_limited("login");
        return Ok(ApiError::rate_limited(wait.0).as_response());
    }
    req.extensions_mut().insert(gate.verifiers.clone());
    // A reference-counted copy, for the error answers below.
    let uri = req.uri().clone();
    match next.call(req).await {
        Ok(resp) => Ok(resp.into_response()),
        Err(err) if err.status() == StatusCode::METHOD_NOT_ALLOWED => {
            let allow = allowed_methods(uri.path()).unwrap_or_else(|| "GET".into());
            Ok(ApiError::method_not_allowed(allow).as_response())
        }
        Err(err) if err.status() == StatusCode::NOT_FOUND => {
            Ok(ApiError::no_route(uri.path()).as_response())
        }
        Err(err) => Err(err),
    }
}

/// Whether `method path` is an operation the OAuth client authenticates
/// (docs/v1.yml's `oauth_client` scheme): logging in, registering,
/// refreshing and revoking, the ones a client address is rate-limited on.
fn logs_in(method: &str, path: &str) -> bool {
    OPERATIONS
        .iter()
        .any(|(m, route, _, scheme)| *scheme == "oauth_client" && *route == path && *m == method)
}

/// CORS for web front ends on the listed origins, or `None` when none are
/// (poem's `Cors` with no origin would allow every one). Preflights are
/// answered for the API's methods and the headers clients send; no
/// credentials mode, since tokens travel in `Authorization`.
pub(crate) fn cors(origins: &[String]) -> Option<Cors> {
    if origins.is_empty() {
        return None;
    }
    let cors = Cors::new()
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(["authorization", "content-type", "x-request-id"])
        .expose_headers(["x-request-id", "retry-after", "www-authenticate"])
        .allow_credentials(false)
        .max_age(600);
    Some(if origins.iter().any(|o| o == "*") {
        cors.allow_origins_fn(|_| true)
    } else {
        cors.allow_origins(origins.iter().map(String::as_str))
    })
}

/// The client's address: the peer's, or, when the peer is a trusted proxy,
/// the nearest address in `X-Forwarded-For` that no trusted hop could have
/// made up. Entries are read from the right (the nearest hop's first); one
/// that is neither an address nor `address:port` ends the walk at the last
/// trusted hop, so nothing to its left (which anyone can write) is
/// believed.
fn client_address(req: &Request, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr()?.ip();
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let headers: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or(""))
        .collect();
    Some(forwarded_client(&headers, peer, trusted_proxies))
}

/// The walk of [`client_address`] over the `X-Forwarded-For` values, in the
/// order they arrived.
fn forwarded_client(headers: &[&str], peer: IpAddr, trusted_proxies: &[IpAddr]) -> IpAddr {
    let mut nearest = peer;
    let entries = headers.iter().rev().flat_map(|v| v.rsplit(','));
    for entry in entries.take(MAX_FORWARDED_HOPS) {
        let Some(address) = hop_address(entry.trim()) else {
            return nearest;
        };
        if !trusted_proxies.contains(&address) {
            return address;
        }
        nearest = address;
    }
    nearest
}

/// The most `X-Forwarded-For` entries read.
const MAX_FORWARDED_HOPS: usize = 32;

/// `192.0.2.1`, `2001:db8::1`, `192.0.2.1:4711` or `[2001:db8::1]:4711`.
fn hop_address(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<std::net::SocketAddr>().map(|a| a.ip()))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn the_nearest_untrusted_hop_is_the_client() {
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
        let walk = |headers: &[&str]| forwarded_client(headers, ip("10.0.0.1"), &proxies);
        assert_eq!(walk(&["203.0.113.7"]), ip("203.0.113.7"));
        assert_eq!(walk(&["6.6.6.6, 203.0.113.7, 10.0.0.2"]), ip("203.0.113.7"));
        assert_eq!(walk(&["6.6.6.6", "203.0.113.7"]), ip("203.0.113.7"));
        assert_eq!(walk(&["203.0.113.7:4711"]), ip("203.0.113.7"));
        assert_eq!(walk(&["[2001:db8::7]:4711"]), ip("2001:db8::7"));
        assert_eq!(walk(&[]), ip("10.0.0.1"), "no header: the proxy itself");
    }

    #[test]
    fn an_entry_that_is_not_an_address_ends_the_walk() {
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
        let walk = |headers: &[&str]| forwarded_client(headers, ip("10.0.0.1"), &proxies);
        // A forged left-hand entry is never believed past garbage.
        assert_eq!(walk(&["6.6.6.6, unknown"]), ip("10.0.0.1"));
        assert_eq!(walk(&["6.6.6.6, 10.0.0.2, client.example"]), ip("10.0.0.1"));
        assert_eq!(walk(&["6.6.6.6, junk, 10.0.0.2"]), ip("10.0.0.2"));
        assert_eq!(walk(&["6.6.6.6", ""]), ip("10.0.0.1"), "an empty entry too");
    }

    #[test]
    fn the_login_operations_come_from_the_spec() {
        assert!(logs_in("POST", "/auth/oauth/token"));
        assert!(logs_in("POST", "/auth/oauth/token/refresh"));
        assert!(logs_in("POST", "/auth/oauth/revoke"));
        assert!(logs_in("POST", "/auth/accounts/wxapp"));
        assert!(!logs_in("GET", "/auth/accounts/self"));
        assert!(!logs_in("POST", "/v1/qc_cos/authorization"));
        assert!(!logs_in("GET", "/.well-known/jwks.json"));
    }
}
