-- rollcall schema v1 (SQLite). Keep in lockstep with ../postgres/20261128000001_init.sql.
-- Times are BIGINT milliseconds since the Unix epoch (UTC) on both backends.

CREATE TABLE user_types (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    base TEXT NOT NULL CHECK (base IN ('administrator', 'branch-administrator', 'instructor', 'learner')),
    builtin BOOLEAN NOT NULL DEFAULT FALSE,
    areas TEXT NOT NULL DEFAULT ''
);
INSERT INTO user_types (id, name, name_key, base, builtin) VALUES
    (1, 'Administrator', 'administrator', 'administrator', TRUE),
    (2, 'Branch Administrator', 'branch-administrator', 'branch-administrator', TRUE),
    (3, 'Instructor', 'instructor', 'instructor', TRUE),
    (4, 'Learner', 'learner', 'learner', TRUE);
-- Custom types start at 101, leaving room for built-ins to come (same on PostgreSQL).
UPDATE sqlite_sequence SET seq = 100 WHERE name = 'user_types';

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    user_type_id BIGINT NOT NULL REFERENCES user_types (id),
    status TEXT NOT NULL CHECK (status IN ('active', 'deactivated', 'trash')),
    origin TEXT NOT NULL,
    external_id TEXT,
    exclude_from_emails BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_login_at BIGINT,
    deactivated_at BIGINT,
    deleted_at BIGINT,
    deactivate_at BIGINT
);
CREATE UNIQUE INDEX users_username_key ON users (username_key);
CREATE UNIQUE INDEX users_email_key ON users (email_key);
-- Keyset pages of a status in id order, without sorting the whole status.
CREATE INDEX users_status_id ON users (status, id);
CREATE INDEX users_status_last_login ON users (status, last_login_at);
CREATE INDEX users_type_status ON users (user_type_id, status);
CREATE INDEX users_deactivate_at ON users (deactivate_at) WHERE deactivate_at IS NOT NULL;
CREATE INDEX users_trash ON users (deleted_at) WHERE status = 'trash';
CREATE INDEX users_external_id ON users (external_id) WHERE external_id IS NOT NULL;

CREATE TABLE branches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    slug TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    default_type_id BIGINT REFERENCES user_types (id),
    seat_cap BIGINT,
    active_users BIGINT NOT NULL DEFAULT 0 CHECK (active_users >= 0)
);

CREATE TABLE user_branches (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    branch_id BIGINT NOT NULL REFERENCES branches (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, branch_id)
);
CREATE INDEX user_branches_branch ON user_branches (branch_id, user_id);

CREATE TABLE groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    branch_id BIGINT REFERENCES branches (id),
    join_key TEXT UNIQUE,
    description TEXT NOT NULL DEFAULT ''
);

CREATE TABLE group_members (
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id, group_id);

-- One row: the plan in force and the seats in use (O(1) seat checks).
CREATE TABLE plan (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    tier TEXT NOT NULL,
    seat_limit BIGINT NOT NULL,
    seats_used BIGINT NOT NULL DEFAULT 0 CHECK (seats_used >= 0)
);
INSERT INTO plan (id, tier, seat_limit, seats_used) VALUES (1, 'core', 100, 0);

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_user_id BIGINT,
    actor_ref TEXT,
    channel TEXT NOT NULL,
    action TEXT NOT NULL,
    target_kind TEXT,
    target_id BIGINT,
    request_id TEXT,
    personal_digest TEXT NOT NULL,
    chain_seq BIGINT UNIQUE,
    prev_hash TEXT,
    hash TEXT
);
CREATE INDEX audit_log_unsealed ON audit_log (id) WHERE chain_seq IS NULL;
CREATE INDEX audit_log_target ON audit_log (target_kind, target_id);
CREATE INDEX audit_log_actor ON audit_log (actor_user_id);
CREATE INDEX audit_log_at ON audit_log (at);

-- Personal data beside each entry, so a purge can erase it and leave the chain intact.
CREATE TABLE audit_personal (
    entry_id BIGINT PRIMARY KEY REFERENCES audit_log (id),
    salt TEXT,
    data TEXT,
    erased_at BIGINT
);

CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
