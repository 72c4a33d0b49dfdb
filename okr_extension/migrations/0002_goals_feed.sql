-- A published feed of an organisation's goals (kind 'goals'): objective and key-result due
-- dates and KPI reviews. Calendar feeds keep their calendar; goals feeds name the organisation.
ALTER TABLE published_feed ALTER COLUMN collection_id DROP NOT NULL;
ALTER TABLE published_feed ADD COLUMN organisation_id uuid REFERENCES organisation ON DELETE CASCADE;
ALTER TABLE published_feed DROP CONSTRAINT published_feed_kind_check;
ALTER TABLE published_feed ADD CONSTRAINT published_feed_kind_check CHECK (
    (kind = 'calendar' AND collection_id IS NOT NULL AND organisation_id IS NULL)
    OR (kind = 'goals' AND organisation_id IS NOT NULL AND collection_id IS NULL));
