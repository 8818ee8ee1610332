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
use crate::{
    cos_client::CosError,
    login::LoginError,
    policy::{operation::OperationRefusal, signing::Refusal},
    signing::SignError,
    store::StoreError,
    sts::StsError,
    uploads::UploadError,
};

/// Declares [`ErrorCode`] from one table: variant, wire value, status. The
/// table is the one list of codes; docs/v1.yml (the `Error` schema) and
/// README's error table are checked against it by the tests below.
macro_rules! error_codes {
    ($($variant:ident = $wire:literal, $status:ident;)*) => {
        /// Every `error_code` cosgate sends.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $($variant,)*
        }

        impl ErrorCode {
            /// Every code, in the table's order.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The wire value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)*
                }
            }

            /// The status it is answered with. Only a service cosgate
            /// depends on answering nonsense turns a 503 code into a 502
            /// ([`ApiError::bad_gateway`]).
            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)*
                }
            }
        }
    };
}

error_codes! {
    InvalidRequest = "invalid_request", BAD_REQUEST;
    InvalidPath = "invalid_path", BAD_REQUEST;
    InvalidKey = "invalid_key", BAD_REQUEST;
    InvalidEncryptedData = "invalid_encrypted_data", BAD_REQUEST;
    InvalidToken = "invalid_token", UNAUTHORIZED;
    InvalidClient = "invalid_client", UNAUTHORIZED;
    InvalidWxappCode = "invalid_wxapp_code", UNAUTHORIZED;
    WxappNotRegistered = "wxapp_not_registered", UNAUTHORIZED;
    InvalidRefreshToken = "invalid_refresh_token", UNAUTHORIZED;
    InsufficientScope = "insufficient_scope", FORBIDDEN;
    PathNotAllowed = "path_not_allowed", FORBIDDEN;
    WechatHighRiskUser = "wechat_high_risk_user", FORBIDDEN;
    OperationNotAllowed = "operation_not_allowed", FORBIDDEN;
    UploadTooLarge = "upload_too_large", FORBIDDEN;
    V4Disabled = "v4_disabled", FORBIDDEN;
    StorageQuotaExceeded = "storage_quota_exceeded", FORBIDDEN;
    UploadSessionRequired = "upload_session_required", FORBIDDEN;
    PushRefused = "push_refused", FORBIDDEN;
    NotFound = "not_found", NOT_FOUND;
    AccountNotFound = "account_not_found", NOT_FOUND;
    UploadNotFound = "upload_not_found", NOT_FOUND;
    MethodNotAllowed = "method_not_allowed", METHOD_NOT_ALLOWED;
    WxappAlreadyRegistered = "wxapp_already_registered", CONFLICT;
    UploadIncomplete = "upload_incomplete", CONFLICT;
    UploadExpired = "upload_expired", GONE;
    PayloadTooLarge = "payload_too_large", PAYLOAD_TOO_LARGE;
    UnsupportedMediaType = "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE;
    UploadMismatch = "upload_mismatch", UNPROCESSABLE_ENTITY;
    HeadersTooLarge = "headers_too_large", REQUEST_HEADER_FIELDS_TOO_LARGE;
    WechatRateLimited = "wechat_rate_limited", TOO_MANY_REQUESTS;
    QuotaExceeded = "quota_exceeded", TOO_MANY_REQUESTS;
    RateLimited = "rate_limited", TOO_MANY_REQUESTS;
    InternalError = "internal_error", INTERNAL_SERVER_ERROR;
    WechatUnavailable = "wechat_unavailable", SERVICE_UNAVAILABLE;
    StsUnavailable = "sts_unavailable", SERVICE_UNAVAILABLE;
    CosUnavailable = "cos_unavailable", SERVICE_UNAVAILABLE;
    StoreBusy = "store_busy", SERVICE_UNAVAILABLE;
    NotReady = "not_ready", SERVICE_UNAVAILABLE;
}

