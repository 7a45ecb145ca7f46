-- Active accounts per day, for the dashboard's chart (SQLite). Keep in lockstep with ../postgres/.
-- One row per UTC day (days since the epoch), rewritten by the minute job until the day ends.
CREATE TABLE seat_history (
    day BIGINT PRIMARY KEY,
    active BIGINT NOT NULL
);
