-- Authenticated audit entries (sqlite). Keep in lockstep with ../postgres/.
-- Each entry carries an HMAC under the installation's audit key (a file, never in the
-- database); the sealer refuses rows without a valid one and marks them, so it passes over
-- them from then on. The head is tagged too. Positions already sealed when this migration
-- runs were sealed without a key: keyed_from records where authenticated positions begin.
ALTER TABLE audit_log ADD COLUMN tag TEXT;
ALTER TABLE audit_log ADD COLUMN refused_at BIGINT;
ALTER TABLE audit_head ADD COLUMN tag TEXT;
ALTER TABLE audit_head ADD COLUMN keyed_from BIGINT NOT NULL DEFAULT 1;
UPDATE audit_head SET keyed_from = seq + 1 WHERE id = 1;
CREATE INDEX audit_log_refused ON audit_log (id) WHERE refused_at IS NOT NULL;
