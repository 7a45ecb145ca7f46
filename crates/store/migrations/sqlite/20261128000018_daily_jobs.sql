-- The daily jobs' runs and leases, and the scheduled reactivation (SQLite). Keep in lockstep
-- with ../postgres/.

-- The run lease: at most one run of a job at a time, across instances. Claimed by a
-- conditional insert or update (free, or its lease ran out), released when the run ends.
CREATE TABLE job_leases (
    job TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    lease_until BIGINT NOT NULL
);

-- One row per run: a scheduled run per job and period (a day in the configured time zone,
-- YYYY-MM-DD; unique, so a period is run once), a run asked for by hand with no period.
-- A row without finished_at whose lease lapsed is taken over by the next instance.
CREATE TABLE job_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    period TEXT,
    holder TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    outcome TEXT CHECK (outcome IN ('ok', 'failed')),
    detail TEXT,
    attempts BIGINT NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX job_runs_period ON job_runs (job, period);
CREATE INDEX job_runs_latest ON job_runs (job, started_at);

-- Leave of absence: the system reactivates the account on this date (a day, stored as its
-- midnight UTC like deactivate_at), if a seat is free.
ALTER TABLE users ADD COLUMN reactivate_at BIGINT;
CREATE INDEX users_reactivate_at ON users (reactivate_at) WHERE reactivate_at IS NOT NULL;
