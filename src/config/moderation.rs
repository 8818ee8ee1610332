//! `MODERATION*`: a content check between an upload's verification at COS
//! and its completion ([`crate::uploads`]).

use super::{Environment, reader::Reader};
use crate::paths::CosDir;

/// Who checks uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Tencent Cloud Infinite's image moderation, called synchronously on
    /// the object (`ci-process=sensitive-content-recognition`).
    CloudInfinite,
    /// WeChat's `security.mediaCheckAsync` (version 2): the verdict comes
    /// later, pushed to `POST /v1/moderation/wechat`.
    Wechat,
}

/// What happens to an upload the provider does not decide on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Completed as if judged normal.
    Complete,
    /// Kept `in_review` until an operator releases or rejects it.
    Hold,
    /// Rejected and quarantined.
    Reject,
}

impl Outcome {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "complete" => Some(Self::Complete),
            "hold" => Some(Self::Hold),
            "reject" => Some(Self::Reject),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ModerationSettings {
    pub provider: Provider,
    /// `MODERATION_SUSPICIOUS`: a "suspicious" verdict (`hold` or `reject`).
    pub suspicious: Outcome,
    /// `MODERATION_UNCHECKABLE`: a type the provider cannot check.
    pub uncheckable: Outcome,
    /// `MODERATION_QUARANTINE_ROOT`: where rejected content is moved (a
    /// server-side copy, then a delete); `None` (`MODERATION_QUARANTINE=delete`)
    /// deletes it.
    pub quarantine_root: Option<CosDir>,
    /// `CI_BIZ_TYPE`: the operator's moderation policy at Cloud Infinite.
    pub biz_type: Option<String>,
    /// `MODERATION_RETRY_SECONDS`: how long an unanswered check waits
    /// before the sweeper asks again.
    pub retry_seconds: u64,
    /// `MODERATION_TIMEOUT_SECONDS`: how long a check may go without a
    /// verdict (WeChat's push, or Cloud Infinite failing again and again).
    pub timeout_seconds: u64,
    /// `MODERATION_TIMEOUT_OUTCOME`: what a verdict that never came means.
    pub timeout_outcome: Outcome,
    /// With WeChat: its settings.
    pub wechat: Option<WechatModeration>,
}

/// `WECHAT_*` for `MODERATION=wechat`.
#[derive(Debug, Clone)]
pub struct WechatModeration {
    /// `WECHAT_MEDIA_CHECK_SCENE`: 1 profile, 2 comment, 3 forum, 4 social
    /// log (WeChat's scenes).
    pub scene: u8,
    /// `WECHAT_PUSH_TOKEN`: the message push's Token.
    pub push_token: secrecy::SecretString,
    /// `WECHAT_PUSH_AES_KEY`: the EncodingAESKey of safe mode (pushes are
    /// then encrypted, and plain ones refused).
    pub aes_key: Option<secrecy::SecretString>,
}

impl ModerationSettings {
    /// `MODERATION`: `off` (the default), `cloud_infinite` or `wechat`.
    pub(super) fn read(r: &mut Reader<'_>, environment: Environment) -> Option<Self> {
        let provider = match r.get("MODERATION").as_deref() {
            None | Some("off") => return None,
            Some("cloud_infinite") => Provider::CloudInfinite,
            Some("wechat") => Provider::Wechat,
            Some(other) => {
                r.problem(
                    "MODERATION",
                    format!("{other:?} is none of `off`, `cloud_infinite`, `wechat`"),
                );
                return None;
            }
        };
        let suspicious = outcome(
            r,
            "MODERATION_SUSPICIOUS",
            Outcome::Hold,
            &[Outcome::Hold, Outcome::Reject],
        );
        let uncheckable = outcome(
            r,
            "MODERATION_UNCHECKABLE",
            Outcome::Hold,
            &[Outcome::Complete, Outcome::Hold, Outcome::Reject],
        );
        let quarantine_root = match r.text("MODERATION_QUARANTINE", "move").as_str() {
            "move" => {
                let root = r.text("MODERATION_QUARANTINE_ROOT", "/quarantine");
                match CosDir::parse(&root) {
                    Ok(dir) if dir.as_str() != "/" => Some(dir),
                    Ok(_) => {
                        r.problem(
                            "MODERATION_QUARANTINE_ROOT",
                            "must not be the bucket's root",
                        );
                        None
                    }
                    Err(e) => {
                        r.problem("MODERATION_QUARANTINE_ROOT", e);
                        None
                    }
                }
            }
            "delete" => None,
            other => {
                r.problem(
                    "MODERATION_QUARANTINE",
                    format!("{other:?} is neither `move` nor `delete`"),
                );
                None
            }
        };
        let timeout_outcome = outcome(
            r,
            "MODERATION_TIMEOUT_OUTCOME",
            Outcome::Hold,
            &[Outcome::Complete, Outcome::Hold, Outcome::Reject],
        );
        let timeout_seconds = r.parse_within(
            "MODERATION_TIMEOUT_SECONDS",
            1800,
            1..=7 * 86_400,
            " seconds",
        );
        let wechat = (provider == Provider::Wechat).then(|| read_wechat(r, environment));
        Some(Self {
            provider,
            suspicious,
            uncheckable,
            quarantine_root,
            biz_type: r.get("CI_BIZ_TYPE"),
            retry_seconds: r.parse_within("MODERATION_RETRY_SECONDS", 60, 1..=86_400, " seconds"),
            timeout_seconds,
            timeout_outcome,
            wechat,
        })
    }
}

/// `name`: one of `allowed`, `default` when unset.
fn outcome(r: &mut Reader<'_>, name: &str, default: Outcome, allowed: &[Outcome]) -> Outcome {
    let Some(raw) = r.get(name) else {
        return default;
    };
    match Outcome::parse(&raw).filter(|o| allowed.contains(o)) {
        Some(o) => o,
        None => {
            let names: Vec<&str> = allowed
                .iter()
                .map(|o| match o {
                    Outcome::Complete => "complete",
                    Outcome::Hold => "hold",
                    Outcome::Reject => "reject",
                })
                .collect();
            r.problem(name, format!("{raw:?} is none of {}", names.join(", ")));
            default
        }
    }
}

fn read_wechat(r: &mut Reader<'_>, environment: Environment) -> WechatModeration {
    let push_token = r.get("WECHAT_PUSH_TOKEN").unwrap_or_default();
    // WeChat's console takes 3 to 32 letters and digits.
    if !(3..=32).contains(&push_token.len())
        || !push_token.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        r.problem(
            "WECHAT_PUSH_TOKEN",
            "MODERATION=wechat needs the message push's Token: 3 to 32 letters and digits",
        );
    }
    let aes_key = r.get("WECHAT_PUSH_AES_KEY");
    // In plain mode only the query is signed, not the verdict in the body:
    // whoever sees one push's query could send any verdict for minutes.
    if aes_key.is_none() && environment == Environment::Production {
        r.problem(
            "WECHAT_PUSH_AES_KEY",
            "production needs WeChat's safe mode (the EncodingAESKey): a plain push's body is not signed",
        );
    }
    if aes_key
        .as_deref()
        .is_some_and(|k| crate::media_check::aes_key(k).is_none())
    {
        r.problem(
            "WECHAT_PUSH_AES_KEY",
            "is not an EncodingAESKey (43 characters of base64)",
        );
    }
    WechatModeration {
        scene: r.parse_within("WECHAT_MEDIA_CHECK_SCENE", 2, 1..=4, ""),
        push_token: secrecy::SecretString::from(push_token),
        aes_key: aes_key.map(secrecy::SecretString::from),
    }
}
