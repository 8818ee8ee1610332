//! `/metrics` for Prometheus, on the API's port or its own
//! (`METRICS_BIND`).

use poem::{Endpoint, Response, error::ResponseError};

use super::{
    AppState,
    error::{ApiError, ErrorCode},
};

/// The media type of OpenMetrics 1.0's text format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `/metrics`, behind `METRICS_TOKEN` (a bearer token, compared in constant
/// time) when one is set.
pub(crate) fn endpoint(state: &AppState) -> impl Endpoint<Output = Response> + use<> {
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
                    ErrorCode::InvalidToken,
                    "send Authorization: Bearer <METRICS_TOKEN>",
                )
                .as_response();
            }
        }
        // The body is OpenMetrics 1.0 (what the prometheus-client crate
        // writes: counter families named without `_total`, a closing
        // `# EOF`), so it is labelled as such; Prometheus picks its parser
        // by this header, and a classic `text/plain; version=0.0.4` label
        // would lose the counters' types and help.
        Response::builder()
            .content_type(OPENMETRICS)
            .body(metrics.render())
    })
}
