-- Rooms and resources of an organisation (okr_extension/resources): each is an account that
-- cannot log in (account.cutype ROOM or RESOURCE, its address in account_address, a calendar
-- home) with what people choose a room by. Deleting the account deletes the resource.
CREATE TABLE calendar_resource (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account         text NOT NULL UNIQUE REFERENCES account (name) ON DELETE CASCADE ON UPDATE CASCADE,
    organisation_id uuid NOT NULL REFERENCES organisation ON DELETE CASCADE,
    capacity        integer CHECK (capacity IS NULL OR capacity >= 0),
    location        text NOT NULL DEFAULT '',
    features        text[] NOT NULL DEFAULT '{}',
    -- How it answers invitations: auto-accept (always, may overlap), accept-if-free (declines
    -- the occurrences that overlap an accepted booking), manual (managers answer via the API).
    policy          text NOT NULL DEFAULT 'accept-if-free'
                    CHECK (policy IN ('auto-accept', 'accept-if-free', 'manual')),
    managers        text[] NOT NULL DEFAULT '{}',
    created         timestamptz NOT NULL DEFAULT now(),
    updated         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calendar_resource_organisation_idx ON calendar_resource (organisation_id);
