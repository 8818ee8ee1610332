-- Bytes each account's signatures allowed per UTC day, for
-- QCOS_DAILY_UPLOAD_BYTES_PER_ACCOUNT. One row per account and day; a charge
-- is one conditional upsert, so concurrent requests and replicas never
-- exceed the quota. Portable SQL: runs on SQLite and PostgreSQL.

CREATE TABLE upload_quota (
    account_id      TEXT NOT NULL,
    day             BIGINT NOT NULL,           -- unix seconds / 86400
    bytes           BIGINT NOT NULL,
    PRIMARY KEY (account_id, day)
);
