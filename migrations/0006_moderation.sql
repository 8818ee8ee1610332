-- Moderation (MODERATION): an upload verified at COS waits in `in_review`
-- for the provider's verdict before it counts as completed. `review` is
-- `checking` (the provider has not answered) or `held` (it asked for a
-- person; an operator releases or rejects it); `review_label` is the
-- provider's label; `review_trace_id` is WeChat's id of an asynchronous
-- check, by which its verdict is found. Portable SQL: SQLite and PostgreSQL.

ALTER TABLE uploads ADD COLUMN review TEXT;
ALTER TABLE uploads ADD COLUMN review_label TEXT;
ALTER TABLE uploads ADD COLUMN review_trace_id TEXT;
ALTER TABLE uploads ADD COLUMN review_started_at BIGINT NOT NULL DEFAULT 0;

CREATE INDEX uploads_review ON uploads (status, review, review_started_at);
CREATE INDEX uploads_review_trace ON uploads (review_trace_id);
