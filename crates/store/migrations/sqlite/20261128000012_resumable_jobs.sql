-- Bulk jobs that survive their instance (SQLite). Keep in lockstep with ../postgres/.
-- A job keeps what it needs to resume: its action, who asked (their permissions are
-- re-checked for every user), and its users, one row each with the outcome once done.
-- The instance running a job renews its lease; past the lease, any instance takes it over.
ALTER TABLE jobs ADD COLUMN action TEXT;
ALTER TABLE jobs ADD COLUMN actor TEXT;
ALTER TABLE jobs ADD COLUMN channel TEXT;
ALTER TABLE jobs ADD COLUMN request_id TEXT;
ALTER TABLE jobs ADD COLUMN lease_until BIGINT;
CREATE INDEX jobs_running_lease ON jobs (lease_until) WHERE status = 'running';
CREATE TABLE job_items (
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    -- The BulkOutcome as JSON, and whether it succeeded; NULL until the user is done.
    outcome TEXT,
    ok BOOLEAN,
    PRIMARY KEY (job_id, seq)
);
-- The users still to do, in order: a runner finds the next chunk without walking the done.
CREATE INDEX job_items_pending ON job_items (job_id, seq) WHERE outcome IS NULL;
