//! Upload sessions: cosgate knows what was uploaded.
//!
//! The client says what it will upload; cosgate checks it against a
//! profile, chooses the key, reserves the bytes, and signs exactly that: one
//! PUT binding `Content-Length`, `Content-Type` and `Content-MD5`, or the
//! parts of a multipart upload it initiated itself, each with its planned
//! size. On completion cosgate verifies the object at COS with its own key
//! (`HEAD`, or `ListParts` + `CompleteMultipartUpload` + `HEAD`) and records
//! it, or deletes it and releases the bytes. Knows no HTTP; time is passed
//! in.

mod error;
mod review;

pub use error::UploadError;

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::STANDARD};

use crate::{
    clock::random_bytes,
    config::{CosSettings, ModerationSettings, UploadSettings},
    cos_client::{CosClient, CosError, Part},
    metrics::Metrics,
    paths::{CosDir, ObjectKey, UploadScope},
    policy::signing::RequestToSign,
    signer::hex,
    signing::{self, ExactRequest, Signing},
    store::{NewEvent, QuotaRefusal, Quotas, Store, UploadRow, UploadStatus, Verified},
};

/// COS's bounds on one multipart upload.
const MAX_PARTS: u64 = 10_000;
const MIN_PART_BYTES: u64 = 1024 * 1024;
/// The most parts one request signs.
const MAX_PARTS_PER_REQUEST: usize = 100;
/// How long a signed PUT or part lives.
const UPLOAD_SIGNATURE_TTL: u64 = 900;
const SECONDS_PER_DAY: u64 = 86_400;
/// COS refuses a PUT with this header set to `true` when the key exists:
/// signed into every session PUT, so a verified object is never replaced.
const FORBID_OVERWRITE: &str = "x-cos-forbid-overwrite";
/// The longest filename kept.
const MAX_FILENAME_BYTES: usize = 255;

/// What a client says it will upload.
#[derive(Debug, Clone, Default)]
pub struct NewUpload {
    pub filename: String,
    pub size_bytes: i64,
    pub content_type: String,
    pub content_md5: Option<String>,
    pub profile: Option<String>,
}

/// A signed request for the client to send.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub expired_time: u64,
}

/// A session, and while it is pending, how to go on.
#[derive(Debug, Clone)]
pub struct Session {
    pub row: UploadRow,
    /// The PUT of a pending single upload.
    pub put: Option<SignedRequest>,
    /// The planned parts COS holds, for a pending multipart upload (when
    /// asked for).
    pub parts_present: Option<Vec<u64>>,
    /// A presigned GET of a completed upload.
    pub download: Option<SignedRequest>,
}

/// Upload sessions over the store, COS and the signer.
#[derive(Debug)]
pub struct Uploads {
    settings: UploadSettings,
    cos: CosSettings,
    store: Store,
    client: CosClient,
    signing: Arc<Signing>,
    metrics: Arc<Metrics>,
    /// A webhook endpoint is configured: state changes write events.
    events: bool,
    /// `MODERATION`: verified uploads are judged before they complete.
    moderation: Option<ModerationSettings>,
    /// `MODERATION=wechat`: WeChat's content security.
    media_check: Option<Arc<crate::media_check::MediaCheck>>,
}

impl Uploads {
    pub fn new(
        settings: UploadSettings,
        cos: CosSettings,
        store: Store,
        client: CosClient,
        signing: Arc<Signing>,
        metrics: Arc<Metrics>,
        events: bool,
    ) -> Self {
        Self {
            settings,
            cos,
            store,
            client,
            signing,
            metrics,
            events,
            moderation: None,
            media_check: None,
        }
    }

    /// Judges verified uploads with `moderation` before they complete.
    pub fn with_moderation(mut self, moderation: Option<ModerationSettings>) -> Self {
        self.moderation = moderation;
        self
    }

    /// WeChat's content security, for `MODERATION=wechat`.
    pub fn with_media_check(
        mut self,
        media_check: Option<Arc<crate::media_check::MediaCheck>>,
    ) -> Self {
        self.media_check = media_check;
        self
    }

