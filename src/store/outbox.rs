//! The outbox of upload events and the leases of one-replica work.
//!
//! An event is inserted by the same transaction that changes the upload's
//! state (`src/store/uploads.rs`), so it exists exactly when the change
//! does. Workers claim due events with a conditional update of
//! `locked_until`; a delivered event is marked so, a failed one gets its next
//! attempt, and an event that can no longer be delivered is given up.

use sqlx::{Any, Row, Transaction};

use super::{Result, Store};

/// An event to store with a state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// `msg_…`: the `webhook-id` of every delivery attempt.
    pub id: String,
    pub event_type: &'static str,
    /// The JSON body, exactly as it will be sent.
    pub payload: String,
    pub created_at: i64,
}

/// A stored event that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEvent {
    pub id: String,
    pub event_type: String,
    pub payload: String,
    pub created_at: i64,
    pub attempts: i64,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// 2xx: done.
    Delivered { status: i64 },
    /// Anything else: try again at `next_attempt_at`.
    Retry { status: i64, next_attempt_at: i64 },
    /// 410, or too old: no more attempts.
    GiveUp { status: i64 },
}

/// Inserts `event` inside `tx`.
pub(super) async fn insert_event(
    tx: &mut Transaction<'static, Any>,
    event: &NewEvent,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (id, event_type, payload, created_at, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(&event.id)
    .bind(event.event_type)
    .bind(&event.payload)
    .bind(event.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Up to `limit` events due at `now` that no worker holds, oldest first.
    pub async fn due_events(&self, now: i64, limit: i64) -> Result<Vec<DueEvent>> {
        let query = sqlx::query(
            "SELECT id, event_type, payload, created_at, attempts FROM outbox \
             WHERE delivered_at IS NULL AND gave_up_at IS NULL \
             AND next_attempt_at <= $1 AND locked_until <= $1 \
             ORDER BY created_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool);
        let rows = self.timed("due_events", query).await?;
        rows.iter()
            .map(|row| {
                Ok(DueEvent {
                    id: row.try_get("id")?,
                    event_type: row.try_get("event_type")?,
                    payload: row.try_get("payload")?,
                    created_at: row.try_get("created_at")?,
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Claims event `id` until `until`, if no worker holds it: `false` when
    /// another got it first.
    pub async fn claim_event(&self, id: &str, now: i64, until: i64) -> Result<bool> {
        self.run("claim_event", || async move {
            let claimed = sqlx::query(
                "UPDATE outbox SET locked_until = $1 WHERE id = $2 AND locked_until <= $3 \
                 AND next_attempt_at <= $3 AND delivered_at IS NULL AND gave_up_at IS NULL",
            )
            .bind(until)
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
            Ok(claimed.rows_affected() == 1)
        })
        .await
    }

    /// Records how the attempt at event `id` ended, and frees its claim,
    /// if the claim (until `claimed_until`) is still the worker's: `false`
    /// when it ran out and another worker took the event.
    pub async fn event_attempted(
        &self,
        id: &str,
        now: i64,
        attempt: Attempt,
        claimed_until: i64,
    ) -> Result<bool> {
        self.run("event_attempted", || async move {
            let (delivered, gave_up, status, next) = match attempt {
                Attempt::Delivered { status } => (Some(now), None, status, now),
                Attempt::GiveUp { status } => (None, Some(now), status, now),
                Attempt::Retry {
                    status,
                    next_attempt_at,
                } => (None, None, status, next_attempt_at),
            };
            let recorded = sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, locked_until = 0, delivered_at = $1, \
                 gave_up_at = $2, last_status = $3, next_attempt_at = $4 \
                 WHERE id = $5 AND locked_until = $6",
            )
            .bind(delivered)
            .bind(gave_up)
            .bind(status)
            .bind(next)
            .bind(id)
            .bind(claimed_until)
            .execute(&self.pool)
            .await?;
            Ok(recorded.rows_affected() == 1)
        })
        .await
    }

    /// Forgets delivered and given-up events that ended before `before`;
    /// how many.
    pub async fn prune_outbox(&self, before: i64) -> Result<u64> {
        self.run("prune_outbox", || async move {
            let pruned = sqlx::query(
                "DELETE FROM outbox WHERE (delivered_at IS NOT NULL AND delivered_at < $1) \
                 OR (gave_up_at IS NOT NULL AND gave_up_at < $1)",
            )
            .bind(before)
            .execute(&self.pool)
            .await?;
            Ok(pruned.rows_affected())
        })
        .await
    }

    /// Events waiting for delivery, and when the oldest of them was made.
    pub async fn outbox_depth(&self) -> Result<(i64, Option<i64>)> {
        let query = sqlx::query(
            "SELECT COUNT(*) AS depth, MIN(created_at) AS oldest FROM outbox \
             WHERE delivered_at IS NULL AND gave_up_at IS NULL",
        )
        .fetch_one(&self.pool);
        let row = self.timed("outbox_depth", query).await?;
        Ok((row.try_get("depth")?, row.try_get("oldest")?))
    }

    /// Takes or renews the lease `name` for `holder` until `until`: `true`
    /// when `holder` has it now (it was free, ran out, or was its own).
    pub async fn take_lease(&self, name: &str, holder: &str, now: i64, until: i64) -> Result<bool> {
        self.run("take_lease", || async move {
            let taken = sqlx::query(
                "INSERT INTO leases (name, holder, until_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_at = excluded.until_at \
                 WHERE leases.until_at <= $4 OR leases.holder = excluded.holder",
            )
            .bind(name)
            .bind(holder)
            .bind(until)
            .bind(now)
            .execute(&self.pool)
            .await?;
            Ok(taken.rows_affected() == 1)
        })
        .await
    }

    /// WeChat's access token for `appid` and when it expires, if stored.
    pub async fn wechat_token(&self, appid: &str) -> Result<Option<(String, i64)>> {
        let query = sqlx::query("SELECT token, expires_at FROM wechat_tokens WHERE appid = $1")
            .bind(appid)
            .fetch_optional(&self.pool);
        let row = self.timed("wechat_token", query).await?;
        Ok(match row {
            Some(row) => Some((row.try_get("token")?, row.try_get("expires_at")?)),
            None => None,
        })
    }

    /// Stores WeChat's access token for `appid`, for every replica.
    pub async fn save_wechat_token(&self, appid: &str, token: &str, expires_at: i64) -> Result<()> {
        self.run("save_wechat_token", || async move {
            sqlx::query(
                "INSERT INTO wechat_tokens (appid, token, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (appid) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at",
            )
            .bind(appid)
            .bind(token)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }
}
