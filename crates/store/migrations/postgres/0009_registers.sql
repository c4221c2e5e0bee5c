-- The registers (issue 8): acceptable use agreements and signatures, photo consent
-- answers, training, hardware with loans and disposals, software licences, confiscated
-- devices, and reviews with their sign-offs. Days are `YYYY-MM-DD` text; moments are Unix
-- seconds. Answers, signatures and sign-offs are only ever added: a withdrawal is a new
-- answer, a new signature is a new row.
CREATE TABLE agreement_versions (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id        BIGINT NOT NULL REFERENCES schools(id),
    audience         TEXT NOT NULL,
    number           BIGINT NOT NULL,
    body             TEXT NOT NULL,
    published_on     TEXT NOT NULL,
    requires_resign  BIGINT NOT NULL DEFAULT 0,
    published_by     TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    UNIQUE (school_id, audience, number)
);

CREATE TABLE agreement_signatures (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id    BIGINT NOT NULL REFERENCES schools(id),
    person_id    BIGINT NOT NULL REFERENCES people(id),
    audience     TEXT NOT NULL,
    version      BIGINT NOT NULL,
    signed_on    TEXT NOT NULL,
    method       TEXT NOT NULL,
    -- The parent or carer who signed for a pupil; empty otherwise.
    signed_by    TEXT NOT NULL DEFAULT '',
    recorded_by  TEXT NOT NULL,
    recorded_at  BIGINT NOT NULL
);
CREATE INDEX agreement_signatures_person ON agreement_signatures (school_id, person_id, signed_on);

-- Groups whose people must have a current agreement before they reach the internet.
CREATE TABLE agreement_gates (
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    group_name  TEXT NOT NULL,
    PRIMARY KEY (school_id, group_name)
);

CREATE TABLE consent_answers (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id    BIGINT NOT NULL REFERENCES schools(id),
    person_id    BIGINT NOT NULL REFERENCES people(id),
    purpose      TEXT NOT NULL,
    answer       TEXT NOT NULL,
    given_on     TEXT NOT NULL,
    given_by     TEXT NOT NULL DEFAULT '',
    recorded_by  TEXT NOT NULL,
    recorded_at  BIGINT NOT NULL
);
CREATE INDEX consent_answers_person ON consent_answers (school_id, person_id);

CREATE TABLE training_records (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id     BIGINT NOT NULL REFERENCES schools(id),
    person_id     BIGINT NOT NULL REFERENCES people(id),
    kind          TEXT NOT NULL,
    completed_on  TEXT NOT NULL,
    provider      TEXT NOT NULL DEFAULT '',
    -- The certificate or other evidence: a reference, or the name of an attached file.
    evidence      TEXT NOT NULL DEFAULT '',
    recorded_by   TEXT NOT NULL,
    recorded_at   BIGINT NOT NULL
);
CREATE INDEX training_records_person ON training_records (school_id, person_id, kind);

CREATE TABLE hardware (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id            BIGINT NOT NULL REFERENCES schools(id),
    tag                  TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    make                 TEXT NOT NULL DEFAULT '',
    model                TEXT NOT NULL DEFAULT '',
    serial               TEXT NOT NULL DEFAULT '',
    location             TEXT NOT NULL DEFAULT '',
    encrypted            BIGINT NOT NULL DEFAULT 0,
    antimalware_current  BIGINT NOT NULL DEFAULT 0,
    last_seen            BIGINT,
    purchased_on         TEXT,
    end_of_support       TEXT,
    address              TEXT,
    group_name           TEXT,
    disposed             BIGINT NOT NULL DEFAULT 0,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    UNIQUE (school_id, tag)
);

CREATE TABLE hardware_loans (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id    BIGINT NOT NULL REFERENCES schools(id),
    hardware_id  BIGINT NOT NULL REFERENCES hardware(id),
    person_id    BIGINT NOT NULL REFERENCES people(id),
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
    hardware_id   BIGINT PRIMARY KEY REFERENCES hardware(id),
    school_id     BIGINT NOT NULL REFERENCES schools(id),
    disposed_on   TEXT NOT NULL,
    method        TEXT NOT NULL,
    collected_by  TEXT NOT NULL,
    certificate   TEXT NOT NULL,
    weee_receipt  TEXT NOT NULL,
    recorded_by   TEXT NOT NULL,
    recorded_at   BIGINT NOT NULL
);

CREATE TABLE software (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id   BIGINT NOT NULL REFERENCES schools(id),
    product     TEXT NOT NULL,
    licence     TEXT NOT NULL DEFAULT '',
    seats       BIGINT NOT NULL DEFAULT 0,
    renews_on   TEXT,
    approved    BIGINT NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL
);

CREATE TABLE confiscations (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id    BIGINT NOT NULL REFERENCES schools(id),
    person_id    BIGINT NOT NULL REFERENCES people(id),
    item         TEXT NOT NULL,
    taken_at     BIGINT NOT NULL,
    taken_by     TEXT NOT NULL,
    held_where   TEXT NOT NULL,
    returned_to  TEXT,
    returned_at  BIGINT,
    returned_by  TEXT
);

CREATE TABLE reviews (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id     BIGINT NOT NULL REFERENCES schools(id),
    kind          TEXT NOT NULL,
    opened_on     TEXT NOT NULL,
    responsible   TEXT NOT NULL DEFAULT '',
    findings      TEXT NOT NULL DEFAULT '',
    actions       TEXT NOT NULL DEFAULT '',
    -- The checklist items looked at, as their numbers separated by commas.
    checked       TEXT NOT NULL DEFAULT '',
    evidence      TEXT NOT NULL DEFAULT '',
    completed_on  TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX reviews_kind ON reviews (school_id, kind, opened_on);

CREATE TABLE review_signoffs (
    review_id  BIGINT NOT NULL REFERENCES reviews(id),
    signer     TEXT NOT NULL,
    person_id  BIGINT NOT NULL REFERENCES people(id),
    name       TEXT NOT NULL,
    signed_at  BIGINT NOT NULL,
    PRIMARY KEY (review_id, signer)
);

-- Files kept as evidence with a register record (`review:ID`), stored under their hash in
-- the attachments directory like the incident log's.
CREATE TABLE register_files (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id  BIGINT NOT NULL REFERENCES schools(id),
    owner      TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    name       TEXT NOT NULL,
    mime       TEXT NOT NULL,
    size       BIGINT NOT NULL,
    added_at   BIGINT NOT NULL,
    added_by   TEXT NOT NULL
);
CREATE INDEX register_files_owner ON register_files (school_id, owner);