    /// Checks `new` against its profile, chooses the key, reserves the
    /// bytes, initiates a multipart upload at COS when the file is larger
    /// than a part, and answers how to upload.
    pub async fn create(
        &self,
        account: &str,
        new: NewUpload,
        now: u64,
    ) -> Result<Session, UploadError> {
        self.signing.limit(account).await?;
        let filename = checked_filename(&new.filename)?;
        let content_type = essence(&new.content_type);
        let profile_name = new
            .profile
            .clone()
            .unwrap_or_else(|| self.settings.default_profile.clone());
        let profile = self.settings.profile(&profile_name).ok_or_else(|| {
            UploadError::InvalidRequest(format!("no upload profile {profile_name:?}"))
        })?;
        if !profile.accepts(&content_type) {
            return Err(UploadError::UnsupportedMediaType {
                content_type,
                profile: profile.name.clone(),
            });
        }
        let size = u64::try_from(new.size_bytes)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| UploadError::InvalidRequest("size_bytes must be positive".into()))?;
        if size > profile.max_bytes {
            return Err(UploadError::TooLarge {
                size,
                max: profile.max_bytes,
            });
        }
        let content_md5 = new.content_md5.map(checked_md5).transpose()?;
        let id = format!("up_{}", hex(&random_bytes::<12>()));
        let key = self.key_for(account, &id, &content_type, now)?;
        let (part_size, part_count) = self.plan(size);
        let expires_at = now + self.settings.ttl;
        let row = UploadRow {
            id: id.clone(),
            account_id: account.to_string(),
            status: UploadStatus::Pending,
            object_key: key.as_str().to_string(),
            filename,
            size_bytes: size as i64,
            content_type,
            content_md5,
            profile: profile.name.clone(),
            cos_upload_id: None,
            part_size: part_size as i64,
            part_count: part_count as i64,
            day: (now / SECONDS_PER_DAY) as i64,
            daily_bytes: 0,
            storage_bytes: 0,
            created_at: now as i64,
            expires_at: expires_at as i64,
            completed_at: None,
            etag: None,
            crc64: None,
            reason: None,
            // The single PUT signed below is recorded with the row (one
            // write, not two); parts are recorded as they are signed.
            signed_until: if part_count > 1 {
                0
            } else {
                (now + put_ttl(expires_at, now)) as i64
            },
            held_until: 0,
            review: Default::default(),
        };
        let quotas = Quotas {
            daily: self.cos.daily_upload_bytes.map(|n| n as i64),
            storage: self.settings.storage_bytes.map(|n| n as i64),
        };
        match self.store.create_upload(&row, quotas).await? {
            Ok(()) => {}
            Err(QuotaRefusal::Daily) => {
                let day = now / SECONDS_PER_DAY;
                return Err(UploadError::DailyQuota {
                    limit: self.cos.daily_upload_bytes.unwrap_or_default(),
                    retry_after: (day + 1) * SECONDS_PER_DAY - now,
                });
            }
            Err(QuotaRefusal::Storage) => {
                return Err(UploadError::StorageQuota {
                    limit: self.settings.storage_bytes.unwrap_or_default(),
                });
            }
        }
        self.metrics.upload("created", 0);
        let mut row = row;
        if part_count > 1 {
            match self
                .client
                .initiate(key.as_str(), &row.content_type, now)
                .await
            {
                Ok(upload_id) => {
                    self.store.set_cos_upload_id(&id, &upload_id).await?;
                    row.cos_upload_id = Some(upload_id);
                }
                Err(e) => {
                    // Nothing to clean at COS; the reservation goes back.
                    let why = "COS could not start the upload";
                    let rejected = UploadRow {
                        reason: Some(why.to_string()),
                        ..row.clone()
                    };
                    self.store
                        .end_upload(
                            &id,
                            UploadStatus::Pending,
                            UploadStatus::Rejected,
                            Some(why),
                            now as i64,
                            self.event("upload.rejected", &rejected, now, None).as_ref(),
                        )
                        .await?;
                    return Err(e.into());
                }
            }
        }
        self.session(row, now, false).await
    }

    /// Presigned `UploadPart` requests for `numbers` of the session's plan.
    pub async fn sign_parts(
        &self,
        account: &str,
        id: &str,
        numbers: &[i64],
        now: u64,
    ) -> Result<Vec<(u64, SignedRequest)>, UploadError> {
        let mut row = self.pending(account, id, now).await?;
        let Some(upload_id) = row.cos_upload_id.clone().filter(|_| row.part_count > 1) else {
            return Err(UploadError::InvalidRequest(
                "this upload is one PUT, not parts; see its `put`".into(),
            ));
        };
        if numbers.is_empty() || numbers.len() > MAX_PARTS_PER_REQUEST {
            return Err(UploadError::InvalidRequest(format!(
                "ask for 1 to {MAX_PARTS_PER_REQUEST} part numbers at once"
            )));
        }
        let mut signed = Vec::with_capacity(numbers.len());
        for &number in numbers {
            let number = u64::try_from(number)
                .ok()
                .filter(|n| (1..=row.part_count as u64).contains(n))
                .ok_or_else(|| {
                    UploadError::InvalidRequest(format!(
                        "part {number} is not in this upload's plan (1 to {})",
                        row.part_count
                    ))
                })?;
            self.signing.limit_part(account).await?;
            let length = part_length(&row, number).to_string();
            let part = number.to_string();
            let (url, _, end) = self
                .sign(
                    &row,
                    "put",
                    &[("partNumber", &part), ("uploadId", &upload_id)],
                    &[("content-length", &length)],
                    false,
                    now,
                )
                .await?;
            // Recorded by the first part's signature: the others of this
            // request end no later.
            row.signed_until = row
                .signed_until
                .max((now + signature_ttl(&row, "put", now)) as i64);
            signed.push((
                number,
                SignedRequest {
                    url,
                    headers: vec![("Content-Length".into(), length)],
                    expired_time: end,
                },
            ));
        }
        Ok(signed)
    }

    /// An `Authorization` for the request an SDK's `getAuthorization`
    /// describes, if it is this session's: its PUT (the declared
    /// `Content-Length`, `Content-Type` and `Content-MD5`, which the SDK
    /// must send) or one planned part of its multipart upload (that part's
    /// `Content-Length`). Anything else is refused.
    pub async fn authorize(
        &self,
        account: &str,
        id: &str,
        asked: RequestToSign<'_>,
        now: u64,
    ) -> Result<signing::SignedRequest, UploadError> {
        let RequestToSign {
            method,
            key,
            query,
            headers,
        } = asked;
        let row = self.pending(account, id, now).await?;
        let refuse = |why: String| Err(UploadError::NotThisSession(why));
        if !method.eq_ignore_ascii_case("put") {
            return refuse(format!(
                "{method} is not this session's upload; only PUT is signed"
            ));
        }
        if key.trim_start_matches('/') != row.object_key {
            return refuse(format!("the key of this session is {}", row.object_key));
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        if let Some((extra, _)) = headers.iter().find(|(n, _)| {
            ![
                "content-length",
                "content-type",
                "content-md5",
                "host",
                FORBID_OVERWRITE,
            ]
            .iter()
            .any(|known| n.eq_ignore_ascii_case(known))
        }) {
            return refuse(format!(
                "the header {extra:?} is not part of this session's upload"
            ));
        }
        if let Some(host) = header("host")
            && !host.eq_ignore_ascii_case(self.cos.host())
        {
            return refuse(format!(
                "Host {host:?} is not the bucket's host, {}",
                self.cos.host()
            ));
        }
        let (length, part, upload_id) = if row.part_count > 1 {
            let Some(upload_id) = row.cos_upload_id.clone() else {
                return refuse("the multipart upload was not started at COS".into());
            };
            let part = query
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("partnumber"))
                .and_then(|(_, v)| v.parse::<u64>().ok())
                .filter(|n| (1..=row.part_count as u64).contains(n));
            let same_upload = query
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case("uploadid") && *v == upload_id);
            let (Some(part), true, 2) = (part, same_upload, query.len()) else {
                return refuse(format!(
                    "only parts 1 to {} of this session's upload ({upload_id}) are signed",
                    row.part_count
                ));
            };
            self.signing.limit_part(account).await?;
            (part_length(&row, part), Some(part.to_string()), upload_id)
        } else {
            if !query.is_empty() {
                return refuse("this session is one PUT, with no query".into());
            }
            // The SDKs leave Content-Type out of what they pass here, but send
            // it: the declared one is signed, so COS refuses any other.
            if let Some(asked) = header("content-type")
                && essence(asked) != row.content_type
            {
                return refuse(format!(
                    "this session's Content-Type is {} (pass it to the SDK as ContentType)",
                    row.content_type
                ));
            }
            if row.content_md5.is_some() && header("content-md5") != row.content_md5.as_deref() {
                return refuse("send the Content-MD5 this session declared".into());
            }
            if header(FORBID_OVERWRITE) != Some("true") {
                return refuse(format!(
                    "send {FORBID_OVERWRITE}: true (pass it to the SDK in Headers): a verified object is never replaced"
                ));
            }
            self.signing.limit(account).await?;
            (row.size_bytes as u64, None, String::new())
        };
        if header("content-length") != Some(length.to_string().as_str()) {
            return refuse(format!("Content-Length must be {length}"));
        }
        let length = length.to_string();
        let mut signed_headers = vec![("content-length", length.as_str())];
        if part.is_none() {
            signed_headers.push(("content-type", row.content_type.as_str()));
            signed_headers.push((FORBID_OVERWRITE, "true"));
        }
        if let Some(md5) = header("content-md5") {
            signed_headers.push(("content-md5", md5));
        }
        let part_query;
        let query: &[(&str, &str)] = match &part {
            Some(n) => {
                part_query = [("partNumber", n.as_str()), ("uploadId", upload_id.as_str())];
                &part_query
            }
            None => &[],
        };
        let (_, signed, _) = self
            .sign(&row, "put", query, &signed_headers, true, now)
            .await?;
        signed.ok_or_else(|| UploadError::Internal("no header signature".into()))
    }

    /// Verifies the upload at COS and records it: completed, or rejected
    /// (deleted at COS, bytes released). Completing again answers the same.
    pub async fn complete(
        &self,
        account: &str,
        id: &str,
        now: u64,
    ) -> Result<Session, UploadError> {
        self.signing.limit(account).await?;
        let row = self.owned(account, id).await?;
        match row.status {
            UploadStatus::Completed | UploadStatus::InReview => {
                return self.session(row, now, false).await;
            }
            UploadStatus::Rejected => {
                return Err(UploadError::Mismatch(row.reason.unwrap_or_default()));
            }
            UploadStatus::Expired => return Err(UploadError::Expired),
            UploadStatus::Deleted => return Err(UploadError::NotFound),
            UploadStatus::Pending => {}
        }
        if row.expires_at < now as i64 {
            self.expire(&row, now).await?;
            return Err(UploadError::Expired);
        }
        let head = if row.part_count > 1 {
            self.complete_parts(&row, now).await?
        } else {
            self.client.head(&row.object_key, now).await?
        };
        let Some(head) = head else {
            return Err(UploadError::Incomplete(
                "COS does not hold the object yet; upload it, then complete".into(),
            ));
        };
        let declared = row.size_bytes as u64;
        let mismatch = if head.size != declared {
            Some(format!(
                "COS holds {} bytes, {declared} were declared",
                head.size
            ))
        } else if essence(&head.content_type) != row.content_type {
            Some(format!(
                "COS holds the type {:?}, {:?} was declared",
                head.content_type, row.content_type
            ))
        } else {
            None
        };
        if let Some(why) = mismatch {
            self.reject(&row, &why, now).await?;
            return Err(UploadError::Mismatch(why));
        }
        let verified = Verified {
            etag: head.etag.trim_matches('"').to_string(),
            crc64: head.crc64,
            completed_at: now as i64,
        };
        if self.moderation.is_some() {
            return self.review(&row, &verified, now).await;
        }
        let event = self.event("upload.completed", &row, now, Some(&verified));
        if self
            .store
            .complete_upload(id, &verified, event.as_ref())
            .await?
        {
            self.metrics.upload("completed", declared);
            // The row as the store now holds it: no second read.
            let row = UploadRow {
                status: UploadStatus::Completed,
                etag: Some(verified.etag),
                crc64: verified.crc64,
                completed_at: Some(verified.completed_at),
                ..row
            };
            return self.session(row, now, false).await;
        }
        // Not completed: another request, a delete or the sweeper ended it
        // first, or it expired meanwhile; say what it is now.
        let row = self.owned(account, id).await?;
        match row.status {
            UploadStatus::Completed | UploadStatus::InReview => self.session(row, now, false).await,
            UploadStatus::Pending => {
                self.expire(&row, now).await?;
                Err(UploadError::Expired)
            }
            UploadStatus::Expired => Err(UploadError::Expired),
            UploadStatus::Rejected => Err(UploadError::Mismatch(row.reason.unwrap_or_default())),
            UploadStatus::Deleted => Err(UploadError::NotFound),
        }
    }

    /// The session, with a fresh PUT or the parts COS holds while pending.
    pub async fn get(&self, account: &str, id: &str, now: u64) -> Result<Session, UploadError> {
        self.signing.limit(account).await?;
        let row = self.owned(account, id).await?;
        if row.status == UploadStatus::Pending && row.expires_at < now as i64 {
            self.expire(&row, now).await?;
            let row = self.owned(account, id).await?;
            return self.session(row, now, false).await;
        }
        self.session(row, now, true).await
    }

    /// The account's sessions, newest first.
    pub async fn list(
        &self,
        account: &str,
        status: Option<&str>,
        cursor: Option<&str>,
        limit: Option<i64>,
    ) -> Result<(Vec<UploadRow>, Option<String>), UploadError> {
        let status = status
            .map(|s| {
                UploadStatus::parse(s)
                    .ok_or_else(|| UploadError::InvalidRequest(format!("no status {s:?}")))
            })
            .transpose()?;
        let limit = limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(UploadError::InvalidRequest("limit must be 1 to 100".into()));
        }
        let before = cursor
            .map(|c| {
                c.split_once('.')
                    .and_then(|(time, id)| Some((time.parse::<i64>().ok()?, id)))
                    .ok_or_else(|| {
                        UploadError::InvalidRequest("cursor is not one cosgate gave".into())
                    })
            })
            .transpose()?;
        let rows = self.store.uploads(account, status, before, limit).await?;
        let next = (rows.len() as i64 == limit)
            .then(|| rows.last().map(|r| format!("{}.{}", r.created_at, r.id)))
            .flatten();
        Ok((rows, next))
    }

    /// Aborts a pending upload or deletes a completed one, at COS with
    /// cosgate's key, releasing the bytes. Deleting again answers the same.
    pub async fn delete(&self, account: &str, id: &str, now: u64) -> Result<Session, UploadError> {
        self.signing.limit(account).await?;
        // The state is claimed first, then COS is cleaned: a completion
        // racing the delete finds the session no longer pending.
        for _ in 0..2 {
            let row = self.owned(account, id).await?;
            let from = row.status;
            if !matches!(
                from,
                UploadStatus::Pending | UploadStatus::Completed | UploadStatus::InReview
            ) {
                return self.session(row, now, false).await;
            }
            if self
                .store
                .end_upload(
                    id,
                    from,
                    UploadStatus::Deleted,
                    None,
                    now as i64,
                    self.event("upload.deleted", &row, now, None).as_ref(),
                )
                .await?
            {
                self.clean_at_cos(&row, now).await?;
                self.metrics.upload("deleted", 0);
                break;
            }
        }
        let row = self.owned(account, id).await?;
        self.session(row, now, false).await
    }

    /// The sweeper's round: pending sessions past their expiry are expired
    /// (cleaned at COS, bytes released), and ended sessions whose last
    /// signature has stopped working are cleaned at COS once more (what
    /// was uploaded with it after the end goes too) before their held bytes
    /// are given back. State changes are conditional, so several replicas
    /// sweeping at once clean twice at worst and release once.
    pub async fn sweep(&self, now: u64) -> Result<(usize, usize, usize), UploadError> {
        const BATCH: i64 = 100;
        let mut expired = 0;
        for row in &self.store.expired_uploads(now as i64, BATCH).await? {
            if self.expire(row, now).await? {
                expired += 1;
            }
        }
        let held = self.store.held_uploads(now as i64, BATCH).await?;
        let mut released = 0;
        for row in &held {
            self.clean_at_cos(row, now).await?;
            if self.store.release_held(&row.id, row.held_until).await? {
                released += 1;
            }
        }
        let orphans = self.abort_orphans(now).await?;
        let reviewed = self.sweep_reviews(now).await?;
        // Every round says what it did; one that did nothing only at debug.
        if expired > 0 || released > 0 || orphans > 0 || reviewed > 0 {
            tracing::info!(expired, released, orphans, reviewed, "upload sweeper");
        } else {
            tracing::debug!("upload sweeper: nothing to remove");
        }
        Ok((expired, released, orphans))
    }

    /// Aborts the multipart uploads under the upload and sessions' roots
    /// that no pending session owns (started through the SDK flows outside
    /// sessions, or by a session that died before recording its upload id)
    /// once they are older than `UPLOAD_ORPHAN_SECONDS`: their parts cost
    /// storage and nobody will complete them. A fresh one is left alone: it
    /// may be someone's upload in progress.
    async fn abort_orphans(&self, now: u64) -> Result<usize, UploadError> {
        // A root inside the other is listed with it. The bucket's root (an
        // empty prefix) is never swept: the bucket may hold uploads that are
        // not cosgate's.
        let mut prefixes = vec![
            self.settings.session_root.key_prefix(),
            self.cos.policy.scope.root.key_prefix(),
        ];
        prefixes.retain(|prefix| !prefix.is_empty());
        prefixes.sort();
        prefixes.dedup_by(|inner, outer| inner.starts_with(outer.as_str()));
        let mut in_progress = Vec::new();
        for prefix in &prefixes {
            in_progress.extend(self.client.list_multipart_uploads(prefix, now).await?);
        }
        let mut aborted = 0;
        for upload in in_progress {
            let old = upload
                .initiated
                .is_some_and(|t| now.saturating_sub(t) >= self.settings.orphan_seconds);
            if !old {
                continue;
            }
            let owned = self
                .store
                .upload_by_cos_id(&upload.upload_id)
                .await?
                .is_some_and(|row| row.status == UploadStatus::Pending);
            if owned {
                continue;
            }
            self.client
                .abort(&upload.key, &upload.upload_id, now)
                .await?;
            tracing::info!(key = %upload.key, "aborted an orphan multipart upload");
            aborted += 1;
        }
        Ok(aborted)
    }

    /// Cleans an expired pending session at COS and releases its bytes
    /// (the sweeper's job, done here too when a client meets one).
    /// `true` when this call expired it (not another replica or request).
    pub async fn expire(&self, row: &UploadRow, now: u64) -> Result<bool, UploadError> {
        let expired = self
            .store
            .end_upload(
                &row.id,
                UploadStatus::Pending,
                UploadStatus::Expired,
                None,
                now as i64,
                self.event("upload.expired", row, now, None).as_ref(),
            )
            .await?;
        if expired {
            self.clean_at_cos(row, now).await?;
            self.metrics.upload("expired", 0);
        }
        Ok(expired)
    }

    /// ListParts, every planned part present at its planned size, then
    /// Complete, then HEAD. When COS no longer knows the multipart upload,
    /// an earlier completion may have reached COS but not the store (a
    /// crash in between): HEAD says.
    async fn complete_parts(
        &self,
        row: &UploadRow,
        now: u64,
    ) -> Result<Option<crate::cos_client::ObjectHead>, UploadError> {
        let Some(upload_id) = &row.cos_upload_id else {
            return Err(UploadError::Incomplete(
                "the multipart upload was not started at COS; start a new session".into(),
            ));
        };
        let parts = match self
            .client
            .list_parts(&row.object_key, upload_id, now)
            .await
        {
            Ok(parts) => parts,
            Err(CosError::NoSuchUpload) => {
                return Ok(self.client.head(&row.object_key, now).await?);
            }
            Err(e) => return Err(e.into()),
        };
        let mut planned: Vec<Part> = Vec::with_capacity(row.part_count as usize);
        let mut missing = Vec::new();
        for number in 1..=row.part_count as u64 {
            match parts.iter().find(|p| p.number == number) {
                Some(part) if part.size == part_length(row, number) => planned.push(part.clone()),
                Some(part) => {
                    let why = format!(
                        "part {number} is {} bytes, the plan says {}",
                        part.size,
                        part_length(row, number)
                    );
                    self.reject(row, &why, now).await?;
                    return Err(UploadError::Mismatch(why));
                }
                None => missing.push(number),
            }
        }
        if let Some(extra) = parts.iter().find(|p| p.number > row.part_count as u64) {
            let why = format!("part {} is not in the plan", extra.number);
            self.reject(row, &why, now).await?;
            return Err(UploadError::Mismatch(why));
        }
        if !missing.is_empty() {
            return Err(UploadError::Incomplete(format!(
                "COS does not hold parts {missing:?} yet"
            )));
        }
        self.client
            .complete(&row.object_key, upload_id, &planned, now)
            .await?;
        Ok(self.client.head(&row.object_key, now).await?)
    }

    /// Deletes what COS holds for `row` and records why it was rejected.
    async fn reject(&self, row: &UploadRow, why: &str, now: u64) -> Result<(), UploadError> {
        if self
            .store
            .end_upload(
                &row.id,
                UploadStatus::Pending,
                UploadStatus::Rejected,
                Some(why),
                now as i64,
                self.event(
                    "upload.rejected",
                    &UploadRow {
                        reason: Some(why.to_string()),
                        ..row.clone()
                    },
                    now,
                    None,
                )
                .as_ref(),
            )
            .await?
        {
            self.clean_at_cos(row, now).await?;
            tracing::warn!(upload = %row.id, reason = why, "upload rejected");
            self.metrics.upload("rejected", 0);
        }
        Ok(())
    }

    /// Aborts the session's multipart upload and deletes any object at its
    /// key.
    async fn clean_at_cos(&self, row: &UploadRow, now: u64) -> Result<(), UploadError> {
        if let Some(upload_id) = &row.cos_upload_id {
            self.client.abort(&row.object_key, upload_id, now).await?;
        }
        self.client.delete(&row.object_key, now).await?;
        Ok(())
    }

    /// The account's session `id`; another account's is not found.
    async fn owned(&self, account: &str, id: &str) -> Result<UploadRow, UploadError> {
        match self.store.upload(id).await? {
            Some(row) if row.account_id == account => Ok(row),
            _ => Err(UploadError::NotFound),
        }
    }

    /// The account's pending, unexpired session `id`.
    async fn pending(&self, account: &str, id: &str, now: u64) -> Result<UploadRow, UploadError> {
        let row = self.owned(account, id).await?;
        match row.status {
            UploadStatus::Pending if row.expires_at < now as i64 => {
                self.expire(&row, now).await?;
                Err(UploadError::Expired)
            }
            UploadStatus::Pending => Ok(row),
            UploadStatus::Expired => Err(UploadError::Expired),
            _ => Err(UploadError::InvalidRequest(format!(
                "this upload is {}, not pending",
                row.status.as_str()
            ))),
        }
    }

    /// The row with its instructions: a signed PUT for a pending single
    /// upload; the parts COS holds for a pending multipart one when asked.
    async fn session(
        &self,
        row: UploadRow,
        now: u64,
        with_parts: bool,
    ) -> Result<Session, UploadError> {
        let mut session = Session {
            put: None,
            download: None,
            parts_present: None,
            row,
        };
        if session.row.status == UploadStatus::Completed {
            let (url, _, end) = self.sign(&session.row, "get", &[], &[], false, now).await?;
            session.download = Some(SignedRequest {
                url,
                headers: Vec::new(),
                expired_time: end.max(now + 1),
            });
        }
        if session.row.status != UploadStatus::Pending {
            return Ok(session);
        }
        if session.row.part_count > 1 {
            if with_parts && let Some(upload_id) = &session.row.cos_upload_id {
                let parts = self
                    .client
                    .list_parts(&session.row.object_key, upload_id, now)
                    .await?;
                session.parts_present = Some(
                    parts
                        .iter()
                        .filter(|p| p.size == part_length(&session.row, p.number))
                        .map(|p| p.number)
                        .collect(),
                );
            }
            return Ok(session);
        }
        let row = &session.row;
        let length = row.size_bytes.to_string();
        let mut headers = vec![
            ("content-length", length.as_str()),
            ("content-type", row.content_type.as_str()),
            (FORBID_OVERWRITE, "true"),
        ];
        if let Some(md5) = &row.content_md5 {
            headers.push(("content-md5", md5.as_str()));
        }
        let (url, _, end) = self.sign(row, "put", &[], &headers, false, now).await?;
        let mut sent = vec![
            ("Content-Length".to_string(), length.clone()),
            ("Content-Type".to_string(), row.content_type.clone()),
            (FORBID_OVERWRITE.to_string(), "true".to_string()),
        ];
        if let Some(md5) = &row.content_md5 {
            sent.push(("Content-MD5".to_string(), md5.clone()));
        }
        session.put = Some(SignedRequest {
            url,
            headers: sent,
            expired_time: end,
        });
        Ok(session)
    }

    /// The event `event_type` about `row` (as it is after the change, with
    /// what COS verified when it completes), for the outbox; `None` when no
    /// webhook endpoint is configured.
    fn event(
        &self,
        event_type: &'static str,
        row: &UploadRow,
        now: u64,
        verified: Option<&Verified>,
    ) -> Option<NewEvent> {
        if !self.events {
            return None;
        }
        let timestamp = time::OffsetDateTime::from_unix_timestamp(now as i64)
            .ok()?
            .format(&time::format_description::well_known::Rfc3339)
            .ok()?;
        let mut data = serde_json::json!({
            "upload_id": row.id,
            "account_id": row.account_id,
            "key": row.object_key,
            "filename": row.filename,
            "size_bytes": row.size_bytes,
            "content_type": row.content_type,
            "profile": row.profile,
            "etag": verified.map(|v| v.etag.as_str()).or(row.etag.as_deref()),
            "crc64": verified.and_then(|v| v.crc64.as_deref()).or(row.crc64.as_deref()),
            "reason": row.reason,
            "moderation_label": row.review.label,
            "created_time": row.created_at,
            "completed_time": verified.map(|v| v.completed_at).or(row.completed_at),
        });
        // docs/v1.yml's UploadEventData: a field without a value is left out.
        if let Some(fields) = data.as_object_mut() {
            fields.retain(|_, value| !value.is_null());
        }
        let payload = serde_json::json!({"type": event_type, "timestamp": timestamp, "data": data});
        Some(NewEvent {
            id: format!("msg_{}", hex(&random_bytes::<16>())),
            event_type,
            payload: payload.to_string(),
            created_at: now as i64,
        })
    }

    /// `{UPLOAD_SESSION_ROOT}/{account}`: the account's sessions' directory,
    /// which no other grant writes in.
    fn session_dir(&self, account: &str) -> Result<CosDir, UploadError> {
        let scope = UploadScope {
            root: self.settings.session_root.clone(),
            per_account: true,
        };
        scope
            .home(account)
            .map_err(|e| UploadError::InvalidRequest(e.to_string()))
    }

    /// Signs a request on the session's key: with credentials confined to
    /// the session's directory in STS mode, never past the session's
    /// expiry, and, for anything but a read, recorded (`signed_until`)
    /// before it is made, so that a session ended later holds its bytes
    /// until no signature for it works, and one ended earlier gets none.
    /// A URL, or with `header_form` an `Authorization`.
    async fn sign(
        &self,
        row: &UploadRow,
        method: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        header_form: bool,
        now: u64,
    ) -> Result<(String, Option<signing::SignedRequest>, u64), UploadError> {
        let key =
            ObjectKey::parse(&row.object_key).map_err(|e| UploadError::Internal(e.to_string()))?;
        let dir = self.session_dir(&row.account_id)?;
        let ttl = signature_ttl(row, method, now);
        // Every signature below ends by `now + ttl`. A write's bound is
        // recorded before the signature exists: a session ended meanwhile
        // (a delete racing this request) has given its bytes back, so it
        // gets no signature; one ended after sees the bound and holds
        // them. A creation records its PUT's bound with the row.
        let bound = (now + ttl) as i64;
        if method != "get"
            && bound > row.signed_until
            && !self.store.signed_upload(&row.id, bound).await?
        {
            self.pending(&row.account_id, &row.id, now).await?;
            return Err(UploadError::InvalidRequest(
                "this upload is no longer pending".into(),
            ));
        }
        let request = ExactRequest {
            method,
            key: &key,
            query,
            headers,
            dir: &dir,
            max_put: self.settings.part_bytes,
        };
        let (url, signed, end) = if header_form {
            let signed = self
                .signing
                .authorize_exact(&row.account_id, request, ttl, now)
                .await?;
            let end = signed.key_time.end;
            (String::new(), Some(signed), end)
        } else {
            let presigned = self
                .signing
                .presign_exact(&row.account_id, request, ttl, now)
                .await?;
            (presigned.url, None, presigned.key_time.end)
        };
        Ok((url, signed, end))
    }

    /// `{session dir}/{yyyy}/{mm}/{id}.{ext}`.
    fn key_for(
        &self,
        account: &str,
        id: &str,
        content_type: &str,
        now: u64,
    ) -> Result<ObjectKey, UploadError> {
        let home = self.session_dir(account)?;
        let date = time::OffsetDateTime::from_unix_timestamp(now as i64)
            .map_err(|e| UploadError::Internal(e.to_string()))?;
        let key = format!(
            "{}/{:04}/{:02}/{id}.{}",
            home.as_str().trim_start_matches('/'),
            date.year(),
            u8::from(date.month()),
            extension(content_type)
        );
        ObjectKey::parse(&key).map_err(|e| UploadError::Internal(e.to_string()))
    }

    /// One PUT up to the part size; above, parts of at least that size (and
    /// of at least 1 MiB, at most 10,000 of them).
    fn plan(&self, size: u64) -> (u64, u64) {
        if size <= self.settings.part_bytes {
            return (size, 1);
        }
        let part = self
            .settings
            .part_bytes
            .max(size.div_ceil(MAX_PARTS))
            .max(MIN_PART_BYTES);
        (part, size.div_ceil(part))
    }
}

