-- Single-use links are minted when a message is sent, never stored readable: a queued
-- message names the link's purpose and holds a placeholder where the link goes; sent
-- messages drop their bodies. Keep in lockstep with the other backend's file.
ALTER TABLE mail_outbox ADD COLUMN link_purpose TEXT CHECK (link_purpose IN ('set', 'reset'));
CREATE INDEX mail_outbox_user_link ON mail_outbox (user_id, link_purpose, created_at);

-- The console's import wizard keeps an upload here between preview and commit (never in
-- the page, where passwords in the file would sit in the browser), for one hour.
CREATE TABLE import_uploads (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX import_uploads_created ON import_uploads (created_at);

-- Seats an import's write pass holds while it writes its rows batch by batch (counted in
-- plan.seats_used). A writer that dies leaves its reservation to lapse: the minute job
-- gives the seats back once the lease has run out.
CREATE TABLE seat_reservations (
    id TEXT PRIMARY KEY,
    seats BIGINT NOT NULL CHECK (seats >= 0),
    lease_until BIGINT NOT NULL
);
