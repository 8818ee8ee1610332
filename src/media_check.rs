//! WeChat's content security for mini-programs: `security.mediaCheckAsync`
//! (version 2), the access token it needs, and the verdict WeChat pushes
//! back (`wxa_media_check`), whose signature and, in safe mode, encryption
//! are checked as WeChat's message-push document defines them:
//!
//! ```text
//! plain:  signature     = hex(SHA1(sort(token, timestamp, nonce) joined))
//! safe:   msg_signature = hex(SHA1(sort(token, timestamp, nonce, Encrypt) joined))
//!         key = base64(EncodingAESKey + "="), 32 bytes; IV = key[..16]
//!         AES-256-CBC, PKCS#7 to 32-byte blocks:
//!         random(16) ‖ len(msg) as u32 big-endian ‖ msg ‖ appid
//! ```
//!
//! The access token (`cgi-bin/stable_token`) is kept in the store, shared by
//! every replica, fetched again five minutes before it expires (or when
//! WeChat says it is invalid), never logged. The push token and AES key are
//! secrets too. Knows no HTTP server types.

use std::{fmt, time::Duration};

use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::NoPadding};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::{outbound::transport_error, store::Store, wechat::WechatError};

/// A push older (or newer) than this is refused as a replay.
pub const PUSH_MAX_AGE: u64 = 300;
/// The access token is fetched again this long before it expires.
const TOKEN_MARGIN: i64 = 300;

/// WeChat's content security for one mini-program.
pub struct MediaCheck {
    http: reqwest::Client,
    base: String,
    appid: String,
    secret: SecretString,
    store: Store,
    scene: u8,
    push_token: SecretString,
    /// Safe mode's key, when `WECHAT_PUSH_AES_KEY` is set.
    aes_key: Option<[u8; 32]>,
}

impl fmt::Debug for MediaCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaCheck")
            .field("base", &self.base)
            .field("appid", &self.appid)
            .field("scene", &self.scene)
            .field("safe_mode", &self.aes_key.is_some())
            .finish_non_exhaustive()
    }
}

/// WeChat's verdict on one check, from a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub trace_id: String,
    /// `pass`, `risky` or `review`.
    pub suggest: String,
    /// WeChat's label number (100 normal, 20001 political, …).
    pub label: i64,
    /// WeChat's `errcode` for the check: not 0 when it could not check.
    pub errcode: i64,
}

/// Why a push was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("the push's signature does not match")]
    BadSignature,
    #[error("the push's timestamp is more than {PUSH_MAX_AGE} s from now")]
    Stale,
    #[error("the push cannot be decrypted")]
    Undecryptable,
    #[error("the push is for another mini-program")]
    OtherApp,
    #[error("the push is not a media check verdict: {0}")]
    NotAVerdict(String),
}

/// The query of a push (and of WeChat's URL check).
#[derive(Debug, Clone, Default)]
pub struct PushQuery {
    pub signature: Option<String>,
    pub timestamp: Option<String>,
    pub nonce: Option<String>,
    pub msg_signature: Option<String>,
}

/// The fields of a push body cosgate reads (plain, or decrypted).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PushBody {
    #[serde(rename = "ToUserName")]
    pub to_user_name: Option<String>,
    #[serde(rename = "Encrypt")]
    pub encrypt: Option<String>,
    #[serde(rename = "Event")]
    pub event: Option<String>,
    pub appid: Option<String>,
    pub trace_id: Option<String>,
    pub errcode: Option<i64>,
    pub result: Option<PushResult>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PushResult {
    pub suggest: Option<String>,
    pub label: Option<i64>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<i64>,
    #[serde(default)]
    errcode: i64,
}

#[derive(Deserialize)]
struct CheckAnswer {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    trace_id: Option<String>,
}

/// Why a media check was not submitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// WeChat refused this check (its errcode names why: a media it will not
    /// take, an openid it does not know): asking again would not help.
    #[error("WeChat refused the check: {0}")]
    Refused(String),
    /// No check was made: WeChat unreachable or busy, or cosgate's own
    /// credentials refused (`stable_token`): worth asking again, and never a
    /// verdict.
    #[error(transparent)]
    Failed(#[from] WechatError),
}

/// What a [`MediaCheck`] is built from.
#[derive(Debug, Clone)]
pub struct MediaCheckSettings {
    pub base: String,
    pub appid: String,
    pub secret: SecretString,
    pub timeout: Duration,
    pub scene: u8,
    pub push_token: SecretString,
    /// `WECHAT_PUSH_AES_KEY` (EncodingAESKey), 43 characters.
    pub aes_key: Option<SecretString>,
}

