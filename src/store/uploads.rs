//! Upload sessions and the two byte quotas they reserve: the daily bytes
//! (`upload_quota`, shared with the per-request signatures) and the stored
//! bytes (`storage_quota`). A session reserves both in the transaction that
//! creates it; every later change of status is one conditional update on
//! the status it leaves, and gives back exactly what the row says it took,
//! in the same transaction, so a retry, a second replica or a restart after
//! kill -9 never releases twice.

use sqlx::{Any, Row, Transaction, any::AnyRow};

use super::{NewEvent, Result, Store, outbox::insert_event};

/// Where an upload session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadStatus {
    /// Created, bytes reserved; the client may upload.
    Pending,
    /// Verified at COS: the record an app can trust.
    Completed,
    /// What COS held did not match what was declared; deleted there.
    Rejected,
    /// Never completed before its expiry.
    Expired,
    /// Deleted by its owner.
    Deleted,
    /// Verified at COS, waiting for moderation's verdict (`MODERATION`):
    /// never readable through cosgate, never announced as completed.
    InReview,
}

impl UploadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Completed => "completed",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Deleted => "deleted",
            Self::InReview => "in_review",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Completed,
            Self::Rejected,
            Self::Expired,
            Self::Deleted,
            Self::InReview,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// One upload session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    pub id: String,
    pub account_id: String,
    pub status: UploadStatus,
    pub object_key: String,
    pub filename: String,
    pub size_bytes: i64,
    pub content_type: String,
    pub content_md5: Option<String>,
    pub profile: String,
    pub cos_upload_id: Option<String>,
    pub part_size: i64,
    pub part_count: i64,
    pub day: i64,
    pub daily_bytes: i64,
    pub storage_bytes: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub completed_at: Option<i64>,
    pub etag: Option<String>,
    pub crc64: Option<String>,
    pub reason: Option<String>,
    /// When the last signature made for it stops working.
    pub signed_until: i64,
    /// Until when an ended session still holds its bytes (0: nothing held).
    pub held_until: i64,
    /// Moderation's record, when it is on.
    pub review: Review,
}

/// Where moderation stands for an upload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Review {
    /// While `in_review`: `checking` (no verdict yet) or `held` (for an
    /// operator).
    pub state: Option<String>,
    /// The provider's label (`normal`, `porn`, `risky`, …).
    pub label: Option<String>,
    /// WeChat's `trace_id` of an asynchronous check.
    pub trace_id: Option<String>,
    /// When the review started, unix seconds (0: never).
    pub started_at: i64,
}

/// The limits a new session is reserved against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    /// `QCOS_DAILY_UPLOAD_BYTES_PER_ACCOUNT`.
    pub daily: Option<i64>,
    /// `QCOS_STORAGE_BYTES_PER_ACCOUNT`.
    pub storage: Option<i64>,
}

/// Why a session could not be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaRefusal {
    Daily,
    Storage,
}

/// What a completed verification recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub etag: String,
    pub crc64: Option<String>,
    pub completed_at: i64,
}

/// Seconds past a signature's end that its ended session's bytes stay
/// held: COS accepts a signature through the second it ends in, by a clock
/// that may be a little behind cosgate's.
pub const HOLD_MARGIN: i64 = 2;

const COLUMNS: &str = "id, account_id, status, object_key, filename, size_bytes, content_type, \
     content_md5, profile, cos_upload_id, part_size, part_count, day, daily_bytes, storage_bytes, \
     created_at, expires_at, completed_at, etag, crc64, reason, signed_until, held_until";
/// What is read: the columns written at creation and moderation's.
const READ_COLUMNS: &str = "id, account_id, status, object_key, filename, size_bytes, content_type, \
     content_md5, profile, cos_upload_id, part_size, part_count, day, daily_bytes, storage_bytes, \
     created_at, expires_at, completed_at, etag, crc64, reason, signed_until, held_until, \
     review, review_label, review_trace_id, review_started_at";

