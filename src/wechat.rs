//! WeChat mini-program login: `jscode2session`, and decryption of the
//! legacy `encryptedData` user profile.
//!
//! The `code`, the app secret and the `session_key` are secrets: none is
//! logged, stored or put in an error. The base URL is configurable so tests
//! run a fake WeChat on loopback. This module knows nothing of cosgate's HTTP
//! API or store.

use std::{fmt, time::Duration};

use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::outbound::transport_error;

/// Who WeChat says logged in.
pub struct Session {
    pub openid: String,
    pub unionid: Option<String>,
    /// Decrypts this session's `encryptedData`; `None` for development logins.
    pub session_key: Option<SecretString>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("openid", &self.openid)
            .field("unionid", &self.unionid)
            .field(
                "session_key",
                &self.session_key.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}

/// Why WeChat did not give a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WechatError {
    /// 40029 and its kin: the code is invalid, expired or used.
    #[error("WeChat refused the login code (invalid, expired or already used)")]
    InvalidCode,
    /// 45011: WeChat's rate limit.
    #[error("WeChat is rate-limiting logins; retry later")]
    RateLimited,
    /// 40226: WeChat flags the user as high-risk.
    #[error("WeChat flags this user as high-risk")]
    HighRiskUser,
    /// WeChat is busy (-1) or did not answer in time.
    #[error("WeChat is unavailable: {0}")]
    Unavailable(String),
    /// WeChat answered something cosgate does not understand.
    #[error("WeChat gave an unexpected answer: {0}")]
    BadAnswer(String),
}

/// `jscode2session`'s answer: a session or an error code.
#[derive(Deserialize)]
struct Jscode2SessionAnswer {
    openid: Option<String>,
    unionid: Option<String>,
    session_key: Option<String>,
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
}

#[derive(Clone)]
pub struct WechatClient {
    http: reqwest::Client,
    base: String,
    appid: String,
    secret: SecretString,
    /// Development only: `dev-<name>` logs in as openid `dev-<name>`.
    dev_login: bool,
}

impl fmt::Debug for WechatClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatClient")
            .field("base", &self.base)
            .field("appid", &self.appid)
            .field("secret", &"** redacted **")
            .field("dev_login", &self.dev_login)
            .finish()
    }
}

impl WechatClient {
    pub fn new(
        base: &str,
        appid: &str,
        secret: SecretString,
        timeout: Duration,
        dev_login: bool,
    ) -> Self {
        let http = crate::outbound::client(timeout);
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            appid: appid.to_string(),
            secret,
            dev_login,
        }
    }

    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// Exchanges a `wx.login` code for the user's openid and session key.
    /// Busy answers and transport failures are retried once; refusals never.
    pub async fn code_to_session(&self, code: &str) -> Result<Session, WechatError> {
        if self.dev_login && code.starts_with("dev-") && code.len() > 4 {
            return Ok(Session {
                openid: code.to_string(),
                unionid: None,
                session_key: None,
            });
        }
        match self.jscode2session(code).await {
            Err(WechatError::Unavailable(_)) => self.jscode2session(code).await,
            other => other,
        }
    }

    async fn jscode2session(&self, code: &str) -> Result<Session, WechatError> {
        let url = format!("{}/sns/jscode2session", self.base);
        let resp = self
            .http
            .get(url)
            .query(&[
                ("appid", self.appid.as_str()),
                ("secret", self.secret.expose_secret()),
                ("js_code", code),
                ("grant_type", "authorization_code"),
            ])
            .send()
            .await
            // The error's URL would carry the secret and the code.
            .map_err(|e| WechatError::Unavailable(transport_error(&e.without_url())))?;
        if !resp.status().is_success() {
            return Err(WechatError::BadAnswer(format!(
                "HTTP {}",
                resp.status().as_u16()
            )));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| WechatError::Unavailable(transport_error(&e.without_url())))?;
        let answer: Jscode2SessionAnswer =
            serde_json::from_slice(&body).map_err(|_| WechatError::BadAnswer("not JSON".into()))?;
        match answer.errcode {
            0 => {}
            40029 | 40163 | 40125 | 41008 => return Err(WechatError::InvalidCode),
            45011 => return Err(WechatError::RateLimited),
            40226 => return Err(WechatError::HighRiskUser),
            -1 => return Err(WechatError::Unavailable("busy (errcode -1)".into())),
            other => {
                // errmsg is WeChat's text about the request, not a secret.
                return Err(WechatError::BadAnswer(format!(
                    "errcode {other}: {}",
                    answer.errmsg
                )));
            }
        }
        match (answer.openid, answer.session_key) {
            (Some(openid), Some(key)) if !openid.is_empty() => Ok(Session {
                openid,
                unionid: answer.unionid,
                session_key: Some(SecretString::from(key)),
            }),
            _ => Err(WechatError::BadAnswer("no openid or session_key".into())),
        }
    }
}

