"""CALDAV:expand of recurring tasks (RFC 4791 §9.6.5) in a calendar-query answer.

Radicale's REPORT expands VEVENTs only; a recurring VTODO comes back as its master with the
RRULE. Here the answer Radicale wrote is rewritten: each VTODO series in a ``calendar-data``
becomes its instances that overlap the expand range (and the query's VTODO time-range, when
there is one), by the VTODO rules of RFC 4791 §9.9, each instance as Radicale writes an
expanded event: RECURRENCE-ID, DTSTART and DUE in UTC, no RRULE/RDATE/EXDATE, no VTIMEZONE,
an override (a component with that RECURRENCE-ID) in place of the generated instance. A
member none of whose instances overlap is left out, as Radicale leaves out such an event.
Only answers carrying a recurring VTODO are parsed again; everything else passes untouched.
"""
from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from typing import Optional

import vobject
from radicale import xmlutils
from radicale.app.report import _convert_timezone, _convert_to_utc, _strip_component, _strip_single_event
from radicale.item import filter as radicale_filter
from vobject.base import ContentLine

_EXPAND = xmlutils.make_clark("C:expand")
_CALENDAR_DATA = xmlutils.make_clark("C:calendar-data")
_COMP_FILTER = xmlutils.make_clark("C:comp-filter")
_TIME_RANGE = xmlutils.make_clark("C:time-range")
_RESPONSE = xmlutils.make_clark("D:response")
_UTC_FORMAT = "%Y%m%dT%H%M%SZ"
_DATE_FORMAT = "%Y%m%d"
Window = tuple[dt.datetime, dt.datetime]


class TooManyInstances(ValueError):
    """More instances than ``[reporting] max_expand_occurrence`` allows (Radicale answers 400)."""


def requested(xml_request: Optional[ET.Element]) -> Optional[Window]:
    """The expand range of a calendar-query, or None without ``C:expand`` (or an incomplete one,
    which Radicale itself refuses)."""
    if xml_request is None:
        return None
    expand = xml_request.find(".//" + _EXPAND)
    if expand is None or expand.get("start") is None or expand.get("end") is None:
        return None
    try:
        return tuple(dt.datetime.strptime(expand.get(b), _UTC_FORMAT).replace(tzinfo=dt.timezone.utc)
                     for b in ("start", "end"))
    except ValueError:
        return None


def _todo_time_range(xml_request: ET.Element) -> Optional[ET.Element]:
    """The query's time-range on VTODO (VCALENDAR > VTODO > time-range), if any."""
    for outer in xml_request.iter(_COMP_FILTER):
        if outer.get("name", "").upper() != "VCALENDAR":
            continue
        for inner in outer.findall(_COMP_FILTER):
            time_range = inner.find(_TIME_RANGE)
            if inner.get("name", "").upper() == "VTODO" and time_range is not None:
                return time_range
    return None


def rewrite(answer: bytes, encoding: str, xml_request: ET.Element, window: Window,
            max_occurrence: int) -> Optional[ET.Element]:
    """The multistatus with recurring tasks expanded, or None when nothing in it changes.

    Radicale leaves the query's time-range out of its filter when it expands (the instances are
    matched instead), so the tasks it did not expand are matched here with its own VTODO rules."""
    time_range_element = _todo_time_range(xml_request)
    if b"VTODO" not in answer or (b"RRULE" not in answer and b"RDATE" not in answer
                                  and time_range_element is None):
        return None
    multistatus = ET.fromstring(answer.decode(encoding))
    time_range = None if time_range_element is None else radicale_filter.parse_time_range(time_range_element)
    changed = False
    for response in list(multistatus.findall(_RESPONSE)):
        for data in response.iter(_CALENDAR_DATA):
            if not data.text or "BEGIN:VTODO" not in data.text.upper():
                continue
            expanded = expand_text(data.text, window, time_range, max_occurrence)
            if expanded is None and time_range_element is not None and not radicale_filter.time_range_match(
                    vobject.readOne(data.text), time_range_element, "VTODO", None):
                expanded = ""
            if expanded is None:
                continue
            changed = True
            if expanded == "":
                multistatus.remove(response)
                break
            data.text = expanded
    return multistatus if changed else None


