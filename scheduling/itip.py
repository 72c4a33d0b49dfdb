"""Implicit scheduling's iTIP logic (RFC 5546 / RFC 6638 §3): which messages a write by the
organizer or an attendee sends, and how a message changes a recipient's copy.

Everything works on ``icalendar.Calendar`` objects and returns new ones; callers decide where
texts are stored and messages delivered. Addresses are compared by ``address_key``.

Rules worth knowing:
- SCHEDULE-AGENT other than SERVER on an ATTENDEE (or on the ORGANIZER) means the client
  schedules for that party itself: the server sends nothing for it (Evolution stamps CLIENT).
- SCHEDULE-FORCE-SEND is a request to the server, never stored; SCHEDULE-STATUS records what
  the server did (1.2 delivered locally, 3.7 not a local calendar user).
- Goal links (X-PLANERIX-*) and alarms are the owner's: never sent, and an attendee's own
  survive an organizer's update.
- A change of timing (DTSTART, DTEND, DURATION, DUE, RRULE, RDATE, EXDATE) resets the attendees'
  PARTSTAT to NEEDS-ACTION (RFC 6638 §3.2.8); other changes keep the answers.
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable, Optional

from icalendar import Calendar, vCalAddress

from scheduling.addresses import address_key

SCHEDULED_COMPONENTS = ("VEVENT", "VTODO")
PRIVATE_PREFIX = "X-PLANERIX-"
TIMING = ("DTSTART", "DTEND", "DURATION", "DUE", "RRULE", "RDATE", "EXDATE")
# Parameters that record answers or delivery, not the meeting: ignored when comparing versions.
ANSWER_PARAMS = ("PARTSTAT", "RSVP", "SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND")
# Properties that change on every save without changing the meeting.
VOLATILE = ("DTSTAMP", "LAST-MODIFIED", "SEQUENCE", "CREATED")
DELIVERED, NOT_LOCAL = "1.2", "3.7"
PRODID = "-//Planerix//Scheduling//EN"


@dataclass(frozen=True)
class Message:
    """One iTIP message for one recipient."""
    recipient: str   # address_key of the recipient
    method: str      # REQUEST, CANCEL or REPLY
    uid: str
    calendar: Calendar

    @property
    def text(self) -> str:
        return self.calendar.to_ical().decode("utf-8")


# -- reading -------------------------------------------------------------------
def parse(text: str) -> Calendar:
    return Calendar.from_ical(text)


def scheduled(calendar: Optional[Calendar]) -> list:
    """The VEVENT/VTODO components (master and overrides) of a calendar object."""
    if calendar is None:
        return []
    return [c for c in calendar.subcomponents if c.name in SCHEDULED_COMPONENTS]


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def attendees(component) -> list:
    return _as_list(component.get("ATTENDEE"))


def organizer(calendar: Optional[Calendar]) -> Optional[vCalAddress]:
    for component in scheduled(calendar):
        if component.get("ORGANIZER") is not None:
            return component.get("ORGANIZER")
    return None


def uid_of(calendar: Calendar) -> str:
    return str(scheduled(calendar)[0].get("UID"))


def is_scheduling_object(calendar: Optional[Calendar]) -> bool:
    """RFC 6638 §3.1: an ORGANIZER and at least one ATTENDEE."""
    return organizer(calendar) is not None and any(attendees(c) for c in scheduled(calendar))


def server_schedules(prop) -> bool:
    return str(prop.params.get("SCHEDULE-AGENT", "SERVER")).upper() == "SERVER"


def recurrence_key(component) -> Optional[str]:
    """None for the master; else the RECURRENCE-ID as one comparable text (UTC when it has a zone)."""
    value = component.get("RECURRENCE-ID")
    return None if value is None else moment_key(value.dt)


def moment_key(moment) -> str:
    """A date or date-time as recurrence_key writes it (an instance's start names the instance)."""
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    if isinstance(moment, datetime):
        return moment.strftime("%Y%m%dT%H%M%S")
    return moment.strftime("%Y%m%d")


def by_instance(calendar: Optional[Calendar]) -> dict:
    return {recurrence_key(c): c for c in scheduled(calendar)}


def master(calendar: Optional[Calendar]):
    return by_instance(calendar).get(None)


def find_attendee(component, keys: Iterable[str]):
    keys = set(keys)
    return next((a for a in attendees(component) if address_key(a) in keys), None)


def partstat(prop) -> str:
    return str(prop.params.get("PARTSTAT", "NEEDS-ACTION")).upper() if prop is not None else "NEEDS-ACTION"


def instances_per_attendee(calendar: Optional[Calendar], skip: set[str]) -> dict[str, set]:
    """address_key -> the instances (recurrence keys) the server schedules for that attendee."""
    found: dict[str, set] = {}
    for component in scheduled(calendar):
        for attendee in attendees(component):
            key = address_key(attendee)
            if key in skip or not server_schedules(attendee):
                continue
            found.setdefault(key, set()).add(recurrence_key(component))
    return found


# -- comparing versions ----------------------------------------------------------
def _property_lines(component, names: Optional[tuple] = None, skip: tuple = ()) -> list[str]:
    lines = []
    for name, value in component.property_items(recursive=False):
        if name in ("BEGIN", "END") or name in skip or name.startswith(PRIVATE_PREFIX):
            continue
        if names is not None and name not in names:
            continue
        params = getattr(value, "params", {})
        kept = sorted((k, str(v)) for k, v in params.items() if k not in ANSWER_PARAMS)
        shown = value.to_ical() if hasattr(value, "to_ical") else str(value).encode()
        lines.append(f"{name};{kept}:{shown.decode('utf-8', 'replace') if isinstance(shown, bytes) else shown}")
    return sorted(lines)


def _digest(parts: list) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def timing_signature(calendar: Optional[Calendar]) -> str:
    return _digest([(recurrence_key(c), _property_lines(c, TIMING)) for c in scheduled(calendar)])


def content_signature(calendar: Optional[Calendar]) -> str:
    """What attendees are told about: everything but answers, alarms, goal links and save stamps."""
    return _digest(sorted(((recurrence_key(c) or ""), _property_lines(c, skip=VOLATILE))
                          for c in scheduled(calendar)))


def schedule_signature(calendar: Optional[Calendar]) -> str:
    """Changes with what the owner's client wrote about the meeting, not with server-side merges of
    answers (PARTSTAT, SCHEDULE-STATUS): the basis of the Schedule-Tag (RFC 6638 §3.2.10)."""
    return content_signature(calendar)


# -- building messages -------------------------------------------------------------
def _copy(component):
    return copy.deepcopy(component)


def _outgoing(component):
    """A copy fit to send: no goal links, no alarms, no delivery parameters."""
    sent = _copy(component)
    for name in [n for n in sent if n.startswith(PRIVATE_PREFIX)]:
        del sent[name]
    sent.subcomponents = [c for c in sent.subcomponents if c.name != "VALARM"]
    for prop in attendees(sent) + _as_list(sent.get("ORGANIZER")):
        for param in ("SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND"):
            prop.params.pop(param, None)
    return sent


def _message_calendar(method: str, source: Calendar, components: list) -> Calendar:
    message = Calendar()
    message.add("PRODID", PRODID)
    message.add("VERSION", "2.0")
    message.add("METHOD", method)
    for timezone_ in (c for c in source.subcomponents if c.name == "VTIMEZONE"):
        message.add_component(_copy(timezone_))
    for component in components:
        message.add_component(component)
    return message


def _sequence(component) -> int:
    try:
        return int(component.get("SEQUENCE", 0))
    except (TypeError, ValueError):
        return 0


def _set(component, name: str, value) -> None:
    if name in component:
        del component[name]
    component.add(name, value)


def request_for(calendar: Calendar, recipient: str) -> Calendar:
    """The REQUEST an attendee gets: the instances they take part in; when they are in the
    series, the overridden instances they are not in become EXDATEs of their copy."""
    components = by_instance(calendar)
    in_master = None in components and find_attendee(components[None], [recipient]) is not None
    sent = []
    for key, component in components.items():
        takes_part = find_attendee(component, [recipient]) is not None
        if key is None and in_master:
            sent.append(_outgoing(component))
        elif key is not None and takes_part:
            sent.append(_outgoing(component))
    if in_master:
        series = sent[[recurrence_key(c) for c in sent].index(None)]
        for key, component in components.items():
            if key is not None and find_attendee(component, [recipient]) is None:
                series.add("EXDATE", component.get("RECURRENCE-ID").dt)
    for component in sent:  # so that Apple shows an inbox item (as Sabre does)
        for attendee in attendees(component):
            attendee.params.setdefault("PARTSTAT", "NEEDS-ACTION")
    return _message_calendar("REQUEST", calendar, sent)


def cancel_for(calendar: Calendar, recipient: str, whole: bool = True) -> Calendar:
    """The CANCEL an attendee gets for the instances of ``calendar`` they were in."""
    sent = []
    for component in scheduled(calendar):
        if find_attendee(component, [recipient]) is None:
            continue
        cancelled = _outgoing(component)
        _set(cancelled, "STATUS", "CANCELLED")
        _set(cancelled, "SEQUENCE", _sequence(component) + 1)
        sent.append(cancelled)
        if whole and recurrence_key(component) is None:
            sent = [cancelled]
            break
    return _message_calendar("CANCEL", calendar, sent)


@dataclass
class OrganizerOutcome:
    calendar: Optional[Calendar]   # the organizer's copy to store (rewritten), None on delete
    messages: list[Message]        # for local recipients
    external: list[Message] = ()   # for everyone else (sent by email when configured: scheduling.imip)


def organizer_changes(old: Optional[Calendar], new: Optional[Calendar], own: set[str],
                      is_local: Callable[[str], bool],
                      external_status: Callable[[str], str] = lambda address: NOT_LOCAL) -> OrganizerOutcome:
    """An organizer's PUT (``new``) or DELETE (``new`` None) of a scheduling object: the
    messages for the attendees and the copy to store. ``external_status`` is the SCHEDULE-STATUS
    of an attendee who is not local (3.7, or 1.0 when an email is queued for them)."""
    current = new if new is not None else old
    organizer_prop = organizer(current)
    if organizer_prop is not None and not server_schedules(organizer_prop):
        return OrganizerOutcome(new, [])
    before = instances_per_attendee(old, own)
    after = instances_per_attendee(new, own) if new is not None else {}
    uid = uid_of(current)
    messages: list[Message] = []
    if new is None:
        for recipient in before:
            messages.append(Message(recipient, "CANCEL", uid, cancel_for(old, recipient)))
        return OrganizerOutcome(None, [m for m in messages if is_local(m.recipient)],
                                [m for m in messages if not is_local(m.recipient)])
    new = copy.deepcopy(new)
    if old is not None and timing_signature(old) != timing_signature(new):
        for component in scheduled(new):
            for attendee in attendees(component):
                if address_key(attendee) not in own and server_schedules(attendee):
                    attendee.params["PARTSTAT"] = "NEEDS-ACTION"
                    attendee.params["RSVP"] = "TRUE"
    changed = old is None or content_signature(old) != content_signature(new)
    forced = {address_key(a) for c in scheduled(new) for a in attendees(c) if "SCHEDULE-FORCE-SEND" in a.params}
    series = master(new)
    cancelled_all = series is not None and str(series.get("STATUS", "")).upper() == "CANCELLED"
    for recipient in after:
        if cancelled_all:
            messages.append(Message(recipient, "CANCEL", uid, cancel_for(new, recipient)))
        elif changed or recipient not in before or recipient in forced:
            messages.append(Message(recipient, "REQUEST", uid, request_for(new, recipient)))
    for recipient in before.keys() - after.keys():
        messages.append(Message(recipient, "CANCEL", uid, cancel_for(old, recipient)))
    sent_to = {m.recipient for m in messages}
    for component in scheduled(new):
        for attendee in attendees(component):
            attendee.params.pop("SCHEDULE-FORCE-SEND", None)
            key = address_key(attendee)
            if key in sent_to:
                attendee.params["SCHEDULE-STATUS"] = DELIVERED if is_local(key) else external_status(key)
    return OrganizerOutcome(new, [m for m in messages if is_local(m.recipient)],
                            [m for m in messages if not is_local(m.recipient)])


def attendee_reply(old: Optional[Calendar], new: Optional[Calendar], own: set[str],
                   stamp: Optional[datetime] = None) -> Optional[Message]:
    """An attendee's PUT or DELETE (``new`` None): the REPLY to the organizer when their answer
    changed (a DELETE declines, unless the event is cancelled or already declined)."""
    current = new if new is not None else old
    organizer_prop = organizer(current)
    if organizer_prop is None or not server_schedules(organizer_prop):
        return None
    replied = []
    if new is None:
        series = master(old)
        if series is not None and str(series.get("STATUS", "")).upper() == "CANCELLED":
            return None
        for component in scheduled(old):
            me = find_attendee(component, own)
            if me is not None and partstat(me) != "DECLINED":
                replied.append(_reply_component(component, me, "DECLINED", stamp))
    else:
        before = by_instance(old)
        for key, component in by_instance(new).items():
            me = find_attendee(component, own)
            if me is None:
                continue
            previous = before.get(key, before.get(None))
            was = partstat(find_attendee(previous, own)) if previous is not None else "NEEDS-ACTION"
            if partstat(me) != was:
                replied.append(_reply_component(component, me, partstat(me), stamp))
    if not replied:
        return None
    return Message(address_key(organizer_prop), "REPLY", uid_of(current),
                   _message_calendar("REPLY", current, replied))


def answer_from(calendar: Calendar, attendee: str, answer: str, stamp: datetime) -> Optional[Message]:
    """The REPLY by which ``attendee`` gives ``answer`` to every instance they are invited to in
    the organizer's ``calendar`` (an answer given outside a calendar client: the RSVP pages)."""
    replied = [_reply_component(c, me, answer, stamp) for c in scheduled(calendar)
               if (me := find_attendee(c, [attendee])) is not None]
    organizer_prop = organizer(calendar)
    if not replied or organizer_prop is None:
        return None
    return Message(address_key(organizer_prop), "REPLY", uid_of(calendar),
                   _message_calendar("REPLY", calendar, replied))


def reply_from_outside(calendar: Calendar, attendee: str, answers: Calendar,
                       stamp: datetime) -> tuple[Optional[Message], list[str]]:
    """The REPLY by which ``attendee`` gives the answers of ``answers`` (a REPLY read from a
    mail, per instance) as the organizer's ``calendar`` has those instances: what is stored
    and applied is the organizer's own event, never the text someone else's client wrote.
    An answer to an older version of an instance (its SEQUENCE lower than the organizer's
    override's, else the master's: RFC 5546 3.2.3) is left out, and said why in the list
    returned with the REPLY (None when nothing is left to answer)."""
    instances, series = by_instance(calendar), master(calendar)
    replied, outdated = [], []
    for answered in scheduled(answers):
        key = recurrence_key(answered)
        component = instances.get(key)
        if component is None and key is not None and series is not None:
            component = override_from_master(series, answered.get("RECURRENCE-ID"))
        me = find_attendee(component, [attendee]) if component is not None else None
        if me is None:
            continue
        if _sequence(answered) < _sequence(component):
            outdated.append(f"{'the series' if key is None else 'the occurrence ' + key} answered at SEQUENCE "
                            f"{_sequence(answered)}, changed since (SEQUENCE {_sequence(component)})")
            continue
        replied.append(_reply_component(component, me, partstat(attendees(answered)[0]), stamp))
    organizer_prop = organizer(calendar)
    if not replied or organizer_prop is None:
        return None, outdated
    return Message(address_key(organizer_prop), "REPLY", uid_of(calendar),
                   _message_calendar("REPLY", calendar, replied)), outdated


def _reply_component(component, me, answer: str, stamp: Optional[datetime]):
    reply = type(component)()
    for name in ("UID", "RECURRENCE-ID", "DTSTART", "SEQUENCE", "SUMMARY", "ORGANIZER"):
        if component.get(name) is not None:
            reply.add(name, copy.deepcopy(component.get(name)))
    reply.add("DTSTAMP", stamp or datetime.now(timezone.utc))
    answered = copy.deepcopy(me)
    for param in ("SCHEDULE-STATUS", "SCHEDULE-FORCE-SEND", "RSVP"):
        answered.params.pop(param, None)
    answered.params["PARTSTAT"] = answer
    reply.add("ATTENDEE", answered)
    return reply


# -- applying messages to a recipient's copy ------------------------------------------
def _without_method(message: Calendar) -> Calendar:
    stored = copy.deepcopy(message)
    if "METHOD" in stored:
        del stored["METHOD"]
    return stored


def apply_request(existing: Optional[Calendar], request: Calendar, own: set[str]) -> Calendar:
    """The attendee's copy after a REQUEST: the organizer's version, with the attendee's own
    goal links and alarms kept, and their answer kept unless the timing changed."""
    result = _without_method(request)
    if existing is None:
        return result
    before = by_instance(existing)
    for component in scheduled(result):
        previous = before.get(recurrence_key(component))
        if previous is None:
            continue
        for name in [n for n in component if n.startswith(PRIVATE_PREFIX)]:
            del component[name]
        for name, value in previous.property_items(recursive=False):
            if name.startswith(PRIVATE_PREFIX):
                component.add(name, copy.deepcopy(value))
        component.subcomponents = [c for c in component.subcomponents if c.name != "VALARM"] + [
            copy.deepcopy(c) for c in previous.subcomponents if c.name == "VALARM"]
        same_timing = _property_lines(previous, TIMING) == _property_lines(component, TIMING)
        mine, was = find_attendee(component, own), find_attendee(previous, own)
        if same_timing and mine is not None and was is not None:
            mine.params["PARTSTAT"] = partstat(was)
            if partstat(was) != "NEEDS-ACTION":
                mine.params.pop("RSVP", None)
    return result


def apply_cancel(existing: Optional[Calendar], cancel: Calendar) -> Optional[Calendar]:
    """The attendee's copy after a CANCEL: the whole object or the named instances cancelled
    (an instance without an override becomes an EXDATE); None when there is no copy."""
    if existing is None:
        return None
    result = copy.deepcopy(existing)
    components = by_instance(result)
    for cancelled in scheduled(cancel):
        key = recurrence_key(cancelled)
        targets = list(components.values()) if key is None else [components[key]] if key in components else []
        if key is not None and not targets and None in components:
            components[None].add("EXDATE", cancelled.get("RECURRENCE-ID").dt)
        for component in targets:
            _set(component, "STATUS", "CANCELLED")
            _set(component, "SEQUENCE", _sequence(cancelled))
    return result


def override_from_master(series, recurrence_id):
    """A new override of the instance ``recurrence_id`` of ``series`` (for a REPLY to one instance)."""
    instance = _copy(series)
    for name in ("RRULE", "RDATE", "EXDATE"):
        if name in instance:
            del instance[name]
    start = recurrence_id.dt
    if "DTEND" in series and "DTSTART" in series:
        _set(instance, "DTEND", start + (series["DTEND"].dt - series["DTSTART"].dt))
    _set(instance, "DTSTART", start)
    instance.add("RECURRENCE-ID", start)
    return instance


def apply_reply(existing: Calendar, reply: Calendar) -> tuple[Calendar, Optional[str]]:
    """The organizer's copy after an attendee's REPLY, and the replying attendee's address
    (None when nothing changed: an unknown attendee, a party crasher, is ignored)."""
    result = copy.deepcopy(existing)
    components = by_instance(result)
    replier = None
    for answered in scheduled(reply):
        answer = next(iter(attendees(answered)), None)
        if answer is None:
            continue
        key = recurrence_key(answered)
        target = components.get(key)
        if target is None and key is not None and None in components:
            if find_attendee(components[None], [address_key(answer)]) is None:
                continue
            target = override_from_master(components[None], answered.get("RECURRENCE-ID"))
            result.add_component(target)
            components[key] = target
        if target is None:
            continue
        known = find_attendee(target, [address_key(answer)])
        if known is None:
            continue
        known.params["PARTSTAT"] = partstat(answer)
        known.params["SCHEDULE-STATUS"] = "2.0"
        known.params.pop("RSVP", None)
        replier = address_key(answer)
    return result, replier


def reply_answers(reply: Calendar) -> list[dict]:
    """What a REPLY answers, per instance: ``{"recurrence_id": None | key, "partstat": ...}``."""
    return [{"recurrence_id": recurrence_key(answered), "partstat": partstat(answer)}
            for answered in scheduled(reply) for answer in attendees(answered)[:1]]


def refresh_targets(calendar: Calendar, own: set[str], replier: str) -> list[str]:
    """Who learns of an answer (RFC 6638 §3.2.2.4 refresh): the other attendees the server schedules."""
    return [a for a in instances_per_attendee(calendar, own) if a != replier]

