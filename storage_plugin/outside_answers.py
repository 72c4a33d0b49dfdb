"""Answers of attendees outside Planerix, however they arrive (an RSVP page, a REPLY mail):
checked against the organizer's copy, then queued as the attendee's iTIP REPLY to the
organizer's account. The CalDAV server's scheduling delivers it exactly as an internal
attendee's reply (``scheduling.deliver``: PARTSTAT and SCHEDULE-STATUS on the organizer's copy
under their lock, the Schedule-Tag unchanged, a copy in their inbox, the other attendees
refreshed). Synchronous, in the caller's transaction.
"""
from __future__ import annotations

from icalendar import Calendar

from scheduling import itip
from scheduling.addresses import address_key
from storage_plugin import scheduling


class Unanswerable(Exception):
    """There is nothing to answer (any more): deleted, cancelled, uninvited, or not this
    account's event."""


def invitation(conn, organizer_account: str, uid: str, attendee: str) -> tuple[Calendar, str]:
    """The organizer's copy of event ``uid`` and the PARTSTAT it has for ``attendee`` (a
    normalised mailto:), or Unanswerable saying why there is nothing to answer."""
    found = scheduling.copy_in_home(conn, organizer_account, uid)
    calendar = itip.parse(found.text) if found is not None else None
    if calendar is None or not itip.is_scheduling_object(calendar):
        raise Unanswerable("the organizer has deleted this event")
    organizer = itip.organizer(calendar)
    if address_key(organizer) not in scheduling.own_addresses(conn, organizer_account):
        raise Unanswerable("this account is not the event's organizer")
    series = itip.master(calendar)
    if series is not None and str(series.get("STATUS", "")).upper() == "CANCELLED":
        raise Unanswerable("this event has been cancelled")
    mine = [a for c in itip.scheduled(calendar) if (a := itip.find_attendee(c, [attendee])) is not None]
    if not mine:
        raise Unanswerable("you are no longer invited to this event")
    return calendar, itip.partstat(mine[0])


def queue_reply(conn, organizer_account: str, attendee: str, reply: itip.Message) -> "scheduling.JobKey":
    """Queue ``attendee``'s REPLY to the organizer, due at once; returns the job's key (whoever
    delivers it first applies it: the caller, or any server's scheduling worker)."""
    return tuple(conn.execute(scheduling._INSERT_JOB, {
        "sender": attendee, "recipient": reply.recipient, "account": organizer_account, "method": "REPLY",
        "uid": reply.uid, "itip": reply.text, "grace": 0}).one())
