-- The audit log filtered by action, newest first (PostgreSQL). Keep in lockstep with ../sqlite/.
CREATE INDEX audit_log_action ON audit_log (action, id);
