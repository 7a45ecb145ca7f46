-- Sortable user lists (SQLite). Keep in lockstep with ../postgres/.
-- Each order's key is unique (it ends in the id), so a page after a cursor is one index
-- seek. The keys are computed by rollcall (User::name_key, login_key), not by SQL, whose
-- lower() differs between backends, so a cursor matches the stored key exactly; rows
-- written before this migration get theirs from SqlStore::migrate.
-- Compared byte by byte (SQLite's BINARY; PostgreSQL's columns say COLLATE "C"), so both
-- backends list names in one order.
ALTER TABLE users ADD COLUMN name_key TEXT;
ALTER TABLE users ADD COLUMN login_key TEXT;
-- Each order has an index of its own and one after the status, so a page of every user
-- or of one status reads its rows in order instead of sorting the table.
CREATE INDEX users_status_username ON users (status, username_key);
CREATE INDEX users_status_email ON users (status, email_key);
CREATE INDEX users_name_order ON users (name_key);
CREATE INDEX users_status_name_order ON users (status, name_key);
CREATE INDEX users_login_order ON users (login_key);
CREATE INDEX users_status_login_order ON users (status, login_key);
