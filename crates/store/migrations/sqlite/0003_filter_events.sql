-- Filter decisions from the DNS server and the proxy (DFE-FM-3.11: device, address,
-- individual, time, and what was asked), written in batches by the event writer.
CREATE TABLE filter_events (
    id          INTEGER PRIMARY KEY,
    school_id   INTEGER NOT NULL REFERENCES schools(id),
    at_ms       INTEGER NOT NULL,
    source      TEXT    NOT NULL,
    client      TEXT    NOT NULL,
    device      TEXT,
    person      TEXT,
    group_name  TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    verdict     TEXT    NOT NULL,
    category    TEXT,
    rule        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    latency_us  INTEGER NOT NULL
);
CREATE INDEX filter_events_time ON filter_events (school_id, at_ms);
CREATE INDEX filter_events_person ON filter_events (school_id, person, at_ms);
