//! Moderation (`MODERATION`): between an upload's verification at COS and
//! its completion, the provider judges the content.
//!
//! ```text
//! pending ──verified──▶ in_review (checking) ──normal──▶ completed (+ upload.completed)
//!                          │    │
//!                          │    └──suspicious / uncheckable (hold)──▶ in_review (held)
//!                          │                                  operator: release ▶ completed
//!                          │                                  operator: reject  ▶ rejected
//!                          └──sensitive (or reject)──▶ in_review (quarantining) ──moved──▶ rejected (+ upload.rejected)
//! ```
//!
//! While `in_review` nothing reads the object through cosgate: the session
//! has no download URL, and no other grant reaches the sessions' root
//! (`config::check_roots_apart`). Rejected content is moved below the
//! quarantine root by a server-side copy and a delete (or deleted), the
//! stored bytes go back and the day's charge stays. Each verdict is first
//! one conditional update on the review's state (a rejection claims
//! `quarantining` before any COS work), so the first verdict wins and a
//! verdict for an upload that was deleted meanwhile changes nothing. A check
//! that fails (Cloud Infinite unavailable) leaves the upload `checking`; the
//! sweeper asks again, finishes quarantines COS interrupted, and ends every
//! check older than `MODERATION_TIMEOUT_SECONDS` as configured.

use super::{Session, UploadError, Uploads};
use crate::{
    config::{ModerationOutcome, ModerationProvider, ModerationSettings},
    cos_client::Recognition,
    media_check::{SubmitError, Verdict as WechatVerdict},
    store::{UploadRow, UploadStatus, Verified},
};

const CHECKING: &str = "checking";
const HELD: &str = "held";
/// A rejection claimed, the content being moved away.
const QUARANTINING: &str = "quarantining";

/// What the provider said, in cosgate's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    Normal(String),
    Sensitive(String),
    Suspicious(String),
    /// The provider cannot check this type.
    Uncheckable,
}

impl From<Recognition> for Verdict {
    fn from(r: Recognition) -> Self {
        let label = if r.label.is_empty() {
            "unlabelled".to_string()
        } else {
            r.label
        };
        match r.result {
            0 => Verdict::Normal(label),
            1 => Verdict::Sensitive(label),
            _ => Verdict::Suspicious(label),
        }
    }
}

impl Uploads {
    fn moderation(&self) -> Result<&ModerationSettings, UploadError> {
        self.moderation
            .as_ref()
            .ok_or_else(|| UploadError::InvalidRequest("moderation is off".into()))
    }

    /// A verified upload enters review and is checked; answers where it
    /// stands (`completed` when the provider passed it at once).
    pub(super) async fn review(
        &self,
        row: &UploadRow,
        verified: &Verified,
        now: u64,
    ) -> Result<Session, UploadError> {
        if self.store.start_review(&row.id, verified).await? {
            self.metrics.moderation("started");
            let row = UploadRow {
                etag: Some(verified.etag.clone()),
                crc64: verified.crc64.clone(),
                ..row.clone()
            };
            // A failed check is logged and tried again by the sweeper.
            if let Err(e) = self.check(&row, now).await {
                tracing::warn!(upload = %row.id, error = %e, "moderation check failed; the sweeper retries");
            }
        }
        let row = self.owned(&row.account_id, &row.id).await?;
        match row.status {
            UploadStatus::Rejected => Err(UploadError::Mismatch(row.reason.unwrap_or_default())),
            UploadStatus::Pending => {
                self.expire(&row, now).await?;
                Err(UploadError::Expired)
            }
            UploadStatus::Expired => Err(UploadError::Expired),
            UploadStatus::Deleted => Err(UploadError::NotFound),
            UploadStatus::Completed | UploadStatus::InReview => self.session(row, now, false).await,
        }
    }

