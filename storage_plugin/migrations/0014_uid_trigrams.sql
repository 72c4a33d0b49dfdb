-- UID filters (python-caldav's event_by_uid: a text-match "contains", i;octet) from an index:
-- a trigram index answers a LIKE pattern for any substring without reading every UID of the
-- calendar, so the lookup costs the same in a calendar of ten items or of a hundred thousand.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX item_uid_trgm_idx ON item USING gin (uid gin_trgm_ops);
