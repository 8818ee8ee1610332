//! The `jwt` security scheme of docs/v1.yml: verifies `Authorization:
//! Bearer <token>` (and the 2017 client's `Authorization: JWT <token>`) into
//! [`Claims`].
//!
//! poem-openapi's own bearer extractor only knows `Bearer`, so this is a
//! hand-written `ApiExtractor` that registers the same `http`/`bearer` scheme
//! in the spec. Every failure is a 401 `invalid_token` with a message saying
//! why, never what the token was.

use std::sync::Arc;

use poem::{Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaSecurityScheme, Registry},
};

use super::error::ApiError;
pub use crate::signer::jwt::Claims;
use crate::{clock::unix_now, signer::jwt::JwtKeys};

/// The name of the scheme in docs/v1.yml's `components.securitySchemes`.
const SCHEME: &str = "jwt";

/// A caller whose access token verified.
#[derive(Debug)]
pub struct JwtAuth(pub Claims);

impl<'a> ApiExtractor<'a> for JwtAuth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            SCHEME,
            MetaSecurityScheme {
                ty: "http",
                description: super::SECURITY_SCHEMES
                    .iter()
                    .find(|(name, _)| *name == SCHEME)
                    .map(|(_, description)| *description),
                name: None,
                key_in: None,
                scheme: Some("bearer"),
                bearer_format: Some("JWT"),
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SCHEME]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let keys = req
            .data::<Arc<JwtKeys>>()
            .ok_or_else(|| ApiError::internal("JwtKeys missing from the request data"))?;
        let token = bearer_token(req)?;
        keys.verify(token, unix_now())
            .map(JwtAuth)
            .map_err(|e| ApiError::unauthorized("invalid_token", e.to_string()).into())
    }
}

/// The token from `Authorization: Bearer <t>` or `Authorization: JWT <t>`.
fn bearer_token(req: &Request) -> Result<&str, ApiError> {
    let header = req
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "invalid_token",
                "no Authorization header; send `Bearer <token>`",
            )
        })?;
    let value = header.to_str().map_err(|_| {
        ApiError::unauthorized("invalid_token", "the Authorization header is not ASCII")
    })?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") && !scheme.eq_ignore_ascii_case("jwt") {
        return Err(ApiError::unauthorized(
            "invalid_token",
            "the Authorization scheme must be `Bearer` (or `JWT`)",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::unauthorized(
            "invalid_token",
            "the Authorization header has no token",
        ));
    }
    Ok(token)
}

/// Refuses a caller whose token lacks any of `scopes` (403).
pub fn require_scopes(claims: &Claims, scopes: &[&str]) -> Result<(), ApiError> {
    match scopes.iter().find(|s| !claims.has_scope(s)) {
        None => Ok(()),
        Some(missing) => Err(ApiError::forbidden(
            "insufficient_scope",
            format!("the token lacks the `{missing}` scope this operation needs"),
        )),
    }
}
