-- Active accounts per day, for the dashboard's chart (PostgreSQL). Keep in lockstep with ../sqlite/.
-- One row per UTC day (days since the epoch), rewritten by the minute job until the day ends.
CREATE TABLE seat_history (
    day BIGINT PRIMARY KEY,
    active BIGINT NOT NULL
);