impl ErrorCode {
    /// RFC 6749 §5.2's `error` for the codes that have one, for OAuth
    /// client libraries.
    pub fn oauth_error(self) -> Option<&'static str> {
        match self {
            ErrorCode::InvalidRequest => Some("invalid_request"),
            ErrorCode::InvalidClient => Some("invalid_client"),
            ErrorCode::InvalidRefreshToken | ErrorCode::InvalidWxappCode => Some("invalid_grant"),
            _ => None,
        }
    }

    /// As the `Error` schema types it: one of docs/v1.yml's values (a test
    /// keeps the two lists equal).
    pub fn wire(self) -> super::enums::OneOf<super::ErrorErrorCodeValues> {
        super::enums::OneOf::new(self.as_str()).expect("docs/v1.yml lists every error code")
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
    /// `code`, answered with its status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: code.status(),
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// 400 `invalid_request`, the most common one.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// A 401 `code` with a bearer `WWW-Authenticate` challenge (RFC 6750).
    pub fn unauthorized(code: ErrorCode, message: impl Into<String>) -> Self {
        let message = message.into();
        let challenge = format!(
            r#"Bearer realm="cosgate", error="{code}", error_description="{}""#,
            message.replace('"', "'")
        );
        Self::new(code, message).with_header("WWW-Authenticate", challenge)
    }

    /// 401 `invalid_client` with a Basic challenge: the OAuth client failed
    /// HTTP Basic authentication.
    pub fn unauthorized_client(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, message)
            .with_header("WWW-Authenticate", r#"Basic realm="cosgate""#.to_string())
    }

    /// 404 `not_found`: no operation at this path.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            ErrorCode::NotFound,
            format!("no operation at {path}; see /docs"),
        )
    }

    /// 405 `method_not_allowed`, with the `Allow` header RFC 9110 requires.
    pub fn method_not_allowed(allow: String) -> Self {
        Self::new(
            ErrorCode::MethodNotAllowed,
            format!("this path allows {allow}"),
        )
        .with_header("Allow", allow)
    }

    /// 413 `payload_too_large`: the body is larger than cosgate reads.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than {limit} bytes"),
        )
    }

    /// 431 `headers_too_large`: the header block is larger than cosgate
    /// reads.
    pub fn headers_too_large(max_bytes: usize, max_headers: usize) -> Self {
        Self::new(
            ErrorCode::HeadersTooLarge,
            format!(
                "the request's headers are larger than {max_bytes} bytes or more than {max_headers}"
            ),
        )
    }

    /// 429 `rate_limited`, with the wait.
    pub fn rate_limited(retry_after: u64) -> Self {
        Self::new(
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
            ErrorCode::InternalError,
            "the server failed to answer; see its log",
        )
    }

    /// 502 with a code that is otherwise a 503: a service cosgate depends
    /// on answered, but with nonsense (or refused cosgate's own request), so
    /// retrying soon will not help.
    pub fn bad_gateway(code: ErrorCode, message: impl Into<String>) -> Self {
        debug_assert_eq!(code.status(), StatusCode::SERVICE_UNAVAILABLE);
        Self {
            status: StatusCode::BAD_GATEWAY,
            ..Self::new(code, message)
        }
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
            error_code: self.code.wire(),
            error: self.code.oauth_error().map(super::enums::OneOf::listed),
            message: self.message.clone(),
            text: user_text(self.code, self.status).to_string(),
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
fn user_text(code: ErrorCode, status: StatusCode) -> &'static str {
    if code == ErrorCode::UploadIncomplete {
        return "The upload is not finished yet; please try again shortly.";
    }
    match status.as_u16() {
        400 => "The request could not be understood.",
        401 => "Please sign in again.",
        403 => "You are not allowed to do that.",
        404 | 405 => "Not found.",
        409 => "That already exists.",
        410 => "That has expired; please start again.",
        415 => "That kind of file is not accepted.",
        422 => "The uploaded file is not the one announced.",
        413 | 431 => "That request is too large.",
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

// Every domain error, as the contract answers it: handlers use `?`.

/// COS's failures on cosgate's own calls. The reason goes to the log.
impl From<CosError> for ApiError {
    fn from(err: CosError) -> Self {
        tracing::error!(reason = %err, "a COS call failed");
        let message = "COS did not answer as expected; retry in a moment";
        match err {
            CosError::Unavailable(_) => {
                Self::new(ErrorCode::CosUnavailable, message).retry_after(5)
            }
            CosError::Refused(_) | CosError::BadAnswer(_) | CosError::NoSuchUpload => {
                Self::bad_gateway(ErrorCode::CosUnavailable, message)
            }
        }
    }
}

/// Each way an upload session operation can fail.
impl From<UploadError> for ApiError {
    fn from(err: UploadError) -> Self {
        let message = err.to_string();
        match err {
            UploadError::InvalidRequest(_) => Self::invalid_request(message),
            UploadError::UnsupportedMediaType { .. } => {
                Self::new(ErrorCode::UnsupportedMediaType, message)
            }
            UploadError::TooLarge { .. } => Self::new(ErrorCode::UploadTooLarge, message),
            UploadError::DailyQuota { retry_after, .. } => {
                Self::new(ErrorCode::QuotaExceeded, message).retry_after(retry_after)
            }
            UploadError::StorageQuota { .. } => Self::new(ErrorCode::StorageQuotaExceeded, message),
            UploadError::NotFound => Self::new(ErrorCode::UploadNotFound, message),
            UploadError::NotThisSession(_) => Self::new(ErrorCode::OperationNotAllowed, message),
            UploadError::Incomplete(_) => Self::new(ErrorCode::UploadIncomplete, message),
            UploadError::Mismatch(_) => Self::new(ErrorCode::UploadMismatch, message),
            UploadError::Expired => Self::new(ErrorCode::UploadExpired, message),
            UploadError::Sign(err) => err.into(),
            UploadError::Cos(err) => err.into(),
            UploadError::Store(err) => err.into(),
            UploadError::Internal(_) => Self::internal(message),
        }
    }
}

/// Each way a login can fail.
impl From<LoginError> for ApiError {
    fn from(err: LoginError) -> Self {
        use crate::wechat::WechatError as WeChat;
        let message = err.to_string();
        match err {
            LoginError::Wechat(WeChat::InvalidCode) => {
                Self::unauthorized(ErrorCode::InvalidWxappCode, message)
            }
            LoginError::Wechat(WeChat::RateLimited) => {
                Self::new(ErrorCode::WechatRateLimited, message)
            }
            LoginError::Wechat(WeChat::HighRiskUser) => {
                Self::new(ErrorCode::WechatHighRiskUser, message)
            }
            LoginError::Wechat(WeChat::Unavailable(_)) => {
                Self::new(ErrorCode::WechatUnavailable, message)
            }
            LoginError::Wechat(WeChat::BadAnswer(_)) => {
                Self::bad_gateway(ErrorCode::WechatUnavailable, message)
            }
            LoginError::NoSessionKey
            | LoginError::EncryptedData(_)
            | LoginError::EncryptedDataOfAnotherUser => {
                Self::new(ErrorCode::InvalidEncryptedData, message)
            }
            LoginError::NotRegistered => Self::unauthorized(ErrorCode::WxappNotRegistered, message),
            LoginError::AlreadyRegistered => Self::new(ErrorCode::WxappAlreadyRegistered, message),
            LoginError::RefreshRefused(_) | LoginError::AccountGone => {
                Self::unauthorized(ErrorCode::InvalidRefreshToken, message)
            }
            LoginError::Store(err) => err.into(),
            LoginError::Token(_) => Self::internal(err),
        }
    }
}

/// A busy store is 503 `store_busy` (it stayed busy through its retries);
/// anything else is a 500.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Busy => {
                Self::new(ErrorCode::StoreBusy, "the store is busy; retry in a moment")
                    .retry_after(1)
            }
            other => Self::internal(other),
        }
    }
}

