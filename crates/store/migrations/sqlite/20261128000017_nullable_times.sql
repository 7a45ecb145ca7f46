-- Times that may be absent are NULL, not 0 (SQLite). Keep in lockstep with ../postgres/.

-- A sign-in key that isn't blocked has no `blocked_until` (it held 0). SQLite can't drop a
-- NOT NULL constraint, so the table is rebuilt; nothing references it.
CREATE TABLE sign_in_failures_new (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    blocked_until BIGINT,
    window_start BIGINT NOT NULL DEFAULT 0
);
INSERT INTO sign_in_failures_new (key, failures, last_failure_at, blocked_until, window_start)
    SELECT key, failures, last_failure_at, NULLIF(blocked_until, 0), window_start FROM sign_in_failures;
DROP TABLE sign_in_failures;
ALTER TABLE sign_in_failures_new RENAME TO sign_in_failures;
CREATE INDEX sign_in_failures_window ON sign_in_failures (window_start);