/// The 32-byte key of an EncodingAESKey (43 base64 characters), if it is one.
/// WeChat's console makes them at random, so the last character's two spare
/// bits are often set: decoded as WeChat's own samples (Java, Python) do,
/// ignoring them.
pub fn aes_key(encoding_aes_key: &str) -> Option<[u8; 32]> {
    use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    if encoding_aes_key.len() != 43 {
        return None;
    }
    LENIENT
        .decode(format!("{encoding_aes_key}="))
        .ok()?
        .try_into()
        .ok()
}

impl MediaCheck {
    pub fn new(settings: &MediaCheckSettings, store: Store) -> Self {
        Self {
            http: crate::outbound::client(settings.timeout),
            base: settings.base.trim_end_matches('/').to_string(),
            appid: settings.appid.clone(),
            secret: settings.secret.clone(),
            store,
            scene: settings.scene,
            push_token: settings.push_token.clone(),
            aes_key: settings
                .aes_key
                .as_ref()
                .and_then(|k| aes_key(k.expose_secret())),
        }
    }

    /// Submits `media_url` (a presigned GET of the object) for `openid`'s
    /// upload: WeChat's `trace_id`. `media_type` 2 is an image, 1 audio.
    pub async fn submit(
        &self,
        media_url: &str,
        media_type: u8,
        openid: &str,
        now: u64,
    ) -> Result<String, SubmitError> {
        let mut force = false;
        loop {
            let token = self.access_token(now, force).await?;
            let resp = self
                .http
                .post(format!("{}/wxa/media_check_async", self.base))
                .query(&[("access_token", token.expose_secret())])
                .json(&serde_json::json!({
                    "media_url": media_url,
                    "media_type": media_type,
                    "version": 2,
                    "scene": self.scene,
                    "openid": openid,
                }))
                .send()
                .await
                // The URL carries the access token.
                .map_err(|e| WechatError::Unavailable(transport_error(&e.without_url())))?;
            let answer: CheckAnswer = resp
                .json()
                .await
                .map_err(|_| WechatError::BadAnswer("media_check_async: not JSON".into()))?;
            match (answer.errcode, answer.trace_id) {
                (0, Some(trace_id)) if !trace_id.is_empty() => return Ok(trace_id),
                // The token was revoked or expired early: fetch one, once.
                (40001 | 42001 | 40014, _) if !force => force = true,
                (-1, _) => {
                    return Err(WechatError::Unavailable("busy (errcode -1)".into()).into());
                }
                (0, None) => {
                    return Err(
                        WechatError::BadAnswer("media_check_async: no trace_id".into()).into(),
                    );
                }
                (code, _) => {
                    return Err(SubmitError::Refused(format!(
                        "media_check_async errcode {code}: {}",
                        answer.errmsg
                    )));
                }
            }
        }
    }

    /// The access token: the store's while it has five minutes left, else
    /// a new one from `stable_token` (`force_refresh` when WeChat said the
    /// stored one is invalid), saved for every replica.
    async fn access_token(&self, now: u64, force: bool) -> Result<SecretString, WechatError> {
        let store_error = |e: crate::store::StoreError| WechatError::Unavailable(e.to_string());
        if !force
            && let Some((token, expires_at)) = self
                .store
                .wechat_token(&self.appid)
                .await
                .map_err(store_error)?
            && expires_at - TOKEN_MARGIN > now as i64
        {
            return Ok(SecretString::from(token));
        }
        let resp = self
            .http
            .post(format!("{}/cgi-bin/stable_token", self.base))
            .json(&serde_json::json!({
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self.secret.expose_secret(),
                "force_refresh": force,
            }))
            .send()
            .await
            .map_err(|e| WechatError::Unavailable(transport_error(&e.without_url())))?;
        let answer: TokenAnswer = resp
            .json()
            .await
            .map_err(|_| WechatError::BadAnswer("stable_token: not JSON".into()))?;
        match (answer.access_token, answer.expires_in) {
            (Some(token), Some(expires_in)) if answer.errcode == 0 && !token.is_empty() => {
                let expires_at = now as i64 + expires_in;
                self.store
                    .save_wechat_token(&self.appid, &token, expires_at)
                    .await
                    .map_err(store_error)?;
                Ok(SecretString::from(token))
            }
            _ => Err(WechatError::BadAnswer(format!(
                "stable_token errcode {}",
                answer.errcode
            ))),
        }
    }

    /// WeChat's URL check (a GET with `echostr` when the push URL is
    /// configured): whether its signature is the token's.
    pub fn verify_url(&self, query: &PushQuery, now: u64) -> Result<(), PushError> {
        self.fresh(query, now)?;
        let expected = signature(&[
            self.push_token.expose_secret(),
            query.timestamp.as_deref().unwrap_or_default(),
            query.nonce.as_deref().unwrap_or_default(),
        ]);
        if same(&expected, query.signature.as_deref().unwrap_or_default()) {
            Ok(())
        } else {
            Err(PushError::BadSignature)
        }
    }

