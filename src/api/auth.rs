//! Operations tagged `Auth`: log in with WeChat, rotate and revoke refresh
//! tokens, publish the public keys of access tokens.
//!
//! Each handler reads the request (either form of it), asks
//! [`crate::login`], and answers; `?` maps its errors (`src/api/error.rs`).

use super::{
    AuthApi, Handlers, Jwk, Jwks, RefreshRequest, RevokeRequest, TokenDetail, WxappLogin,
    enums::OneOf,
    error::{ApiError, ErrorCode},
    security::ClientId,
};
use crate::login::{LoginRequest, Tokens};

/// The longest `wx.login` code cosgate passes on (WeChat's are 32 bytes).
const MAX_CODE_BYTES: usize = 256;
/// The longest `encryptedData` cosgate decrypts.
const MAX_ENCRYPTED_BYTES: usize = 16 * 1024;
/// The longest refresh token cosgate looks up (its own are 43 bytes).
const MAX_REFRESH_TOKEN_BYTES: usize = 128;

impl AuthApi for Handlers {
    async fn oauth_create_token(
        &self,
        client: ClientId,
        code: Option<String>,
        body: WxappLogin,
    ) -> Result<TokenDetail, ApiError> {
        let request = login_request(code, body)?;
        let tokens = self.state.login.log_in(&request, &client.0).await?;
        Ok(token_detail(tokens))
    }

    async fn refresh_oauth_token(
        &self,
        client: ClientId,
        body: RefreshRequest,
    ) -> Result<TokenDetail, ApiError> {
        let token = checked_refresh_token("refresh_token", &body.refresh_token)?;
        let tokens = self.state.login.refresh(token, &client.0).await?;
        Ok(token_detail(tokens))
    }

    async fn revoke_oauth_token(
        &self,
        client: ClientId,
        body: RevokeRequest,
    ) -> Result<(), ApiError> {
        let token = checked_refresh_token("token", &body.token)?;
        if let Some(ended) = self.state.login.revoke(token, &client.0).await? {
            // Credentials cached for the account are not handed out again.
            self.state.signing.forget(&ended.account_id);
        }
        Ok(())
    }

    async fn get_jwks(&self) -> Result<Jwks, ApiError> {
        let keys = self.state.jwt.public_keys().iter().map(|key| Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: key.x.clone(),
            kid: key.kid.clone(),
            alg: "EdDSA".into(),
            r#use: "sig".into(),
        });
        Ok(Jwks {
            keys: keys.collect(),
        })
    }
}

fn checked_refresh_token<'a>(field: &str, token: &'a str) -> Result<&'a str, ApiError> {
    if token.is_empty() || token.len() > MAX_REFRESH_TOKEN_BYTES {
        return Err(ApiError::invalid_request(format!(
            "{field} is empty or too long"
        )));
    }
    Ok(token)
}

/// Reads the code and the optional encrypted profile from either form: the
/// documented fields, or the 2017 client's `?code=` with
/// `{username: encryptedData, password: iv}`.
pub(super) fn login_request(
    query_code: Option<String>,
    body: WxappLogin,
) -> Result<LoginRequest, ApiError> {
    let present = |v: Option<String>| v.filter(|s| !s.is_empty());
    let code = present(body.code)
        .or(present(query_code))
        .ok_or_else(|| ApiError::invalid_request("code is required, in the body or as ?code="))?;
    if code.len() > MAX_CODE_BYTES {
        return Err(ApiError::invalid_request(
            "code is too long to be a wx.login code",
        ));
    }
    let data = present(body.encrypted_data).or(present(body.username));
    let iv = present(body.iv).or(present(body.password));
    let bad = |message| ApiError::new(ErrorCode::InvalidEncryptedData, message);
    let encrypted = match (data, iv) {
        (None, None) => None,
        (Some(data), Some(iv)) if data.len() <= MAX_ENCRYPTED_BYTES => Some((data, iv)),
        (Some(_), Some(_)) => return Err(bad("encrypted_data is too long")),
        _ => return Err(bad("encrypted_data and iv go together")),
    };
    Ok(LoginRequest { code, encrypted })
}

fn token_detail(tokens: Tokens) -> TokenDetail {
    TokenDetail {
        account_id: tokens.account.id,
        access_token: tokens.access_token,
        token_type: OneOf::listed("jwt"),
        expires_in: tokens.expires_in as i64,
        refresh_token: tokens.refresh_token,
        nickname: tokens.account.nickname,
    }
}
