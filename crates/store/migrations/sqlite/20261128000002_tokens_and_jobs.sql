-- API and SCIM tokens, and background jobs (SQLite). Keep in lockstep with ../postgres/.

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL CHECK (scope IN ('api', 'scim')),
    -- The user an API token acts as (with that user's current permissions); NULL for SCIM.
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    -- Public lookup part of the token; the secret is only ever stored as a SHA-256.
    lookup TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    created_by BIGINT,
    total BIGINT NOT NULL,
    done BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    results TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
