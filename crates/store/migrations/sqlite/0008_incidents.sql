-- The online safety incident log (issue 7): each incident, the people in it and their
-- part, who it is sealed to, and its chronology, which can be added to but never changed:
-- a correction is a new entry that names the one it corrects.
CREATE TABLE incidents (
    id               INTEGER PRIMARY KEY,
    school_id        INTEGER NOT NULL REFERENCES schools(id),
    created_at       INTEGER NOT NULL,
    reported_by      INTEGER NOT NULL REFERENCES people(id),
    occurred_at      INTEGER NOT NULL,
    place            TEXT NOT NULL,
    device           TEXT NOT NULL DEFAULT '',
    what             TEXT NOT NULL,
    category         TEXT NOT NULL,
    concerns         TEXT NOT NULL,
    urgent           INTEGER NOT NULL DEFAULT 0,
    status           TEXT NOT NULL DEFAULT 'open',
    outcome          TEXT,
    sealed           INTEGER NOT NULL DEFAULT 0,
    opened_at        INTEGER,
    route_stage      INTEGER NOT NULL DEFAULT 0,
    routed_at        INTEGER NOT NULL,
    alert_id         INTEGER REFERENCES monitor_alerts(id),
    -- A data breach: when the decision whether to tell the ICO is due, and what it was.
    ico_deadline     INTEGER,
    ico_decision     TEXT,
    ico_decided_at   INTEGER,
    -- When the record is due for review under the school's retention rule.
    review_at        INTEGER,
    -- The next follow-up the people working it set themselves (`YYYY-MM-DD`).
    follow_up_on     TEXT
);
CREATE INDEX incidents_school ON incidents (school_id, status, created_at);

CREATE TABLE incident_people (
    incident_id  INTEGER NOT NULL REFERENCES incidents(id),
    person_id    INTEGER REFERENCES people(id),
    name         TEXT NOT NULL,
    involved     TEXT NOT NULL,
    part         TEXT NOT NULL
);
CREATE INDEX incident_people_person ON incident_people (person_id);
CREATE INDEX incident_people_incident ON incident_people (incident_id);

CREATE TABLE incident_sealed (
    incident_id  INTEGER NOT NULL REFERENCES incidents(id),
    person_id    INTEGER NOT NULL REFERENCES people(id),
    PRIMARY KEY (incident_id, person_id)
);

-- Pupils flagged as monitored by the DSL, with why and when to review; ended, not deleted.
CREATE TABLE monitored_pupils (
    id           INTEGER PRIMARY KEY,
    school_id    INTEGER NOT NULL REFERENCES schools(id),
    person_id    INTEGER NOT NULL REFERENCES people(id),
    reason       TEXT NOT NULL,
    review_on    TEXT NOT NULL,
    set_by       TEXT NOT NULL,
    set_at       INTEGER NOT NULL,
    ended_at     INTEGER
);
CREATE INDEX monitored_pupils_person ON monitored_pupils (school_id, person_id);

-- Files attached to an incident: the file itself lives in the data directory under its
-- SHA-256, so the same screenshot attached twice is stored once.
CREATE TABLE incident_attachments (
    id           INTEGER PRIMARY KEY,
    incident_id  INTEGER NOT NULL REFERENCES incidents(id),
    sha256       TEXT NOT NULL,
    name         TEXT NOT NULL,
    mime         TEXT NOT NULL,
    size         INTEGER NOT NULL,
    added_at     INTEGER NOT NULL,
    added_by     TEXT NOT NULL
);
CREATE INDEX incident_attachments_incident ON incident_attachments (incident_id);

CREATE TABLE incident_entries (
    id           INTEGER PRIMARY KEY,
    incident_id  INTEGER NOT NULL REFERENCES incidents(id),
    written_at   INTEGER NOT NULL,
    happened_at  INTEGER NOT NULL,
    author       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    action       TEXT,
    body         TEXT NOT NULL,
    corrects     INTEGER REFERENCES incident_entries(id),
    reason       TEXT
);
CREATE INDEX incident_entries_incident ON incident_entries (incident_id, happened_at);

CREATE TRIGGER incident_entries_no_update BEFORE UPDATE ON incident_entries
BEGIN
    SELECT RAISE(ABORT, 'incident_entries is append-only');
END;

CREATE TRIGGER incident_entries_no_delete BEFORE DELETE ON incident_entries
BEGIN
    SELECT RAISE(ABORT, 'incident_entries is append-only');
END;
