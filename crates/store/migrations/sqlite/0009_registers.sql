-- The registers (issue 8): acceptable use agreements and signatures, photo consent
-- answers, training, hardware with loans and disposals, software licences, confiscated
-- devices, and reviews with their sign-offs. Days are `YYYY-MM-DD` text; moments are Unix
-- seconds. Answers, signatures and sign-offs are only ever added: a withdrawal is a new
-- answer, a new signature is a new row.
CREATE TABLE agreement_versions (
    id               INTEGER PRIMARY KEY,
    school_id        INTEGER NOT NULL REFERENCES schools(id),
    audience         TEXT NOT NULL,
    number           INTEGER NOT NULL,
    body             TEXT NOT NULL,
    published_on     TEXT NOT NULL,
    requires_resign  INTEGER NOT NULL DEFAULT 0,
    published_by     TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    UNIQUE (school_id, audience, number)
);

CREATE TABLE agreement_signatures (
    id           INTEGER PRIMARY KEY,
    school_id    INTEGER NOT NULL REFERENCES schools(id),
    person_id    INTEGER NOT NULL REFERENCES people(id),
    audience     TEXT NOT NULL,
    version      INTEGER NOT NULL,
    signed_on    TEXT NOT NULL,
    method       TEXT NOT NULL,
    -- The parent or carer who signed for a pupil; empty otherwise.
    signed_by    TEXT NOT NULL DEFAULT '',
    recorded_by  TEXT NOT NULL,
    recorded_at  INTEGER NOT NULL
);
CREATE INDEX agreement_signatures_person ON agreement_signatures (school_id, person_id, signed_on);

-- Groups whose people must have a current agreement before they reach the internet.
CREATE TABLE agreement_gates (
    school_id   INTEGER NOT NULL REFERENCES schools(id),
    group_name  TEXT NOT NULL,
    PRIMARY KEY (school_id, group_name)
);

CREATE TABLE consent_answers (
    id           INTEGER PRIMARY KEY,
    school_id    INTEGER NOT NULL REFERENCES schools(id),
    person_id    INTEGER NOT NULL REFERENCES people(id),
    purpose      TEXT NOT NULL,
    answer       TEXT NOT NULL,
    given_on     TEXT NOT NULL,
    given_by     TEXT NOT NULL DEFAULT '',
    recorded_by  TEXT NOT NULL,
    recorded_at  INTEGER NOT NULL
);
CREATE INDEX consent_answers_person ON consent_answers (school_id, person_id);

CREATE TABLE training_records (
    id            INTEGER PRIMARY KEY,
    school_id     INTEGER NOT NULL REFERENCES schools(id),
    person_id     INTEGER NOT NULL REFERENCES people(id),
    kind          TEXT NOT NULL,
    completed_on  TEXT NOT NULL,
    provider      TEXT NOT NULL DEFAULT '',
    -- The certificate or other evidence: a reference, or the name of an attached file.
    evidence      TEXT NOT NULL DEFAULT '',
    recorded_by   TEXT NOT NULL,
    recorded_at   INTEGER NOT NULL
);
CREATE INDEX training_records_person ON training_records (school_id, person_id, kind);

CREATE TABLE hardware (
    id                   INTEGER PRIMARY KEY,
    school_id            INTEGER NOT NULL REFERENCES schools(id),
    tag                  TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    make                 TEXT NOT NULL DEFAULT '',
    model                TEXT NOT NULL DEFAULT '',
    serial               TEXT NOT NULL DEFAULT '',
    location             TEXT NOT NULL DEFAULT '',
    encrypted            INTEGER NOT NULL DEFAULT 0,
    antimalware_current  INTEGER NOT NULL DEFAULT 0,
    last_seen            INTEGER,
    purchased_on         TEXT,
    end_of_support       TEXT,
    address              TEXT,
    group_name           TEXT,
    disposed             INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    UNIQUE (school_id, tag)
);

CREATE TABLE hardware_loans (
    id           INTEGER PRIMARY KEY,
    school_id    INTEGER NOT NULL REFERENCES schools(id),
    hardware_id  INTEGER NOT NULL REFERENCES hardware(id),
    person_id    INTEGER NOT NULL REFERENCES people(id),
    lent_on      TEXT NOT NULL,
    due_back     TEXT,
    returned_on  TEXT,
    lent_by      TEXT NOT NULL,
    returned_by  TEXT
);
CREATE INDEX hardware_loans_open ON hardware_loans (school_id, hardware_id, returned_on);
-- A device is out to one person at a time, however two loans race.
CREATE UNIQUE INDEX hardware_loans_one_open ON hardware_loans (hardware_id) WHERE returned_on IS NULL;

CREATE TABLE hardware_disposals (
    hardware_id   INTEGER PRIMARY KEY REFERENCES hardware(id),
    school_id     INTEGER NOT NULL REFERENCES schools(id),
    disposed_on   TEXT NOT NULL,
    method        TEXT NOT NULL,
    collected_by  TEXT NOT NULL,
    certificate   TEXT NOT NULL,
    weee_receipt  TEXT NOT NULL,
    recorded_by   TEXT NOT NULL,
    recorded_at   INTEGER NOT NULL
);

CREATE TABLE software (
    id          INTEGER PRIMARY KEY,
    school_id   INTEGER NOT NULL REFERENCES schools(id),
    product     TEXT NOT NULL,
    licence     TEXT NOT NULL DEFAULT '',
    seats       INTEGER NOT NULL DEFAULT 0,
    renews_on   TEXT,
    approved    INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL
);

CREATE TABLE confiscations (
    id           INTEGER PRIMARY KEY,
    school_id    INTEGER NOT NULL REFERENCES schools(id),
    person_id    INTEGER NOT NULL REFERENCES people(id),
    item         TEXT NOT NULL,
    taken_at     INTEGER NOT NULL,
    taken_by     TEXT NOT NULL,
    held_where   TEXT NOT NULL,
    returned_to  TEXT,
    returned_at  INTEGER,
    returned_by  TEXT
);

CREATE TABLE reviews (
    id            INTEGER PRIMARY KEY,
    school_id     INTEGER NOT NULL REFERENCES schools(id),
    kind          TEXT NOT NULL,
    opened_on     TEXT NOT NULL,
    responsible   TEXT NOT NULL DEFAULT '',
    findings      TEXT NOT NULL DEFAULT '',
    actions       TEXT NOT NULL DEFAULT '',
    -- The checklist items looked at, as their numbers separated by commas.
    checked       TEXT NOT NULL DEFAULT '',
    evidence      TEXT NOT NULL DEFAULT '',
    completed_on  TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX reviews_kind ON reviews (school_id, kind, opened_on);

CREATE TABLE review_signoffs (
    review_id  INTEGER NOT NULL REFERENCES reviews(id),
    signer     TEXT NOT NULL,
    person_id  INTEGER NOT NULL REFERENCES people(id),
    name       TEXT NOT NULL,
    signed_at  INTEGER NOT NULL,
    PRIMARY KEY (review_id, signer)
);

-- Files kept as evidence with a register record (`review:ID`), stored under their hash in
-- the attachments directory like the incident log's.
CREATE TABLE register_files (
    id         INTEGER PRIMARY KEY,
    school_id  INTEGER NOT NULL REFERENCES schools(id),
    owner      TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    name       TEXT NOT NULL,
    mime       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    added_at   INTEGER NOT NULL,
    added_by   TEXT NOT NULL
);
CREATE INDEX register_files_owner ON register_files (school_id, owner);