    /// A push's verdict, once its signature (and in safe mode its
    /// encryption) checks out and it is fresh and for this mini-program.
    pub fn open(&self, query: &PushQuery, body: PushBody, now: u64) -> Result<Verdict, PushError> {
        self.fresh(query, now)?;
        let body = match (&self.aes_key, &body.encrypt) {
            (Some(key), Some(encrypted)) => {
                let expected = signature(&[
                    self.push_token.expose_secret(),
                    query.timestamp.as_deref().unwrap_or_default(),
                    query.nonce.as_deref().unwrap_or_default(),
                    encrypted,
                ]);
                if !same(
                    &expected,
                    query.msg_signature.as_deref().unwrap_or_default(),
                ) {
                    return Err(PushError::BadSignature);
                }
                let (message, appid) = decrypt(key, encrypted).ok_or(PushError::Undecryptable)?;
                if appid != self.appid {
                    return Err(PushError::OtherApp);
                }
                serde_json::from_slice::<PushBody>(&message)
                    .map_err(|_| PushError::NotAVerdict("the decrypted body is not JSON".into()))?
            }
            // Safe mode takes encrypted pushes only.
            (Some(_), None) => return Err(PushError::Undecryptable),
            (None, _) => {
                self.verify_url(query, now)?;
                body
            }
        };
        if body.event.as_deref() != Some("wxa_media_check") {
            return Err(PushError::NotAVerdict(format!("event {:?}", body.event)));
        }
        if body.appid.as_deref().is_some_and(|a| a != self.appid) {
            return Err(PushError::OtherApp);
        }
        let result = body.result.unwrap_or_default();
        let errcode = body.errcode.unwrap_or_default();
        // A check WeChat could not make has an errcode and maybe no result.
        let suggest = result.suggest.or_else(|| (errcode != 0).then(String::new));
        match (body.trace_id, suggest) {
            (Some(trace_id), Some(suggest)) if !trace_id.is_empty() => Ok(Verdict {
                trace_id,
                suggest,
                label: result.label.unwrap_or_default(),
                errcode,
            }),
            _ => Err(PushError::NotAVerdict("no trace_id or result".into())),
        }
    }

    fn fresh(&self, query: &PushQuery, now: u64) -> Result<(), PushError> {
        let timestamp: u64 = query
            .timestamp
            .as_deref()
            .and_then(|t| t.parse().ok())
            .ok_or(PushError::BadSignature)?;
        if timestamp.abs_diff(now) > PUSH_MAX_AGE {
            return Err(PushError::Stale);
        }
        Ok(())
    }
}

/// `hex(SHA1(sorted parts, joined))`.
fn signature(parts: &[&str]) -> String {
    use sha1::Digest;
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    crate::signer::hex(&sha1::Sha1::digest(sorted.concat().as_bytes()))
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `random(16) ‖ len ‖ message ‖ appid` out of `encrypted`: (message, appid).
fn decrypt(key: &[u8; 32], encrypted: &str) -> Option<(Vec<u8>, String)> {
    type Decryptor = cbc::Decryptor<aes::Aes256>;
    let mut data = BASE64.decode(encrypted).ok()?;
    if data.is_empty() || data.len() % 16 != 0 {
        return None;
    }
    let iv: [u8; 16] = key[..16].try_into().ok()?;
    let plain = Decryptor::new(key.into(), &iv.into())
        .decrypt_padded_mut::<NoPadding>(&mut data)
        .ok()?;
    // PKCS#7 to 32-byte blocks, as WeChat pads.
    let pad = usize::from(*plain.last()?);
    if !(1..=32).contains(&pad) || pad > plain.len() {
        return None;
    }
    let plain = &plain[..plain.len() - pad];
    let length = u32::from_be_bytes(plain.get(16..20)?.try_into().ok()?) as usize;
    let message = plain.get(20..20 + length)?.to_vec();
    let appid = String::from_utf8(plain.get(20 + length..)?.to_vec()).ok()?;
    Some((message, appid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_sort_their_parts_as_wechat_does() {
        // Token "AAAAA", timestamp 1714037059, nonce 486452656: SHA-1 of
        // "1714037059486452656AAAAA" (Python's hashlib).
        let expected = "899cf89e464efb63f54ddac96b0a0a235f53aa78";
        assert_eq!(signature(&["AAAAA", "1714037059", "486452656"]), expected);
        assert_eq!(signature(&["486452656", "AAAAA", "1714037059"]), expected);
    }

    #[test]
    fn an_encoding_aes_key_is_43_base64_characters() {
        assert!(aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").is_some());
        // Spare bits set in the last character, as WeChat's keys often have.
        assert!(aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFH").is_some());
        assert!(aes_key("too-short").is_none());
        assert!(aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF!").is_none());
    }
}