impl Store {
    /// Stores `upload` (status pending) after reserving its bytes against
    /// both quotas, all or nothing. The row's `daily_bytes` and
    /// `storage_bytes` are set to what was reserved; `signed_until` is the row's.
    pub async fn create_upload(
        &self,
        upload: &UploadRow,
        quotas: Quotas,
    ) -> Result<std::result::Result<(), QuotaRefusal>> {
        self.run("create_upload", || async move {
            let mut tx = self.begin_write().await?;
            let size = upload.size_bytes;
            if let Some(limit) = quotas.daily {
                let charged = sqlx::query(
                    "INSERT INTO upload_quota (account_id, day, bytes) \
                     SELECT $1, $2, $3 WHERE $3 <= $4 \
                     ON CONFLICT (account_id, day) DO UPDATE SET bytes = upload_quota.bytes + excluded.bytes \
                     WHERE upload_quota.bytes + excluded.bytes <= $4",
                )
                .bind(&upload.account_id)
                .bind(upload.day)
                .bind(size)
                .bind(limit)
                .execute(&mut *tx)
                .await?;
                if charged.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Ok(Err(QuotaRefusal::Daily));
                }
            }
            if let Some(limit) = quotas.storage {
                let charged = sqlx::query(
                    "INSERT INTO storage_quota (account_id, bytes) \
                     SELECT $1, $2 WHERE $2 <= $3 \
                     ON CONFLICT (account_id) DO UPDATE SET bytes = storage_quota.bytes + excluded.bytes \
                     WHERE storage_quota.bytes + excluded.bytes <= $3",
                )
                .bind(&upload.account_id)
                .bind(size)
                .bind(limit)
                .execute(&mut *tx)
                .await?;
                if charged.rows_affected() != 1 {
                    tx.rollback().await?;
                    return Ok(Err(QuotaRefusal::Storage));
                }
            }
            let daily = if quotas.daily.is_some() { size } else { 0 };
            let storage = if quotas.storage.is_some() { size } else { 0 };
            sqlx::query(&format!(
                "INSERT INTO uploads ({COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, 0)"
            ))
            .bind(&upload.id)
            .bind(&upload.account_id)
            .bind(UploadStatus::Pending.as_str())
            .bind(&upload.object_key)
            .bind(&upload.filename)
            .bind(size)
            .bind(&upload.content_type)
            .bind(&upload.content_md5)
            .bind(&upload.profile)
            .bind(&upload.cos_upload_id)
            .bind(upload.part_size)
            .bind(upload.part_count)
            .bind(upload.day)
            .bind(daily)
            .bind(storage)
            .bind(upload.created_at)
            .bind(upload.expires_at)
            .bind(None::<i64>)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(upload.signed_until)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Ok(()))
        })
        .await
    }

    /// Records the COS multipart upload id of a pending session.
    pub async fn set_cos_upload_id(&self, id: &str, cos_upload_id: &str) -> Result<()> {
        self.run("set_cos_upload_id", || async move {
            sqlx::query(
                "UPDATE uploads SET cos_upload_id = $1 WHERE id = $2 AND status = 'pending'",
            )
            .bind(cos_upload_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    /// The session `id`, if it exists.
    pub async fn upload(&self, id: &str) -> Result<Option<UploadRow>> {
        let sql = format!("SELECT {READ_COLUMNS} FROM uploads WHERE id = $1");
        let query = sqlx::query(&sql).bind(id).fetch_optional(&self.pool);
        let row = self.timed("upload", query).await?;
        row.map(|r| upload_row(&r)).transpose()
    }

    /// The account's sessions, newest first: at most `limit` created before
    /// `(before_time, before_id)` when given, of `status` when given.
    pub async fn uploads(
        &self,
        account_id: &str,
        status: Option<UploadStatus>,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<UploadRow>> {
        let (before_time, before_id) = before.unwrap_or((i64::MAX, ""));
        let sql = format!(
            "SELECT {READ_COLUMNS} FROM uploads WHERE account_id = $1 \
             AND ($2 = '' OR status = $2) \
             AND (created_at < $3 OR (created_at = $3 AND ($4 = '' OR id < $4))) \
             ORDER BY created_at DESC, id DESC LIMIT $5"
        );
        let query = sqlx::query(&sql)
            .bind(account_id)
            .bind(status.map_or("", UploadStatus::as_str))
            .bind(before_time)
            .bind(before_id)
            .bind(limit)
            .fetch_all(&self.pool);
        let rows = self.timed("uploads", query).await?;
        rows.iter().map(upload_row).collect()
    }

    /// Pending sessions whose expiry passed before `now`, oldest first.
    pub async fn expired_uploads(&self, now: i64, limit: i64) -> Result<Vec<UploadRow>> {
        let sql = format!(
            "SELECT {READ_COLUMNS} FROM uploads WHERE status = 'pending' AND expires_at < $1 \
             ORDER BY expires_at LIMIT $2"
        );
        let query = sqlx::query(&sql)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool);
        let rows = self.timed("expired_uploads", query).await?;
        rows.iter().map(upload_row).collect()
    }

    /// Records, before it is made, that a signature for the pending
    /// session will work until `until` (never lowering what is recorded).
    /// `false` when the session is no longer pending: it may have given
    /// its bytes back already, so no signature for it may go out.
    pub async fn signed_upload(&self, id: &str, until: i64) -> Result<bool> {
        self.run("signed_upload", || async move {
            let done = sqlx::query(
                "UPDATE uploads SET signed_until = \
                 CASE WHEN signed_until < $1 THEN $1 ELSE signed_until END \
                 WHERE id = $2 AND status = 'pending'",
            )
            .bind(until)
            .bind(id)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    /// The pending session whose COS multipart upload is `cos_upload_id`.
    pub async fn upload_by_cos_id(&self, cos_upload_id: &str) -> Result<Option<UploadRow>> {
        let sql = format!("SELECT {READ_COLUMNS} FROM uploads WHERE cos_upload_id = $1");
        let query = sqlx::query(&sql)
            .bind(cos_upload_id)
            .fetch_optional(&self.pool);
        let row = self.timed("upload_by_cos_id", query).await?;
        row.map(|r| upload_row(&r)).transpose()
    }

    /// pending → completed, with what COS verified, unless the session
    /// expired. `false` when it was no longer pending (another request, a
    /// delete or the sweeper got there first).
    /// With the change, `event` goes into the outbox (same transaction).
    pub async fn complete_upload(
        &self,
        id: &str,
        verified: &Verified,
        event: Option<&NewEvent>,
    ) -> Result<bool> {
        self.run("complete_upload", || async move {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query(
                "UPDATE uploads SET status = 'completed', etag = $1, crc64 = $2, completed_at = $3 \
                 WHERE id = $4 AND status = 'pending' AND expires_at >= $3",
            )
            .bind(&verified.etag)
            .bind(&verified.crc64)
            .bind(verified.completed_at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            commit_with_event(tx, done.rows_affected() == 1, event).await
        })
        .await
    }

    /// `from` → `to` (rejected, expired or deleted). What the session
    /// reserved goes back: both quotas when it leaves `pending`, the stored
    /// bytes only when a completed upload is deleted (its bytes were
    /// uploaded that day). While a signature made for the session still
    /// works (`signed_until` after `now`), a client could still upload with
    /// it: the bytes are held until then instead, and [`Store::release_held`]
    /// gives them back once the sweeper has cleaned the key again. `false`
    /// when the session was not in `from`.
    pub async fn end_upload(
        &self,
        id: &str,
        from: UploadStatus,
        to: UploadStatus,
        reason: Option<&str>,
        now: i64,
        event: Option<&NewEvent>,
    ) -> Result<bool> {
        self.run("end_upload", || async move {
            let mut tx = self.begin_write().await?;
            let moved = sqlx::query(&format!(
                "UPDATE uploads SET status = $1, reason = COALESCE($2, reason), \
                 held_until = CASE WHEN signed_until + {HOLD_MARGIN} > $5 \
                 THEN signed_until + {HOLD_MARGIN} ELSE 0 END \
                 WHERE id = $3 AND status = $4",
            ))
            .bind(to.as_str())
            .bind(reason)
            .bind(id)
            .bind(from.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if moved.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            finish_ending(tx, id, from == UploadStatus::Pending, event).await?;
            Ok(true)
        })
        .await
    }

    /// Sessions that ended while a signature still worked, whose signatures
    /// have all stopped working by `now`: the sweeper cleans their keys at
    /// COS again, then gives their bytes back.
    pub async fn held_uploads(&self, now: i64, limit: i64) -> Result<Vec<UploadRow>> {
        let sql = format!(
            "SELECT {READ_COLUMNS} FROM uploads WHERE held_until > 0 AND held_until <= $1 \
             ORDER BY held_until LIMIT $2"
        );
        let query = sqlx::query(&sql)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool);
        let rows = self.timed("held_uploads", query).await?;
        rows.iter().map(upload_row).collect()
    }

    /// Gives back what the ended session `id` held, once (`false` if
    /// another replica did).
    pub async fn release_held(&self, id: &str, held_until: i64) -> Result<bool> {
        self.run("release_held", || async move {
            let mut tx = self.begin_write().await?;
            let cleared = sqlx::query(
                "UPDATE uploads SET held_until = 0 WHERE id = $1 AND held_until = $2 AND held_until > 0",
            )
            .bind(id)
            .bind(held_until)
            .execute(&mut *tx)
            .await?;
            if cleared.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            let row = sqlx::query(
                "SELECT account_id, day, daily_bytes, storage_bytes, etag FROM uploads WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            // A session that never got verified at COS held both quotas;
            // one whose bytes were uploaded (completed, or rejected by
            // moderation) keeps the day's charge.
            let verified: Option<String> = row.try_get("etag")?;
            release(&mut tx, &row, verified.is_none()).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    /// `pending` → `in_review` (`checking`), recording what COS verified.
    /// `false` when it was no longer pending or has expired.
    pub async fn start_review(&self, id: &str, verified: &Verified) -> Result<bool> {
        self.run("start_review", || async move {
            let done = sqlx::query(
                "UPDATE uploads SET status = 'in_review', etag = $1, crc64 = $2, \
                 review = 'checking', review_started_at = $3 \
                 WHERE id = $4 AND status = 'pending' AND expires_at >= $3",
            )
            .bind(&verified.etag)
            .bind(&verified.crc64)
            .bind(verified.completed_at)
            .bind(id)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    /// Records WeChat's `trace_id` for an upload being checked.
    pub async fn set_review_trace(&self, id: &str, trace_id: &str) -> Result<bool> {
        self.run("set_review_trace", || async move {
            let done = sqlx::query(
                "UPDATE uploads SET review_trace_id = $1 \
                 WHERE id = $2 AND status = 'in_review' AND review = 'checking'",
            )
            .bind(trace_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    /// The upload whose asynchronous check has `trace_id`.
    pub async fn upload_by_trace(&self, trace_id: &str) -> Result<Option<UploadRow>> {
        let sql = format!("SELECT {READ_COLUMNS} FROM uploads WHERE review_trace_id = $1");
        let query = sqlx::query(&sql).bind(trace_id).fetch_optional(&self.pool);
        let row = self.timed("upload_by_trace", query).await?;
        row.as_ref().map(upload_row).transpose()
    }

    /// `in_review` in `from` → `to` (`held` for an operator, or
    /// `quarantining` while the content is moved away), with the verdict's
    /// label and, for a rejection, its reason. `false` when it was not in
    /// `from` (another verdict, a delete or the sweeper came first): the
    /// caller then does nothing more.
    pub async fn move_review(
        &self,
        id: &str,
        from: &str,
        to: &str,
        label: &str,
        reason: Option<&str>,
    ) -> Result<bool> {
        self.run("move_review", || async move {
            let done = sqlx::query(
                "UPDATE uploads SET review = $1, review_label = $2, reason = COALESCE($3, reason) \
                 WHERE id = $4 AND status = 'in_review' AND review = $5",
            )
            .bind(to)
            .bind(label)
            .bind(reason)
            .bind(id)
            .bind(from)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    /// `in_review` in `state` → `completed` at `now`, with the verdict's
    /// label; `event` into the outbox in the same transaction. `false`
    /// when it was not in that state (another verdict came first).
    pub async fn pass_review(
        &self,
        id: &str,
        state: &str,
        label: &str,
        now: i64,
        event: Option<&NewEvent>,
    ) -> Result<bool> {
        self.run("pass_review", || async move {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query(
                "UPDATE uploads SET status = 'completed', completed_at = $1, review = NULL, \
                 review_label = $2 WHERE id = $3 AND status = 'in_review' AND review = $4",
            )
            .bind(now)
            .bind(label)
            .bind(id)
            .bind(state)
            .execute(&mut *tx)
            .await?;
            commit_with_event(tx, done.rows_affected() == 1, event).await
        })
        .await
    }

    /// `in_review` in `state` → `rejected` with `reason` and the verdict's
    /// `label`: the stored bytes go back (or are held while a signature
    /// made for the session still works); the day's charge stays, since the
    /// bytes were uploaded. `event` into the outbox in the same
    /// transaction. `false` when it was not in that state.
    pub async fn reject_review(
        &self,
        id: &str,
        state: &str,
        reason: &str,
        label: &str,
        now: i64,
        event: Option<&NewEvent>,
    ) -> Result<bool> {
        self.run("reject_review", || async move {
            let mut tx = self.begin_write().await?;
            let moved = sqlx::query(&format!(
                "UPDATE uploads SET status = 'rejected', reason = $1, review = NULL, review_label = $2, \
                 held_until = CASE WHEN signed_until + {HOLD_MARGIN} > $3 \
                 THEN signed_until + {HOLD_MARGIN} ELSE 0 END \
                 WHERE id = $4 AND status = 'in_review' AND review = $5",
            ))
            .bind(reason)
            .bind(label)
            .bind(now)
            .bind(id)
            .bind(state)
            .execute(&mut *tx)
            .await?;
            if moved.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            // The bytes were uploaded: the day's charge stays.
            finish_ending(tx, id, false, event).await?;
            Ok(true)
        })
        .await
    }

    /// Uploads `in_review` in `state` since before `started_before`, oldest
    /// first: the sweeper asks again, or applies the timeout.
    pub async fn reviews(
        &self,
        state: &str,
        started_before: i64,
        limit: i64,
    ) -> Result<Vec<UploadRow>> {
        let sql = format!(
            "SELECT {READ_COLUMNS} FROM uploads WHERE status = 'in_review' AND review = $1 \
             AND review_started_at < $2 ORDER BY review_started_at LIMIT $3"
        );
        let query = sqlx::query(&sql)
            .bind(state)
            .bind(started_before)
            .bind(limit)
            .fetch_all(&self.pool);
        let rows = self.timed("reviews", query).await?;
        rows.iter().map(upload_row).collect()
    }

    /// The bytes `account_id` holds in completed and reserved sessions.
    pub async fn stored_bytes(&self, account_id: &str) -> Result<i64> {
        let query = sqlx::query("SELECT bytes FROM storage_quota WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool);
        let row = self.timed("stored_bytes", query).await?;
        Ok(match row {
            Some(row) => row.try_get("bytes")?,
            None => 0,
        })
    }
}

/// Gives back the stored bytes of `row` (a session's `account_id`, `day`,
/// `daily_bytes`, `storage_bytes`), and its daily bytes too when `daily`
/// (it never completed).
/// The rest of ending session `id` once its status moved, in the same
/// transaction: its bytes go back (the day's too when `daily`) unless a
/// signature made for it still works (`held_until`), its event goes into
/// the outbox, and the transaction commits.
/// Commits `tx` with `event` in the outbox when the change `happened`
/// (`true`), else rolls it back (`false`).
async fn commit_with_event(
    mut tx: Transaction<'static, Any>,
    happened: bool,
    event: Option<&NewEvent>,
) -> Result<bool> {
    if !happened {
        tx.rollback().await?;
        return Ok(false);
    }
    if let Some(event) = event {
        insert_event(&mut tx, event).await?;
    }
    tx.commit().await?;
    Ok(true)
}

async fn finish_ending(
    mut tx: Transaction<'static, Any>,
    id: &str,
    daily: bool,
    event: Option<&NewEvent>,
) -> Result<()> {
    let row = sqlx::query(
        "SELECT account_id, day, daily_bytes, storage_bytes, held_until FROM uploads WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    let held: i64 = row.try_get("held_until")?;
    if held == 0 {
        release(&mut tx, &row, daily).await?;
    }
    if let Some(event) = event {
        insert_event(&mut tx, event).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn release(tx: &mut Transaction<'static, Any>, row: &AnyRow, daily: bool) -> Result<()> {
    let account: String = row.try_get("account_id")?;
    let daily_bytes: i64 = row.try_get("daily_bytes")?;
    if daily && daily_bytes > 0 {
        sqlx::query(
            "UPDATE upload_quota SET bytes = bytes - $1 WHERE account_id = $2 AND day = $3",
        )
        .bind(daily_bytes)
        .bind(&account)
        .bind(row.try_get::<i64, _>("day")?)
        .execute(&mut **tx)
        .await?;
    }
    let storage: i64 = row.try_get("storage_bytes")?;
    if storage > 0 {
        sqlx::query("UPDATE storage_quota SET bytes = bytes - $1 WHERE account_id = $2")
            .bind(storage)
            .bind(&account)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn upload_row(row: &AnyRow) -> Result<UploadRow> {
    let status: String = row.try_get("status")?;
    Ok(UploadRow {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        status: UploadStatus::parse(&status).unwrap_or(UploadStatus::Rejected),
        object_key: row.try_get("object_key")?,
        filename: row.try_get("filename")?,
        size_bytes: row.try_get("size_bytes")?,
        content_type: row.try_get("content_type")?,
        content_md5: row.try_get("content_md5")?,
        profile: row.try_get("profile")?,
        cos_upload_id: row.try_get("cos_upload_id")?,
        part_size: row.try_get("part_size")?,
        part_count: row.try_get("part_count")?,
        day: row.try_get("day")?,
        daily_bytes: row.try_get("daily_bytes")?,
        storage_bytes: row.try_get("storage_bytes")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        completed_at: row.try_get("completed_at")?,
        etag: row.try_get("etag")?,
        crc64: row.try_get("crc64")?,
        reason: row.try_get("reason")?,
        signed_until: row.try_get("signed_until")?,
        held_until: row.try_get("held_until")?,
        review: Review {
            state: row.try_get("review")?,
            label: row.try_get("review_label")?,
            trace_id: row.try_get("review_trace_id")?,
            started_at: row.try_get("review_started_at")?,
        },
    })
}
