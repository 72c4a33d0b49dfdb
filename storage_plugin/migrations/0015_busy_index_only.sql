-- Free-busy reads only the index: the busy occurrences' index carries their type, so the
-- answer for many accounts needs no visit to the table's pages (an index-only scan), and
-- the occurrences that stand for an unexpanded remainder (surrounds) are left out of it.
DROP INDEX IF EXISTS item_occurrence_busy_idx;
CREATE INDEX item_occurrence_busy_idx ON item_occurrence USING gist (collection_id, span)
       INCLUDE (fbtype) WHERE fbtype <> 'F' AND NOT surrounds;
-- An index-only scan skips the table only on pages marked all-visible, which autovacuum does;
-- by default it waits until a fifth of the table is new inserts, so a calendar imported a moment
-- ago would be read from the table. Vacuum this table after a fiftieth instead.
ALTER TABLE item_occurrence SET (autovacuum_vacuum_insert_scale_factor = 0.02);
