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
    weight      double precision NOT NULL DEFAULT 1 CHECK (weight >= 0),
    -- What a task contributes to a key result in tasks mode: 1 when COMPLETED, otherwise
    -- PERCENT-COMPLETE / 100; NULL for events and cancelled tasks, which do not count.
    completion  double precision CHECK (completion BETWEEN 0 AND 1)
);
CREATE INDEX item_link_item_idx ON item_link (item_id);
CREATE INDEX item_link_target_idx ON item_link (target_kind, target_id);

-- Per goal, the sums behind "weighted completion of linked tasks", kept by a trigger in the
-- writing transaction: reading a key result's progress costs one row, however many tasks.
-- numeric, so that adding and removing the same weights returns exactly to zero.
CREATE TABLE link_total (
    target_kind    text NOT NULL,
    target_id      text NOT NULL,
    tasks          bigint NOT NULL DEFAULT 0,
    weight_sum     numeric NOT NULL DEFAULT 0,
    completion_sum numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (target_kind, target_id)
);

CREATE FUNCTION item_link_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.completion IS NOT NULL THEN
        INSERT INTO link_total AS t (target_kind, target_id, tasks, weight_sum, completion_sum)
        VALUES (NEW.target_kind, NEW.target_id, 1, NEW.weight::numeric,
                NEW.weight::numeric * NEW.completion::numeric)
        ON CONFLICT (target_kind, target_id) DO UPDATE
            SET tasks = t.tasks + 1, weight_sum = t.weight_sum + EXCLUDED.weight_sum,
                completion_sum = t.completion_sum + EXCLUDED.completion_sum;
    ELSIF TG_OP = 'DELETE' AND OLD.completion IS NOT NULL THEN
        UPDATE link_total SET tasks = tasks - 1, weight_sum = weight_sum - OLD.weight::numeric,
               completion_sum = completion_sum - OLD.weight::numeric * OLD.completion::numeric
        WHERE target_kind = OLD.target_kind AND target_id = OLD.target_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER item_link_count AFTER INSERT OR DELETE ON item_link
    FOR EACH ROW EXECUTE FUNCTION item_link_count();
