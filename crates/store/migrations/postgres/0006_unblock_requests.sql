-- Unblock requests from the block page (issue 5, UKSIC-F-SF-13): who asked for what and
-- why, and how a filter manager answered.
CREATE TABLE unblock_requests (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id    BIGINT NOT NULL REFERENCES schools(id),
    created_at   BIGINT NOT NULL,
    person       TEXT,
    client       TEXT NOT NULL,
    group_name   TEXT NOT NULL,
    target       TEXT NOT NULL,
    why          TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending',
    decided_at   BIGINT,
    decided_by   TEXT,
    scope        TEXT,
    scope_value  TEXT,
    expires_at   BIGINT,
    answer       TEXT
);
CREATE INDEX unblock_requests_status ON unblock_requests (school_id, status, created_at);
CREATE INDEX unblock_requests_person ON unblock_requests (school_id, person, created_at);

-- What an allowed request unblocked: for one person, one group or everyone, until an
-- optional expiry. The filter snapshot includes the ones in force.
CREATE TABLE filter_exceptions (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id    BIGINT NOT NULL REFERENCES schools(id),
    scope        TEXT NOT NULL,
    scope_value  TEXT,
    entry        TEXT NOT NULL,
    expires_at   BIGINT,
    created_at   BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    request_id   BIGINT REFERENCES unblock_requests(id)
);
CREATE INDEX filter_exceptions_school ON filter_exceptions (school_id, expires_at);
