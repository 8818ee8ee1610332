//! Accounts and refresh tokens, in SQLite (the default, a file next to the
//! binary) or PostgreSQL (`DATABASE_URL=postgres://…`, for replicas).
//!
//! The same SQL serves both through sqlx's `any` driver. Every write that
//! answers success is committed before the answer (SQLite runs in WAL mode
//! with full sync). Refresh tokens are stored only as SHA-256 hashes. This
//! module knows nothing of HTTP or WeChat.

use sqlx::{Any, AnyPool, Executor, Row, any::AnyPoolOptions};

mod outbox;
mod uploads;

pub use outbox::{Attempt, DueEvent, NewEvent};
pub use uploads::{QuotaRefusal, Quotas, UploadRow, UploadStatus, Verified};

/// Embedded at build time from `migrations/`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Account {
    pub id: String,
    pub openid: String,
    pub unionid: Option<String>,
    pub nickname: Option<String>,
    pub avatar: Option<String>,
    pub created_at: i64,
    pub last_login_at: i64,
}

/// What WeChat told us about a user at login.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub unionid: Option<String>,
    pub nickname: Option<String>,
    pub avatar: Option<String>,
}

/// Why a refresh token was not rotated. The caller answers all of them with
/// 401; they differ in what they did to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshRefusal {
    Unknown,
    Expired,
    /// It, or its family, was revoked earlier.
    Revoked,
    /// It was already rotated: the sign of a stolen token. Its whole family
    /// has now been revoked.
    Reused,
    /// Another OAuth client obtained it; nothing was changed.
    OtherClient,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The openid already has an account.
    #[error("the account already exists")]
    AlreadyExists,
    /// The store stayed busy (SQLite's write lock, PostgreSQL's
    /// serialization failures) through every retry.
    #[error("the store is busy")]
    Busy,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// Told not to migrate, and the schema is older than this build's.
    #[error(
        "{applied} of {expected} migrations have run on the store: run `cosgate migrate` first \
         (or set DATABASE_MIGRATE_ON_START=true)"
    )]
    SchemaBehind { applied: i64, expected: i64 },
}

/// What connecting does with the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Brings it up to date (`cosgate serve` by default, `cosgate migrate`).
    Migrate,
    /// Leaves it alone and refuses a schema older than this build's (for
    /// rollouts whose migrations run once, before the replicas start).
    Require,
}

/// A login session: a refresh-token family and its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub family_id: String,
    pub account_id: String,
}

/// A refresh token to store, by hash.
#[derive(Debug, Clone, Copy)]
pub struct NewRefreshToken<'a> {
    pub token_hash: &'a str,
    pub family_id: &'a str,
    pub account_id: &'a str,
    /// The OAuth client that obtained it.
    pub client_id: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// How many of this build's migrations have run on `pool`, by version and
/// checksum (none when the migrations' table is missing), and how many it
/// has. Other errors are the store's.
async fn migrations_applied(pool: &sqlx::AnyPool) -> Result<(i64, i64)> {
    let rows: Vec<(i64, Vec<u8>)> =
        match sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await
        {
            Ok(rows) => rows,
            Err(sqlx::Error::Database(e))
                if e.message().contains("_sqlx_migrations")
                    || e.message().contains("no such table") =>
            {
                Vec::new()
            }
            Err(e) => return Err(e.into()),
        };
    let applied = MIGRATOR
        .iter()
        .filter(|m| {
            rows.iter()
                .any(|(version, checksum)| *version == m.version && checksum[..] == m.checksum[..])
        })
        .count() as i64;
    Ok((applied, MIGRATOR.iter().count() as i64))
}

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// SQLite takes its write lock with `BEGIN IMMEDIATE`.
    sqlite: bool,
    /// For readiness checks on a new connection; never logged (it may hold
    /// a PostgreSQL password).
    url: std::sync::Arc<secrecy::SecretString>,
    /// Where query latency is recorded, when the server has metrics.
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

const ACCOUNT_COLUMNS: &str = "id, openid, unionid, nickname, avatar, created_at, last_login_at";

