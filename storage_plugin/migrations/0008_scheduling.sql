-- Scheduling state (RFC 6638): every account has a home with a default calendar, a default
-- task list and the schedule inbox and outbox, so a new user can be invited at once.

-- What a collection is for scheduling: the inbox and outbox are collections of the principal
-- (so GET, DELETE, REPORT, sync and getctag work on the inbox as on a calendar); their
-- resourcetype is rewritten on output (server/scheduling) and clients cannot PUT into them.
-- Both carry the VCALENDAR tag: Radicale's owner_only rights hide untagged collections below a home.
ALTER TABLE collection ADD COLUMN kind text NOT NULL DEFAULT 'normal'
      CHECK (kind IN ('normal', 'schedule-inbox', 'schedule-outbox'));

-- The home of an account, created if missing (idempotent): the principal collection, the
-- inbox and outbox, and a calendar and a task list unless the account already has a calendar
-- for events and one for tasks (a calendar without a component set takes both).
-- Archived accounts (names starting with '.') get nothing.
CREATE FUNCTION planerix_ensure_home(account_name text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    accepts_events boolean;
    accepts_tasks boolean;
BEGIN
    IF left(account_name, 1) = '.' THEN
        RETURN;
    END IF;
    INSERT INTO collection (path, parent_path, tag, props)
    VALUES (account_name, '', NULL, '{}'::jsonb) ON CONFLICT (path) DO NOTHING;
    INSERT INTO collection (path, parent_path, tag, props, kind)
    VALUES (account_name || '/schedule-inbox', account_name, 'VCALENDAR',
            '{"tag": "VCALENDAR", "D:displayname": "Scheduling inbox"}'::jsonb, 'schedule-inbox'),
           (account_name || '/schedule-outbox', account_name, 'VCALENDAR',
            '{"tag": "VCALENDAR", "D:displayname": "Scheduling outbox"}'::jsonb, 'schedule-outbox')
    ON CONFLICT (path) DO NOTHING;
    SELECT coalesce(bool_or(props->>'C:supported-calendar-component-set' IS NULL
                            OR 'VEVENT' = ANY(string_to_array(props->>'C:supported-calendar-component-set', ','))),
                    false),
           coalesce(bool_or(props->>'C:supported-calendar-component-set' IS NULL
                            OR 'VTODO' = ANY(string_to_array(props->>'C:supported-calendar-component-set', ','))),
                    false)
      INTO accepts_events, accepts_tasks
      FROM collection
     WHERE parent_path = account_name AND tag = 'VCALENDAR' AND kind = 'normal' AND NOT read_only;
    IF NOT accepts_events THEN
        INSERT INTO collection (path, parent_path, tag, props)
        VALUES (account_name || '/personal', account_name, 'VCALENDAR',
                '{"tag": "VCALENDAR", "D:displayname": "Personal",
                  "C:supported-calendar-component-set": "VEVENT"}'::jsonb)
        ON CONFLICT (path) DO NOTHING;
    END IF;
    IF NOT accepts_tasks THEN
        INSERT INTO collection (path, parent_path, tag, props)
        VALUES (account_name || '/personal-tasks', account_name, 'VCALENDAR',
                '{"tag": "VCALENDAR", "D:displayname": "Personal tasks",
                  "C:supported-calendar-component-set": "VTODO"}'::jsonb)
        ON CONFLICT (path) DO NOTHING;
    END IF;
END $$;

-- Accounts that exist before this change get their home now.
SELECT planerix_ensure_home(name) FROM account;

-- Implicit scheduling's transactional outbox: the organizer's (or attendee's) write and the
-- intent to deliver commit together; each delivery then runs in its own transaction under the
-- recipient's lock and marks its job done there, so it is applied exactly once. Jobs a process
-- left behind (it died after the commit) are claimed by any server's worker with a lease.
CREATE TABLE schedule_job (
    id                bigserial PRIMARY KEY,
    created           timestamptz NOT NULL DEFAULT now(),
    sender            text NOT NULL,           -- normalised cal-address of the originator
    recipient         text NOT NULL,           -- normalised cal-address
    recipient_account text NOT NULL REFERENCES account (name) ON DELETE CASCADE ON UPDATE CASCADE,
    method            text NOT NULL CHECK (method IN ('REQUEST', 'CANCEL', 'REPLY')),
    uid               text NOT NULL,
    itip              text NOT NULL,
    attempts          integer NOT NULL DEFAULT 0,
    next_run          timestamptz NOT NULL DEFAULT now(),
    lease_owner       text,
    lease_until       timestamptz,
    done              timestamptz,
    last_status       text                     -- iTIP request-status of the last attempt
);
CREATE INDEX schedule_job_due_idx ON schedule_job (next_run) WHERE done IS NULL;
CREATE INDEX schedule_job_recipient_idx ON schedule_job (recipient_account);
-- Finished jobs are kept a while for diagnosis, then pruned by the worker.
CREATE INDEX schedule_job_done_idx ON schedule_job (done) WHERE done IS NOT NULL;

-- Schedule-Tag (RFC 6638 §3.2.10) of scheduling objects: changes with the owner's client
-- changes of the meeting, not with server-side merges of answers. NULL for other items.
ALTER TABLE item ADD COLUMN schedule_tag text;
