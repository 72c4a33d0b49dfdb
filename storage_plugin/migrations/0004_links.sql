-- Links from calendar items to goals (X-PLANERIX-* properties inside the item), and the few
-- item facts the goals API shows, all extracted on write in the same statement as the item,
-- so nothing has to parse iCalendar to answer "which tasks count toward this key result".

ALTER TABLE item
    ADD COLUMN summary text,
    ADD COLUMN status text,              -- STATUS, upper case (NEEDS-ACTION, COMPLETED, CANCELLED, ...)
    ADD COLUMN percent_complete smallint, -- PERCENT-COMPLETE 0..100
    ADD COLUMN due timestamptz;          -- DUE of a task, DTSTART of an event (UTC; floating as UTC)

-- No primary key: an item's links are replaced in the statement that writes the item, and a
-- delete and an insert of the same key inside one statement must not collide.
CREATE TABLE item_link (
    item_id     bigint NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    target_kind text NOT NULL CHECK (target_kind IN ('key_result', 'kpi', 'objective', 'project')),
    -- Kept even when no such goal exists (yet): the API reports such links as dangling.
    target_id   text NOT NULL,
    weight      double precision NOT NULL DEFAULT 1 CHECK (weight >= 0)
);
CREATE INDEX item_link_item_idx ON item_link (item_id);
CREATE INDEX item_link_target_idx ON item_link (target_kind, target_id);
