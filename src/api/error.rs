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

/// An error answer: status, stable `error_code`, and a message for the
/// client developer. Messages must never contain secrets, tokens or keys.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    headers: Vec<(&'static str, String)>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401 with a `WWW-Authenticate` challenge (RFC 6750).
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        let challenge = format!(
            r#"Bearer realm="cosgate", error="{code}", error_description="{}""#,
            message.replace('"', "'")
        );
        let mut err = Self::new(StatusCode::UNAUTHORIZED, code, message);
        err.headers.push(("WWW-Authenticate", challenge));
        err
    }

    /// 401 for a client that failed HTTP Basic authentication.
    pub fn unauthorized_basic(code: &'static str, message: impl Into<String>) -> Self {
        let mut err = Self::new(StatusCode::UNAUTHORIZED, code, message);
        err.headers
            .push(("WWW-Authenticate", r#"Basic realm="cosgate""#.to_string()));
        err
    }

    /// An error of any status; for mapping errors of other layers.
    pub fn with_status(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::new(status, code, message)
    }

    /// 403: authenticated, not allowed.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 404: no operation at this path.
    pub fn not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no operation at {path}; see /docs"),
        )
    }

    /// 404 for a thing that does not exist.
    pub fn not_found_as(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 405, with the `Allow` header RFC 9110 requires.
    pub fn method_not_allowed(allow: String) -> Self {
        let mut err = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this path allows {allow}"),
        );
        err.headers.push(("Allow", allow));
        err
    }

    /// 500. `cause` goes to the log, never to the client.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the server failed to answer; see its log",
        )
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
            error_code: self.code.to_string(),
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
            return Self::bad_request(
                "invalid_request",
                "send a JSON body with Content-Type: application/json",
            );
        }
        if status.is_client_error() && status != StatusCode::UNAUTHORIZED {
            // Parse failures name the parameter and what was expected; they
            // echo no credentials. Every operation declares 400 for them.
            return Self::bad_request("invalid_request", err.to_string());
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
        502 | 503 => "WeChat is not answering; please try again shortly.",
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
