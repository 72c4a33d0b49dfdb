"""Rooms and resources that book themselves: what delivering an invitation to one does.

When a REQUEST or CANCEL reaches a resource (``storage_plugin.scheduling._apply``, in the
delivery's transaction under the resource's lock) its occurrences are written to
``resource_booking``. The database decides what is free: accepted, exclusive occurrences of a
resource never overlap (an exclusion constraint), so an INSERT ... ON CONFLICT DO NOTHING books
exactly the occurrences that are free, even with deliveries racing in several processes. The
resource's copy then carries its answer per occurrence and a REPLY goes back to the organizer.

Policies (``calendar_resource.policy``): accept-if-free (the default), auto-accept (accepts
everything; its bookings may overlap), manual (occurrences wait as pending until a manager
answers through ``decide``; an accepted request is still declined where it is not free).
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Optional

import sqlalchemy as sa
from icalendar import Calendar

from scheduling import itip
from scheduling import resources as logic
from scheduling.addresses import address_key

if TYPE_CHECKING:
    from storage_plugin.storage import Storage

POLICIES = ("auto-accept", "accept-if-free", "manual")
MANAGER_DECLINED = "Declined by the resource's manager"

_RESOURCE = sa.text("""
    SELECT r.policy, a.cutype FROM calendar_resource r JOIN account a ON a.name = r.account
    WHERE r.account = :account""")
_CLEAR = sa.text("DELETE FROM resource_booking WHERE account = :account AND uid = :uid")
# Rows that violate the exclusion constraint (an overlap with an accepted booking, committed or
# being committed by another transaction) are skipped: what comes back is what was booked.
_INSERT = sa.text("""
    INSERT INTO resource_booking (account, uid, instance, span, status, exclusive, summary, organizer, reason)
    SELECT :account, :uid, t.i, tstzrange(t.s, t.e), :status, :exclusive, t.summary, :organizer, t.reason
    FROM unnest(CAST(:instances AS text[]), CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]),
                CAST(:summaries AS text[]), CAST(:reasons AS text[])) AS t(i, s, e, summary, reason)
    ON CONFLICT DO NOTHING RETURNING instance""")
# For each refused occurrence, the first accepted booking it overlaps (only its time is told).
_CONFLICTS = sa.text("""
    SELECT t.i AS instance, lower(b.span) AS start, upper(b.span) AS end
    FROM unnest(CAST(:instances AS text[]), CAST(:starts AS timestamptz[]), CAST(:ends AS timestamptz[]))
         AS t(i, s, e)
    CROSS JOIN LATERAL (
        SELECT span FROM resource_booking b
        WHERE b.account = :account AND b.status = 'accepted' AND b.exclusive AND b.span && tstzrange(t.s, t.e)
        ORDER BY lower(b.span) LIMIT 1) b""")
BOOKINGS = sa.text("""
    SELECT uid, instance, lower(span) AS start, upper(span) AS end, status, summary, organizer, reason
    FROM resource_booking
    WHERE account = :account AND span && tstzrange(:start, :end)
    ORDER BY lower(span), uid, instance LIMIT :limit""")


def _insert(conn, account: str, uid: str, organizer: str, found: list[logic.Occurrence], status: str,
            exclusive: bool = True, reasons: Optional[dict[str, str]] = None) -> set[str]:
    reasons = reasons or {}
    return set(conn.execute(_INSERT, {
        "account": account, "uid": uid, "status": status, "exclusive": exclusive, "organizer": organizer,
        "instances": [o.key for o in found], "starts": [o.start for o in found], "ends": [o.end for o in found],
        "summaries": [o.summary for o in found], "reasons": [reasons.get(o.key) for o in found]}).scalars())


def book(conn, account: str, kind: str, calendar: Calendar, own: set[str], now: datetime,
         mode: str) -> tuple[Calendar, dict[str, str]]:
    """Book the occurrences of ``calendar`` for the resource (replacing what this event booked
    before) and return its answered copy with the reason of each declined occurrence.
    ``mode``: accept-if-free, auto-accept, pending (manual, undecided) or decline."""
    uid = itip.uid_of(calendar)
    organizer = itip.organizer(calendar)
    organizer = address_key(organizer) if organizer is not None else ""
    conn.execute(_CLEAR, {"account": account, "uid": uid})
    try:
        found = logic.occurrences(calendar, own, now)
    except logic.UnreadableEvent as e:
        return logic.answered(calendar, own, {"": logic.DECLINED}), {"": str(e)}
    if not found:
        return calendar, {}
    reasons: dict[str, str] = {}
    if mode == "pending":
        _insert(conn, account, uid, organizer, found, "pending")
        return logic.answered(calendar, own, {o.key: logic.NEEDS_ACTION for o in found}), {}
    if mode == "decline":
        accepted: set[str] = set()
    else:
        accepted = _insert(conn, account, uid, organizer, found, "accepted", exclusive=mode != "auto-accept")
    refused = [o for o in found if o.key not in accepted]
    if refused and mode != "decline":
        for row in conn.execute(_CONFLICTS, {"account": account, "instances": [o.key for o in refused],
                                             "starts": [o.start for o in refused],
                                             "ends": [o.end for o in refused]}):
            reasons[row.instance] = logic.conflict_reason(row.start, row.end, kind)
    for o in refused:
        reasons.setdefault(o.key, MANAGER_DECLINED if mode == "decline" else
                           f"The {kind.lower()} is not free at this time")
    _insert(conn, account, uid, organizer, refused, "declined", reasons=reasons)
    answers = {o.key: logic.ACCEPTED if o.key in accepted else logic.DECLINED for o in found}
    return logic.answered(calendar, own, answers), reasons


def _mode(policy: str, copy: Calendar, own: set[str]) -> str:
    if policy != "manual":
        return policy
    series = next(iter(itip.scheduled(copy)), None)
    answer = itip.partstat(itip.find_attendee(series, own)) if series is not None else logic.NEEDS_ACTION
    # An answer a manager gave survives the organizer's updates that keep the time (apply_request).
    return {logic.ACCEPTED: "accept-if-free", logic.DECLINED: "decline"}.get(answer, "pending")


def answer(conn, account: str, method: str, updated: Optional[Calendar], own: set[str],
           now: datetime) -> tuple[Optional[Calendar], Optional[itip.Message], bool]:
    """A delivered REQUEST or CANCEL as a resource takes it: (its copy to store, its REPLY,
    True). Anyone who is not a resource gets (``updated`` unchanged, no REPLY, False)."""
    resource = conn.execute(_RESOURCE, {"account": account}).first()
    if resource is None:
        return updated, None, False
    if updated is None:
        return None, None, True
    series = itip.master(updated)
    if series is not None and str(series.get("STATUS", "")).upper() == "CANCELLED":
        conn.execute(_CLEAR, {"account": account, "uid": itip.uid_of(updated)})
        return updated, None, True
    # Cancelled or removed occurrences are not booked again; a CANCEL is never answered.
    answered, reasons = book(conn, account, resource.cutype, updated, own, now,
                             _mode(resource.policy, updated, own))
    if method == "CANCEL":
        return answered, None, True
    return answered, logic.with_reasons(itip.attendee_reply(updated, answered, own, now), reasons), True


def decide(storage: "Storage", account: str, uid: str, accept: bool, now: datetime) -> bool:
    """A manager's answer to a request for a resource: accept (where free) or decline; the
    REPLY goes to the organizer. False if the resource has no such event."""
    from storage_plugin import scheduling  # scheduling calls this module on delivery

    with storage.acquire_lock("w", account, path=f"/{account}/"):
        with storage.connection() as conn:
            resource = conn.execute(_RESOURCE, {"account": account}).first()
            found = scheduling.copy_in_home(conn, account, uid)
            if resource is None or found is None:
                return False
            copy = itip.parse(found.text)
            own = scheduling.own_addresses(conn, account)
            answered, reasons = book(conn, account, resource.cutype, copy, own, now,
                                     "accept-if-free" if accept else "decline")
            reply = logic.with_reasons(itip.attendee_reply(copy, answered, own, now), reasons)
            scheduling.store_copy(storage, conn, found.path, found.href, uid, answered)
            queued = scheduling.queue_reply(storage, conn, account, reply)
    scheduling.deliver_all(storage, queued)
    return True


def bookings(conn, account: str, start: datetime, end: datetime, limit: int = 2000) -> list:
    return list(conn.execute(BOOKINGS, {"account": account, "start": start, "end": end, "limit": limit}))


_OF_EVENT = sa.text("""
    SELECT uid, instance, lower(span) AS start, upper(span) AS end, status, summary, organizer, reason
    FROM resource_booking WHERE account = :account AND uid = :uid ORDER BY lower(span), instance""")


def bookings_of_event(conn, account: str, uid: str) -> list:
    return list(conn.execute(_OF_EVENT, {"account": account, "uid": uid}))
