-- Invitations by email (iMIP, RFC 6047) to attendees who are not Planerix users: the organizer's
-- write and the intent to send commit together (as schedule_job does for local recipients); any
-- server's email worker then claims a due row with FOR UPDATE SKIP LOCKED and a lease, sends it,
-- and marks it sent. last_status is the SCHEDULE-STATUS the organizer's copy shows for it.
CREATE TABLE email_job (
    id                bigserial PRIMARY KEY,
    created           timestamptz NOT NULL DEFAULT now(),
    organizer_account text NOT NULL REFERENCES account (name) ON DELETE CASCADE ON UPDATE CASCADE,
    organizer         text NOT NULL,           -- normalised mailto: of the organizer
    recipient         text NOT NULL,           -- normalised mailto: of the external attendee
    method            text NOT NULL CHECK (method IN ('REQUEST', 'CANCEL')),
    uid               text NOT NULL,
    itip              text NOT NULL,
    attempts          integer NOT NULL DEFAULT 0,
    next_run          timestamptz NOT NULL,
    lease_owner       text,
    lease_until       timestamptz,
    sent              timestamptz,
    done              timestamptz,             -- sent, or given up
    last_status       text NOT NULL DEFAULT '1.0;Pending',
    last_error        text
);
CREATE INDEX email_job_due_idx ON email_job (next_run) WHERE done IS NULL;
CREATE INDEX email_job_organizer_idx ON email_job (organizer_account, uid);

-- Secrets the server keeps for itself (the RSVP links' signing key), made on first use.
CREATE TABLE server_secret (
    purpose text PRIMARY KEY,
    secret  text NOT NULL
);
