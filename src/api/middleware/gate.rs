//! Inside CORS: the login rate limit, the request data the security
//! extractors read, and the contract's answers for what no operation
//! handles.

use std::{net::IpAddr, sync::Arc};

use poem::{
    Endpoint, IntoResponse, Request, Response,
    error::ResponseError,
    http::{Method, StatusCode},
    middleware::Cors,
};

use crate::{
    api::{OPERATIONS, allowed_methods, error::ApiError, security::OAuthClients},
    metrics::Metrics,
    ratelimit::Limits,
    tokens::JwtKeys,
};

/// What [`gate`] needs.
pub(crate) struct Gate {
    pub jwt: Arc<JwtKeys>,
    pub clients: Arc<OAuthClients>,
    pub limits: Limits,
    pub trusted_proxies: Vec<IpAddr>,
    pub metrics: Arc<Metrics>,
}

/// Inside CORS: `RATE_LIMIT_LOGIN_PER_MIN` per client address on the login
/// operations (429 `rate_limited` with `Retry-After` beyond); the keys and
/// clients the security extractors read; and what no operation handles
/// (unknown paths, wrong methods) answered in the contract's `Error` shape,
/// with `Allow` on a 405.
pub(crate) async fn gate<E: Endpoint>(
    next: E,
    mut req: Request,
    gate: Arc<Gate>,
) -> poem::Result<Response> {
    if logs_in(req.method().as_str(), req.uri().path())
        && let Some(address) = client_address(&req, &gate.trusted_proxies)
        && let Err(wait) = gate.limits.login(address)
    {
        gate.metrics.rate_limited("login");
        return Ok(ApiError::rate_limited(wait.0).as_response());
    }
    req.extensions_mut().insert(gate.jwt.clone());
    req.extensions_mut().insert(gate.clients.clone());
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
/// the last address in `X-Forwarded-For` that is not one (the nearest
/// address no trusted hop could have made up).
fn client_address(req: &Request, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr()?.ip();
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|a| !trusted_proxies.contains(a))
            .unwrap_or(peer),
    )
}
