-- A policy's revision, raised by every change: a running server compares the sum with what
-- it last built from, so two changes within one second (updated_at's resolution) are not
-- mistaken for none.
ALTER TABLE policies ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
