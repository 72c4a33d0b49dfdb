-- iTIP REPLY mails polled from an IMAP mailbox (server/mail_replies/). One process polls a mailbox
-- at a time: it claims the mailbox's row (FOR UPDATE SKIP LOCKED, a lease) and sets when the next
-- poll is due, so the servers together poll once per interval. Each answer taken is recorded in
-- the transaction that queues it: the same REPLY seen again (delivered twice, or polled again
-- because marking it seen failed) changes nothing.
CREATE TABLE mailbox_poll (
    mailbox     text PRIMARY KEY,        -- user@host:port/folder
    next_poll   timestamptz NOT NULL,
    lease_owner text,
    lease_until timestamptz,
    last_poll   timestamptz,
    last_error  text
);

CREATE TABLE mail_reply (
    organizer_account text NOT NULL REFERENCES account (name) ON DELETE CASCADE ON UPDATE CASCADE,
    digest            text NOT NULL,     -- imip.InboundReply.digest: the attendee and their REPLY
    uid               text NOT NULL,
    attendee          text NOT NULL,     -- normalised mailto:
    mailbox           text NOT NULL,
    message_id        text,
    received          timestamptz NOT NULL,
    schedule_job      bigint,
    PRIMARY KEY (organizer_account, digest)
);