impl Store {
    /// Connects to `url` and brings the schema up to date. A SQLite file is
    /// created if missing and switched to WAL mode.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::open(url, Schema::Migrate).await
    }

    /// Connects to `url`, doing `schema` with its schema.
    pub async fn open(url: &str, schema: Schema) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let is_sqlite = url.starts_with("sqlite:");
        let url = if is_sqlite && !url.contains("mode=") {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}mode=rwc")
        } else {
            url.to_string()
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if is_sqlite { 4 } else { 10 })
            .connect(&url)
            .await?;
        if is_sqlite {
            // WAL lets readers run beside the one writer; it persists in the
            // file. synchronous stays SQLite's default, FULL (sqlx leaves it),
            // so a commit survives a crash.
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await?;
        }
        match schema {
            Schema::Migrate => {
                // A newer build's migrations may be there (a rollback):
                // they are left alone, not refused.
                let mut migrator = sqlx::migrate!();
                migrator.set_ignore_missing(true);
                migrator.run(&pool).await?;
            }
            Schema::Require => {
                let (applied, expected) = migrations_applied(&pool).await?;
                if applied < expected {
                    return Err(StoreError::SchemaBehind { applied, expected });
                }
            }
        }
        // Readiness opens the file as it is, never creating it.
        let ready_url = url.replace("mode=rwc", "mode=rw");
        Ok(Self {
            pool,
            sqlite: is_sqlite,
            url: std::sync::Arc::new(secrecy::SecretString::from(ready_url)),
            metrics: None,
        })
    }

    /// Records every query's latency (retries of a busy store included) in
    /// `metrics`, by the name of the store operation.
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    async fn timed<T>(&self, query: &'static str, op: impl Future<Output = T>) -> T {
        let started = std::time::Instant::now();
        let result = op.await;
        if let Some(metrics) = &self.metrics {
            metrics.store_query(query, started.elapsed());
        }
        result
    }

    /// Runs the store operation `query`: `op` again while the store is busy
    /// (`retry_busy`), timed as one query, retries included. The single
    /// reads (`account`, `account_by_openid`, `uploaded_on`) are only timed.
    async fn run<T, F, Fut>(&self, query: &'static str, op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.timed(query, retry_busy(op)).await
    }

    /// How many of this build's migrations have run, and how many it has.
    pub async fn schema_version(&self) -> Result<(i64, i64)> {
        migrations_applied(&self.pool).await
    }

    /// Whether the store answers a new connection and every migration has
    /// run; the reason if not.
    pub async fn readiness(&self) -> std::result::Result<(), String> {
        use secrecy::ExposeSecret;
        use sqlx::Connection;
        let mut conn = sqlx::AnyConnection::connect(self.url.expose_secret())
            .await
            .map_err(|_| "the store does not answer".to_string())?;
        let applied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&mut conn)
                .await
                .map_err(|_| "the store's schema cannot be read".to_string())?;
        let _ = conn.close().await;
        let expected = MIGRATOR.iter().count() as i64;
        if applied < expected {
            return Err(format!("{applied} of {expected} migrations have run"));
        }
        Ok(())
    }

    pub async fn account(&self, id: &str) -> Result<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
        let query = sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool);
        Ok(self.timed("account", query).await?)
    }

    pub async fn account_by_openid(&self, openid: &str) -> Result<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE openid = $1");
        let query = sqlx::query_as(&sql).bind(openid).fetch_optional(&self.pool);
        Ok(self.timed("account_by_openid", query).await?)
    }

    /// Creates an account for `openid`, or fails with `AlreadyExists`.
    pub async fn create_account(
        &self,
        id: &str,
        openid: &str,
        profile: &Profile,
        now: i64,
    ) -> Result<Account> {
        if self.insert_account(id, openid, profile, now).await? {
            self.account(id).await?.ok_or(StoreError::AlreadyExists)
        } else {
            Err(StoreError::AlreadyExists)
        }
    }

    /// Records a login: creates the account when `register` allows it and it
    /// does not exist (exactly once, however many logins race), updates the
    /// login time and any new profile data. `None`: no account, and
    /// registration was not allowed.
    pub async fn login(
        &self,
        new_id: &str,
        openid: &str,
        profile: &Profile,
        now: i64,
        register: bool,
    ) -> Result<Option<Account>> {
        self.run("login", || async move {
            if register {
                self.insert_account(new_id, openid, profile, now).await?;
            }
            let updated = sqlx::query(
                "UPDATE accounts SET last_login_at = $1, \
                     unionid = COALESCE($2, unionid), \
                     nickname = COALESCE($3, nickname), \
                     avatar = COALESCE($4, avatar) \
                 WHERE openid = $5",
            )
            .bind(now)
            .bind(profile.unionid.clone())
            .bind(profile.nickname.clone())
            .bind(profile.avatar.clone())
            .bind(openid)
            .execute(&self.pool)
            .await?;
            if updated.rows_affected() == 0 {
                return Ok(None);
            }
            self.account_by_openid(openid).await
        })
        .await
    }

    /// `true` if inserted, `false` if the openid already had an account.
    async fn insert_account(
        &self,
        id: &str,
        openid: &str,
        profile: &Profile,
        now: i64,
    ) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO accounts (id, openid, unionid, nickname, avatar, created_at, last_login_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (openid) DO NOTHING",
        )
        .bind(id)
        .bind(openid)
        .bind(profile.unionid.clone())
        .bind(profile.nickname.clone())
        .bind(profile.avatar.clone())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Stores a new refresh token (by hash) as the first of a new family.
    pub async fn add_refresh_token(&self, token: &NewRefreshToken<'_>) -> Result<()> {
        self.run("add_refresh_token", || {
            insert_refresh_token(&self.pool, token)
        })
        .await
    }

    /// Adds `bytes` to what `account_id`'s signatures allowed on `day`, if
    /// the total stays within `limit`; `false` (and nothing added) if not.
    /// One conditional upsert: concurrent charges, on any replica, never
    /// take the total past the limit.
    pub async fn charge_upload(
        &self,
        account_id: &str,
        day: i64,
        bytes: i64,
        limit: i64,
    ) -> Result<bool> {
        if bytes > limit {
            return Ok(false);
        }
        self.run("charge_upload", || async move {
            let charged = sqlx::query(
                "INSERT INTO upload_quota (account_id, day, bytes) VALUES ($1, $2, $3) \
                 ON CONFLICT (account_id, day) DO UPDATE SET bytes = upload_quota.bytes + excluded.bytes \
                 WHERE upload_quota.bytes + excluded.bytes <= $4",
            )
            .bind(account_id)
            .bind(day)
            .bind(bytes)
            .bind(limit)
            .execute(&self.pool)
            .await?;
            Ok(charged.rows_affected() == 1)
        })
        .await
    }

    /// The bytes charged to `account_id` on `day`.
    pub async fn uploaded_on(&self, account_id: &str, day: i64) -> Result<i64> {
        let query =
            sqlx::query("SELECT bytes FROM upload_quota WHERE account_id = $1 AND day = $2")
                .bind(account_id)
                .bind(day)
                .fetch_optional(&self.pool);
        let row = self.timed("uploaded_on", query).await?;
        Ok(match row {
            Some(row) => row.try_get("bytes")?,
            None => 0,
        })
    }

    /// Revokes the whole family of the token hashed `token_hash`, if
    /// `client_id` obtained it (RFC 7009). `false`: no such token of this
    /// client, and nothing changed.
    pub async fn revoke_family(
        &self,
        token_hash: &str,
        client_id: &str,
        now: i64,
    ) -> Result<Option<Session>> {
        self.run("revoke_family", || async move {
            let session = sqlx::query(
                "SELECT family_id, account_id FROM refresh_tokens \
                 WHERE token_hash = $1 AND (client_id IS NULL OR client_id = $2)",
            )
            .bind(token_hash)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
            let Some(session) = session else {
                return Ok(None);
            };
            let session = Session {
                family_id: session.try_get("family_id")?,
                account_id: session.try_get("account_id")?,
            };
            let revoked = sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $1 \
                 WHERE revoked_at IS NULL AND family_id = $2",
            )
            .bind(now)
            .bind(&session.family_id)
            .execute(&self.pool)
            .await?;
            // A session that was already ended is not ended again.
            Ok((revoked.rows_affected() > 0).then_some(session))
        })
        .await
    }

    /// Whether the login session `family_id` was ended (logged out, or
    /// revoked for a replayed refresh token).
    pub async fn session_revoked(&self, family_id: &str) -> Result<bool> {
        self.timed("session_revoked", async {
            let revoked: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM refresh_tokens \
                 WHERE family_id = $1 AND revoked_at IS NOT NULL",
            )
            .bind(family_id)
            .fetch_one(&self.pool)
            .await?;
            Ok(revoked > 0)
        })
        .await
    }

    /// A write transaction. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`, waiting out the busy timeout): a deferred one that
    /// reads and then writes fails at once with "database is locked" when
    /// another writer got there first.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Any>> {
        Ok(if self.sqlite {
            self.pool.begin_with("BEGIN IMMEDIATE").await?
        } else {
            self.pool.begin().await?
        })
    }

    /// Rotates the token hashed `old_hash` into `new_hash`, in one
    /// transaction. Returns the account id, or why not; a reused token
    /// revokes its whole family. A busy store is retried a few times.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        client_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<Result<Session, RefreshRefusal>> {
        self.run("rotate_refresh_token", || async move {
            let mut tx = self.begin_write().await?;
            let row = sqlx::query(
                "SELECT family_id, account_id, client_id, expires_at, used_at, revoked_at \
                 FROM refresh_tokens WHERE token_hash = $1",
            )
            .bind(old_hash)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(Err(RefreshRefusal::Unknown));
            };
            let family: String = row.try_get("family_id")?;
            let account: String = row.try_get("account_id")?;
            let owner: Option<String> = row.try_get("client_id")?;
            let token_expires: i64 = row.try_get("expires_at")?;
            let used: Option<i64> = row.try_get("used_at")?;
            let revoked: Option<i64> = row.try_get("revoked_at")?;

            // Checked first: another client learns nothing, changes nothing.
            if owner.is_some_and(|owner| owner != client_id) {
                tx.rollback().await?;
                return Ok(Err(RefreshRefusal::OtherClient));
            }
            if revoked.is_some() {
                return Ok(Err(RefreshRefusal::Revoked));
            }
            // Mark it used only if nobody else did in the meantime: of two
            // concurrent rotations, one wins and the other counts as reuse.
            let claimed = if used.is_none() {
                sqlx::query(
                    "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
                )
                .bind(now)
                .bind(old_hash)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1
            } else {
                false
            };
            if !claimed {
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL")
                    .bind(now)
                    .bind(&family)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(Err(RefreshRefusal::Reused));
            }
            if token_expires <= now {
                // Leave it unused: the answer is the same either way.
                tx.rollback().await?;
                return Ok(Err(RefreshRefusal::Expired));
            }
            let next = NewRefreshToken {
                token_hash: new_hash,
                family_id: &family,
                account_id: &account,
                client_id,
                created_at: now,
                expires_at,
            };
            insert_refresh_token(&mut *tx, &next).await?;
            tx.commit().await?;
            Ok(Ok(Session {
                family_id: family,
                account_id: account,
            }))
        })
        .await
    }
}

