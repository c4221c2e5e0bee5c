-- The online safety incident log (issue 7): each incident, the people in it and their
-- part, who it is sealed to, and its chronology, which can be added to but never changed:
-- a correction is a new entry that names the one it corrects.
CREATE TABLE incidents (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id        BIGINT NOT NULL REFERENCES schools(id),
    created_at       BIGINT NOT NULL,
    reported_by      BIGINT NOT NULL REFERENCES people(id),
    occurred_at      BIGINT NOT NULL,
    place            TEXT NOT NULL,
    device           TEXT NOT NULL DEFAULT '',
    what             TEXT NOT NULL,
    category         TEXT NOT NULL,
    concerns         TEXT NOT NULL,
    urgent           BIGINT NOT NULL DEFAULT 0,
    status           TEXT NOT NULL DEFAULT 'open',
    outcome          TEXT,
    sealed           BIGINT NOT NULL DEFAULT 0,
    opened_at        BIGINT,
    route_stage      BIGINT NOT NULL DEFAULT 0,
    routed_at        BIGINT NOT NULL,
    alert_id         BIGINT REFERENCES monitor_alerts(id),
    -- A data breach: when the decision whether to tell the ICO is due, and what it was.
    ico_deadline     BIGINT,
    ico_decision     TEXT,
    ico_decided_at   BIGINT,
    -- When the record is due for review under the school's retention rule.
    review_at        BIGINT,
    -- The next follow-up the people working it set themselves (`YYYY-MM-DD`).
    follow_up_on     TEXT
);
CREATE INDEX incidents_school ON incidents (school_id, status, created_at);

CREATE TABLE incident_people (
    incident_id  BIGINT NOT NULL REFERENCES incidents(id),
    person_id    BIGINT REFERENCES people(id),
    name         TEXT NOT NULL,
    involved     TEXT NOT NULL,
    part         TEXT NOT NULL
);
CREATE INDEX incident_people_person ON incident_people (person_id);
CREATE INDEX incident_people_incident ON incident_people (incident_id);

CREATE TABLE incident_sealed (
    incident_id  BIGINT NOT NULL REFERENCES incidents(id),
    person_id    BIGINT NOT NULL REFERENCES people(id),
    PRIMARY KEY (incident_id, person_id)
);

-- Pupils flagged as monitored by the DSL, with why and when to review; ended, not deleted.
CREATE TABLE monitored_pupils (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id    BIGINT NOT NULL REFERENCES schools(id),
    person_id    BIGINT NOT NULL REFERENCES people(id),
    reason       TEXT NOT NULL,
    review_on    TEXT NOT NULL,
    set_by       TEXT NOT NULL,
    set_at       BIGINT NOT NULL,
    ended_at     BIGINT
);
CREATE INDEX monitored_pupils_person ON monitored_pupils (school_id, person_id);

-- Files attached to an incident: the file itself lives in the data directory under its
-- SHA-256, so the same screenshot attached twice is stored once.
CREATE TABLE incident_attachments (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id  BIGINT NOT NULL REFERENCES incidents(id),
    sha256       TEXT NOT NULL,
    name         TEXT NOT NULL,
    mime         TEXT NOT NULL,
    size         BIGINT NOT NULL,
    added_at     BIGINT NOT NULL,
    added_by     TEXT NOT NULL
);
CREATE INDEX incident_attachments_incident ON incident_attachments (incident_id);

CREATE TABLE incident_entries (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id  BIGINT NOT NULL REFERENCES incidents(id),
    written_at   BIGINT NOT NULL,
    happened_at  BIGINT NOT NULL,
    author       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    action       TEXT,
    body         TEXT NOT NULL,
    corrects     BIGINT REFERENCES incident_entries(id),
    reason       TEXT
);
CREATE INDEX incident_entries_incident ON incident_entries (incident_id, happened_at);

CREATE TRIGGER incident_entries_append_only BEFORE UPDATE OR DELETE ON incident_entries
    FOR EACH ROW EXECUTE FUNCTION schoolgate_append_only();
CREATE TRIGGER incident_entries_no_truncate BEFORE TRUNCATE ON incident_entries
    FOR EACH STATEMENT EXECUTE FUNCTION schoolgate_append_only();
