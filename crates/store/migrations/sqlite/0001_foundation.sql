-- Foundation: schools, groups, people, accounts, sessions and the audit log.
-- Times are Unix seconds; flags are 0/1 integers, so that SQLite and PostgreSQL rows read alike.

CREATE TABLE schools (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE groups (
    id          INTEGER PRIMARY KEY,
    school_id   INTEGER NOT NULL REFERENCES schools(id),
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('pupil', 'staff', 'visitor')),
    UNIQUE (school_id, name)
);

CREATE TABLE people (
    id            INTEGER PRIMARY KEY,
    school_id     INTEGER NOT NULL REFERENCES schools(id),
    kind          TEXT    NOT NULL CHECK (kind IN ('pupil', 'staff', 'governor', 'visitor')),
    external_id   TEXT,
    given_name    TEXT    NOT NULL,
    family_name   TEXT    NOT NULL,
    year_group    INTEGER,
    group_id      INTEGER REFERENCES groups(id),
    email         TEXT,
    date_of_birth TEXT,
    class         TEXT,
    job_title     TEXT,
    roles         TEXT    NOT NULL DEFAULT '',
    permissions   TEXT    NOT NULL DEFAULT '',
    status        TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'leaver')),
    expires_at    INTEGER,
    left_at       INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (school_id, kind, external_id)
);
CREATE INDEX people_school_name ON people (school_id, family_name, given_name);

CREATE TABLE accounts (
    id                   INTEGER PRIMARY KEY,
    school_id            INTEGER NOT NULL REFERENCES schools(id),
    person_id            INTEGER NOT NULL UNIQUE REFERENCES people(id),
    username             TEXT    NOT NULL UNIQUE,
    password_hash        TEXT    NOT NULL,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    totp_secret          TEXT,
    totp_last_step       INTEGER,
    disabled             INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL,
    password_changed_at  INTEGER NOT NULL
);

CREATE TABLE recovery_codes (
    id          INTEGER PRIMARY KEY,
    school_id   INTEGER NOT NULL REFERENCES schools(id),
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    code_hash   TEXT    NOT NULL,
    used_at     INTEGER
);
CREATE INDEX recovery_codes_account ON recovery_codes (account_id);

CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY,
    school_id     INTEGER NOT NULL REFERENCES schools(id),
    account_id    INTEGER NOT NULL REFERENCES accounts(id),
    token_hash    TEXT    NOT NULL UNIQUE,
    stage         TEXT    NOT NULL,
    origin        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    ended_at      INTEGER
);

CREATE TABLE sign_in_failures (
    id        INTEGER PRIMARY KEY,
    username  TEXT    NOT NULL,
    origin    TEXT    NOT NULL,
    at        INTEGER NOT NULL
);
CREATE INDEX sign_in_failures_username ON sign_in_failures (username, at);
CREATE INDEX sign_in_failures_origin ON sign_in_failures (origin, at);

CREATE TABLE setup_tokens (
    id          INTEGER PRIMARY KEY,
    school_id   INTEGER NOT NULL REFERENCES schools(id),
    token_hash  TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

-- The audit log is append-only: the triggers refuse changes, and the hash chain
-- (register::audit) shows any change made around them.
CREATE TABLE audit_log (
    school_id  INTEGER NOT NULL REFERENCES schools(id),
    seq        INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    target     TEXT    NOT NULL,
    origin     TEXT    NOT NULL,
    details    TEXT    NOT NULL,
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    PRIMARY KEY (school_id, seq)
);
CREATE INDEX audit_log_action ON audit_log (school_id, action, at);

CREATE TABLE audit_heads (
    school_id  INTEGER PRIMARY KEY REFERENCES schools(id),
    seq        INTEGER NOT NULL,
    hash       TEXT    NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
