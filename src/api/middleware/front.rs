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
        if let Some(refusal) = header_refusal(&req) {
            return refusal;
        }
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

/// The largest header block cosgate reads: names, values and their
/// separators (Node has limited its header block to 16 KiB since 2018).
pub(crate) const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The most headers one request may have.
pub(crate) const MAX_HEADERS: usize = 100;

/// 431 `headers_too_large` for a header block over [`MAX_HEADER_BYTES`] or
/// [`MAX_HEADERS`]. hyper reads up to its own, larger buffer; nothing past
/// this check sees such a request.
fn header_refusal(req: &Request) -> Option<Response> {
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    (bytes > MAX_HEADER_BYTES || headers.len() > MAX_HEADERS)
        .then(|| ApiError::headers_too_large(MAX_HEADER_BYTES, MAX_HEADERS).as_response())
}

/// The most of a refused body read and dropped before answering.
const DRAIN_BYTES: u64 = 2 * 1024 * 1024;
/// How long a refused body is drained at most.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a drain waits for the next bytes.
const DRAIN_IDLE: std::time::Duration = std::time::Duration::from_secs(1);
/// Drains under way at once; past it, the answer goes out undrained.
const MAX_DRAINS: usize = 256;
static DRAINS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_DRAINS);

/// Refuses a body larger than `limit` (413 `payload_too_large`) without
/// keeping it: a declared `Content-Length` is refused before a byte is
/// stored; a chunked body is read only up to `limit + 1` bytes.
async fn body_refusal(req: &mut Request, limit: usize) -> Option<Response> {
    use poem::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
    use tokio::io::AsyncReadExt;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().parse::<u64>());
    match declared {
        Some(Ok(n)) if n > limit as u64 => Some(too_large(req, limit).await),
        // hyper refuses a malformed Content-Length itself; one that parses
        // and fits is enforced by hyper as the body's length.
        Some(_) => None,
        None if req.headers().contains_key(TRANSFER_ENCODING) => {
            let mut body = Vec::new();
            let mut reader = req.take_body().into_async_read();
            let read = (&mut reader)
                .take(limit as u64 + 1)
                .read_to_end(&mut body)
                .await;
            if read.is_err() {
                let err = ApiError::invalid_request("the request body could not be read");
                return Some(err.as_response());
            }
            if body.len() > limit {
                req.set_body(poem::Body::from_async_read(reader));
                return Some(too_large(req, limit).await);
            }
            req.set_body(body);
            None
        }
        None => None,
    }
}

/// The 413 for `req`, after reading and dropping a bounded amount of its
/// body, as nginx's lingering close does: a client that writes its whole
/// body before reading (Python's urllib, many SDKs) would otherwise get a
/// connection reset (the kernel's answer to unread data at close) instead
/// of the answer. Bounded in bytes, time and drains at once; a client that
/// waits for `100 Continue` is answered at once.
async fn too_large(req: &mut Request, limit: usize) -> Response {
    let expects_continue = req
        .headers()
        .get(poem::http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if !expects_continue && let Ok(_permit) = DRAINS.try_acquire() {
        let mut body =
            tokio::io::AsyncReadExt::take(req.take_body().into_async_read(), DRAIN_BYTES);
        let started = std::time::Instant::now();
        // On the heap: only this rare path pays for the buffer, not every
        // request's future.
        let mut chunk = vec![0u8; 16 * 1024];
        // Until the body ends, the bound is reached, or the client goes
        // quiet for a second: a slow sender holds a drain no longer.
        while started.elapsed() < DRAIN_TIME {
            match tokio::time::timeout(
                DRAIN_IDLE,
                tokio::io::AsyncReadExt::read(&mut body, &mut chunk),
            )
            .await
            {
                Ok(Ok(n)) if n > 0 => {}
                _ => break,
            }
        }
    }
    let mut resp = ApiError::payload_too_large(limit).as_response();
    resp.headers_mut().insert(
        poem::http::header::CONNECTION,
        poem::http::HeaderValue::from_static("close"),
    );
    resp
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