/// How long a signature on the session's key works: a read
/// [`UPLOAD_SIGNATURE_TTL`], a write no longer than the session.
fn signature_ttl(row: &UploadRow, method: &str, now: u64) -> u64 {
    if method == "get" {
        UPLOAD_SIGNATURE_TTL
    } else {
        put_ttl(row.expires_at as u64, now)
    }
}

/// A write signature's lifetime for a session ending at `expires_at`.
fn put_ttl(expires_at: u64, now: u64) -> u64 {
    UPLOAD_SIGNATURE_TTL.min(expires_at.saturating_sub(now).max(1))
}

/// The planned length of part `number`: the part size, the last one short.
fn part_length(row: &UploadRow, number: u64) -> u64 {
    let (size, part, count) = (
        row.size_bytes as u64,
        row.part_size as u64,
        row.part_count as u64,
    );
    if number < count {
        part
    } else {
        size - part * (count - 1)
    }
}

/// `type/subtype`, lower case, without parameters.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The key's extension for a content type; `bin` for one not listed.
fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "image/heic" => "heic",
        "image/heif" => "heif",
        "image/avif" => "avif",
        "video/mp4" => "mp4",
        "video/quicktime" => "mov",
        "audio/mpeg" => "mp3",
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        _ => "bin",
    }
}

/// A filename to store: 1 to 255 bytes, no control characters. It never
/// becomes part of a key, so nothing else is refused.
fn checked_filename(name: &str) -> Result<String, UploadError> {
    if name.is_empty() || name.len() > MAX_FILENAME_BYTES || name.chars().any(char::is_control) {
        return Err(UploadError::InvalidRequest(format!(
            "filename must be 1 to {MAX_FILENAME_BYTES} bytes without control characters"
        )));
    }
    Ok(name.to_string())
}

/// A `Content-MD5`: base64 of 16 bytes.
fn checked_md5(md5: String) -> Result<String, UploadError> {
    match STANDARD.decode(&md5) {
        Ok(bytes) if bytes.len() == 16 => Ok(md5),
        _ => Err(UploadError::InvalidRequest(
            "content_md5 must be the base64 of a 16-byte MD5".into(),
        )),
    }
}
