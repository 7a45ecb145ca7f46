-- The audit log filtered by action, newest first (SQLite). Keep in lockstep with ../postgres/.
CREATE INDEX audit_log_action ON audit_log (action, id);
