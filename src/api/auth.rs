//! Operations tagged `Auth`: log in with WeChat, rotate refresh tokens.
//!
//! Login reads as its steps: take the code (body or the 2017 client's query),
//! ask WeChat who it is, record the login, issue tokens.

use poem_openapi::payload::Json;

use super::{
    AuthApi, Handlers, OauthCreateTokenResponse, RefreshOauthTokenResponse, RefreshRequest,
    TokenDetail, WxappLogin, error::ApiError, security::ClientId,
};
use crate::{
    clock::{random_bytes, unix_now},
    signer::hex,
    store::{self, RefreshRefusal},
    wechat::{LoginError, decrypt_user_info},
};

/// The longest `wx.login` code cosgate passes on (WeChat's are 32 bytes).
const MAX_CODE_BYTES: usize = 256;
/// The longest `encryptedData` cosgate decrypts.
const MAX_ENCRYPTED_BYTES: usize = 16 * 1024;

impl AuthApi for Handlers {
    async fn oauth_create_token(
        &self,
        _client: ClientId,
        code: Option<String>,
        body: WxappLogin,
    ) -> OauthCreateTokenResponse {
        match self.login(code, body).await {
            Ok(tokens) => OauthCreateTokenResponse::Created(Json(tokens)),
            Err(err) => err.into(),
        }
    }

    async fn refresh_oauth_token(
        &self,
        _client: ClientId,
        body: RefreshRequest,
    ) -> RefreshOauthTokenResponse {
        match self.refresh(&body.refresh_token).await {
            Ok(tokens) => RefreshOauthTokenResponse::Ok(Json(tokens)),
            Err(err) => err.into(),
        }
    }
}

/// A login request, whichever form it came in.
pub(super) struct LoginInput {
    pub code: String,
    /// `(encrypted_data, iv)`.
    pub encrypted: Option<(String, String)>,
}

/// Reads the code and the optional encrypted profile from either form: the
/// documented fields, or the 2017 client's `?code=` with
/// `{username: encryptedData, password: iv}`.
pub(super) fn login_input(
    query_code: Option<String>,
    body: WxappLogin,
) -> Result<LoginInput, ApiError> {
    let present = |v: Option<String>| v.filter(|s| !s.is_empty());
    let code = present(body.code).or(present(query_code)).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_request",
            "code is required, in the body or as ?code=",
        )
    })?;
    if code.len() > MAX_CODE_BYTES {
        return Err(ApiError::bad_request(
            "invalid_request",
            "code is too long to be a wx.login code",
        ));
    }
    let data = present(body.encrypted_data).or(present(body.username));
    let iv = present(body.iv).or(present(body.password));
    let encrypted = match (data, iv) {
        (None, None) => None,
        (Some(data), Some(iv)) if data.len() <= MAX_ENCRYPTED_BYTES => Some((data, iv)),
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_encrypted_data",
                "encrypted_data is too long",
            ));
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_encrypted_data",
                "encrypted_data and iv go together",
            ));
        }
    };
    Ok(LoginInput { code, encrypted })
}

