-- Calendar data keyed by its owner (issue #17, storage_plugin/distribution.py): a distributed
-- PostgreSQL (Citus) enforces uniqueness only within one shard, so every primary key and unique
-- constraint of a table distributed by owner must include the owner. The owner is the first
-- segment of a collection's path; each row now carries it, and each key gains it as its last
-- column: the leading columns (id, collection_id) already determine the owner, so what is unique
-- does not change and every lookup by the leading columns keeps its index. Foreign keys become
-- composite and follow an owner's rename (ON UPDATE CASCADE: archiving an account renames it).
-- Each large table is filled in one UPDATE.

ALTER TABLE collection ADD COLUMN owner text;
UPDATE collection SET owner = split_part(path, '/', 1);
ALTER TABLE collection ALTER COLUMN owner SET NOT NULL;

-- The foreign keys into collection(id) go with its primary key; those of the tables converted
-- below are made composite, the others (calendar_share, share_view, published_feed: rows that
-- refer to a collection by id alone) are made again as they were, on collection_id_key.
CREATE TEMPORARY TABLE collection_fk ON COMMIT DROP AS
    SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def
    FROM pg_constraint
    WHERE contype = 'f' AND confrelid = 'collection'::regclass
      AND conrelid NOT IN ('item'::regclass, 'tombstone'::regclass, 'feed_subscription'::regclass);
ALTER TABLE collection DROP CONSTRAINT collection_pkey CASCADE;
ALTER TABLE collection ADD CONSTRAINT collection_pkey PRIMARY KEY (id, owner);
ALTER TABLE collection ADD CONSTRAINT collection_id_key UNIQUE (id);
ALTER TABLE collection DROP CONSTRAINT collection_path_key;
ALTER TABLE collection ADD CONSTRAINT collection_path_owner_key UNIQUE (path, owner);
DO $$
DECLARE
    fk record;
BEGIN
    -- (Concatenation, not format(): the migration runner's driver reads percent signs.)
    FOR fk IN SELECT * FROM collection_fk LOOP
        EXECUTE 'ALTER TABLE ' || fk.tbl || ' ADD CONSTRAINT ' || quote_ident(fk.conname) || ' ' || fk.def;
    END LOOP;
END $$;

-- Items: the owner from their collection.
ALTER TABLE item ADD COLUMN owner text;
UPDATE item i SET owner = c.owner FROM collection c WHERE c.id = i.collection_id;
ALTER TABLE item ALTER COLUMN owner SET NOT NULL;
ALTER TABLE item DROP CONSTRAINT item_pkey CASCADE;  -- with item_occurrence's and item_link's keys into it
ALTER TABLE item ADD CONSTRAINT item_pkey PRIMARY KEY (id, owner);
ALTER TABLE item DROP CONSTRAINT item_collection_id_href_key;
ALTER TABLE item ADD CONSTRAINT item_collection_id_href_owner_key UNIQUE (collection_id, href, owner);
ALTER TABLE item ADD CONSTRAINT item_collection_fkey FOREIGN KEY (collection_id, owner)
    REFERENCES collection (id, owner) ON DELETE CASCADE ON UPDATE CASCADE;

-- Occurrences: the owner from their collection (the smaller join), the key from their item.
ALTER TABLE item_occurrence ADD COLUMN owner text;
UPDATE item_occurrence o SET owner = c.owner FROM collection c WHERE c.id = o.collection_id;
ALTER TABLE item_occurrence ALTER COLUMN owner SET NOT NULL;
ALTER TABLE item_occurrence ADD CONSTRAINT item_occurrence_item_fkey FOREIGN KEY (item_id, owner)
    REFERENCES item (id, owner) ON DELETE CASCADE ON UPDATE CASCADE;

-- Goal links carry their item's owner already (0005), unless the item was moved to another
-- owner's calendar since: those links are written again under the new owner, so that the
-- totals move with them (the item_link_count trigger).
WITH stale AS (
    DELETE FROM item_link l USING item i WHERE i.id = l.item_id AND l.owner <> i.owner
    RETURNING l.item_id, l.target_kind, l.target_id, l.weight, l.completion, i.owner AS item_owner)
INSERT INTO item_link (item_id, target_kind, target_id, weight, completion, owner)
    SELECT item_id, target_kind, target_id, weight, completion, item_owner FROM stale;
ALTER TABLE item_link ADD CONSTRAINT item_link_item_fkey FOREIGN KEY (item_id, owner)
    REFERENCES item (id, owner) ON DELETE CASCADE ON UPDATE CASCADE;

-- Tombstones: the owner from their collection.
ALTER TABLE tombstone ADD COLUMN owner text;
UPDATE tombstone t SET owner = c.owner FROM collection c WHERE c.id = t.collection_id;
ALTER TABLE tombstone ALTER COLUMN owner SET NOT NULL;
ALTER TABLE tombstone DROP CONSTRAINT tombstone_pkey;
ALTER TABLE tombstone ADD CONSTRAINT tombstone_pkey PRIMARY KEY (collection_id, href, owner);
ALTER TABLE tombstone ADD CONSTRAINT tombstone_collection_fkey FOREIGN KEY (collection_id, owner)
    REFERENCES collection (id, owner) ON DELETE CASCADE ON UPDATE CASCADE;

-- Feed subscriptions have an owner (who subscribed, in whose home the calendar is). It now
-- belongs to the subscription through its calendar only: a second foreign key to account(name),
-- also cascading a rename, would move the owner before the calendar's follows and fail.
-- Removing an account removes its calendars, and with them its subscriptions.
UPDATE feed_subscription s SET owner = c.owner FROM collection c WHERE c.id = s.collection_id AND s.owner <> c.owner;
ALTER TABLE feed_subscription DROP CONSTRAINT feed_subscription_owner_fkey;
ALTER TABLE feed_subscription DROP CONSTRAINT feed_subscription_pkey;
ALTER TABLE feed_subscription ADD CONSTRAINT feed_subscription_pkey PRIMARY KEY (id, owner);
ALTER TABLE feed_subscription DROP CONSTRAINT feed_subscription_collection_id_key;
ALTER TABLE feed_subscription ADD CONSTRAINT feed_subscription_collection_id_owner_key UNIQUE (collection_id, owner);
ALTER TABLE feed_subscription ADD CONSTRAINT feed_subscription_collection_fkey FOREIGN KEY (collection_id, owner)
    REFERENCES collection (id, owner) ON DELETE CASCADE ON UPDATE CASCADE;

-- The home of an account (0008), its collections now written with their owner.
CREATE OR REPLACE FUNCTION planerix_ensure_home(account_name text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    accepts_events boolean;
    accepts_tasks boolean;
BEGIN
    IF left(account_name, 1) = '.' THEN
        RETURN;
    END IF;
    INSERT INTO collection (path, parent_path, tag, props, owner)
    VALUES (account_name, '', NULL, '{}'::jsonb, account_name) ON CONFLICT (path, owner) DO NOTHING;
    INSERT INTO collection (path, parent_path, tag, props, kind, owner)
    VALUES (account_name || '/schedule-inbox', account_name, 'VCALENDAR',
            '{"tag": "VCALENDAR", "D:displayname": "Scheduling inbox"}'::jsonb, 'schedule-inbox', account_name),
           (account_name || '/schedule-outbox', account_name, 'VCALENDAR',
            '{"tag": "VCALENDAR", "D:displayname": "Scheduling outbox"}'::jsonb, 'schedule-outbox', account_name)
    ON CONFLICT (path, owner) DO NOTHING;
    SELECT coalesce(bool_or(props->>'C:supported-calendar-component-set' IS NULL
                            OR 'VEVENT' = ANY(string_to_array(props->>'C:supported-calendar-component-set', ','))),
                    false),
           coalesce(bool_or(props->>'C:supported-calendar-component-set' IS NULL
                            OR 'VTODO' = ANY(string_to_array(props->>'C:supported-calendar-component-set', ','))),
                    false)
      INTO accepts_events, accepts_tasks
      FROM collection
     WHERE parent_path = account_name AND tag = 'VCALENDAR' AND kind = 'normal' AND NOT read_only;
    IF NOT accepts_events THEN
        INSERT INTO collection (path, parent_path, tag, props, owner)
        VALUES (account_name || '/personal', account_name, 'VCALENDAR',
                '{"tag": "VCALENDAR", "D:displayname": "Personal",
                  "C:supported-calendar-component-set": "VEVENT"}'::jsonb, account_name)
        ON CONFLICT (path, owner) DO NOTHING;
    END IF;
    IF NOT accepts_tasks THEN
        INSERT INTO collection (path, parent_path, tag, props, owner)
        VALUES (account_name || '/personal-tasks', account_name, 'VCALENDAR',
                '{"tag": "VCALENDAR", "D:displayname": "Personal tasks",
                  "C:supported-calendar-component-set": "VTODO"}'::jsonb, account_name)
        ON CONFLICT (path, owner) DO NOTHING;
    END IF;
END $$;
