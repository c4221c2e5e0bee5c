-- How many identical DNS answers one filter event stands for: the event writer folds the
-- same device asking the same name, with the same answer, within its gathering window into
-- one row (events::coalesce). Rows written before this stood for one answer each.
ALTER TABLE filter_events ADD COLUMN repeats INTEGER NOT NULL DEFAULT 1;
