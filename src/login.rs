//! Logging in with WeChat: who the caller is, their account, and the tokens
//! that prove it.
//!
//! Over the [`Store`], the [`WechatClient`] and the JWT keys; knows nothing
//! of HTTP. `src/api/auth.rs` and `src/api/accounts.rs` map its answers and
//! its [`LoginError`]s to the contract (`src/api/error.rs`).

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::{
    clock::{random_bytes, unix_now},
    metrics::Metrics,
    sessions::Sessions,
    signer::hex,
    store::{Account, NewRefreshToken, Profile, RefreshRefusal, Session, Store, StoreError},
    tokens::{JwtKeys, TokenError},
    wechat::{self, DecryptError, WechatClient, decrypt_user_info},
};

/// The scopes every access token from a login carries.
const LOGIN_SCOPES: &[&str] = &["open"];

/// What a client sends to log in or register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRequest {
    /// The code from `wx.login`.
    pub code: String,
    /// `(encryptedData, iv)` from `wx.getUserInfo`, if the app sent them.
    pub encrypted: Option<(String, String)>,
}

/// Why a login, registration or refresh was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Wechat(#[from] wechat::WechatError),
    #[error("development logins have no session key to decrypt with")]
    NoSessionKey,
    #[error(transparent)]
    EncryptedData(#[from] DecryptError),
    #[error("encrypted_data belongs to another user")]
    EncryptedDataOfAnotherUser,
    #[error("this WeChat user has no account; register at POST /auth/accounts/wxapp")]
    NotRegistered,
    #[error("this WeChat user already has an account; log in at POST /auth/oauth/token")]
    AlreadyRegistered,
    #[error("{}", refusal_message(*.0))]
    RefreshRefused(RefreshRefusal),
    #[error("the account no longer exists")]
    AccountGone,
    #[error("the store failed: {0}")]
    Store(StoreError),
    #[error("cannot mint an access token: {0}")]
    Token(#[from] TokenError),
}

impl From<StoreError> for LoginError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::AlreadyExists => LoginError::AlreadyRegistered,
            other => LoginError::Store(other),
        }
    }
}

/// A logged-in account and its new tokens.
#[derive(Debug)]
pub struct Tokens {
    pub account: Account,
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Single use; stored only as its hash.
    pub refresh_token: String,
}

/// Lifetimes and registration policy, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct LoginPolicy {
    /// The first login creates the account; otherwise register explicitly.
    pub auto_register: bool,
    pub access_ttl: u64,
    pub refresh_ttl: u64,
}

/// Logs users in; cheap to share.
#[derive(Debug)]
pub struct Login {
    store: Store,
    wechat: WechatClient,
    jwt: Arc<JwtKeys>,
    policy: LoginPolicy,
    metrics: Arc<Metrics>,
    sessions: Arc<Sessions>,
}

impl Login {
    pub fn new(
        store: Store,
        wechat: WechatClient,
        jwt: Arc<JwtKeys>,
        policy: LoginPolicy,
        metrics: Arc<Metrics>,
        sessions: Arc<Sessions>,
    ) -> Self {
        Self {
            store,
            wechat,
            jwt,
            policy,
            metrics,
            sessions,
        }
    }

    /// Asks WeChat who sent the code, records the login (creating the
    /// account when the policy allows), and issues tokens of a new family.
    pub async fn log_in(
        &self,
        request: &LoginRequest,
        client_id: &str,
    ) -> Result<Tokens, LoginError> {
        let (openid, profile) = self.identify(request).await?;
        let now = unix_now() as i64;
        let account = self
            .store
            .login(
                &new_account_id(),
                &openid,
                &profile,
                now,
                self.policy.auto_register,
            )
            .await?
            .ok_or(LoginError::NotRegistered)?;
        let refresh = self.new_refresh_token(now);
        let family = hex(&random_bytes::<16>());
        self.store
            .add_refresh_token(&refresh.stored(&family, &account.id, client_id))
            .await?;
        self.tokens(account, &family, now, refresh.token)
    }

    /// Creates the account of the WeChat user who sent the code.
    pub async fn register(&self, request: &LoginRequest) -> Result<Account, LoginError> {
        let (openid, profile) = self.identify(request).await?;
        let now = unix_now() as i64;
        Ok(self
            .store
            .create_account(&new_account_id(), &openid, &profile, now)
            .await?)
    }

    /// Rotates a refresh token into new tokens of the same session. A token
    /// presented twice revokes its whole family, which ends the session: its
    /// access tokens are refused too ([`Sessions`]).
    pub async fn refresh(
        &self,
        refresh_token: &str,
        client_id: &str,
    ) -> Result<Tokens, LoginError> {
        let now = unix_now() as i64;
        let next = self.new_refresh_token(now);
        let session = self
            .store
            .rotate_refresh_token(
                &hash_refresh_token(refresh_token),
                &next.hash,
                client_id,
                now,
                next.expires_at,
            )
            .await?
            .map_err(|refusal| {
                if refusal == RefreshRefusal::Reused {
                    tracing::warn!(
                        "a rotated refresh token was presented again; its family is revoked"
                    );
                }
                LoginError::RefreshRefused(refusal)
            })?;
        let account = self
            .store
            .account(&session.account_id)
            .await?
            .ok_or(LoginError::AccountGone)?;
        self.tokens(account, &session.family_id, now, next.token)
    }

