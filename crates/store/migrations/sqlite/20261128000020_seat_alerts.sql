-- Seat alerts and the per-branch, per-type daily counts. Keep in lockstep with the other backend.
-- The alert levels (percent of a limit) that fired and have not re-armed, per scope:
-- 'plan', or 'branch:<id>' for a branch's cap. Comma-separated, ascending.
CREATE TABLE seat_alerts (
    scope TEXT PRIMARY KEY,
    fired TEXT NOT NULL
);
-- Active accounts per day, per branch (kind 'branch') and per user type (kind 'type').
CREATE TABLE seat_history_scoped (
    day BIGINT NOT NULL,
    kind TEXT NOT NULL,
    scope_id BIGINT NOT NULL,
    active BIGINT NOT NULL,
    PRIMARY KEY (kind, scope_id, day)
);
