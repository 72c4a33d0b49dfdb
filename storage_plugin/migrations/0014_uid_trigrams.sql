-- UID filters (python-caldav's event_by_uid: a text-match "contains", i;octet) from an index:
-- a trigram index answers a LIKE pattern for any substring without reading every UID of the
-- calendar, so the lookup costs the same in a calendar of ten items or of a hundred thousand.
-- Without fastupdate: new UIDs go into the index at once rather than into a pending list that
-- every lookup reads through until a vacuum merges it (slow lookups after a bulk fill).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX item_uid_trgm_idx ON item USING gin (uid gin_trgm_ops) WITH (fastupdate = off);
