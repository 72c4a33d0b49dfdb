-- Automation: goal events in a transactional outbox, and their delivery to signed webhooks.
--
-- The last observed state of each goal (a KPI's health, a key result's or objective's tracking).
-- A write locks its subject's row here, recomputes the state and compares: a change is a
-- transition, recorded as an event in the same transaction. ``transitions`` numbers them, so
-- an event's idempotency key (kind, subject, number) is unique per transition.
CREATE TABLE automation_subject_state (
    subject_type text NOT NULL CHECK (subject_type IN ('kpi', 'key_result', 'objective')),
    subject_id uuid NOT NULL,
    state text,
    transitions bigint NOT NULL DEFAULT 0,
    updated timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject_type, subject_id)
);

-- The outbox. ``seq`` orders the stream (SSE ids); ``id`` is what receivers de-duplicate on.
CREATE TABLE automation_event (
    seq bigserial PRIMARY KEY,
    id uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    idempotency_key text NOT NULL UNIQUE,
    kind text NOT NULL,
    organisation_id uuid NOT NULL REFERENCES organisation ON DELETE CASCADE,
    subject_type text NOT NULL,
    subject_id text NOT NULL,       -- a goal's or webhook's UUID, or a task's "<calendar path>/<href>"
    -- The goals the event concerns (the subject and the objectives above it), for goal filters.
    goal_ids uuid[] NOT NULL DEFAULT '{}',
    body jsonb NOT NULL,
    occurred timestamptz NOT NULL
);
CREATE INDEX automation_event_organisation_idx ON automation_event (organisation_id, seq);

-- The event stream's order is the order of commits, so a reader resuming after position P never
-- misses an event committed later with a smaller number. ``seq`` cannot give that (numbers are
-- drawn at insert, transactions commit in any order); ``position`` is drawn at commit by a
-- deferred trigger under a transaction lock, after every other lock of the writing transaction
-- is held, so the lock is held only while committing and cannot take part in a deadlock.
CREATE SEQUENCE automation_event_position;
ALTER TABLE automation_event ADD COLUMN position bigint UNIQUE;

CREATE FUNCTION automation_event_position() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7426118350005);
    UPDATE automation_event SET position = nextval('automation_event_position') WHERE seq = NEW.seq;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER automation_event_position AFTER INSERT ON automation_event
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION automation_event_position();
CREATE INDEX automation_event_occurred_idx ON automation_event (organisation_id, occurred);

-- A webhook subscription. The secret signs every delivery (HMAC-SHA256), so the server needs
-- it in clear: it is stored as given and never returned after creation.
CREATE TABLE webhook (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organisation_id uuid NOT NULL REFERENCES organisation ON DELETE CASCADE,
    url text NOT NULL,
    kinds text[] NOT NULL CHECK (cardinality(kinds) > 0),
    goal_id uuid,
    description text NOT NULL DEFAULT '',
    secret text NOT NULL,
    created_by text REFERENCES account (name) ON DELETE SET NULL ON UPDATE CASCADE,
    enabled boolean NOT NULL DEFAULT true,
    disabled_reason text,
    -- Since when every attempt has failed (NULL after a success): a day of it disables the hook.
    failing_since timestamptz,
    created timestamptz NOT NULL DEFAULT now(),
    updated timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_organisation_idx ON webhook (organisation_id);

-- One event to one webhook. Written with the event (fan-out in the same transaction), so an
-- event committed is an event delivered, whichever process is alive afterwards.
CREATE TABLE webhook_delivery (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    webhook_id uuid NOT NULL REFERENCES webhook ON DELETE CASCADE,
    event_seq bigint NOT NULL REFERENCES automation_event ON DELETE CASCADE,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt timestamptz NOT NULL,
    lease_owner text,
    lease_until timestamptz,
    last_attempt timestamptz,
    last_status integer,
    last_error text,
    delivered timestamptz,
    replay_of uuid,
    created timestamptz NOT NULL
);
CREATE INDEX webhook_delivery_due_idx ON webhook_delivery (next_attempt) WHERE state = 'pending';
CREATE INDEX webhook_delivery_webhook_idx ON webhook_delivery (webhook_id, created, id);
CREATE INDEX webhook_delivery_event_idx ON webhook_delivery (event_seq);