/// STS's failures. The reason goes to the log; the client learns only that
/// STS could not help, or, past the account's bound of new credentials,
/// when to come back.
impl From<StsError> for ApiError {
    fn from(err: StsError) -> Self {
        if let StsError::TooManyGrants { retry_after } = err {
            return Self::rate_limited(retry_after);
        }
        tracing::error!(reason = %err, "no STS credentials");
        let message = "temporary credentials are not available right now";
        match err {
            StsError::LimitExceeded | StsError::Unavailable(_) => {
                Self::new(ErrorCode::StsUnavailable, message).retry_after(5)
            }
            StsError::Refused(_) | StsError::BadAnswer(_) => {
                Self::bad_gateway(ErrorCode::StsUnavailable, message)
            }
            StsError::TooManyGrants { .. } => unreachable!("answered above"),
        }
    }
}

/// Each refusal of the signing policy.
impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let code = match &refusal {
            Refusal::InvalidKey(_) => ErrorCode::InvalidKey,
            Refusal::OutsideScope(_) => ErrorCode::PathNotAllowed,
            Refusal::Operation(
                OperationRefusal::UnknownMethod | OperationRefusal::DuplicateQuery(_),
            )
            | Refusal::MissingContentLength(_)
            | Refusal::BadContentLength
            | Refusal::BadPartNumber
            | Refusal::BadPairs(_)
            | Refusal::EmptyPart
            | Refusal::WrongHost { .. } => ErrorCode::InvalidRequest,
            Refusal::Operation(_)
            | Refusal::PicOperations(_)
            | Refusal::ActiveContent(_)
            | Refusal::FormPost => ErrorCode::OperationNotAllowed,
            Refusal::TooLarge { .. } => ErrorCode::UploadTooLarge,
        };
        Self::new(code, refusal.to_string())
    }
}

