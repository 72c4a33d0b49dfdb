-- The organisations owning the goals with these ids, each with which of the ids are its goals
-- (storage_plugin/item_events.py: whose webhooks hear of a linked item's change). Without the
-- goals schema (plain Radicale on the storage alone) no goal exists: okr migration 0017 gives the
-- function its body.
CREATE FUNCTION planerix_goal_organisations(ids uuid[])
    RETURNS TABLE (organisation_id uuid, goal_ids uuid[])
    LANGUAGE sql STABLE AS 'SELECT NULL::uuid, NULL::uuid[] WHERE false';
