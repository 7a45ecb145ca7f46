-- Bounded sign-in state (PostgreSQL). Keep in lockstep with ../sqlite/.

-- Failures count within a window from the key's first failure; older rows are pruned.
ALTER TABLE sign_in_failures ADD COLUMN window_start BIGINT NOT NULL DEFAULT 0;
CREATE INDEX sign_in_failures_window ON sign_in_failures (window_start);

-- The minute job deletes sessions past their absolute or idle end.
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