/// How often a busy store is tried before the caller hears `Busy`.
const BUSY_ATTEMPTS: u32 = 4;

/// Runs `op` again while the store answers busy, a bounded number of times
/// with a short, growing pause; then `StoreError::Busy`.
async fn retry_busy<T, F, Fut>(mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    for attempt in 1..=BUSY_ATTEMPTS {
        match op().await {
            Err(StoreError::Database(e)) if is_busy(&e) => {
                if attempt == BUSY_ATTEMPTS {
                    tracing::warn!(error = %e, "the store stayed busy");
                    return Err(StoreError::Busy);
                }
                tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(attempt))).await;
            }
            other => return other,
        }
    }
    Err(StoreError::Busy)
}

/// SQLite's `SQLITE_BUSY`/`SQLITE_LOCKED`, PostgreSQL's serialization
/// failure and deadlock: worth trying again.
fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            matches!(db.code().as_deref(), Some("5" | "6" | "40001" | "40P01"))
                || db.message().contains("database is locked")
        }
        sqlx::Error::PoolTimedOut => true,
        _ => false,
    }
}

async fn insert_refresh_token<'e>(
    executor: impl Executor<'e, Database = Any>,
    token: &NewRefreshToken<'_>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, account_id, client_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token.token_hash)
    .bind(token.family_id)
    .bind(token.account_id)
    .bind(token.client_id)
    .bind(token.created_at)
    .bind(token.expires_at)
    .execute(executor)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests;
