-- A published feed is placed by its owner (storage_plugin/distribution.py): its primary key
-- includes the owner. Ids come from a sequence, so (id, owner) is as unique as (id); id comes first
-- so that lookups by id keep using the key's index.
ALTER TABLE published_feed DROP CONSTRAINT published_feed_pkey,
                           ADD CONSTRAINT published_feed_pkey PRIMARY KEY (id, owner);
