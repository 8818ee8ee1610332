//! The one place errors become HTTP answers.
//!
//! Handlers return [`ApiError`]s; the generated `From<ApiError>` of each
//! operation's response enum turns them into the variant docs/v1.yml declares
//! for that status. poem-openapi's own failures (a bad parameter, a refused
//! token) arrive through [`from_poem_error`], the `bad_request_handler` of
//! every generated response, so they take the same shape.
//!
//! A 500 tells the client nothing and the log everything.

use std::fmt;

use poem::{IntoResponse, Response, error::ResponseError, http::StatusCode};

use super::Error as ErrorBody;

/// Every `error_code` cosgate sends. `as_str` is the wire value; docs/v1.yml
/// (the `Error` schema) and README list the same codes, which a test checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidPath,
    InvalidKey,
    InvalidEncryptedData,
    InvalidToken,
    InvalidClient,
    InvalidWxappCode,
    WxappNotRegistered,
    InvalidRefreshToken,
    InsufficientScope,
    PathNotAllowed,
    WechatHighRiskUser,
    NotFound,
    AccountNotFound,
    MethodNotAllowed,
    WxappAlreadyRegistered,
    WechatRateLimited,
    InternalError,
    WechatUnavailable,
    OperationNotAllowed,
    UploadTooLarge,
    QuotaExceeded,
    PayloadTooLarge,
    StsUnavailable,
    NotReady,
    StoreBusy,
    RateLimited,
}

impl ErrorCode {
    /// Every code, for the test that keeps the docs in step.
    pub const ALL: &[ErrorCode] = &[
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidPath,
        ErrorCode::InvalidKey,
        ErrorCode::InvalidEncryptedData,
        ErrorCode::InvalidToken,
        ErrorCode::InvalidClient,
        ErrorCode::InvalidWxappCode,
        ErrorCode::WxappNotRegistered,
        ErrorCode::InvalidRefreshToken,
        ErrorCode::InsufficientScope,
        ErrorCode::PathNotAllowed,
        ErrorCode::WechatHighRiskUser,
        ErrorCode::NotFound,
        ErrorCode::AccountNotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::WxappAlreadyRegistered,
        ErrorCode::WechatRateLimited,
        ErrorCode::InternalError,
        ErrorCode::WechatUnavailable,
        ErrorCode::OperationNotAllowed,
        ErrorCode::UploadTooLarge,
        ErrorCode::QuotaExceeded,
        ErrorCode::PayloadTooLarge,
        ErrorCode::StsUnavailable,
        ErrorCode::NotReady,
        ErrorCode::StoreBusy,
        ErrorCode::RateLimited,
    ];

    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidPath => "invalid_path",
            ErrorCode::InvalidKey => "invalid_key",
            ErrorCode::InvalidEncryptedData => "invalid_encrypted_data",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidWxappCode => "invalid_wxapp_code",
            ErrorCode::WxappNotRegistered => "wxapp_not_registered",
            ErrorCode::InvalidRefreshToken => "invalid_refresh_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::PathNotAllowed => "path_not_allowed",
            ErrorCode::WechatHighRiskUser => "wechat_high_risk_user",
            ErrorCode::NotFound => "not_found",
            ErrorCode::AccountNotFound => "account_not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::WxappAlreadyRegistered => "wxapp_already_registered",
            ErrorCode::WechatRateLimited => "wechat_rate_limited",
            ErrorCode::InternalError => "internal_error",
            ErrorCode::WechatUnavailable => "wechat_unavailable",
            ErrorCode::OperationNotAllowed => "operation_not_allowed",
            ErrorCode::UploadTooLarge => "upload_too_large",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::StsUnavailable => "sts_unavailable",
            ErrorCode::NotReady => "not_ready",
            ErrorCode::StoreBusy => "store_busy",
            ErrorCode::RateLimited => "rate_limited",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answer: status, stable `error_code`, and a message for the
/// client developer. Messages must never contain secrets, tokens or keys.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    headers: Vec<(&'static str, String)>,
}

