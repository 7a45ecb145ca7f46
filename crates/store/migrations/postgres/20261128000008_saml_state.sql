-- SAML protocol state shared by every instance (PostgreSQL). Keep in lockstep with ../sqlite/.

-- Outstanding AuthnRequest ids: a response must answer one of them, and only once.
CREATE TABLE sso_requests (
    id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sso_requests_expires ON sso_requests (expires_at);

-- Assertion ids already used, kept until the assertion expires: a replay is refused.
CREATE TABLE sso_assertions (
    id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sso_assertions_expires ON sso_assertions (expires_at);
