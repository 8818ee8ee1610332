-- Upload events for the app's backend: each is written in the transaction
-- that changes the upload's state, then delivered by a worker (at least
-- once, the same id on every attempt). A worker claims an event by setting
-- `locked_until` in a conditional update, so two replicas never deliver the
-- same event at once; a claim that dies with its replica expires.
-- Portable SQL: runs on SQLite and PostgreSQL.

CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,        -- msg_…, the webhook-id
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,           -- the JSON body, as delivered
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    locked_until    BIGINT NOT NULL DEFAULT 0,
    delivered_at    BIGINT,
    gave_up_at      BIGINT,
    last_status     BIGINT
);

CREATE INDEX outbox_due ON outbox (delivered_at, gave_up_at, next_attempt_at);

-- Work one replica at a time does (the sweeper): the holder renews its
-- lease; another takes it over only once it has run out.
CREATE TABLE leases (
    name            TEXT PRIMARY KEY,
    holder          TEXT NOT NULL,
    until_at        BIGINT NOT NULL
);

-- The sweeper asks, for each multipart upload COS lists, whether a session
-- owns it.
CREATE INDEX uploads_cos_upload_id ON uploads (cos_upload_id);
