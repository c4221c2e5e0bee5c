-- Monitoring (issue 6): alerts raised from search terms, blocked-request patterns, the
-- ingest API and pupils' own "Worried about something?" messages; the tokens other systems
-- use to send text; a school's own lexicon lines, switched-off categories and dismissed
-- false positives; and the outbox every email waits in until a server has taken it.
CREATE TABLE monitor_alerts (
    id           INTEGER PRIMARY KEY,
    school_id    INTEGER NOT NULL REFERENCES schools(id),
    created_at   INTEGER NOT NULL,
    last_at      INTEGER NOT NULL,
    occurred_at  INTEGER NOT NULL,
    count        INTEGER NOT NULL DEFAULT 1,
    person       TEXT,
    subject      TEXT NOT NULL,
    group_name   TEXT NOT NULL,
    client       TEXT,
    source       TEXT NOT NULL,
    text         TEXT NOT NULL,
    match_start  INTEGER NOT NULL,
    match_end    INTEGER NOT NULL,
    phrase       TEXT NOT NULL,
    category     TEXT NOT NULL,
    severity     INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    fold_key     TEXT NOT NULL,
    about_staff  INTEGER NOT NULL DEFAULT 0,
    about_head   INTEGER NOT NULL DEFAULT 0,
    status       TEXT NOT NULL DEFAULT 'new',
    handled_at   INTEGER,
    handled_by   TEXT,
    note         TEXT,
    emailed_at   INTEGER
);
CREATE INDEX monitor_alerts_fold ON monitor_alerts (school_id, fold_key, last_at);
CREATE INDEX monitor_alerts_status ON monitor_alerts (school_id, status, created_at);

CREATE TABLE monitor_tokens (
    id            INTEGER PRIMARY KEY,
    school_id     INTEGER NOT NULL REFERENCES schools(id),
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
);

CREATE TABLE monitor_state (
    school_id      INTEGER PRIMARY KEY REFERENCES schools(id),
    event_cursor   INTEGER,
    settings       TEXT NOT NULL DEFAULT '',
    updated_at     INTEGER,
    updated_by     TEXT
);

CREATE TABLE monitor_lexicon (
    id          INTEGER PRIMARY KEY,
    school_id   INTEGER NOT NULL REFERENCES schools(id),
    line        TEXT NOT NULL,
    added_at    INTEGER NOT NULL,
    added_by    TEXT NOT NULL
);

CREATE TABLE monitor_categories_off (
    school_id   INTEGER NOT NULL REFERENCES schools(id),
    category    TEXT NOT NULL,
    PRIMARY KEY (school_id, category)
);

CREATE TABLE monitor_dismissals (
    id          INTEGER PRIMARY KEY,
    school_id   INTEGER NOT NULL REFERENCES schools(id),
    phrase      TEXT NOT NULL,
    context     TEXT NOT NULL,
    at          INTEGER NOT NULL,
    by_actor    TEXT NOT NULL
);
CREATE INDEX monitor_dismissals_school ON monitor_dismissals (school_id, phrase);

CREATE TABLE mail_outbox (
    id               INTEGER PRIMARY KEY,
    school_id        INTEGER NOT NULL REFERENCES schools(id),
    kind             TEXT NOT NULL,
    recipients       TEXT NOT NULL,
    subject          TEXT NOT NULL,
    text_body        TEXT NOT NULL,
    html_body        TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    next_attempt_at  INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    sent_at          INTEGER
);
CREATE INDEX mail_outbox_due ON mail_outbox (sent_at, next_attempt_at);

-- One digest a school a day (and one weekly summary a week), however often the server
-- restarts: the key is the day or week it covers.
CREATE TABLE digest_runs (
    school_id   INTEGER NOT NULL REFERENCES schools(id),
    kind        TEXT NOT NULL,
    period      TEXT NOT NULL,
    queued_at   INTEGER NOT NULL,
    PRIMARY KEY (school_id, kind, period)
);
