-- The goals' side of storage migration 0016: objectives, key results and KPIs by organisation.
CREATE OR REPLACE FUNCTION planerix_goal_organisations(ids uuid[])
    RETURNS TABLE (organisation_id uuid, goal_ids uuid[])
    LANGUAGE sql STABLE AS $$
    SELECT goal.organisation_id, array_agg(goal.id ORDER BY goal.id) FROM (
        SELECT id, organisation_id FROM objective WHERE id = ANY(ids)
        UNION ALL SELECT id, organisation_id FROM key_result WHERE id = ANY(ids)
        UNION ALL SELECT id, organisation_id FROM kpi WHERE id = ANY(ids)) goal
    GROUP BY goal.organisation_id ORDER BY goal.organisation_id
$$;