impl ApiError {
    fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 400 `invalid_request`, the most common one.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::bad_request(ErrorCode::InvalidRequest, message)
    }

    /// 401 with a bearer `WWW-Authenticate` challenge (RFC 6750).
    pub fn unauthorized(code: ErrorCode, message: impl Into<String>) -> Self {
        let message = message.into();
        let challenge = format!(
            r#"Bearer realm="cosgate", error="{code}", error_description="{}""#,
            message.replace('"', "'")
        );
        Self::new(StatusCode::UNAUTHORIZED, code, message)
            .with_header("WWW-Authenticate", challenge)
    }

    /// 401 `invalid_client` with a Basic challenge: the OAuth client failed
    /// HTTP Basic authentication.
    pub fn unauthorized_client(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::InvalidClient, message)
            .with_header("WWW-Authenticate", r#"Basic realm="cosgate""#.to_string())
    }

    /// 403: authenticated, not allowed.
    pub fn forbidden(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 404: a thing that does not exist.
    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 404 `not_found`: no operation at this path.
    pub fn no_route(path: &str) -> Self {
        Self::not_found(
            ErrorCode::NotFound,
            format!("no operation at {path}; see /docs"),
        )
    }

    /// 405 `method_not_allowed`, with the `Allow` header RFC 9110 requires.
    pub fn method_not_allowed(allow: String) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            format!("this path allows {allow}"),
        )
        .with_header("Allow", allow)
    }

    /// 409: it already exists.
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 413 `payload_too_large`: the body is larger than cosgate reads.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than {limit} bytes"),
        )
    }

    /// 429: slow down.
    pub fn too_many_requests(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, code, message)
    }

    /// 429 `rate_limited`, with the wait.
    pub fn rate_limited(retry_after: u64) -> Self {
        Self::too_many_requests(
            ErrorCode::RateLimited,
            "too many requests; retry after the time in Retry-After",
        )
        .retry_after(retry_after)
    }

    /// Adds `Retry-After: seconds` (RFC 9110), for a 429 or 503.
    pub fn retry_after(self, seconds: u64) -> Self {
        self.with_header("Retry-After", seconds.to_string())
    }

    /// 500 `internal_error`. `cause` goes to the log, never to the client.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            "the server failed to answer; see its log",
        )
    }

    /// 502: a service cosgate depends on answered nonsense.
    pub fn bad_gateway(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, code, message)
    }

    /// 503: a service cosgate depends on is busy or down.
    pub fn service_unavailable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn status(&self) -> u16 {
        self.status.as_u16()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    /// The body docs/v1.yml's `Error` schema describes.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error_code: self.code.as_str().to_string(),
            message: self.message.clone(),
            text: user_text(self.status).to_string(),
        }
    }

    /// Used by generated code when an operation's spec does not declare this
    /// error's status: that is a bug in cosgate, answered as a 500.
    pub fn into_internal(self) -> Self {
        if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            return self;
        }
        Self::internal(format_args!(
            "status {} ({}) is not declared for this operation in docs/v1.yml",
            self.status, self.code
        ))
    }

    /// Classifies an error raised inside poem or poem-openapi.
    pub fn from_poem(err: poem::Error) -> Self {
        if let Some(api) = err.downcast_ref::<ApiError>() {
            return api.clone();
        }
        let status = err.status();
        if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            return Self::invalid_request("send a JSON body with Content-Type: application/json");
        }
        if status == StatusCode::UNAUTHORIZED {
            // Only cosgate's own extractors authenticate, and they raise
            // `ApiError`s; any other 401 is still a refusal, never a 500.
            return Self::unauthorized(ErrorCode::InvalidToken, "authentication failed");
        }
        if status.is_client_error() {
            // Parse failures name the parameter and what was expected; they
            // echo no credentials. Every operation declares 400 for them.
            return Self::invalid_request(err.to_string());
        }
        Self::internal(err)
    }
}

/// The `bad_request_handler` of every generated response enum.
pub fn from_poem_error<R: From<ApiError>>(err: poem::Error) -> R {
    R::from(ApiError::from_poem(err))
}

/// A sentence an app can show its user as it is.
fn user_text(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "The request could not be understood.",
        401 => "Please sign in again.",
        403 => "You are not allowed to do that.",
        404 | 405 => "Not found.",
        409 => "That already exists.",
        413 => "That request is too large.",
        502 | 503 => "A service we depend on is not answering; please try again shortly.",
        429 => "Too many requests; please wait a moment.",
        _ => "Something went wrong; please try again later.",
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

/// Lets extractors return an `ApiError` through poem; the body is the same
/// JSON the generated responses send.
impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        use poem_openapi::types::ToJSON;
        let mut resp = poem::web::Json(self.body().to_json())
            .with_status(self.status)
            .into_response();
        for (name, value) in &self.headers {
            if let Ok(value) = value.parse() {
                resp.headers_mut().insert(*name, value);
            }
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The backticked codes in `text` that look like error codes.
    fn codes_in(text: &str) -> std::collections::BTreeSet<String> {
        text.split('`')
            .skip(1)
            .step_by(2)
            .filter(|word| {
                !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            })
            .map(String::from)
            .collect()
    }

    fn enum_codes() -> std::collections::BTreeSet<String> {
        ErrorCode::ALL
            .iter()
            .map(|c| c.as_str().to_string())
            .collect()
    }

    #[test]
    fn every_error_code_is_listed_in_the_spec_and_nothing_else() {
        let spec = include_str!("../../docs/v1.yml");
        let start = spec
            .find("        error_code:")
            .expect("the Error schema has error_code");
        let listed = &spec[start..];
        let end = listed.find("        message:").expect("message follows");
        assert_eq!(codes_in(&listed[..end]), enum_codes());
    }

    #[test]
    fn every_error_code_is_in_the_readme_table_and_nothing_else() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("| status | `error_code` |")
            .expect("README has the error table");
        let table: String = readme[start..]
            .lines()
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .map(|line| line.split('|').nth(2).unwrap_or_default().to_string())
            .collect();
        assert_eq!(codes_in(&table), enum_codes());
    }

    #[test]
    fn a_poem_401_is_a_401_not_a_500() {
        let err = ApiError::from_poem(poem::Error::from_status(StatusCode::UNAUTHORIZED));
        assert_eq!(err.status(), 401);
        assert_eq!(err.code, ErrorCode::InvalidToken);
    }
}
