"""What an RSVP link answers, and answering it. Synchronous (run with ``conn.run_sync``).

An answer becomes an iTIP REPLY from the attendee, queued as a ``schedule_job`` to the organizer's
account: the CalDAV server's scheduling delivers it exactly as an internal attendee's reply
(``storage_plugin.scheduling``: PARTSTAT and SCHEDULE-STATUS on the organizer's copy under their
lock, the Schedule-Tag unchanged, a copy in their inbox, the other attendees refreshed).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from icalendar import Calendar

from scheduling import imip, itip, rsvp_token
from storage_plugin import directory, email_outbox, scheduling


class Unanswerable(Exception):
    """The link is valid but there is nothing to answer any more (deleted, cancelled, uninvited)."""


@dataclass(frozen=True)
class Invited:
    invitation: rsvp_token.Invitation
    calendar: Calendar
    answer: str            # the attendee's PARTSTAT on the organizer's copy now

    @property
    def facts(self) -> dict[str, str]:
        return imip.describe(self.calendar)


def load(conn: sa.Connection, token: str, now: datetime) -> Invited:
    """The invitation a token names, as the organizer's copy has it now (InvalidToken,
    ExpiredToken or Unanswerable otherwise)."""
    invitation = rsvp_token.verify(email_outbox.server_secret(conn, rsvp_token.PURPOSE), token, now)
    account = invitation.organizer_account
    found = conn.execute(scheduling._BY_UID_IN_HOME, {
        "home": account, "uid": invitation.uid, "default": directory.default_calendar_path(conn, account) or ""}
    ).first()
    calendar = itip.parse(found.text) if found is not None else None
    if calendar is None or not itip.is_scheduling_object(calendar):
        raise Unanswerable("the organizer has deleted this event")
    series = itip.master(calendar)
    if series is not None and str(series.get("STATUS", "")).upper() == "CANCELLED":
        raise Unanswerable("this event has been cancelled")
    mine = [a for c in itip.scheduled(calendar) if (a := itip.find_attendee(c, [invitation.attendee])) is not None]
    if not mine:
        raise Unanswerable("you are no longer invited to this event")
    return Invited(invitation, calendar, itip.partstat(mine[0]))


def answer(conn: sa.Connection, invited: Invited, partstat: str, now: datetime) -> None:
    """Queue the attendee's REPLY to the organizer (delivered by the CalDAV server's scheduling)."""
    reply = itip.answer_from(invited.calendar, invited.invitation.attendee, partstat, now)
    if reply is None:
        raise Unanswerable("you are no longer invited to this event")
    conn.execute(scheduling._INSERT_JOB, {
        "sender": invited.invitation.attendee, "recipient": reply.recipient,
        "account": invited.invitation.organizer_account, "method": "REPLY", "uid": reply.uid,
        "itip": reply.text, "grace": 0})
