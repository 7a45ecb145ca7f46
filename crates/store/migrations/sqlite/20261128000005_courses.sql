-- Courses and learning records (SQLite). Keep in lockstep with ../postgres/.
-- A user's records cascade with the user row: deactivation keeps them, purge erases them.

CREATE TABLE courses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL,
    code_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('draft', 'published', 'archived')),
    owner_id BIGINT NOT NULL REFERENCES users (id),
    units BIGINT NOT NULL CHECK (units >= 1),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX courses_owner ON courses (owner_id);

CREATE TABLE enrollments (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id BIGINT NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('learner', 'instructor')),
    enrolled_at BIGINT NOT NULL,
    units_completed BIGINT NOT NULL DEFAULT 0,
    completed_at BIGINT,
    grade BIGINT CHECK (grade BETWEEN 0 AND 100),
    PRIMARY KEY (user_id, course_id)
);
CREATE INDEX enrollments_course ON enrollments (course_id, user_id);

CREATE TABLE unit_completions (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id BIGINT NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    unit BIGINT NOT NULL,
    completed_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, course_id, unit)
);

CREATE TABLE certificates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id BIGINT NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    issued_at BIGINT NOT NULL,
    UNIQUE (user_id, course_id)
);

-- Groups carry courses: joining the group enrolls the member in them.
CREATE TABLE group_courses (
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    course_id BIGINT NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, course_id)
);
CREATE INDEX group_courses_course ON group_courses (course_id);
