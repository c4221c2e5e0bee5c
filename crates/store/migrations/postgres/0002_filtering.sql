-- Filtering: category lists (their normalised entries kept whole, so that a re-import
-- replaces a list in one transaction) and each group's policy as TOML.

CREATE TABLE lists (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    name        TEXT   NOT NULL,
    source      TEXT   NOT NULL,
    category    TEXT   NOT NULL,
    illegal     BIGINT NOT NULL DEFAULT 0,
    domains     BIGINT NOT NULL,
    urls        BIGINT NOT NULL,
    skipped     BIGINT NOT NULL,
    rejected    BIGINT NOT NULL,
    loaded_at   BIGINT NOT NULL,
    loaded_by   TEXT   NOT NULL,
    sha256      TEXT   NOT NULL,
    content     BYTEA  NOT NULL,
    UNIQUE (school_id, name)
);

CREATE TABLE policies (
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    group_name  TEXT   NOT NULL,
    toml        TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT   NOT NULL,
    PRIMARY KEY (school_id, group_name)
);
