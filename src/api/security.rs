//! The security schemes of docs/v1.yml, as poem-openapi extractors:
//!
//! - `jwt`: verifies `Authorization: Bearer <token>` (and the 2017 client's
//!   `Authorization: JWT <token>`) into [`Claims`]. poem-openapi's own bearer
//!   extractor only knows `Bearer`, hence a hand-written one.
//! - `oauth_client`: HTTP Basic `client_id:client_secret` against
//!   `OAUTH_CLIENTS`, compared in constant time, into a [`ClientId`].
//!
//! Every failure is a 401 with a message saying why, never what the
//! credentials were. Each registers its scheme with the description
//! docs/v1.yml gives it.

use std::{fmt, sync::Arc};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use ring::hmac;
use secrecy::{ExposeSecret, SecretString};

use poem::{Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions,
    registry::{MetaSecurityScheme, Registry},
};

use super::error::{ApiError, ErrorCode};
pub use crate::tokens::Claims;
use crate::{
    clock::{random_bytes, unix_now},
    sessions::Sessions,
    tokens::JwtKeys,
};

/// The name and description docs/v1.yml gives an extractor's scheme; the
/// generated code implements it from `components.securitySchemes`.
pub trait DocumentedScheme {
    const NAME: &'static str;
    const DESCRIPTION: &'static str;
}

/// Registers `S`'s `http` scheme as docs/v1.yml describes it.
fn register_http_scheme<S: DocumentedScheme>(
    registry: &mut Registry,
    scheme: &'static str,
    bearer_format: Option<&'static str>,
) {
    registry.create_security_scheme(
        S::NAME,
        MetaSecurityScheme {
            ty: "http",
            description: Some(S::DESCRIPTION),
            name: None,
            key_in: None,
            scheme: Some(scheme),
            bearer_format,
            flows: None,
            openid_connect_url: None,
        },
    );
}

/// A caller whose access token verified.
#[derive(Debug)]
pub struct JwtAuth(pub Claims);

impl<'a> ApiExtractor<'a> for JwtAuth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        register_http_scheme::<Self>(registry, "bearer", Some("JWT"));
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![Self::NAME]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let verifiers = verifiers(req)?;
        let token = bearer_token(req)?;
        let claims = verifiers
            .jwt
            .verify(token, unix_now())
            .map_err(|e| ApiError::unauthorized(ErrorCode::InvalidToken, e.to_string()))?;
        if let Some(sid) = &claims.sid
            && verifiers
                .sessions
                .is_ended(sid)
                .await
                .map_err(ApiError::from)?
        {
            return Err(ApiError::unauthorized(
                ErrorCode::InvalidToken,
                "the login this token belongs to was ended (logged out, or a refresh token was replayed); log in again",
            )
            .into());
        }
        Ok(JwtAuth(claims))
    }
}

/// What the security schemes check credentials with, put in the request
/// data by the gate middleware: one shared value per request.
#[derive(Debug)]
pub struct Verifiers {
    pub jwt: Arc<JwtKeys>,
    /// Which login sessions were ended.
    pub sessions: Arc<Sessions>,
    pub clients: Arc<OAuthClients>,
}

fn verifiers(req: &Request) -> Result<&Verifiers, ApiError> {
    req.data::<Arc<Verifiers>>()
        .map(|v| &**v)
        .ok_or_else(|| ApiError::internal("the verifiers are missing from the request data"))
}

/// The token from `Authorization: Bearer <t>` or `Authorization: JWT <t>`.
fn bearer_token(req: &Request) -> Result<&str, ApiError> {
    single_authorization(req)?;
    let header = req
        .headers()
        .get(poem::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthorized(
                ErrorCode::InvalidToken,
                "no Authorization header; send `Bearer <token>`",
            )
        })?;
    let value = header.to_str().map_err(|_| {
        ApiError::unauthorized(
            ErrorCode::InvalidToken,
            "the Authorization header is not ASCII",
        )
    })?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") && !scheme.eq_ignore_ascii_case("jwt") {
        return Err(ApiError::unauthorized(
            ErrorCode::InvalidToken,
            "the Authorization scheme must be `Bearer` (or `JWT`)",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::unauthorized(
            ErrorCode::InvalidToken,
            "the Authorization header has no token",
        ));
    }
    Ok(token)
}

