//! Builds the service the binary runs and the tests start: the generated API,
//! Swagger UI at `/docs`, the spec at `/openapi.yaml` and `/openapi.json`, an
//! access log, and graceful shutdown.

use std::{
    future::Future,
    io,
    sync::Arc,
    time::{Duration, Instant},
};

use poem::{
    Endpoint, EndpointExt, IntoResponse, Request, Response, Route, Server,
    error::ResponseError,
    http::{Method, StatusCode},
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
    middleware::Cors,
};
use poem_openapi::OpenApiService;
use tracing::Instrument;

use crate::{
    api::{
        AppState, CosgateApi, Handlers, SPEC_DESCRIPTION, SPEC_TITLE, SpecOnly, allowed_methods,
        error::ApiError,
    },
    config::Settings,
    metrics::Metrics,
};

/// How long in-flight requests get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The generated API bound to `handlers`, as poem-openapi serves it. The
/// version is Cargo's (a test keeps docs/v1.yml's equal to it).
pub fn api_service<T>(handlers: T) -> OpenApiService<CosgateApi<T>, ()>
where
    CosgateApi<T>: poem_openapi::OpenApi,
{
    OpenApiService::new(CosgateApi(handlers), SPEC_TITLE, env!("CARGO_PKG_VERSION"))
        .description(SPEC_DESCRIPTION)
}

/// The whole HTTP service over `state`. Two middlewares of cosgate's own,
/// with CORS between them when origins are listed: [`front`] (request id,
/// body limit, panics, metrics, access log) outside, [`gate`] (request data,
/// login rate limit, the contract's answers for unrouted requests) inside,
/// so CORS headers reach those answers too. Each layer wraps the request's
/// future in another, so there are as few as the work needs.
pub fn endpoint(state: Arc<AppState>) -> impl Endpoint<Output = Response> {
    let cors = cors(&state.settings.cors_origins);
    let front_ctx = Arc::new(Front {
        metrics: state.metrics.clone(),
        max_body: state.settings.max_body_bytes,
        request_ids: RequestIds::new(),
    });
    let gate_ctx = Arc::new(Gate {
        jwt: state.jwt.clone(),
        clients: state.clients.clone(),
        limits: state.limits.clone(),
        trusted_proxies: state.settings.trusted_proxies.clone(),
        metrics: state.metrics.clone(),
    });
    // With METRICS_BIND, /metrics has a listener of its own.
    let scrape = state
        .settings
        .metrics_bind
        .is_none()
        .then(|| metrics_endpoint(&state));
    let examples = (!state.settings.is_production()).then(|| examples(&state.settings));
    let api = api_service(Handlers::new(state));
    let mut route = Route::new()
        .at("/openapi.json", api.spec_endpoint())
        .at("/openapi.yaml", api.spec_endpoint_yaml())
        .nest("/docs", api.swagger_ui());
    if let Some(examples) = examples {
        route = route.nest("/examples", examples);
    }
    if let Some(scrape) = scrape {
        route = route.at("/metrics", scrape);
    }
    route
        .nest("/", api)
        .around(move |next, req| gate(next, req, gate_ctx.clone()))
        .with_if(cors.is_some(), cors.unwrap_or_default())
        .around(move |next, req| front(next, req, front_ctx.clone()))
        .map_to_response()
}

/// Development only: the browser upload example at `/examples/upload`, its
/// settings filled in from this server's, and the SDK it loads from
/// `examples/browser/node_modules` (`npm install --prefix examples/browser`).
fn examples(settings: &Settings) -> Route {
    const PAGE: &str = include_str!("../examples/browser/upload.html");
    const SDK: &str = "node_modules/cos-js-sdk-v5/dist/cos-js-sdk-v5.min.js";
    let cos = &settings.cos;
    let default_endpoint = format!(
        "https://{}.cos.{}.myqcloud.com",
        cos.bucket_with_appid(),
        cos.region
    );
    let (client, secret) = settings
        .login
        .oauth_clients
        .first()
        .map(|(id, secret)| {
            (
                id.clone(),
                secrecy::ExposeSecret::expose_secret(secret).to_string(),
            )
        })
        .unwrap_or_default();
    let config = serde_json::json!({
        "client": client,
        "secret": secret,
        "bucket": cos.bucket_with_appid(),
        "region": cos.region,
        "domain": if cos.endpoint == default_endpoint { "" } else { cos.host() },
    });
    // `</` cannot end the script element the JSON sits in.
    let page = PAGE.replacen(
        "/*COSGATE_CONFIG*/{}",
        &config.to_string().replace("</", "<\\/"),
        1,
    );
    let sdk_file = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/browser/").to_string() + SDK;
    Route::new()
        .at(
            "/upload",
            poem::endpoint::make_sync(move |_| poem::web::Html(page.clone())),
        )
        .at(
            format!("/{SDK}"),
            poem::endpoint::make_sync(move |_| match std::fs::read(&sdk_file) {
                Ok(js) => Response::builder()
                    .content_type("text/javascript; charset=utf-8")
                    .body(js),
                Err(_) => Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .body("run `npm install --prefix examples/browser` to serve the SDK"),
            }),
        )
}