/// The profile in a decrypted `encryptedData`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    pub open_id: Option<String>,
    pub union_id: Option<String>,
    pub nick_name: Option<String>,
    pub avatar_url: Option<String>,
    pub watermark: Watermark,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Watermark {
    pub appid: String,
    pub timestamp: i64,
}

/// Why `encryptedData` could not be read. Never says more than which step
/// failed: the data is personal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error("encrypted_data or iv is not valid base64")]
    BadBase64,
    #[error("the iv (or session key) is not 16 bytes")]
    BadKeyOrIvLength,
    /// Wrong key, wrong iv, or tampered data (the padding does not check).
    #[error(
        "encrypted_data does not decrypt with this session (wrong iv, stale session, or altered data)"
    )]
    BadPadding,
    #[error("encrypted_data does not hold WeChat user info")]
    NotUserInfo,
    #[error("encrypted_data was made for another mini-program")]
    WrongApp,
}

/// Decrypts WeChat's `encryptedData`: AES-128-CBC with PKCS#7 padding, key
/// and iv base64-decoded; the plaintext's `watermark.appid` must be `appid`.
pub fn decrypt_user_info(
    session_key: &SecretString,
    encrypted_data: &str,
    iv: &str,
    appid: &str,
) -> Result<UserInfo, DecryptError> {
    let key = BASE64
        .decode(session_key.expose_secret())
        .map_err(|_| DecryptError::BadBase64)?;
    let iv = BASE64.decode(iv).map_err(|_| DecryptError::BadBase64)?;
    let data = BASE64
        .decode(encrypted_data)
        .map_err(|_| DecryptError::BadBase64)?;
    let cipher = cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, &iv)
        .map_err(|_| DecryptError::BadKeyOrIvLength)?;
    let plain = cipher
        .decrypt_padded_vec_mut::<Pkcs7>(&data)
        .map_err(|_| DecryptError::BadPadding)?;
    let info: UserInfo = serde_json::from_slice(&plain).map_err(|_| DecryptError::NotUserInfo)?;
    if info.watermark.appid != appid {
        return Err(DecryptError::WrongApp);
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WeChat's published example (开放数据校验与解密), copied in
    /// tests/vectors/wechat-encrypted-data.json.
    const VECTOR: &str = include_str!("../tests/vectors/wechat-encrypted-data.json");

    fn vector() -> serde_json::Value {
        serde_json::from_str(VECTOR).expect("the vector is JSON")
    }

    fn field(name: &str) -> String {
        vector()[name].as_str().expect("a string field").to_string()
    }

    fn decrypt(appid: &str) -> Result<UserInfo, DecryptError> {
        let key = SecretString::from(field("sessionKey"));
        decrypt_user_info(&key, &field("encryptedData"), &field("iv"), appid)
    }

    #[test]
    fn wechats_published_example_decrypts_to_its_plaintext() {
        let info = decrypt("wx4f4bc4dec97d474b").expect("the vector decrypts");
        assert_eq!(
            info.open_id.as_deref(),
            Some("oGZUI0egBJY1zhBYw2KhdUfwVJJE")
        );
        assert_eq!(
            info.union_id.as_deref(),
            Some("ocMvos6NjeKLIBqg5Mr9QjxrP1FA")
        );
        assert_eq!(info.nick_name.as_deref(), Some("Band"));
        let expected: UserInfo = serde_json::from_str(&field("plaintext")).unwrap();
        assert_eq!(info, expected);
    }

    #[test]
    fn another_apps_data_is_refused() {
        assert_eq!(decrypt("wx0000000000000000"), Err(DecryptError::WrongApp));
    }

    #[test]
    fn a_wrong_key_iv_or_encoding_is_an_error_never_a_panic() {
        let key = SecretString::from(field("sessionKey"));
        let data = field("encryptedData");
        let wrong_key = SecretString::from("AAAAAAAAAAAAAAAAAAAAAA==".to_string());
        let err =
            decrypt_user_info(&wrong_key, &data, &field("iv"), "wx4f4bc4dec97d474b").unwrap_err();
        assert!(
            matches!(err, DecryptError::BadPadding | DecryptError::NotUserInfo),
            "{err:?}"
        );
        assert_eq!(
            decrypt_user_info(&key, "%%%", &field("iv"), "x"),
            Err(DecryptError::BadBase64)
        );
        assert_eq!(
            decrypt_user_info(&key, &data, "AAAA", "x"),
            Err(DecryptError::BadKeyOrIvLength)
        );
        assert_eq!(
            decrypt_user_info(&key, "AAAA", &field("iv"), "x"),
            Err(DecryptError::BadPadding)
        );
    }

    #[test]
    fn session_debug_hides_the_session_key() {
        let s = Session {
            openid: "o".into(),
            unionid: None,
            session_key: Some(SecretString::from("k3y".to_string())),
        };
        assert!(!format!("{s:?}").contains("k3y"));
    }
}
