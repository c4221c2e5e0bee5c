-- What the proxy adds to a filter event (issue 5): the full URL of a plain HTTP request,
-- the bytes that passed, and the search term read from a search engine's URL (for the
-- monitoring issue). DNS events leave them empty.
ALTER TABLE filter_events ADD COLUMN url TEXT;
ALTER TABLE filter_events ADD COLUMN bytes INTEGER;
ALTER TABLE filter_events ADD COLUMN search TEXT;
