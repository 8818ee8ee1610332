//! Outside everything: request ids, the body limit, panics, metrics and
//! the access log.

use std::{sync::Arc, time::Instant};

use poem::{Endpoint, IntoResponse, Request, Response, error::ResponseError};
use tracing::Instrument;

use crate::{api::error::ApiError, metrics::Metrics};

/// What [`front`] needs.
pub(crate) struct Front {
    pub metrics: Arc<Metrics>,
    pub max_body: usize,
    pub request_ids: RequestIds,
}

/// Outside everything. Every request gets an id: the client's
/// `X-Request-Id` if well-formed, else a new one. It is echoed in the
/// response and carried by every log line of the request (a span field).
/// Bodies over the limit are refused; a panicking handler answers 500
/// `internal_error`. Then the request is counted, and one access line is
/// written: method, path (never the query, which may carry codes), status
/// and latency. Headers are never logged: they carry tokens.
pub(crate) async fn front<E: Endpoint>(
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
pub(crate) struct RequestIds {
    prefix: String,
    next: std::sync::atomic::AtomicU64,
}

impl RequestIds {
    pub fn new() -> Self {
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
