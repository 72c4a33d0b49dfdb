-- A published feed is placed by its owner (storage_plugin/distribution.py): its primary key and
-- unique constraints include the owner. Ids come from a sequence, so (id, owner) is as unique as
-- (id); id comes first so that lookups by id keep using the key's index.
ALTER TABLE published_feed DROP CONSTRAINT published_feed_pkey,
                           ADD CONSTRAINT published_feed_pkey PRIMARY KEY (id, owner);

-- A feed's URL carries only its token: whose feed it is comes from this small reference table
-- (a row per published feed, written when one is made, rotated or revoked). A feed's token must
-- have its row here (the foreign key), and revoking the token revokes the feed.
CREATE TABLE published_feed_token (
    token_hash bytea PRIMARY KEY,
    owner      text NOT NULL REFERENCES account (name) ON DELETE CASCADE ON UPDATE CASCADE
);
INSERT INTO published_feed_token (token_hash, owner) SELECT token_hash, owner FROM published_feed;
ALTER TABLE published_feed DROP CONSTRAINT published_feed_token_hash_key,
    ADD CONSTRAINT published_feed_token_hash_key UNIQUE (token_hash, owner),
    ADD CONSTRAINT published_feed_token_hash_fkey
        FOREIGN KEY (token_hash) REFERENCES published_feed_token ON DELETE CASCADE;
