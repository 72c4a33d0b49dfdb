-- Tasks count toward a key result only while their owner belongs to the key result's
-- organisation: anyone can write a key result's id into a task, so the totals are kept
-- per task owner, and progress sums those of the organisation's members.

ALTER TABLE item_link ADD COLUMN owner text;
UPDATE item_link l SET owner = split_part(c.path, '/', 1)
    FROM item i JOIN collection c ON c.id = i.collection_id WHERE i.id = l.item_id;
ALTER TABLE item_link ALTER COLUMN owner SET NOT NULL;

ALTER TABLE link_total ADD COLUMN owner text;
DELETE FROM link_total;
ALTER TABLE link_total DROP CONSTRAINT link_total_pkey;
ALTER TABLE link_total ALTER COLUMN owner SET NOT NULL;
ALTER TABLE link_total ADD PRIMARY KEY (target_kind, target_id, owner);
INSERT INTO link_total (target_kind, target_id, owner, tasks, weight_sum, completion_sum)
    SELECT target_kind, target_id, owner, count(*), sum(weight::numeric),
           sum(weight::numeric * completion::numeric)
    FROM item_link WHERE completion IS NOT NULL GROUP BY 1, 2, 3;

CREATE OR REPLACE FUNCTION item_link_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.completion IS NOT NULL THEN
        INSERT INTO link_total AS t (target_kind, target_id, owner, tasks, weight_sum, completion_sum)
        VALUES (NEW.target_kind, NEW.target_id, NEW.owner, 1, NEW.weight::numeric,
                NEW.weight::numeric * NEW.completion::numeric)
        ON CONFLICT (target_kind, target_id, owner) DO UPDATE
            SET tasks = t.tasks + 1, weight_sum = t.weight_sum + EXCLUDED.weight_sum,
                completion_sum = t.completion_sum + EXCLUDED.completion_sum;
    ELSIF TG_OP = 'DELETE' AND OLD.completion IS NOT NULL THEN
        UPDATE link_total SET tasks = tasks - 1, weight_sum = weight_sum - OLD.weight::numeric,
               completion_sum = completion_sum - OLD.weight::numeric * OLD.completion::numeric
        WHERE target_kind = OLD.target_kind AND target_id = OLD.target_id AND owner = OLD.owner;
    END IF;
    RETURN NULL;
END $$;
