-- The busy occurrences' index also carries each occurrence's item: free-busy keeps every
-- calendar's busy time per item (storage_plugin.busy_time) and reads it from the index alone.
DROP INDEX IF EXISTS item_occurrence_busy_idx;
CREATE INDEX item_occurrence_busy_idx ON item_occurrence USING gist (collection_id, span)
       INCLUDE (fbtype, item_id) WHERE fbtype <> 'F' AND NOT surrounds;