/// The served spec as YAML, for `cosgate spec`: built over [`SpecOnly`], so
/// it needs neither settings nor a database.
pub fn spec_yaml() -> String {
    api_service(SpecOnly).spec_yaml()
}

/// The served spec as JSON.
pub fn spec_json() -> String {
    api_service(SpecOnly).spec()
}

/// What [`gate`] needs.
struct Gate {
    jwt: Arc<crate::signer::jwt::JwtKeys>,
    clients: Arc<crate::api::security::OAuthClients>,
    limits: crate::ratelimit::Limits,
    trusted_proxies: Vec<std::net::IpAddr>,
    metrics: Arc<Metrics>,
}

/// Inside CORS: `RATE_LIMIT_LOGIN_PER_MIN` per client address on the login
/// operations (429 `rate_limited` with `Retry-After` beyond); the keys and
/// clients the security extractors read; and what no operation handles
/// (unknown paths, wrong methods) answered in the contract's `Error` shape,
/// with `Allow` on a 405.
async fn gate<E: Endpoint>(next: E, mut req: Request, gate: Arc<Gate>) -> poem::Result<Response> {
    if LOGIN_PATHS.contains(&req.uri().path())
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

/// CORS for web front ends on the listed origins, or `None` when none are
/// (poem's `Cors` with no origin would allow every one). Preflights are
/// answered for the API's methods and the headers clients send; no
/// credentials mode, since tokens travel in `Authorization`.
fn cors(origins: &[String]) -> Option<Cors> {
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

/// The operations a client address is rate-limited on.
const LOGIN_PATHS: &[&str] = &[
    "/auth/oauth/token",
    "/auth/oauth/token/refresh",
    "/auth/oauth/revoke",
    "/auth/accounts/wxapp",
];

/// The client's address: the peer's, or, when the peer is a trusted proxy,
/// the last address in `X-Forwarded-For` that is not one (the nearest
/// address no trusted hop could have made up).
fn client_address(req: &Request, trusted_proxies: &[std::net::IpAddr]) -> Option<std::net::IpAddr> {
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
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .collect::<Vec<_>>();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|a| !trusted_proxies.contains(a))
            .unwrap_or(peer),
    )
}

/// Refuses a body larger than `limit` (413 `payload_too_large`) without
/// reading it whole: a declared `Content-Length` is refused before a byte is
/// read; a chunked body is read only up to `limit + 1` bytes.
async fn body_refusal(req: &mut Request, limit: usize) -> Option<Response> {
    use poem::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
    use tokio::io::AsyncReadExt;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().parse::<u64>());
    match declared {
        Some(Ok(n)) if n > limit as u64 => Some(ApiError::payload_too_large(limit).as_response()),
        // hyper refuses a malformed Content-Length itself; one that parses
        // and fits is enforced by hyper as the body's length.
        Some(_) => None,
        None if req.headers().contains_key(TRANSFER_ENCODING) => {
            let mut body = Vec::new();
            let read = req
                .take_body()
                .into_async_read()
                .take(limit as u64 + 1)
                .read_to_end(&mut body)
                .await;
            if read.is_err() {
                let err = ApiError::invalid_request("the request body could not be read");
                return Some(err.as_response());
            }
            if body.len() > limit {
                return Some(ApiError::payload_too_large(limit).as_response());
            }
            req.set_body(body);
            None
        }
        None => None,
    }
}

/// What [`front`] needs.
struct Front {
    metrics: Arc<Metrics>,
    max_body: usize,
    request_ids: RequestIds,
}

/// Outside everything. Every request gets an id: the client's
/// `X-Request-Id` if well-formed, else a new one. It is echoed in the
/// response and carried by every log line of the request (a span field).
/// Bodies over the limit are refused; a panicking handler answers 500
/// `internal_error`. Then the request is counted, and one access line is
/// written: method, path (never the query, which may carry codes), status
/// and latency. Headers are never logged: they carry tokens.
async fn front<E: Endpoint>(
    next: E,
    mut req: Request,
    front: Arc<Front>,
) -> poem::Result<Response> {
    use futures_util::FutureExt as _;
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| well_formed_request_id(id))
        .map_or_else(|| front.request_ids.next(), String::from);
    let span = tracing::info_span!("request", request_id = %request_id);
    let method = req.method().clone();
    let operation = crate::api::operation_id(method.as_str(), req.uri().path());
    // The path is copied only when the access line will be written.
    let logged_path = tracing::enabled!(target: "cosgate::access", tracing::Level::INFO)
        .then(|| req.uri().path().to_string());
    let started = Instant::now();
    let answer = async {
        if let Some(refusal) = body_refusal(&mut req, front.max_body).await {
            return refusal;
        }
        match std::panic::AssertUnwindSafe(next.call(req))
            .catch_unwind()
            .await
        {
            Ok(answer) => {
                answer.map_or_else(|err| err.into_response(), IntoResponse::into_response)
            }
            Err(_) => {
                tracing::error!("a handler panicked");
                ApiError::internal("a handler panicked").as_response()
            }
        }
    };
    let mut resp = answer.instrument(span.clone()).await;
    if let Ok(value) = request_id.parse() {
        resp.headers_mut().insert(REQUEST_ID, value);
    }
    let status = resp.status().as_u16();
    front.metrics.request(operation, status, started.elapsed());
    if status >= 400 {
        resp = count_refusal(resp, &front.metrics).await;
    }
    if let Some(path) = logged_path {
        span.in_scope(|| {
            tracing::info!(
                target: "cosgate::access",
                %method,
                %path,
                status,
                latency_us = started.elapsed().as_micros() as u64,
            )
        });
    }
    Ok(resp)
}

