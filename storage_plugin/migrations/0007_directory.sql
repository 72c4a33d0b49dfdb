-- Who a calendar user is, for scheduling (RFC 6638) and principal search: a display name, a
-- calendar-user type, and the mailto: addresses that identify them in ORGANIZER and ATTENDEE.
ALTER TABLE account ADD COLUMN display_name text;
ALTER TABLE account ADD COLUMN cutype text NOT NULL DEFAULT 'INDIVIDUAL'
      CHECK (cutype IN ('INDIVIDUAL', 'ROOM', 'RESOURCE', 'GROUP'));

-- calendar-user-address-set: an address belongs to one account. Stored normalised
-- ('mailto:' + the address in lower case), so matching is case-insensitive by construction.
CREATE TABLE account_address (
    address   text PRIMARY KEY CHECK (address = lower(address) AND left(address, 7) = 'mailto:'),
    account   text NOT NULL REFERENCES account (name) ON DELETE CASCADE ON UPDATE CASCADE,
    preferred boolean NOT NULL DEFAULT false
);
CREATE INDEX account_address_account_idx ON account_address (account);
-- At most one preferred address (the account's email) per account.
CREATE UNIQUE INDEX account_address_preferred_idx ON account_address (account) WHERE preferred;
