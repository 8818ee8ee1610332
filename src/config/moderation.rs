//! `MODERATION*`: a content check between an upload's verification at COS
//! and its completion ([`crate::uploads`]).

use super::reader::Reader;
use crate::paths::CosDir;

/// Who checks uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Tencent Cloud Infinite's image moderation, called synchronously on
    /// the object (`ci-process=sensitive-content-recognition`).
    CloudInfinite,
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
}

impl ModerationSettings {
    /// `MODERATION`: `off` (the default) or `cloud_infinite`.
    pub(super) fn read(r: &mut Reader<'_>) -> Option<Self> {
        let provider = match r.get("MODERATION").as_deref() {
            None | Some("off") => return None,
            Some("cloud_infinite") => Provider::CloudInfinite,
            Some(other) => {
                r.problem(
                    "MODERATION",
                    format!("{other:?} is neither `off` nor `cloud_infinite`"),
                );
                return None;
            }
        };
        let mut outcome = |name: &str, default: Outcome, allowed: &[Outcome]| {
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
        };
        let suspicious = outcome(
            "MODERATION_SUSPICIOUS",
            Outcome::Hold,
            &[Outcome::Hold, Outcome::Reject],
        );
        let uncheckable = outcome(
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
        Some(Self {
            provider,
            suspicious,
            uncheckable,
            quarantine_root,
            biz_type: r.get("CI_BIZ_TYPE"),
            retry_seconds: r.parse_within("MODERATION_RETRY_SECONDS", 60, 5..=86_400, " seconds"),
        })
    }
}