/// Counts an error answer by its `error_code`, read from the body (error
/// bodies are small JSON; success bodies are never read).
async fn count_refusal(resp: Response, metrics: &Metrics) -> Response {
    let (parts, body) = resp.into_parts();
    let bytes = body.into_bytes().await.unwrap_or_default();
    let code = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["error_code"].as_str().map(String::from));
    metrics.refusal(code.as_deref().unwrap_or("none"));
    Response::from_parts(parts, poem::Body::from(bytes))
}

/// `/metrics`, behind `METRICS_TOKEN` (a bearer token, compared in constant
/// time) when one is set.
fn metrics_endpoint(state: &AppState) -> impl Endpoint<Output = Response> + use<> {
    use ring::hmac;
    use secrecy::ExposeSecret;
    let (metrics, token) = (state.metrics.clone(), state.settings.metrics_token.clone());
    let key = hmac::Key::new(hmac::HMAC_SHA256, &crate::clock::random_bytes::<32>());
    let expected = token.map(|t| hmac::sign(&key, t.expose_secret().as_bytes()));
    poem::endpoint::make_sync(move |req| {
        if let Some(expected) = &expected {
            let presented = req
                .headers()
                .get(poem::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            if hmac::verify(&key, presented.as_bytes(), expected.as_ref()).is_err() {
                return ApiError::unauthorized(
                    crate::api::error::ErrorCode::InvalidToken,
                    "send Authorization: Bearer <METRICS_TOKEN>",
                )
                .as_response();
            }
        }
        Response::builder()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(metrics.render())
    })
}

const REQUEST_ID: &str = "x-request-id";

/// 1 to 64 of `A-Z a-z 0-9 . _ -`: safe in a header and a log line.
fn well_formed_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Request ids cosgate makes: unique, not secret (they are echoed and
/// logged): a random prefix per process, so replicas do not collide, and a
/// counter. No system call per request.
struct RequestIds {
    prefix: String,
    next: std::sync::atomic::AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        Self {
            prefix: crate::signer::hex(&crate::clock::random_bytes::<8>()),
            next: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn next(&self) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.prefix.clone() + &crate::signer::hex(&n.to_be_bytes())
    }
}

/// A bound, not yet running server. Tests bind port 0 and read [`port`].
///
/// [`port`]: Application::port
pub struct Application {
    acceptor: TcpAcceptor,
    port: u16,
    /// `/metrics` on its own address (`METRICS_BIND`).
    metrics: Option<(TcpAcceptor, u16)>,
    state: Arc<AppState>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Connects the store, then binds `settings.bind`.
    pub async fn build(settings: Settings) -> io::Result<Self> {
        let bind = settings.bind;
        let state = AppState::new(settings)
            .await
            .map_err(|e| io::Error::other(format!("cannot open the database: {e}")))?;
        let metrics = match state.settings.metrics_bind {
            Some(addr) => Some(bind_tcp(addr).await?),
            None => None,
        };
        let (acceptor, port) = bind_tcp(bind).await?;
        Ok(Self {
            acceptor,
            port,
            metrics,
            state: Arc::new(state),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of `/metrics` when `METRICS_BIND` gave it its own.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
    }

    /// Serves until SIGINT or SIGTERM, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> io::Result<()> {
        self.run_until(shutdown_signal()?).await
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        tracing::info!(port = self.port, "cosgate listening");
        let scraper = self.metrics.map(|(acceptor, port)| {
            tracing::info!(port, "metrics listening");
            let scrape = Route::new().at("/metrics", metrics_endpoint(&self.state));
            tokio::spawn(Server::new_with_acceptor(acceptor).run(scrape))
        });
        let served = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(endpoint(self.state), shutdown, Some(SHUTDOWN_GRACE))
            .await;
        if let Some(scraper) = scraper {
            scraper.abort();
        }
        served
    }
}

/// A listener on `addr` and the port it got.
async fn bind_tcp(addr: std::net::SocketAddr) -> io::Result<(TcpAcceptor, u16)> {
    let acceptor = TcpListener::bind(addr).into_acceptor().await?;
    let port = acceptor
        .local_addr()
        .first()
        .and_then(|addr| addr.as_socket_addr().map(|a| a.port()))
        .ok_or_else(|| io::Error::other("the listener has no TCP address"))?;
    Ok((acceptor, port))
}

/// Completes at SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled, so a signal that arrives
/// between the two is not lost (and does not kill the process).
#[cfg(unix)]
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down");
    })
}

/// Completes at Ctrl-C.
#[cfg(not(unix))]
pub fn shutdown_signal() -> io::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
}