    /// Asks the provider about an upload `checking`, and applies the verdict.
    async fn check(&self, row: &UploadRow, now: u64) -> Result<(), UploadError> {
        let settings = self.moderation()?;
        let verdict = match settings.provider {
            ModerationProvider::CloudInfinite if row.content_type.starts_with("image/") => {
                match self
                    .client
                    .sensitive_content(&row.object_key, settings.biz_type.as_deref(), now)
                    .await
                {
                    Ok(recognition) => recognition.into(),
                    // Cloud Infinite refused this picture as an argument (a
                    // format or size it cannot judge): asking again would
                    // not help. Any other refusal (AccessDenied: a missing
                    // permission, a bucket not bound to Cloud Infinite) is
                    // an operator's problem, never a verdict: retried until
                    // the timeout.
                    Err(crate::cos_client::CosError::Refused(code))
                        if code.starts_with("Invalid") && code != "InvalidAccessKeyId" =>
                    {
                        tracing::warn!(upload = %row.id, code = %code, "Cloud Infinite cannot judge this upload");
                        Verdict::Uncheckable
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            ModerationProvider::CloudInfinite => Verdict::Uncheckable,
            ModerationProvider::Wechat => match self.submit_to_wechat(row, now).await? {
                // The verdict comes later, pushed by WeChat.
                true => return Ok(()),
                false => Verdict::Uncheckable,
            },
        };
        self.apply(row, CHECKING, verdict, now).await
    }

    /// Submits an image (or audio) to WeChat's `mediaCheckAsync` as a
    /// presigned GET of the object, with its uploader's openid, and keeps
    /// the `trace_id`. `false` when WeChat cannot check it: another type,
    /// or an account WeChat does not know (no openid).
    async fn submit_to_wechat(&self, row: &UploadRow, now: u64) -> Result<bool, UploadError> {
        let media_type = match row.content_type.split('/').next() {
            Some("image") => 2,
            Some("audio") => 1,
            _ => return Ok(false),
        };
        let Some(media) = &self.media_check else {
            return Err(UploadError::Internal(
                "WeChat moderation is not set up".into(),
            ));
        };
        let openid = match self.store.account(&row.account_id).await? {
            Some(account) if !account.openid.is_empty() => account.openid,
            _ => return Ok(false),
        };
        let (url, _, _) = self.sign(row, "get", &[], &[], false, now).await?;
        let trace_id = match media.submit(&url, media_type, &openid, now).await {
            Ok(trace_id) => trace_id,
            // WeChat refused this check (an openid it does not know, a
            // media it will not take): asking again would not help.
            Err(SubmitError::Refused(why)) => {
                tracing::warn!(upload = %row.id, reason = %why, "WeChat will not check this upload");
                return Ok(false);
            }
            // Unreachable, busy, or cosgate's own credentials refused: no
            // verdict; asked again, and the timeout ends it if never.
            Err(SubmitError::Failed(e)) => {
                return Err(UploadError::Internal(format!("WeChat: {e}")));
            }
        };
        self.store.set_review_trace(&row.id, &trace_id).await?;
        tracing::info!(upload = %row.id, trace_id = %trace_id, "submitted to WeChat's media check");
        Ok(true)
    }

    /// A verdict WeChat pushed (its signature already checked): applied to
    /// the upload being checked under that `trace_id`. An unknown trace, an
    /// upload no longer being checked (a first verdict, a delete, a
    /// timeout came first) changes nothing. `true` when applied.
    pub async fn wechat_verdict(
        &self,
        verdict: WechatVerdict,
        now: u64,
    ) -> Result<bool, UploadError> {
        let Some(row) = self.store.upload_by_trace(&verdict.trace_id).await? else {
            tracing::warn!(trace_id = %verdict.trace_id, "a WeChat verdict for no known check");
            return Ok(false);
        };
        if row.status != UploadStatus::InReview || row.review.state.as_deref() != Some(CHECKING) {
            tracing::info!(upload = %row.id, status = row.status.as_str(), "a WeChat verdict after the review ended; ignored");
            return Ok(false);
        }
        let label = verdict.label.to_string();
        let ours = match verdict.suggest.as_str() {
            // WeChat could not check it (its errcode): no verdict at all.
            _ if verdict.errcode != 0 => Verdict::Uncheckable,
            "pass" => Verdict::Normal(label),
            "risky" => Verdict::Sensitive(label),
            _ => Verdict::Suspicious(label),
        };
        self.apply(&row, CHECKING, ours, now).await?;
        Ok(true)
    }

    /// Applies `verdict` to an upload in review in `state`.
    pub(super) async fn apply(
        &self,
        row: &UploadRow,
        state: &str,
        verdict: Verdict,
        now: u64,
    ) -> Result<(), UploadError> {
        let settings = self.moderation()?;
        let (outcome, label, name) = match verdict {
            Verdict::Normal(label) => (ModerationOutcome::Complete, label, "normal"),
            Verdict::Sensitive(label) => (ModerationOutcome::Reject, label, "sensitive"),
            Verdict::Suspicious(label) => (settings.suspicious, label, "suspicious"),
            Verdict::Uncheckable => (settings.uncheckable, "uncheckable".into(), "uncheckable"),
        };
        self.metrics.moderation(name);
        tracing::info!(upload = %row.id, verdict = name, label = %label, "moderation verdict");
        match outcome {
            ModerationOutcome::Complete => self.pass(row, state, &label, now).await,
            ModerationOutcome::Hold => self.hold(row, state, &label).await,
            ModerationOutcome::Reject => {
                self.quarantine(
                    row,
                    state,
                    &format!("moderation: {name} ({label})"),
                    &label,
                    now,
                )
                .await
            }
        }
    }

    async fn pass(
        &self,
        row: &UploadRow,
        state: &str,
        label: &str,
        now: u64,
    ) -> Result<(), UploadError> {
        let verified = Verified {
            etag: row.etag.clone().unwrap_or_default(),
            crc64: row.crc64.clone(),
            completed_at: now as i64,
        };
        let mut passed = row.clone();
        passed.review.label = Some(label.to_string());
        let event = self.event("upload.completed", &passed, now, Some(&verified));
        if self
            .store
            .pass_review(&row.id, state, label, now as i64, event.as_ref())
            .await?
        {
            self.metrics.upload("completed", row.size_bytes as u64);
        }
        Ok(())
    }

    async fn hold(&self, row: &UploadRow, state: &str, label: &str) -> Result<(), UploadError> {
        if self
            .store
            .move_review(&row.id, state, HELD, label, None)
            .await?
        {
            tracing::warn!(upload = %row.id, label = %label, "upload held for an operator");
        }
        Ok(())
    }

    /// Rejects an upload in review in `state`: claimed first (`quarantining`,
    /// so no other verdict can complete it meanwhile), then its object is
    /// moved out of everyone's reach (or deleted), then the rejection is
    /// recorded. If COS fails on the way, the sweeper finishes the move.
    async fn quarantine(
        &self,
        row: &UploadRow,
        state: &str,
        reason: &str,
        label: &str,
        now: u64,
    ) -> Result<(), UploadError> {
        if !self
            .store
            .move_review(&row.id, state, QUARANTINING, label, Some(reason))
            .await?
        {
            return Ok(());
        }
        self.finish_quarantine(row, reason, label, now).await
    }

    async fn finish_quarantine(
        &self,
        row: &UploadRow,
        reason: &str,
        label: &str,
        now: u64,
    ) -> Result<(), UploadError> {
        let settings = self.moderation()?;
        if let Some(root) = &settings.quarantine_root {
            let to = format!("{}{}", root.key_prefix(), row.object_key);
            // Gone already (an earlier, interrupted round moved it): the
            // copy in quarantine is there.
            if self.client.head(&row.object_key, now).await?.is_some() {
                self.client.copy(&row.object_key, &to, now).await?;
                tracing::warn!(upload = %row.id, quarantined_at = %to, "upload quarantined");
            }
        }
        self.client.delete(&row.object_key, now).await?;
        let mut rejected = row.clone();
        rejected.reason = Some(reason.to_string());
        rejected.review.label = Some(label.to_string());
        let event = self.event("upload.rejected", &rejected, now, None);
        if self
            .store
            .reject_review(
                &row.id,
                QUARANTINING,
                reason,
                label,
                now as i64,
                event.as_ref(),
            )
            .await?
        {
            self.metrics.upload("rejected", 0);
        }
        Ok(())
    }

    /// An operator's decision on a held upload: `release` completes it,
    /// otherwise it is rejected and quarantined. Only a `held` upload can
    /// be decided; answers where it stands after.
    pub async fn decide(
        &self,
        id: &str,
        release: bool,
        now: u64,
    ) -> Result<UploadRow, UploadError> {
        self.moderation()?;
        let row = self.store.upload(id).await?.ok_or(UploadError::NotFound)?;
        if row.status != UploadStatus::InReview || row.review.state.as_deref() != Some(HELD) {
            return Err(UploadError::InvalidRequest(format!(
                "upload {id} is {}, not held for review",
                row.status.as_str()
            )));
        }
        let label = row.review.label.clone().unwrap_or_default();
        if release {
            self.pass(&row, HELD, &label, now).await?;
        } else {
            self.quarantine(
                &row,
                HELD,
                "moderation: rejected by an operator",
                &label,
                now,
            )
            .await?;
        }
        self.metrics.moderation(if release {
            "released"
        } else {
            "operator_rejected"
        });
        self.store.upload(id).await?.ok_or(UploadError::NotFound)
    }

    /// The sweeper's part, for uploads in review since before
    /// `MODERATION_RETRY_SECONDS`: quarantines COS interrupted are finished;
    /// checks older than `MODERATION_TIMEOUT_SECONDS` end as
    /// `MODERATION_TIMEOUT_OUTCOME` says; checks with no verdict and nothing
    /// pending at WeChat are asked again. One upload failing never stops
    /// the round. Returns how many were acted on.
    pub(super) async fn sweep_reviews(&self, now: u64) -> Result<usize, UploadError> {
        let Some(settings) = &self.moderation else {
            return Ok(0);
        };
        let before = now.saturating_sub(settings.retry_seconds) as i64;
        let mut acted = 0;
        for row in self.store.reviews(QUARANTINING, before, 100).await? {
            let reason = row.reason.clone().unwrap_or_else(|| "moderation".into());
            let label = row.review.label.clone().unwrap_or_default();
            match self.finish_quarantine(&row, &reason, &label, now).await {
                Ok(()) => acted += 1,
                Err(e) => tracing::warn!(upload = %row.id, error = %e, "quarantine failed again"),
            }
        }
        for row in self.store.reviews(CHECKING, before, 100).await? {
            let timed_out =
                now.saturating_sub(row.review.started_at as u64) >= settings.timeout_seconds;
            let done = if timed_out {
                tracing::warn!(upload = %row.id, "no verdict in time");
                self.metrics.moderation("timed_out");
                match settings.timeout_outcome {
                    ModerationOutcome::Complete => self.pass(&row, CHECKING, "timeout", now).await,
                    ModerationOutcome::Hold => self.hold(&row, CHECKING, "timeout").await,
                    ModerationOutcome::Reject => {
                        let reason = "moderation: no verdict in time";
                        self.quarantine(&row, CHECKING, reason, "timeout", now)
                            .await
                    }
                }
            } else if row.review.trace_id.is_some() {
                // Submitted to WeChat: its push is awaited.
                continue;
            } else {
                self.check(&row, now).await
            };
            match done {
                Ok(()) => acted += 1,
                Err(e) => tracing::warn!(upload = %row.id, error = %e, "moderation failed again"),
            }
        }
        Ok(acted)
    }
}
