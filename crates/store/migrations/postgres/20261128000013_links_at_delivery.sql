-- Single-use links are minted when a message is sent, never stored readable: a queued
-- message names the link's purpose and holds a placeholder where the link goes; sent
-- messages drop their bodies. Keep in lockstep with the other backend's file.
ALTER TABLE mail_outbox ADD COLUMN link_purpose TEXT CHECK (link_purpose IN ('set', 'reset'));
CREATE INDEX mail_outbox_user_link ON mail_outbox (user_id, link_purpose, created_at);
-- Messages queued before this version hold their links readable: sent ones lose their
-- bodies; unsent ones carrying a link are given up (their links retired), to be asked for
-- again (a reset, or a new welcome from the administrator).
UPDATE mail_outbox SET body = '' WHERE status <> 'pending';
UPDATE password_tokens SET used_at = 0
    WHERE used_at IS NULL AND user_id IN (SELECT user_id FROM mail_outbox WHERE status = 'pending' AND body LIKE '%/set-password?token=%');
UPDATE mail_outbox SET status = 'dead', body = '', last_error = 'given up at upgrade: it held a readable link'
    WHERE status = 'pending' AND body LIKE '%/set-password?token=%';

-- The console's import wizard keeps an upload here between preview and commit (never in
-- the page, where passwords in the file would sit in the browser), for one hour.
CREATE TABLE import_uploads (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    body BYTEA NOT NULL
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
