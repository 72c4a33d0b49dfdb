"""What an RSVP link answers, and answering it. Synchronous (run with ``conn.run_sync``).

An answer becomes the attendee's iTIP REPLY to the organizer, checked and queued by
``storage_plugin.outside_answers`` (the path REPLY mails polled from a mailbox take too).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from icalendar import Calendar

from scheduling import imip, itip, rsvp_token
from storage_plugin import email_outbox, outside_answers
from storage_plugin.outside_answers import Unanswerable

__all__ = ["Invited", "Unanswerable", "load", "answer"]


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
    calendar, answer = outside_answers.invitation(conn, invitation.organizer_account, invitation.uid,
                                                  invitation.attendee)
    return Invited(invitation, calendar, answer)


def answer(conn: sa.Connection, invited: Invited, partstat: str, now: datetime) -> None:
    """Queue the attendee's REPLY to the organizer (delivered by the CalDAV server's scheduling)."""
    reply = itip.answer_from(invited.calendar, invited.invitation.attendee, partstat, now)
    if reply is None:
        raise Unanswerable("you are no longer invited to this event")
    outside_answers.queue_reply(conn, invited.invitation.organizer_account, invited.invitation.attendee, reply)
