-- Calendars, address books and principals, their items, and the indexes that
-- let every read be answered without parsing iCalendar.

-- GiST over (collection_id, span): a time-range query stays inside one collection.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE collection (
    id            bigserial PRIMARY KEY,
    -- Sanitized path without leading or trailing slash ("alice/work").
    path          text NOT NULL UNIQUE,
    parent_path   text NOT NULL,
    -- "VCALENDAR", "VADDRESSBOOK" or NULL for plain collections and principals.
    tag           text,
    props         jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Sync revision: bumped by every change of a member or of the properties.
    revision      bigint NOT NULL DEFAULT 0,
    -- Tokens older than this revision can no longer be answered (history pruned).
    history_floor bigint NOT NULL DEFAULT 0,
    modified      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX collection_parent_idx ON collection (parent_path);

CREATE TABLE item (
    id             bigserial PRIMARY KEY,
    collection_id  bigint NOT NULL REFERENCES collection (id) ON DELETE CASCADE,
    href           text NOT NULL,
    uid            text NOT NULL,
    component      text NOT NULL,
    etag           text NOT NULL,
    text           text NOT NULL,
    -- Bounds of the whole series as POSIX seconds (Radicale's item.time_range).
    series_start   bigint NOT NULL,
    series_end     bigint NOT NULL,
    -- NULL when every occurrence is in item_occurrence; otherwise occurrences
    -- starting at or after this instant were not expanded (unbounded series).
    expanded_until bigint,
    revision       bigint NOT NULL,
    modified       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (collection_id, href)
);
CREATE INDEX item_uid_idx ON item (collection_id, uid);
CREATE INDEX item_revision_idx ON item (collection_id, revision);

-- One row per expanded occurrence, so time-range queries are index lookups.
CREATE TABLE item_occurrence (
    item_id       bigint NOT NULL REFERENCES item (id) ON DELETE CASCADE,
    collection_id bigint NOT NULL,
    span          int8range NOT NULL
);
CREATE INDEX item_occurrence_span_idx ON item_occurrence USING gist (collection_id, span);
CREATE INDEX item_occurrence_item_idx ON item_occurrence (item_id);

-- Deleted hrefs, so sync-collection can report deletions.
CREATE TABLE tombstone (
    collection_id bigint NOT NULL REFERENCES collection (id) ON DELETE CASCADE,
    href          text NOT NULL,
    revision      bigint NOT NULL,
    deleted_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collection_id, href)
);
CREATE INDEX tombstone_revision_idx ON tombstone (collection_id, revision);

CREATE TABLE account (
    name          text PRIMARY KEY,
    password_hash text NOT NULL,
    created       timestamptz NOT NULL DEFAULT now()
);

-- Unbounded series whose expansion stopped: checked by time-range queries that reach past it.
CREATE INDEX item_expanded_idx ON item (collection_id, expanded_until) WHERE expanded_until IS NOT NULL;
