-- Calendars and task lists an organisation owns (okr_extension/team_calendars). They live in the
-- home of the organisation's team account (no password: nobody signs in as it), named after the
-- organisation, and reach its members, or one squad of them, through an organisation or squad
-- share (calendar_share); so they appear in every member's home as any shared calendar does.
CREATE TABLE team_account (
    organisation_id uuid PRIMARY KEY REFERENCES organisation ON DELETE CASCADE,
    account         text NOT NULL UNIQUE REFERENCES account (name) ON DELETE CASCADE ON UPDATE CASCADE
);
