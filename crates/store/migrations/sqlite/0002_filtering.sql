-- Filtering: category lists (their normalised entries kept whole, so that a re-import
-- replaces a list in one transaction) and each group's policy as TOML.

CREATE TABLE lists (
    id          INTEGER PRIMARY KEY,
    school_id   INTEGER NOT NULL REFERENCES schools(id),
    name        TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    category    TEXT    NOT NULL,
    illegal     INTEGER NOT NULL DEFAULT 0,
    domains     INTEGER NOT NULL,
    urls        INTEGER NOT NULL,
    skipped     INTEGER NOT NULL,
    rejected    INTEGER NOT NULL,
    loaded_at   INTEGER NOT NULL,
    loaded_by   TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    content     BLOB    NOT NULL,
    UNIQUE (school_id, name)
);

CREATE TABLE policies (
    school_id   INTEGER NOT NULL REFERENCES schools(id),
    group_name  TEXT    NOT NULL,
    toml        TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT    NOT NULL,
    PRIMARY KEY (school_id, group_name)
);
