-- The idle-account policy (postgres). Keep in lockstep with ../sqlite/.

-- idle_exempt: the policy never warns or deactivates this account.
-- reactivated_at: the last move from deactivated to active (the grace period counts from it).
-- activity_at: what idleness counts from, written by the store from the row's own times
--   (User::activity_at: the last sign-in, else the creation, or the last reactivation if
--   later), so the policy finds idle accounts through one index range.
-- idle_warned_at, idle_deadline: the warning mailed and the date it named; a sign-in ends it.
ALTER TABLE users
    ADD COLUMN idle_exempt BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN reactivated_at BIGINT,
    ADD COLUMN activity_at BIGINT,
    ADD COLUMN idle_warned_at BIGINT,
    ADD COLUMN idle_deadline BIGINT;
UPDATE users SET activity_at = COALESCE(last_login_at, created_at);
CREATE INDEX users_idle ON users (status, idle_exempt, activity_at);
CREATE INDEX users_idle_deadline ON users (idle_deadline) WHERE idle_deadline IS NOT NULL;
