-- Upload sessions: the server chooses the key, knows the exact size and
-- type, and verifies the object at COS before it counts as completed.
-- `daily_bytes` and `storage_bytes` are what the session reserved against
-- each quota (0 when that quota is off), so a release gives back exactly
-- what was taken. Every status change is a conditional update on the old
-- status, so a release happens once however often it is tried.
-- Portable SQL: runs on SQLite and PostgreSQL.

CREATE TABLE uploads (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL,
    status          TEXT NOT NULL,       -- pending, completed, rejected, expired, deleted
    object_key      TEXT NOT NULL UNIQUE,
    filename        TEXT NOT NULL,
    size_bytes      BIGINT NOT NULL,
    content_type    TEXT NOT NULL,
    content_md5     TEXT,
    profile         TEXT NOT NULL,
    cos_upload_id   TEXT,                -- multipart only
    part_size       BIGINT NOT NULL,
    part_count      BIGINT NOT NULL,
    day             BIGINT NOT NULL,     -- unix seconds / 86400 at creation
    daily_bytes     BIGINT NOT NULL,
    storage_bytes   BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    completed_at    BIGINT,
    etag            TEXT,
    crc64           TEXT,
    reason          TEXT,
    -- When the last signature cosgate made for the session stops working.
    signed_until    BIGINT NOT NULL DEFAULT 0,
    -- A session that ended while one of its signatures still worked keeps
    -- what it reserved until then; the sweeper cleans its key at COS again
    -- and gives the bytes back (0: nothing held).
    held_until      BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX uploads_account ON uploads (account_id, created_at);
CREATE INDEX uploads_pending ON uploads (status, expires_at);
CREATE INDEX uploads_held ON uploads (held_until);

-- Bytes each account holds in completed and reserved uploads, for
-- QCOS_STORAGE_BYTES_PER_ACCOUNT.
CREATE TABLE storage_quota (
    account_id      TEXT PRIMARY KEY,
    bytes           BIGINT NOT NULL
);
