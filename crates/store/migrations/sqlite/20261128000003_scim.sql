-- SCIM provisioning state (SQLite). Keep in lockstep with ../postgres/.

-- Whether the identity provider manages this account: SCIM sees only linked users, and a
-- SCIM DELETE unlinks (by default) rather than erasing records.
ALTER TABLE users ADD COLUMN scim_linked BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX users_scim_linked ON users (scim_linked, id);

ALTER TABLE groups ADD COLUMN external_id TEXT;
ALTER TABLE groups ADD COLUMN scim_linked BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE groups ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE groups ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
