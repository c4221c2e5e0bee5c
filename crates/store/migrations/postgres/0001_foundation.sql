-- Foundation: schools, groups, people, accounts, sessions and the audit log.
-- Times are Unix seconds; flags are 0/1 integers, so that SQLite and PostgreSQL rows read alike.
-- Every integer is BIGINT so that one Rust type (i64) reads both databases.

CREATE TABLE schools (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE groups (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    name        TEXT   NOT NULL,
    kind        TEXT   NOT NULL CHECK (kind IN ('pupil', 'staff', 'visitor')),
    UNIQUE (school_id, name)
);

CREATE TABLE people (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id     BIGINT NOT NULL REFERENCES schools(id),
    kind          TEXT   NOT NULL CHECK (kind IN ('pupil', 'staff', 'governor', 'visitor')),
    external_id   TEXT,
    given_name    TEXT   NOT NULL,
    family_name   TEXT   NOT NULL,
    year_group    BIGINT,
    group_id      BIGINT REFERENCES groups(id),
    email         TEXT,
    date_of_birth TEXT,
    class         TEXT,
    job_title     TEXT,
    roles         TEXT   NOT NULL DEFAULT '',
    permissions   TEXT   NOT NULL DEFAULT '',
    status        TEXT   NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'leaver')),
    expires_at    BIGINT,
    left_at       BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (school_id, kind, external_id)
);
CREATE INDEX people_school_name ON people (school_id, family_name, given_name);

CREATE TABLE accounts (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id            BIGINT NOT NULL REFERENCES schools(id),
    person_id            BIGINT NOT NULL UNIQUE REFERENCES people(id),
    username             TEXT   NOT NULL UNIQUE,
    password_hash        TEXT   NOT NULL,
    must_change_password BIGINT NOT NULL DEFAULT 0,
    totp_secret          TEXT,
    totp_last_step       BIGINT,
    disabled             BIGINT NOT NULL DEFAULT 0,
    created_at           BIGINT NOT NULL,
    password_changed_at  BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    account_id  BIGINT NOT NULL REFERENCES accounts(id),
    code_hash   TEXT   NOT NULL,
    used_at     BIGINT
);
CREATE INDEX recovery_codes_account ON recovery_codes (account_id);

CREATE TABLE sessions (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id     BIGINT NOT NULL REFERENCES schools(id),
    account_id    BIGINT NOT NULL REFERENCES accounts(id),
    token_hash    TEXT   NOT NULL UNIQUE,
    stage         TEXT   NOT NULL,
    origin        TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    ended_at      BIGINT
);

CREATE TABLE sign_in_failures (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username  TEXT   NOT NULL,
    origin    TEXT   NOT NULL,
    at        BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_username ON sign_in_failures (username, at);
CREATE INDEX sign_in_failures_origin ON sign_in_failures (origin, at);

CREATE TABLE setup_tokens (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    token_hash  TEXT   NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

-- The audit log is append-only: the trigger refuses changes, and the hash chain
-- (register::audit) shows any change made around it.
CREATE TABLE audit_log (
    school_id  BIGINT NOT NULL REFERENCES schools(id),
    seq        BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    actor      TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    target     TEXT   NOT NULL,
    origin     TEXT   NOT NULL,
    details    TEXT   NOT NULL,
    prev_hash  TEXT   NOT NULL,
    hash       TEXT   NOT NULL,
    PRIMARY KEY (school_id, seq)
);
CREATE INDEX audit_log_action ON audit_log (school_id, action, at);

CREATE TABLE audit_heads (
    school_id  BIGINT PRIMARY KEY REFERENCES schools(id),
    seq        BIGINT NOT NULL,
    hash       TEXT   NOT NULL
);

CREATE FUNCTION schoolgate_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION schoolgate_append_only();

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION schoolgate_append_only();
