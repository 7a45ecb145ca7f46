-- Sortable user lists (PostgreSQL). Keep in lockstep with ../sqlite/.
-- name_key is last name, tab, first name, lowercased by rollcall (not by SQL, whose lower()
-- differs between backends), so a page's cursor matches the stored key exactly; rows
-- written before this migration get theirs from SqlStore::migrate.
ALTER TABLE users ADD COLUMN name_key TEXT;
-- Each order has an index of its own and one after the status, so a page of every user
-- or of one status reads its rows in order instead of sorting the table.
CREATE INDEX users_status_username ON users (status, username_key);
CREATE INDEX users_status_email ON users (status, email_key);
CREATE INDEX users_name_order ON users (name_key, id);
CREATE INDEX users_status_name_order ON users (status, name_key, id);
-- Never signed in sorts as the oldest sign-in.
CREATE INDEX users_last_login_order ON users ((COALESCE(last_login_at, 0)), id);
CREATE INDEX users_status_last_login_order ON users (status, (COALESCE(last_login_at, 0)), id);