impl Handlers {
    async fn login(&self, code: Option<String>, body: WxappLogin) -> Result<TokenDetail, ApiError> {
        let input = login_input(code, body)?;
        let (openid, profile) = self.wechat_identity(&input).await?;
        let now = unix_now() as i64;
        let register = self.state.settings.login.auto_register;
        let account = self
            .state
            .store
            .login(&new_account_id(), &openid, &profile, now, register)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "wxapp_not_registered",
                    "this WeChat user has no account; register at POST /auth/accounts/wxapp",
                )
            })?;
        self.issue_tokens(&account, now).await
    }

    /// Asks WeChat who sent `input.code`, and decrypts the profile if sent.
    pub(super) async fn wechat_identity(
        &self,
        input: &LoginInput,
    ) -> Result<(String, store::Profile), ApiError> {
        let wechat = &self.state.wechat;
        let session = wechat
            .code_to_session(&input.code)
            .await
            .map_err(login_error)?;
        let mut profile = store::Profile {
            unionid: session.unionid.clone(),
            ..Default::default()
        };
        if let Some((data, iv)) = &input.encrypted {
            let key = session.session_key.as_ref().ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_encrypted_data",
                    "development logins have no session key to decrypt with",
                )
            })?;
            let info = decrypt_user_info(key, data, iv, wechat.appid())
                .map_err(|e| ApiError::bad_request("invalid_encrypted_data", e.to_string()))?;
            if info
                .open_id
                .as_ref()
                .is_some_and(|id| *id != session.openid)
            {
                return Err(ApiError::bad_request(
                    "invalid_encrypted_data",
                    "encrypted_data belongs to another user",
                ));
            }
            profile.unionid = info.union_id.or(profile.unionid);
            profile.nickname = info.nick_name;
            profile.avatar = info.avatar_url;
        }
        Ok((session.openid, profile))
    }

    async fn refresh(&self, refresh_token: &str) -> Result<TokenDetail, ApiError> {
        if refresh_token.is_empty() || refresh_token.len() > 128 {
            return Err(ApiError::bad_request(
                "invalid_request",
                "refresh_token is empty or too long",
            ));
        }
        let now = unix_now() as i64;
        let (new_token, new_hash) = new_refresh_token();
        let expires = now + self.state.settings.jwt.refresh_ttl as i64;
        let rotated = self
            .state
            .store
            .rotate_refresh_token(&hash_refresh_token(refresh_token), &new_hash, now, expires)
            .await
            .map_err(ApiError::internal)?;
        let account_id = rotated.map_err(|refusal| {
            if refusal == RefreshRefusal::Reused {
                tracing::warn!(
                    "a rotated refresh token was presented again; its family is revoked"
                );
            }
            ApiError::unauthorized("invalid_refresh_token", refusal_message(refusal))
        })?;
        let account = self
            .state
            .store
            .account(&account_id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| {
                ApiError::unauthorized("invalid_refresh_token", "the account no longer exists")
            })?;
        self.tokens_for(&account, now, new_token)
    }

    /// A new access token and the first refresh token of a new family.
    async fn issue_tokens(
        &self,
        account: &store::Account,
        now: i64,
    ) -> Result<TokenDetail, ApiError> {
        let (refresh, hash) = new_refresh_token();
        let expires = now + self.state.settings.jwt.refresh_ttl as i64;
        let family = hex(&random_bytes::<16>());
        self.state
            .store
            .add_refresh_token(&hash, &family, &account.id, now, expires)
            .await
            .map_err(ApiError::internal)?;
        self.tokens_for(account, now, refresh)
    }

    fn tokens_for(
        &self,
        account: &store::Account,
        now: i64,
        refresh_token: String,
    ) -> Result<TokenDetail, ApiError> {
        let ttl = self.state.settings.jwt.access_ttl;
        let access_token = self
            .state
            .jwt
            .mint(&account.id, &["open"], now as u64, ttl)
            .map_err(ApiError::internal)?;
        Ok(TokenDetail {
            account_id: account.id.clone(),
            access_token,
            token_type: "jwt".into(),
            expires_in: ttl as i64,
            refresh_token,
            nickname: account.nickname.clone(),
        })
    }
}

fn login_error(err: LoginError) -> ApiError {
    use poem::http::StatusCode;
    tracing::warn!(reason = %err, "WeChat login failed");
    let (status, code) = match err {
        LoginError::InvalidCode => {
            return ApiError::unauthorized("invalid_wxapp_code", err.to_string());
        }
        LoginError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "wechat_rate_limited"),
        LoginError::HighRiskUser => (StatusCode::FORBIDDEN, "wechat_high_risk_user"),
        LoginError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "wechat_unavailable"),
        LoginError::BadAnswer(_) => (StatusCode::BAD_GATEWAY, "wechat_unavailable"),
    };
    ApiError::with_status(status, code, err.to_string())
}

fn refusal_message(refusal: RefreshRefusal) -> &'static str {
    match refusal {
        RefreshRefusal::Unknown => "unknown refresh token",
        RefreshRefusal::Expired => "the refresh token has expired; log in again",
        RefreshRefusal::Revoked => "the refresh token was revoked; log in again",
        RefreshRefusal::Reused => {
            "the refresh token was already used; every token of that login is now revoked"
        }
    }
}

/// An opaque account id that is also a safe directory name.
pub(super) fn new_account_id() -> String {
    format!("acc_{}", hex(&random_bytes::<12>()))
}

/// A refresh token (256 random bits, base64url) and the hash that is stored.
fn new_refresh_token() -> (String, String) {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let token = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    let hash = hash_refresh_token(&token);
    (token, hash)
}

fn hash_refresh_token(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}
