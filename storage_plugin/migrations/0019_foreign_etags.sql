-- An item imported from another CalDAV server keeps that server's strong ETag (`planerix import
-- caldav`), so clients that synced there download nothing: `etag` then holds the foreign ETag,
-- served as any other until the item is next written, and `text_etag` the SHA-256 ETag of the
-- text that `etag` holds for every other item (what `--verify-storage` checks the text against).
ALTER TABLE item ADD COLUMN text_etag text;