/// Why the signing service signed nothing.
impl From<SignError> for ApiError {
    fn from(err: SignError) -> Self {
        let message = err.to_string();
        match err {
            SignError::RateLimited { retry_after } => Self::rate_limited(retry_after),
            SignError::V4Disabled => Self::new(ErrorCode::V4Disabled, message),
            SignError::SessionRequired(_) => Self::new(ErrorCode::UploadSessionRequired, message),
            SignError::Refused(refusal) => refusal.into(),
            SignError::InvalidPath(_) => Self::new(ErrorCode::InvalidPath, message),
            SignError::InvalidKeyPrefix(_) => Self::new(ErrorCode::InvalidKey, message),
            SignError::OutsideScope(_) | SignError::CamPolicy(_) => {
                Self::new(ErrorCode::PathNotAllowed, message)
            }
            SignError::InvalidRequest(_) => Self::invalid_request(message),
            SignError::QuotaExceeded { retry_after, .. } => {
                Self::new(ErrorCode::QuotaExceeded, message).retry_after(retry_after)
            }
            SignError::Sts(err) => err.into(),
            SignError::Store(err) => err.into(),
            SignError::Internal(_) => Self::internal(message),
        }
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
                word.starts_with(|c: char| c.is_ascii_lowercase())
                    && word
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
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

    /// The schema's `enum`, which generated clients type `error_code` with,
    /// is the code's list, in its order.
    #[test]
    fn the_schemas_enum_is_the_codes_list() {
        use crate::api::enums::Values;
        let listed: Vec<&str> = super::super::ErrorErrorCodeValues::VALUES.to_vec();
        let ours: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, ours);
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

    /// The statuses a line of docs/v1.yml's or README's list gives its codes:
    /// `- 400: …` or `| 404 / 405 | …`.
    fn statuses_in(line: &str) -> Vec<u16> {
        let head = line
            .trim_start_matches(['-', '|', ' '])
            .split([':', '|'])
            .next()
            .unwrap_or_default();
        head.split([',', '/'])
            .filter_map(|n| n.trim().parse().ok())
            .collect()
    }

    /// Each code is listed under the status it is answered with; a code
    /// under two statuses is a 503 that is a 502 when the service answered
    /// nonsense ([`ApiError::bad_gateway`]).
    fn check_statuses(lines: &str, what: &str) {
        for line in lines.lines() {
            let statuses = statuses_in(line);
            for code in codes_in(line) {
                let code = ErrorCode::ALL
                    .iter()
                    .find(|c| c.as_str() == code)
                    .unwrap_or_else(|| panic!("{what} lists unknown code {code}"));
                let status = code.status().as_u16();
                let both = statuses == [502, 503] && status == 503;
                assert!(
                    statuses.contains(&status) || both,
                    "{what}: {code} is listed under {statuses:?} but answered {status}"
                );
            }
        }
    }

    #[test]
    fn the_spec_and_readme_list_each_code_under_its_status() {
        let spec = include_str!("../../docs/v1.yml");
        let start = spec.find("        error_code:").expect("error_code");
        let end = start + spec[start..].find("        message:").expect("message");
        let bullets: String = spec[start..end]
            .lines()
            .filter(|l| l.trim_start().starts_with("- "))
            .map(|l| l.trim_start().to_string() + "\n")
            .collect();
        check_statuses(&bullets, "docs/v1.yml");
        let readme = include_str!("../../README.md");
        let start = readme.find("| status | `error_code` |").expect("table");
        let table: String = readme[start..]
            .lines()
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            // The table's second column only: the third describes.
            .map(|line| {
                let cells: Vec<&str> = line.split('|').collect();
                format!("|{}|{}\n", cells[1], cells[2])
            })
            .collect();
        check_statuses(&table, "README");
    }

    /// The answer to `err`: status and code.
    fn answer(err: impl Into<ApiError>) -> (u16, &'static str) {
        let err = err.into();
        (err.status(), err.code().as_str())
    }

    #[test]
    fn every_sign_error_has_its_status_and_code() {
        use crate::{
            paths::{CosDir, PathError, ScopeError},
            policy::{cam::PolicyError, operation::CosAction},
        };
        let dir = CosDir::parse("/uploads/a").expect("a directory");
        let cases: Vec<(SignError, (u16, &str))> = vec![
            (
                SignError::RateLimited { retry_after: 3 },
                (429, "rate_limited"),
            ),
            (SignError::V4Disabled, (403, "v4_disabled")),
            (
                SignError::SessionRequired("STS credentials"),
                (403, "upload_session_required"),
            ),
            (
                SignError::Refused(Refusal::InvalidKey(PathError::DotSegment)),
                (400, "invalid_key"),
            ),
            (
                SignError::Refused(Refusal::OutsideScope(ScopeError::OutsideAllowed {
                    allowed: dir.clone(),
                })),
                (403, "path_not_allowed"),
            ),
            (
                SignError::Refused(Refusal::Operation(OperationRefusal::UnknownMethod)),
                (400, "invalid_request"),
            ),
            (
                SignError::Refused(Refusal::Operation(OperationRefusal::DuplicateQuery(
                    "a".into(),
                ))),
                (400, "invalid_request"),
            ),
            (
                SignError::Refused(Refusal::Operation(OperationRefusal::NotAllowed(
                    CosAction::DeleteObject,
                ))),
                (403, "operation_not_allowed"),
            ),
            (
                SignError::Refused(Refusal::Operation(OperationRefusal::Header(
                    "x-cos-acl".into(),
                    "an ACL change",
                ))),
                (403, "operation_not_allowed"),
            ),
            (
                SignError::Refused(Refusal::MissingContentLength(CosAction::PutObject)),
                (400, "invalid_request"),
            ),
            (
                SignError::Refused(Refusal::BadContentLength),
                (400, "invalid_request"),
            ),
            (
                SignError::Refused(Refusal::BadPartNumber),
                (400, "invalid_request"),
            ),
            (
                SignError::Refused(Refusal::BadPairs("at most 64 headers".into())),
                (400, "invalid_request"),
            ),
            (
                SignError::Refused(Refusal::TooLarge { size: 2, max: 1 }),
                (403, "upload_too_large"),
            ),
            (
                SignError::Refused(Refusal::PicOperations("no".into())),
                (403, "operation_not_allowed"),
            ),
            (
                SignError::Refused(Refusal::ActiveContent("text/html".into())),
                (403, "operation_not_allowed"),
            ),
            (
                SignError::Refused(Refusal::EmptyPart),
                (400, "invalid_request"),
            ),
            (
                SignError::Refused(Refusal::FormPost),
                (403, "operation_not_allowed"),
            ),
            (
                SignError::Refused(Refusal::WrongHost {
                    asked: "evil".into(),
                    signs_for: "b".into(),
                }),
                (400, "invalid_request"),
            ),
            (
                SignError::InvalidPath(PathError::Empty),
                (400, "invalid_path"),
            ),
            (
                SignError::InvalidKeyPrefix(PathError::Empty),
                (400, "invalid_key"),
            ),
            (
                SignError::OutsideScope(ScopeError::OutsideAllowed { allowed: dir }),
                (403, "path_not_allowed"),
            ),
            (
                SignError::InvalidRequest("expires_in must be positive".into()),
                (400, "invalid_request"),
            ),
            (
                SignError::QuotaExceeded {
                    limit: 1,
                    retry_after: 9,
                },
                (429, "quota_exceeded"),
            ),
            (
                SignError::CamPolicy(PolicyError::UnusableAccountId),
                (403, "path_not_allowed"),
            ),
            (
                SignError::Sts(StsError::LimitExceeded),
                (503, "sts_unavailable"),
            ),
            (
                SignError::Sts(StsError::Unavailable("timeout".into())),
                (503, "sts_unavailable"),
            ),
            (
                SignError::Sts(StsError::Refused("AuthFailure".into())),
                (502, "sts_unavailable"),
            ),
            (
                SignError::Sts(StsError::BadAnswer("not JSON".into())),
                (502, "sts_unavailable"),
            ),
            (
                SignError::Sts(StsError::TooManyGrants { retry_after: 60 }),
                (429, "rate_limited"),
            ),
            (SignError::Store(StoreError::Busy), (503, "store_busy")),
            (
                SignError::Store(StoreError::AlreadyExists),
                (500, "internal_error"),
            ),
            (SignError::Internal("bug".into()), (500, "internal_error")),
        ];
        for (err, expected) in cases {
            let shown = format!("{err:?}");
            assert_eq!(answer(err), expected, "{shown}");
        }
    }

    #[test]
    fn waits_travel_as_retry_after() {
        let quota: ApiError = SignError::QuotaExceeded {
            limit: 1,
            retry_after: 9,
        }
        .into();
        assert_eq!(quota.header("retry-after").as_deref(), Some("9"));
        let limited: ApiError = SignError::RateLimited { retry_after: 3 }.into();
        assert_eq!(limited.header("Retry-After").as_deref(), Some("3"));
        let busy: ApiError = StoreError::Busy.into();
        assert_eq!(busy.header("Retry-After").as_deref(), Some("1"));
    }

    #[test]
    fn a_reason_from_sts_or_the_store_never_reaches_the_client() {
        let sts: ApiError =
            SignError::Sts(StsError::Refused("AuthFailure.SecretIdNotFound".into())).into();
        assert!(
            !sts.body().message.contains("AuthFailure"),
            "{}",
            sts.body().message
        );
        let internal: ApiError = SignError::Internal("the secret detail".into()).into();
        assert!(!internal.body().message.contains("secret"));
    }

    #[test]
    fn a_poem_401_is_a_401_not_a_500() {
        let err = ApiError::from_poem(poem::Error::from_status(StatusCode::UNAUTHORIZED));
        assert_eq!(err.status(), 401);
        assert_eq!(err.code, ErrorCode::InvalidToken);
    }
}