def expand_text(text: str, window: Window, time_range: Optional[Window],
                max_occurrence: int) -> Optional[str]:
    """The VCALENDAR with its recurring VTODO replaced by the overlapping instances ("" when
    none overlaps), or None when it has no recurring VTODO with a DTSTART to expand."""
    calendar = vobject.readOne(text)
    todos = list(getattr(calendar, "vtodo_list", []))
    masters = [t for t in todos if not hasattr(t, "recurrence_id")]
    if len(masters) != 1 or not hasattr(masters[0], "dtstart") or not (
            hasattr(masters[0], "rrule") or hasattr(masters[0], "rdate")):
        return None
    master = masters[0]
    all_day = type(master.dtstart.value) is dt.date
    floating = all_day or master.dtstart.value.tzinfo is None
    fmt = _DATE_FORMAT if all_day else _UTC_FORMAT
    length = _length(master)
    overrides = {_instant(o.recurrence_id.value): o for o in todos if o is not master}
    # dateutil gives naive datetimes for dates and floating times (read as UTC).
    rules = master.getrruleset(addRDate=True)
    first = _naive(window[0]) if floating else window[0]
    last = _naive(window[1]) if floating else window[1]
    starts = rules.between(first - (length or dt.timedelta(0)), last, inc=True,
                           count=max_occurrence or None)
    if max_occurrence and len(starts) >= max_occurrence:
        raise TooManyInstances(f"REPORT occurrences limit of {max_occurrence} hit")
    _strip_component(calendar)
    instances = []
    for start in starts:
        start_utc = _instant(start)
        component = overrides.pop(start_utc, None)
        if component is None:
            at, span = start_utc, length
            component = master.duplicate(master)
            _strip(component, fmt, all_day)
            value = start.strftime(fmt) if all_day else start_utc.strftime(fmt)
            suffix = ";VALUE=DATE" if all_day else ""
            component.recurrence_id = ContentLine(name="RECURRENCE-ID" + suffix, value=value, params={})
            component.dtstart = ContentLine(name="DTSTART" + suffix, value=value, params={})
            if hasattr(component, "due"):
                end = (start + length) if all_day else (start_utc + length)
                component.due = ContentLine(name="DUE" + suffix, value=end.strftime(fmt), params={})
        else:
            at, span = _when(component, start_utc)
            _strip(component, fmt, all_day)
        if _wanted(at, span, window, time_range):
            instances.append(component)
    for recurrence, component in overrides.items():  # moved into the window from elsewhere
        at, span = _when(component, recurrence)
        if _wanted(at, span, window, time_range):
            _strip(component, fmt, all_day)
            instances.append(component)
    if not instances:
        return ""
    calendar.vtodo_list = instances
    return calendar.serialize()


def _strip(todo, fmt: str, all_day: bool) -> None:
    """As Radicale writes an expanded event: times in UTC, no recurrence rules; DUE too."""
    _strip_single_event(todo, fmt, all_day)
    _convert_timezone(todo, "due", "DUE", all_day)
    _convert_to_utc(todo, "due", fmt)


def _length(todo) -> Optional[dt.timedelta]:
    if hasattr(todo, "due") and hasattr(todo, "dtstart"):
        return _instant(todo.due.value) - _instant(todo.dtstart.value)
    if hasattr(todo, "duration"):
        return todo.duration.value
    return None


def _when(todo, recurrence: dt.datetime) -> tuple[dt.datetime, Optional[dt.timedelta]]:
    """Where an override lies: its own DTSTART (its RECURRENCE-ID without one) and length."""
    return (_instant(todo.dtstart.value) if hasattr(todo, "dtstart") else recurrence), _length(todo)


def _wanted(start: dt.datetime, length: Optional[dt.timedelta], window: Window,
            time_range: Optional[Window]) -> bool:
    return _overlaps(start, length, window) and (time_range is None or _overlaps(start, length, time_range))


def _overlaps(start: dt.datetime, length: Optional[dt.timedelta], window: Window) -> bool:
    """RFC 4791 §9.9 for a VTODO with DTSTART: with a DUE or DURATION, and without."""
    ws, we = window
    if length is None:
        return ws <= start < we
    end = start + length
    return (ws < end or ws <= start) and (we > start or we >= end)


def _naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _instant(value) -> dt.datetime:
    """A DTSTART/DUE/RECURRENCE-ID value as an aware UTC datetime (dates and floating times as UTC)."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)
