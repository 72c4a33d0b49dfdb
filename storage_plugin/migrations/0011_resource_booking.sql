-- Rooms and resources book themselves (storage_plugin/resources.py): one row per occurrence of
-- every event a resource was invited to, with the resource's answer. The exclusion constraint
-- is what prevents double booking: two accepted, exclusive occurrences of one resource never
-- overlap, whichever process or transaction writes them (a concurrent insert waits for the
-- other transaction and then conflicts). btree_gist gives gist the equality on the account.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE resource_booking (
    account   text NOT NULL REFERENCES account (name) ON DELETE CASCADE ON UPDATE CASCADE,
    uid       text NOT NULL,
    instance  text NOT NULL,        -- the recurrence key (itip.recurrence_key); '' for a single event
    span      tstzrange NOT NULL CHECK (NOT isempty(span)),
    status    text NOT NULL CHECK (status IN ('accepted', 'declined', 'pending')),
    exclusive boolean NOT NULL DEFAULT true,   -- false under the auto-accept policy (shared use)
    summary   text,
    organizer text,
    reason    text,                 -- why an occurrence was declined
    decided   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, uid, instance),
    CONSTRAINT resource_booking_no_overlap
        EXCLUDE USING gist (account WITH =, span WITH &&) WHERE (status = 'accepted' AND exclusive)
);
-- Listing a resource's bookings in a window (GET /api/resources/{id}/bookings).
CREATE INDEX resource_booking_span_idx ON resource_booking USING gist (account, span);
