-- Failed sign-ins counted per account, address and fixed 15-minute window, for the audit
-- log: the minute job writes one entry per row once its window has ended, then deletes it.
-- Keep in lockstep with the other backend.
CREATE TABLE sign_in_failure_tally (
    -- 'user:<id>' for an account; 'login:unknown' for every login that names none.
    account TEXT NOT NULL,
    -- The client's address, '' when unknown.
    address TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    user_id BIGINT,
    failures BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    PRIMARY KEY (account, address, window_start)
);
CREATE INDEX sign_in_failure_tally_window ON sign_in_failure_tally (window_start);
