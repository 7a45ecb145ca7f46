-- Times that may be absent are NULL, not 0 (PostgreSQL). Keep in lockstep with ../sqlite/.

-- A sign-in key that isn't blocked has no `blocked_until` (it held 0).
ALTER TABLE sign_in_failures ALTER COLUMN blocked_until DROP NOT NULL;
UPDATE sign_in_failures SET blocked_until = NULL WHERE blocked_until = 0;
