-- WeChat's access token (moderation with MODERATION=wechat), one per
-- mini-program, shared by every replica so that WeChat is asked once and
-- not by each. Portable SQL: SQLite and PostgreSQL.

CREATE TABLE wechat_tokens (
    appid       TEXT PRIMARY KEY,
    token       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
