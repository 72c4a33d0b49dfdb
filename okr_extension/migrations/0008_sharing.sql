-- Sharing (issue #11): the storage's squads and shares (storage migration 0010) name
-- organisations and their members; they go when the organisation or the membership goes.
ALTER TABLE squad ADD FOREIGN KEY (organisation_id) REFERENCES organisation ON DELETE CASCADE;
ALTER TABLE squad_member ADD FOREIGN KEY (organisation_id, account)
      REFERENCES membership (organisation_id, account) ON DELETE CASCADE;
ALTER TABLE calendar_share ADD FOREIGN KEY (grantee_organisation)
      REFERENCES organisation ON DELETE CASCADE;
-- Organisation shares reach the organisation's members (storage migration 0010 knew of none).
CREATE OR REPLACE FUNCTION planerix_organisations_of(account_name text) RETURNS SETOF uuid
    LANGUAGE sql STABLE AS 'SELECT organisation_id FROM membership WHERE account = account_name';
