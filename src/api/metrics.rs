//! `/metrics` for Prometheus, on the API's port or its own
//! (`METRICS_BIND`).

use poem::{Endpoint, Response, error::ResponseError};

use super::{
    AppState,
    error::{ApiError, ErrorCode},
};

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
        Response::builder()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(metrics.render())
    })
}
