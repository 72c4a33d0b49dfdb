-- Delegation (issue #11): a user makes another user their read or write proxy (CalendarServer's
-- calendar-proxy-read / calendar-proxy-write groups). A read proxy reads every calendar and task
-- list of the delegator, a write proxy also writes them; neither reaches the scheduling inbox or
-- outbox nor address books (storage_plugin.sharing.access decides, for CalDAV and the API).
CREATE TABLE calendar_delegation (
    delegator text NOT NULL REFERENCES account (name) ON DELETE CASCADE ON UPDATE CASCADE,
    delegate  text NOT NULL REFERENCES account (name) ON DELETE CASCADE ON UPDATE CASCADE,
    access    text NOT NULL CHECK (access IN ('read', 'write')),
    created   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (delegator, delegate),
    CHECK (delegator <> delegate)
);
-- "Whose proxy am I?" on every request of a delegate (rights, calendar-proxy-*-for).
CREATE INDEX calendar_delegation_delegate_idx ON calendar_delegation (delegate, delegator);
