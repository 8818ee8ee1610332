-- Accounts and refresh tokens. Portable SQL: runs on SQLite and PostgreSQL.
-- Times are unix seconds.

CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,          -- opaque, also the JWT sub
    openid          TEXT NOT NULL UNIQUE,      -- WeChat's id of the user in this app
    unionid         TEXT,
    nickname        TEXT,
    avatar          TEXT,
    created_at      BIGINT NOT NULL,
    last_login_at   BIGINT NOT NULL
);

-- A refresh token is stored only as the SHA-256 of its text. Each login
-- starts a family; each rotation marks the old token used and adds a new one
-- to the family. Presenting a used token revokes the whole family.
CREATE TABLE refresh_tokens (
    token_hash      TEXT PRIMARY KEY,
    family_id       TEXT NOT NULL,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT,
    revoked_at      BIGINT
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
