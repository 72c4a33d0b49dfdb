-- Sharing (issue #11): squads, and calendars or task lists shared with a user, a squad or a
-- whole organisation. Organisations and their membership are the sidecar's tables: its
-- migration 0008 adds the foreign keys into them (it runs after the storage's).

-- The organisations an account is a member of. Organisations are the sidecar's: until its
-- migration 0008 replaces this function with one over its membership table (plain Radicale on
-- the storage alone has none), nobody is in any.
CREATE FUNCTION planerix_organisations_of(account_name text) RETURNS SETOF uuid
    LANGUAGE sql STABLE AS 'SELECT NULL::uuid WHERE false';

-- A named group of members inside an organisation.
CREATE TABLE squad (
    id              bigserial PRIMARY KEY,
    organisation_id uuid NOT NULL,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organisation_id, name)
);

CREATE TABLE squad_member (
    squad_id        bigint NOT NULL REFERENCES squad ON DELETE CASCADE,
    -- The squad's organisation, repeated so that membership in it is a foreign key (okr 0008).
    organisation_id uuid NOT NULL,
    account         text NOT NULL REFERENCES account (name) ON DELETE CASCADE ON UPDATE CASCADE,
    PRIMARY KEY (squad_id, account)
);
CREATE INDEX squad_member_account_idx ON squad_member (account);

-- One collection of ``owner`` granted to exactly one grantee.
CREATE TABLE calendar_share (
    id                   bigserial PRIMARY KEY,
    owner                text NOT NULL REFERENCES account (name) ON DELETE CASCADE ON UPDATE CASCADE,
    collection_id        bigint NOT NULL REFERENCES collection ON DELETE CASCADE,
    grantee_account      text REFERENCES account (name) ON DELETE CASCADE ON UPDATE CASCADE,
    grantee_squad        bigint REFERENCES squad ON DELETE CASCADE,
    grantee_organisation uuid,
    access               text NOT NULL CHECK (access IN ('read', 'read-write', 'free-busy')),
    created              timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(grantee_account, grantee_squad, grantee_organisation) = 1)
);
CREATE INDEX calendar_share_owner_idx ON calendar_share (owner, id);
CREATE UNIQUE INDEX calendar_share_account_idx ON calendar_share (grantee_account, collection_id)
    WHERE grantee_account IS NOT NULL;
CREATE UNIQUE INDEX calendar_share_squad_idx ON calendar_share (grantee_squad, collection_id)
    WHERE grantee_squad IS NOT NULL;
CREATE UNIQUE INDEX calendar_share_organisation_idx ON calendar_share (grantee_organisation, collection_id)
    WHERE grantee_organisation IS NOT NULL;
CREATE INDEX calendar_share_collection_idx ON calendar_share (collection_id);

-- How a calendar shared with ``account`` looks in their own home: their name and colour
-- (CalDAV properties, as PROPPATCH sets them), never the owner's.
CREATE TABLE share_view (
    account       text NOT NULL REFERENCES account (name) ON DELETE CASCADE ON UPDATE CASCADE,
    collection_id bigint NOT NULL REFERENCES collection ON DELETE CASCADE,
    props         jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (account, collection_id)
);