    /// Logs out (RFC 7009): revokes every refresh token of the login that
    /// `refresh_token` belongs to, if `client_id` obtained it, and ends the
    /// session on this replica at once (others within
    /// [`Sessions`]' interval). Unknown tokens are not an error, so nothing
    /// is learnt by trying; the ended session, if any, is returned.
    pub async fn revoke(
        &self,
        refresh_token: &str,
        client_id: &str,
    ) -> Result<Option<Session>, LoginError> {
        let now = unix_now() as i64;
        let ended = self
            .store
            .revoke_family(&hash_refresh_token(refresh_token), client_id, now)
            .await?;
        if let Some(session) = &ended {
            self.sessions.ended(&session.family_id);
        }
        Ok(ended)
    }

    /// The account with this id, if it exists.
    pub async fn account(&self, id: &str) -> Result<Option<Account>, LoginError> {
        Ok(self.store.account(id).await?)
    }

    /// Asks WeChat who sent the code, and decrypts the profile if sent.
    async fn identify(&self, request: &LoginRequest) -> Result<(String, Profile), LoginError> {
        let started = std::time::Instant::now();
        let session = self.wechat.code_to_session(&request.code).await;
        let outcome = match &session {
            Ok(_) => "ok",
            Err(wechat::WechatError::InvalidCode | wechat::WechatError::HighRiskUser) => "refused",
            Err(wechat::WechatError::RateLimited) => "rate_limited",
            Err(wechat::WechatError::Unavailable(_)) => "unavailable",
            Err(wechat::WechatError::BadAnswer(_)) => "bad_answer",
        };
        self.metrics.upstream("wechat", outcome, started.elapsed());
        let session =
            session.inspect_err(|err| tracing::warn!(reason = %err, "WeChat login failed"))?;
        let mut profile = Profile {
            unionid: session.unionid.clone(),
            ..Default::default()
        };
        if let Some((data, iv)) = &request.encrypted {
            let key = session
                .session_key
                .as_ref()
                .ok_or(LoginError::NoSessionKey)?;
            let info = decrypt_user_info(key, data, iv, self.wechat.appid())?;
            if info
                .open_id
                .as_ref()
                .is_some_and(|id| *id != session.openid)
            {
                return Err(LoginError::EncryptedDataOfAnotherUser);
            }
            profile.unionid = info.union_id.or(profile.unionid);
            profile.nickname = info.nick_name;
            profile.avatar = info.avatar_url;
        }
        Ok((session.openid, profile))
    }

    fn tokens(
        &self,
        account: Account,
        session: &str,
        now: i64,
        refresh_token: String,
    ) -> Result<Tokens, LoginError> {
        let ttl = self.policy.access_ttl;
        let access_token =
            self.jwt
                .mint_for_session(&account.id, LOGIN_SCOPES, Some(session), now as u64, ttl)?;
        Ok(Tokens {
            account,
            access_token,
            expires_in: ttl,
            refresh_token,
        })
    }

    fn new_refresh_token(&self, now: i64) -> RefreshToken {
        let token = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
        RefreshToken {
            hash: hash_refresh_token(&token),
            token,
            created_at: now,
            expires_at: now + self.policy.refresh_ttl as i64,
        }
    }
}

/// A refresh token (256 random bits, base64url) and what is stored of it.
struct RefreshToken {
    token: String,
    hash: String,
    created_at: i64,
    expires_at: i64,
}

impl RefreshToken {
    fn stored<'a>(
        &'a self,
        family_id: &'a str,
        account_id: &'a str,
        client_id: &'a str,
    ) -> NewRefreshToken<'a> {
        NewRefreshToken {
            token_hash: &self.hash,
            family_id,
            account_id,
            client_id,
            created_at: self.created_at,
            expires_at: self.expires_at,
        }
    }
}

fn refusal_message(refusal: RefreshRefusal) -> &'static str {
    match refusal {
        RefreshRefusal::Unknown => "unknown refresh token",
        RefreshRefusal::Expired => "the refresh token has expired; log in again",
        RefreshRefusal::Revoked => "the refresh token was revoked; log in again",
        RefreshRefusal::Reused => {
            "the refresh token was already used; every token of that login is now revoked"
        }
        RefreshRefusal::OtherClient => "unknown refresh token",
    }
}

/// An opaque account id that is also a safe directory name.
fn new_account_id() -> String {
    format!("acc_{}", hex(&random_bytes::<12>()))
}

fn hash_refresh_token(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}