/// Two `Authorization` headers are refused (400): checking one while a proxy
/// or COS reads the other is how credentials get confused.
fn single_authorization(req: &Request) -> Result<(), ApiError> {
    let count = req
        .headers()
        .get_all(poem::http::header::AUTHORIZATION)
        .iter()
        .count();
    if count > 1 {
        return Err(ApiError::invalid_request(
            "send exactly one Authorization header",
        ));
    }
    Ok(())
}

/// Refuses a caller whose token lacks any of `scopes` (403).
pub fn require_scopes(claims: &Claims, scopes: &[&str]) -> Result<(), ApiError> {
    match scopes.iter().find(|s| !claims.has_scope(s)) {
        None => Ok(()),
        Some(missing) => Err(ApiError::new(
            ErrorCode::InsufficientScope,
            format!("the token lacks the `{missing}` scope this operation needs"),
        )),
    }
}

/// The id of an authenticated OAuth client (the app calling cosgate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(pub String);

/// An OAuth client whose Basic credentials matched `OAUTH_CLIENTS`.
#[derive(Debug)]
pub struct OAuthClient(pub ClientId);

/// The configured clients. Each secret is kept as an HMAC tag under a key
/// made at startup, so checking a presented secret is `ring::hmac::verify`:
/// constant time, whatever the lengths.
pub struct OAuthClients {
    key: hmac::Key,
    clients: Vec<(String, hmac::Tag)>,
}

impl fmt::Debug for OAuthClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.clients.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("OAuthClients")
            .field("ids", &ids)
            .finish_non_exhaustive()
    }
}

impl OAuthClients {
    pub fn new(clients: &[(String, SecretString)]) -> Self {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &random_bytes::<32>());
        let clients = clients
            .iter()
            .map(|(id, secret)| {
                (
                    id.clone(),
                    hmac::sign(&key, secret.expose_secret().as_bytes()),
                )
            })
            .collect();
        Self { key, clients }
    }

    /// Whether `secret` is the secret of client `id`.
    pub fn verify(&self, id: &str, secret: &str) -> bool {
        match self.clients.iter().find(|(known, _)| known == id) {
            Some((_, tag)) => hmac::verify(&self.key, secret.as_bytes(), tag.as_ref()).is_ok(),
            None => {
                // Same work for an unknown id, so timing does not tell ids apart.
                let _ = hmac::verify(&self.key, secret.as_bytes(), &[0u8; 32]);
                false
            }
        }
    }
}

fn client_error(message: &str) -> ApiError {
    ApiError::unauthorized_client(message)
}

impl<'a> ApiExtractor<'a> for OAuthClient {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        register_http_scheme::<Self>(registry, "basic", None);
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![Self::NAME]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let clients = &verifiers(req)?.clients;
        single_authorization(req)?;
        let value = req
            .headers()
            .get(poem::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                client_error("no Authorization header; send Basic client_id:client_secret")
            })?;
        let encoded = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .map(|(_, rest)| rest.trim())
            .ok_or_else(|| client_error("the Authorization scheme must be Basic"))?;
        let decoded = BASE64
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                client_error("the Basic credentials are not base64 of client_id:client_secret")
            })?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| client_error("the Basic credentials are not client_id:client_secret"))?;
        if !clients.verify(id, secret) {
            return Err(client_error("unknown client or wrong client secret").into());
        }
        Ok(OAuthClient(ClientId(id.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_secrets_verify_only_for_their_client() {
        let clients = OAuthClients::new(&[
            ("app".into(), SecretString::from("s3cret".to_string())),
            ("web".into(), SecretString::from("other".to_string())),
        ]);
        assert!(clients.verify("app", "s3cret"));
        assert!(!clients.verify("app", "other"));
        assert!(!clients.verify("app", "s3cret "));
        assert!(!clients.verify("app", ""));
        assert!(!clients.verify("nobody", "s3cret"));
        assert!(!format!("{clients:?}").contains("s3cret"));
    }
}
