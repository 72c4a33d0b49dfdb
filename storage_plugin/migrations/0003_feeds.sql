-- ICS feeds: calendars published under a secret URL, and external feeds
-- imported into read-only calendars on a schedule.

-- A calendar whose items only Planerix itself writes (a subscription's import):
-- CalDAV PUT, DELETE, MOVE and PROPPATCH into it are refused with 403.
ALTER TABLE collection ADD COLUMN read_only boolean NOT NULL DEFAULT false;

-- A published feed: one calendar served as text/calendar, without login, under
-- /api/ics/<secret>.ics. Only a hash of the secret is stored: the URL is shown
-- when the feed is created or rotated, and a leaked database reveals no URL.
CREATE TABLE published_feed (
    id            bigserial PRIMARY KEY,
    owner         text NOT NULL REFERENCES account (name) ON DELETE CASCADE,
    -- What the feed publishes. Only 'calendar' (collection_id) exists; other kinds
    -- (e.g. an organisation's goals) will add their own source columns.
    kind          text NOT NULL DEFAULT 'calendar' CHECK (kind IN ('calendar')),
    collection_id bigint NOT NULL REFERENCES collection (id) ON DELETE CASCADE,
    token_hash    bytea NOT NULL UNIQUE,
    options       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created       timestamptz NOT NULL DEFAULT now(),
    -- Bumped when the options change (part of the cache key and Last-Modified).
    updated       timestamptz NOT NULL DEFAULT now(),
    rotated       timestamptz
);
CREATE INDEX published_feed_owner_idx ON published_feed (owner);

-- An external iCalendar feed imported into a read-only calendar of its owner.
CREATE TABLE feed_subscription (
    id                   bigserial PRIMARY KEY,
    owner                text NOT NULL REFERENCES account (name) ON DELETE CASCADE,
    collection_id        bigint NOT NULL UNIQUE REFERENCES collection (id) ON DELETE CASCADE,
    url                  text NOT NULL,
    refresh_seconds      integer NOT NULL CHECK (refresh_seconds > 0),
    -- Scheduling: due when next_run has passed and no live lease is held. A
    -- scheduler claims rows with FOR UPDATE SKIP LOCKED and sets the lease, so
    -- exactly one server process fetches a feed per interval.
    next_run             timestamptz NOT NULL DEFAULT now(),
    lease_owner          text,
    lease_until          timestamptz,
    -- Conditional fetch state of the last good response.
    http_etag            text,
    http_last_modified   text,
    body_sha256          bytea,
    -- Status.
    last_attempt         timestamptz,
    last_success         timestamptz,
    last_error           text,
    last_error_at        timestamptz,
    consecutive_failures integer NOT NULL DEFAULT 0,
    last_changes         jsonb,
    created              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feed_subscription_owner_idx ON feed_subscription (owner);
CREATE INDEX feed_subscription_due_idx ON feed_subscription (next_run);
