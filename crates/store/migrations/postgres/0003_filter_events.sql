-- Filter decisions from the DNS server and the proxy (DFE-FM-3.11: device, address,
-- individual, time, and what was asked), written in batches by the event writer.
CREATE TABLE filter_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    school_id   BIGINT  NOT NULL REFERENCES schools(id),
    at_ms       BIGINT  NOT NULL,
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
    latency_us  BIGINT  NOT NULL
);
CREATE INDEX filter_events_time ON filter_events (school_id, at_ms);
CREATE INDEX filter_events_person ON filter_events (school_id, person, at_ms);
