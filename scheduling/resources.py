"""How a room or resource answers an invitation (its iTIP logic, CalendarServer's auto-accept):
which occurrences of an event it is invited to, and its copy of the event once it has decided
per occurrence (the conflicting occurrences of a series declined through overrides).

Pure functions on ``icalendar`` objects; ``storage_plugin.resources`` books the occurrences in
the database (where an exclusion constraint decides what is free) and sends the REPLY.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Iterable, Optional

from icalendar import Calendar

from scheduling import itip

ACCEPTED, DECLINED, NEEDS_ACTION = "ACCEPTED", "DECLINED", "NEEDS-ACTION"
# Occurrences further ahead are not booked one by one (CalendarServer's FutureFreeBusyDays);
# the series' answer covers them.
HORIZON = timedelta(days=366)
MAX_OCCURRENCES = 1000


@dataclass(frozen=True)
class Occurrence:
    key: str          # itip.recurrence_key of the instance; "" for a single event
    start: datetime   # aware (floating and all-day times are read as UTC)
    end: datetime
    summary: str


def _aware(value) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _length(component) -> timedelta:
    start = component.decoded("DTSTART")
    if component.get("DTEND") is not None:
        return _aware(component.decoded("DTEND")) - _aware(start)
    if component.get("DURATION") is not None:
        return component.decoded("DURATION")
    return timedelta(days=1) if not isinstance(start, datetime) else timedelta(0)


def _starts(series, until: datetime) -> Iterable:
    """The instance starts of a master component (its DTSTART alone without RRULE/RDATE)."""
    from dateutil import rrule

    start = series.decoded("DTSTART")
    if series.get("RRULE") is None and series.get("RDATE") is None:
        return [start]
    anchor = start if isinstance(start, datetime) else datetime.combine(start, time())
    rules = rrule.rruleset()
    for rule in itip._as_list(series.get("RRULE")):
        rules.rrule(rrule.rrulestr(_matching_until(rule, anchor).to_ical().decode(), dtstart=anchor,
                                   ignoretz=False))
    for name, add in (("RDATE", rules.rdate), ("EXDATE", rules.exdate)):
        for prop in itip._as_list(series.get(name)):
            for value in prop.dts:
                moment = value.dt
                add(moment if isinstance(moment, datetime) else datetime.combine(moment, time()))
    limit = until if anchor.tzinfo is not None else until.replace(tzinfo=None)
    found = []
    for moment in rules:
        if moment >= limit or len(found) >= MAX_OCCURRENCES:
            break
        found.append(moment if isinstance(start, datetime) else moment.date())
    return found


def _matching_until(rule, anchor: datetime):
    """The RRULE with its UNTIL in the form dateutil wants for ``anchor`` (UTC for a zoned start,
    floating for a floating one): clients mix them, RFC 5545 §3.3.10 or not."""
    until = next(iter(rule.get("UNTIL") or ()), None)
    if until is None:
        return rule
    if not isinstance(until, datetime):
        until = datetime.combine(until, time.max)
    if anchor.tzinfo is None:
        until = until.astimezone(timezone.utc).replace(tzinfo=None) if until.tzinfo else until
    elif until.tzinfo is None:
        until = until.replace(tzinfo=timezone.utc)
    fixed = copy.deepcopy(rule)
    fixed["UNTIL"] = [until]
    return fixed


class UnreadableEvent(ValueError):
    """An event whose occurrences cannot be worked out (the resource declines it, saying so)."""


def occurrences(calendar: Calendar, own: set[str], now: datetime) -> list[Occurrence]:
    """The occurrences the resource (addresses ``own``) is invited to and that are not cancelled,
    from the start of the series to ``now`` + HORIZON."""
    try:
        return _occurrences(calendar, own, now)
    except (ValueError, TypeError, OverflowError, KeyError) as e:
        raise UnreadableEvent(f"The resource could not work out this event's times: {e}") from None


def _occurrences(calendar: Calendar, own: set[str], now: datetime) -> list[Occurrence]:
    until = now + HORIZON
    instances = itip.by_instance(calendar)
    found: list[Occurrence] = []
    for key, component in instances.items():
        if itip.find_attendee(component, own) is None or component.get("DTSTART") is None:
            continue
        if str(component.get("STATUS", "")).upper() == "CANCELLED":
            continue
        length, summary = _length(component), str(component.get("SUMMARY", ""))
        if key is not None:
            start = _aware(component.decoded("DTSTART"))
            found.append(Occurrence(key, start, start + length, summary))
            continue
        recurring = component.get("RRULE") is not None or component.get("RDATE") is not None
        for moment in _starts(component, until):
            instance = itip.moment_key(moment) if recurring else ""
            if instance in instances:  # overridden: the override is the occurrence
                continue
            found.append(Occurrence(instance, _aware(moment), _aware(moment) + length, summary))
    return [o for o in found if o.end > o.start]


def answered(calendar: Calendar, own: set[str], answers: dict[str, str]) -> Calendar:
    """The resource's copy with its PARTSTAT per occurrence (``answers``: occurrence key ->
    ACCEPTED, DECLINED or NEEDS-ACTION). A series takes the answer most occurrences have;
    the other occurrences become overrides carrying their own."""
    result = copy.deepcopy(calendar)
    instances = itip.by_instance(result)
    series = instances.get(None)
    if series is not None and answers:
        values = list(answers.values())
        overall = max(set(values), key=values.count) if "" not in answers else answers[""]
        _set_partstat(series, own, overall)
        for key, answer in answers.items():
            if key == "" or answer == overall:
                continue
            override = instances.get(key)
            if override is None:
                override = itip.override_from_master(series, _recurrence_id(series, key))
                result.add_component(override)
                instances[key] = override
            _set_partstat(override, own, answer)
    for key, component in instances.items():
        if key is not None and key in answers:
            _set_partstat(component, own, answers[key])
    return result


def _recurrence_id(series, key: str):
    """The RECURRENCE-ID property of the instance ``key`` of ``series`` (for a new override)."""
    from icalendar.prop import vDDDTypes

    for moment in _starts(series, datetime.max.replace(tzinfo=timezone.utc) - timedelta(days=2)):
        if itip.moment_key(moment) == key:
            return vDDDTypes(moment)
    raise ValueError(f"no instance {key} in the series")


def _set_partstat(component, own: set[str], answer: str) -> None:
    me = itip.find_attendee(component, own)
    if me is None:
        return
    me.params["PARTSTAT"] = answer
    if answer != NEEDS_ACTION:
        me.params.pop("RSVP", None)


def with_reasons(reply: Optional[itip.Message], reasons: dict[str, str]) -> Optional[itip.Message]:
    """The REPLY with a COMMENT on each declined occurrence saying why (Apple and Thunderbird
    show an answer's COMMENT to the organizer)."""
    if reply is None:
        return None
    for component in itip.scheduled(reply.calendar):
        reason = reasons.get(itip.recurrence_key(component) or "")
        if reason and any(itip.partstat(a) == DECLINED for a in itip.attendees(component)):
            component.add("COMMENT", reason)
    return reply


def conflict_reason(start: datetime, end: datetime, kind: str) -> str:
    """Why an occurrence was declined; says when the resource is taken, not by whom or what."""
    return (f"The {kind.lower()} is already booked from {start.astimezone(timezone.utc):%Y-%m-%d %H:%M} "
            f"to {end.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC")
