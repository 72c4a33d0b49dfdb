-- Free-busy reads only the index: the busy occurrences' index carries their type, so the
-- answer for many accounts needs no visit to the table's pages (an index-only scan), and
-- the occurrences that stand for an unexpanded remainder (surrounds) are left out of it.
DROP INDEX IF EXISTS item_occurrence_busy_idx;
CREATE INDEX item_occurrence_busy_idx ON item_occurrence USING gist (collection_id, span)
       INCLUDE (fbtype) WHERE fbtype <> 'F' AND NOT surrounds;
