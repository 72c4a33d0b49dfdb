"""Free-busy (RFC 6638 §5, RFC 5545 VFREEBUSY) and working hours (RFC 7953 VAVAILABILITY):
pure logic, no SQL and no HTTP.

- ``occurrence_fbtype``: the free-busy type of one event component, stored per occurrence in the
  occurrence index when an item is written (``storage_plugin.occurrences``).
- ``merge``/``combine``: periods of one account, merged by type and clipped to the asked window.
- ``unavailable_periods``: time a VAVAILABILITY marks busy (outside the AVAILABLE blocks).
- ``free_slots``: common free time of several accounts (the API's find-time).
- ``parse_request``/``render_reply``: the VFREEBUSY REQUEST a client POSTs to its outbox and
  the REPLY per recipient.

Times are POSIX seconds throughout; periods are half-open ``[start, end)``.
"""
from __future__ import annotations

import functools
import re
from bisect import bisect_left, bisect_right, insort
from itertools import chain
import time as _time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, Iterable, Optional, Sequence

# Free-busy types, as stored in ``item_occurrence.fbtype``.
BUSY, TENTATIVE, UNAVAILABLE, FREE = "B", "T", "U", "F"
FBTYPE_NAMES = {BUSY: "BUSY", TENTATIVE: "BUSY-TENTATIVE", UNAVAILABLE: "BUSY-UNAVAILABLE"}
_CODES = {name: code for code, name in FBTYPE_NAMES.items()}
# Where periods of different types overlap, the stronger one is reported.
_STRENGTH = {BUSY: 3, UNAVAILABLE: 2, TENTATIVE: 1}

# Bounds of one question: no request can make the server expand or answer without end.
MAX_WINDOW_SECONDS = 400 * 86400
MAX_RECIPIENTS = 100
MAX_AVAILABLE_OCCURRENCES = 20000


class FreeBusyError(ValueError):
    """A request or a VAVAILABILITY that cannot be answered or stored; the message says why."""


Period = tuple[int, int, str]  # (start, end, fbtype)


# -- what an event occurrence contributes ------------------------------------------------
def _text(component, name: str) -> str:
    line = component.contents.get(name, [None])[0]
    return "" if line is None else str(line.value).strip().upper()


def occurrence_fbtype(component, is_own_address: Callable[[str], bool]) -> str:
    """BUSY, TENTATIVE or FREE for the occurrences of one VEVENT (master or override), for the
    calendar's owner: TRANSP:TRANSPARENT and STATUS:CANCELLED are free; STATUS:TENTATIVE is
    tentative; where the owner is an ATTENDEE, their own PARTSTAT DECLINED is free and
    TENTATIVE tentative. Anything but a VEVENT (tasks, journals) is free.

    ``is_own_address`` tells whether an ATTENDEE value names the owner; it is called only for
    components with attendees (the caller may look the addresses up lazily)."""
    if getattr(component, "name", "").upper() != "VEVENT":
        return FREE
    if _text(component, "transp") == "TRANSPARENT":
        return FREE
    status = _text(component, "status")
    if status == "CANCELLED":
        return FREE
    fbtype = TENTATIVE if status == "TENTATIVE" else BUSY
    for attendee in component.contents.get("attendee", []):
        if not is_own_address(str(attendee.value)):
            continue
        partstat = (attendee.params.get("PARTSTAT") or ["NEEDS-ACTION"])[0].strip().upper()
        if partstat == "DECLINED":
            return FREE
        if partstat == "TENTATIVE":
            fbtype = TENTATIVE
    return fbtype


# -- periods --------------------------------------------------------------------------------
def merge(periods: Iterable[Period], start: int, end: int) -> list[Period]:
    """``periods`` clipped to ``[start, end)``, without overlaps: where types overlap the
    stronger wins (BUSY > BUSY-UNAVAILABLE > BUSY-TENTATIVE), and touching periods of one type
    become one. Sorted by start. One sort and one pass: each type's periods are united, then
    what the stronger types already cover is cut out of the weaker ones."""
    united = _united_by_type(sorted(periods), start, end)
    present = [t for t in _STRONGEST_FIRST if united[t]]
    shown: list[Period] = []
    stronger: list[tuple[int, int]] = []
    for n, t in enumerate(present):
        spans = united[t]
        shown += [(s, e, t) for s, e in (_minus(spans, stronger) if stronger else spans)]
        if n + 1 < len(present):  # a weaker type follows: it shows only where neither covers
            stronger = _united_by_type(sorted((s, e, t) for s, e in stronger + spans), start, end)[t] \
                if stronger else spans
    if len(present) > 1:
        shown.sort()
    return shown


_STRONGEST_FIRST = sorted(_STRENGTH, key=_STRENGTH.get, reverse=True)


def merge_changed(merged: list[Period], ordered: list[Period], removed: Sequence[Period],
                  added: Sequence[Period], start: int, end: int) -> tuple[list[Period], list[Period]]:
    """(``merge`` of the periods, the periods sorted) once ``removed`` are taken out of
    ``ordered`` (sorted periods whose ``merge`` over ``[start, end)`` is ``merged``) and ``added``
    put in: only where the change touched is merged again (an event edited in a calendar of a
    hundred). That place is the time of the removed and added periods, widened to the chains
    of touching merged periods it meets: any other period it holds lies wholly inside it, and
    no merged period outside it touches it, so the rest of ``merged`` stands as it is."""
    ordered = list(ordered)
    for period in removed:
        del ordered[bisect_left(ordered, period)]
    for period in added:
        insort(ordered, period)
    touched = _united_by_type(sorted((s, e, BUSY) for s, e, t in chain(removed, added) if t in _STRENGTH),
                              start, end)[BUSY]
    places: list[list[int]] = []  # [first, end, merged index from, merged index to]
    for first, last in touched:
        lo = bisect_left(merged, first, key=_end_of)  # the first merged period ending at or after it
        hi = bisect_right(merged, last, key=_start_of)  # past the last one starting at or before its end
        while lo > 0 and lo < hi and merged[lo - 1][1] == merged[lo][0]:
            lo -= 1
        while 0 < hi < len(merged) and lo < hi and merged[hi - 1][1] == merged[hi][0]:
            hi += 1
        if lo < hi:
            first, last = min(first, merged[lo][0]), max(last, merged[hi - 1][1])
        else:
            lo = hi = bisect_left(merged, first, key=_start_of)
        if places and (first <= places[-1][1] or lo < places[-1][3]):
            place = places[-1]
            place[1], place[3] = max(place[1], last), max(place[3], hi)
            place[2] = min(place[2], lo)
        else:
            places.append([first, last, lo, hi])
    result: list[Period] = []
    done = 0
    for first, last, lo, hi in places:
        result += merged[done:lo]
        inside = bisect_left(ordered, (first,)) if first > start else 0
        result += merge(ordered[inside:bisect_left(ordered, (last,))], start, end)
        done = hi
    result += merged[done:]
    return result, ordered


def _start_of(period: Period) -> int:
    return period[0]


def _end_of(period: Period) -> int:
    return period[1]


def _united_by_type(ordered: list[Period], start: int, end: int) -> dict[str, list[tuple[int, int]]]:
    """The periods (sorted) clipped to ``[start, end)`` and, per type, overlapping and touching
    ones made one; empty ones and unknown types left out."""
    united: dict[str, list[tuple[int, int]]] = {t: [] for t in _STRENGTH}
    open_spans: dict[str, list[int]] = {}
    for s, e, t in ordered:
        if s < start:
            s = start
        if e > end:
            e = end
        if s >= e or t not in united:
            continue
        current = open_spans.get(t)
        if current is not None and s <= current[1]:
            if e > current[1]:
                current[1] = e
            continue
        if current is not None:
            united[t].append((current[0], current[1]))
        open_spans[t] = [s, e]
    for t, (s, e) in open_spans.items():
        united[t].append((s, e))
    return united


def _minus(spans: list[tuple[int, int]], holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` without ``holes`` (both sorted and disjoint)."""
    left: list[tuple[int, int]] = []
    first = 0
    for s, e in spans:
        while first < len(holes) and holes[first][1] <= s:
            first += 1
        for hole_start, hole_end in holes[first:]:
            if hole_start >= e:
                break
            if hole_start > s:
                left.append((s, hole_start))
            s = max(s, hole_end)
            if s >= e:
                break
        if s < e:
            left.append((s, e))
    return left


def free_slots(busy: Iterable[Period], start: int, end: int, duration: int,
               step: int = 0) -> list[tuple[int, int]]:
    """The free stretches of ``[start, end)`` at least ``duration`` seconds long, given every
    participant's busy periods together (any type counts as busy). ``step`` > 0 aligns each
    stretch's start to a multiple of ``step`` seconds (e.g. 900: quarter hours)."""
    slots = []
    cursor = start
    for s, e, _ in merge(busy, start, end) + [(end, end, BUSY)]:
        free_from = cursor
        if step > 0 and free_from % step:
            free_from += step - free_from % step
        if s - free_from >= duration:
            slots.append((free_from, s))
        cursor = max(cursor, e)
    return slots


# -- working hours (RFC 7953) -----------------------------------------------------------------
def _posix(value) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # floating: read as UTC (Planerix has no per-user zone)
            value = value.replace(tzinfo=timezone.utc)
        return int(value.timestamp())
    if isinstance(value, date):
        return int(datetime.combine(value, time(), timezone.utc).timestamp())
    raise FreeBusyError(f"not a date or date-time: {value!r}")


def _decoded(component, name: str):
    prop = component.get(name)
    if prop is None:
        return None
    return component.decoded(name)


def _occurrences(component, window_start: int, window_end: int, budget: list[int]) -> Iterable[tuple[int, int]]:
    """(start, end) of an AVAILABLE (or VAVAILABILITY) component's occurrences overlapping the
    window; ``budget`` holds how many occurrences may still be visited."""
    from dateutil import rrule

    dtstart = _decoded(component, "DTSTART")
    if dtstart is None:
        raise FreeBusyError(f"{component.name} needs a DTSTART")
    if isinstance(dtstart, date) and not isinstance(dtstart, datetime):
        dtstart = datetime.combine(dtstart, time())
    dtend = _decoded(component, "DTEND")
    if dtend is not None:
        if isinstance(dtend, date) and not isinstance(dtend, datetime):
            dtend = datetime.combine(dtend, time())
        length = _posix(dtend) - _posix(dtstart)
    else:
        duration = _decoded(component, "DURATION")
        if duration is None:
            raise FreeBusyError(f"{component.name} needs a DTEND or a DURATION")
        length = int(duration.total_seconds())
    if length <= 0:
        return []
    rules = component.get("RRULE")
    if rules is None:
        starts = [dtstart]
    else:
        ruleset = rrule.rruleset()
        for rule in rules if isinstance(rules, list) else [rules]:
            text = rule.to_ical().decode()
            ruleset.rrule(rrule.rrulestr(text, dtstart=dtstart, ignoretz=False))
        for name, add in (("RDATE", ruleset.rdate), ("EXDATE", ruleset.exdate)):
            values = component.get(name)
            for prop in (values if isinstance(values, list) else [values] if values is not None else []):
                for dt in prop.dts:
                    value = dt.dt
                    if isinstance(value, datetime) or isinstance(value, date):
                        add(value if isinstance(value, datetime) else datetime.combine(value, time()))
        starts = ruleset
    found = []
    for occurrence in starts:
        budget[0] -= 1
        if budget[0] < 0:
            raise FreeBusyError("the availability repeats too often to be expanded over this window; "
                                f"at most {MAX_AVAILABLE_OCCURRENCES} AVAILABLE occurrences are allowed")
        s = _posix(occurrence)
        if s >= window_end:
            break
        if s + length > window_start:
            found.append((s, s + length))
    return found


def parse_availability(text: str):
    """The VAVAILABILITY components of an iCalendar text; FreeBusyError when it has none or
    cannot be read."""
    import icalendar

    try:
        calendar = icalendar.Calendar.from_ical(text)
    except Exception as e:
        raise FreeBusyError(f"not valid iCalendar: {e}") from None
    found = [c for c in calendar.walk() if c.name == "VAVAILABILITY"]
    if not found:
        raise FreeBusyError("the calendar holds no VAVAILABILITY component")
    return found


def check_availability(text: str) -> None:
    """Refuse a VAVAILABILITY that ``unavailable_periods`` could not expand (at store time)."""
    now = int(datetime.now(timezone.utc).timestamp())
    unavailable_periods(text, now, now + 31 * 86400)


def unavailable_periods(text: str, start: int, end: int) -> list[Period]:
    """Periods of ``[start, end)`` that the VAVAILABILITY in ``text`` marks busy: inside a
    VAVAILABILITY's own time range (unbounded when it has no DTSTART/DTEND) and outside all of
    its AVAILABLE blocks, with its BUSYTYPE (default BUSY-UNAVAILABLE). Where components overlap,
    the one of higher PRIORITY (1 highest, 9 lowest, 0 or none lowest of all) decides."""
    try:
        return _unavailable_periods(text, start, end)
    except FreeBusyError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as e:
        raise FreeBusyError(f"the availability cannot be expanded: {e}") from None


def _unavailable_periods(text: str, start: int, end: int) -> list[Period]:
    layers = []
    for component in parse_availability(text):
        priority = int(component.get("PRIORITY", 0) or 0)
        rank = 10 if priority == 0 else priority  # painted first = lowest priority
        busytype = _CODES.get(str(component.get("BUSYTYPE", "BUSY-UNAVAILABLE")).upper(), UNAVAILABLE)
        layers.append((rank, component, busytype))
    layers.sort(key=lambda layer: -layer[0])
    budget = [MAX_AVAILABLE_OCCURRENCES]
    # A painted timeline: list of (start, end, code) without overlaps; FREE where available.
    painted: list[Period] = []
    for _, component, busytype in layers:
        s = _posix(_decoded(component, "DTSTART")) if component.get("DTSTART") is not None else start
        if component.get("DTEND") is not None:
            e = _posix(_decoded(component, "DTEND"))
        elif component.get("DURATION") is not None and component.get("DTSTART") is not None:
            e = s + int(_decoded(component, "DURATION").total_seconds())
        else:
            e = end
        s, e = max(s, start), min(e, end)
        if s >= e:
            continue
        layer = [(s, e, busytype)]
        for available in component.subcomponents:
            if available.name != "AVAILABLE":
                continue
            for a_start, a_end in _occurrences(available, s, e, budget):
                layer = _paint(layer, max(a_start, s), min(a_end, e), FREE)
        for piece in layer:
            painted = _paint(painted, *piece)
    return [p for p in painted if p[2] != FREE]


def _paint(timeline: list[Period], start: int, end: int, code: str) -> list[Period]:
    """``timeline`` with ``[start, end)`` set to ``code`` (over whatever was there)."""
    if start >= end:
        return timeline
    result = []
    for s, e, t in timeline:
        if e <= start or s >= end:
            result.append((s, e, t))
            continue
        if s < start:
            result.append((s, start, t))
        if e > end:
            result.append((end, e, t))
    result.append((start, end, code))
    result.sort()
    return result


def weekly_availability(zone: str, blocks: list[tuple[list[str], str, str]]) -> str:
    """A VAVAILABILITY text for weekly working hours: ``blocks`` of (days such as ["MO", "TU"],
    "09:00", "17:00") in the IANA time zone ``zone``."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise FreeBusyError(f"unknown time zone {zone!r} (use an IANA name such as Europe/Berlin)") from None
    if "\r" in zone or "\n" in zone or ":" in zone or ";" in zone:
        raise FreeBusyError(f"unknown time zone {zone!r}")
    # A Monday long ago as the first occurrence: every weekday repeats from there.
    anchor = date(2024, 1, 1)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Planerix//availability//EN",
             "BEGIN:VAVAILABILITY", f"UID:{uuid.uuid4()}", f"DTSTAMP:{_stamp(datetime.now(timezone.utc))}"]
    weekdays = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
    for days, begin, finish in blocks:
        if not days or any(d not in weekdays for d in days):
            raise FreeBusyError(f"days must be among {', '.join(weekdays)}, not {days!r}")
        t_begin, t_end = _clock_time(begin), _clock_time(finish)
        if t_end <= t_begin:
            raise FreeBusyError(f"a working-hours block must end after it starts ({begin}-{finish})")
        first = anchor + timedelta(days=min(weekdays.index(d) for d in days))
        lines += ["BEGIN:AVAILABLE", f"UID:{uuid.uuid4()}",
                  f"DTSTAMP:{_stamp(datetime.now(timezone.utc))}",
                  f"DTSTART;TZID={zone}:{first:%Y%m%d}T{t_begin:%H%M%S}",
                  f"DTEND;TZID={zone}:{first:%Y%m%d}T{t_end:%H%M%S}",
                  f"RRULE:FREQ=WEEKLY;BYDAY={','.join(days)}", "END:AVAILABLE"]
    lines += ["END:VAVAILABILITY", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def _clock_time(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except (TypeError, ValueError):
        raise FreeBusyError(f"{text!r} is not a time of day (HH:MM)") from None


# -- the outbox POST ----------------------------------------------------------------------------
@dataclass(frozen=True)
class FreeBusyRequest:
    uid: str
    organizer: str
    attendees: list[str]
    start: int
    end: int
    mask_uid: Optional[str]


# An ATTENDEE line, unfolded: its name and parameters (quoted values may hold ":"), then its value.
_ATTENDEE_LINE = re.compile(r'ATTENDEE(?:;(?:[^":\r\n]|"[^"\r\n]*")*)?:(.*)', re.IGNORECASE)
_FOLD = re.compile(r"\r?\n[ \t]")


def _attendees_taken_out(text: str) -> tuple[str, list[str]]:
    """``text`` without its ATTENDEE lines, and their values. A request names up to a hundred
    recipients; read by a regular expression each, not as iCalendar properties (a tenth of the
    time), and the rest of the request is parsed as iCalendar as before."""
    if "attendee" not in text.lower():
        return text, []
    kept, attendees = [], []
    for line in _FOLD.sub("", text).splitlines():
        found = _ATTENDEE_LINE.fullmatch(line)
        if found is None:
            kept.append(line)
        else:
            attendees.append(found.group(1).strip())
    return "\r\n".join(kept) + "\r\n", attendees


def parse_request(text: str) -> FreeBusyRequest:
    """The VFREEBUSY of a ``METHOD:REQUEST`` as Apple, Thunderbird and Evolution POST it to the
    outbox; FreeBusyError with the reason otherwise."""
    import icalendar

    text, attendees = _attendees_taken_out(text)
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except Exception as e:
        raise FreeBusyError(f"the body is not valid iCalendar: {e}") from None
    if str(calendar.get("METHOD", "")).upper() != "REQUEST":
        raise FreeBusyError("only a METHOD:REQUEST calendar with a VFREEBUSY can be posted to the outbox "
                            "(invitations are sent by storing the event in a calendar)")
    components = [c for c in calendar.subcomponents if c.name != "VTIMEZONE"]
    if len(components) != 1 or components[0].name != "VFREEBUSY":
        raise FreeBusyError("the request must hold exactly one VFREEBUSY component")
    vfreebusy = components[0]
    organizer = str(vfreebusy.get("ORGANIZER", "")).strip()
    if not organizer:
        raise FreeBusyError("the VFREEBUSY has no ORGANIZER")
    if not attendees:
        raise FreeBusyError("the VFREEBUSY names no ATTENDEE to ask about")
    if len(attendees) > MAX_RECIPIENTS:
        raise FreeBusyError(f"at most {MAX_RECIPIENTS} attendees per request")
    try:
        start = _posix(vfreebusy.decoded("DTSTART"))
        end = _posix(vfreebusy.decoded("DTEND"))
    except KeyError:
        raise FreeBusyError("the VFREEBUSY needs DTSTART and DTEND") from None
    check_window(start, end)
    mask = vfreebusy.get("X-CALENDARSERVER-MASK-UID")
    for value in [organizer, *attendees, str(vfreebusy.get("UID", ""))]:
        if any(ord(c) < 32 for c in value):
            raise FreeBusyError("control characters are not allowed in ORGANIZER, ATTENDEE or UID")
    return FreeBusyRequest(uid=str(vfreebusy.get("UID", "")) or str(uuid.uuid4()), organizer=organizer,
                           attendees=list(dict.fromkeys(attendees)), start=start, end=end,
                           mask_uid=None if mask is None else str(mask))


def check_window(start: int, end: int) -> None:
    if end <= start:
        raise FreeBusyError("the end of the time range must come after its start")
    if end - start > MAX_WINDOW_SECONDS:
        raise FreeBusyError(f"ask about at most {MAX_WINDOW_SECONDS // 86400} days at once")


def _stamp(value) -> str:
    if isinstance(value, int):
        return _posix_stamp(value)
    return value.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


@functools.lru_cache(maxsize=8192)
def _posix_stamp(value: int) -> str:
    # Periods start and end on few distinct instants (quarter hours, the working hours' edges),
    # shared by the many recipients of one answer: each is formatted once.
    return _time.strftime("%Y%m%dT%H%M%SZ", _time.gmtime(value))


def _fold(line: str) -> str:
    """RFC 5545 §3.1: lines longer than 75 octets continue on the next line after a space."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return line
    parts, current = [], b""
    for char in line:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > (75 if not parts else 74):
            parts.append(current.decode("utf-8"))
            current = b""
        current += encoded
    parts.append(current.decode("utf-8"))
    return "\r\n ".join(parts)


def render_reply(request: FreeBusyRequest, attendee: str, periods: list[Period], now: int) -> str:
    """The ``METHOD:REPLY`` VFREEBUSY of one recipient: only times and types, nothing else of
    their events."""
    return (_reply_head(request.uid, now, request.start, request.end, request.organizer)
            + _fold(f"ATTENDEE:{attendee}") + "\r\n" + _busy_lines(tuple(periods))
            + "END:VFREEBUSY\r\nEND:VCALENDAR\r\n")


# What every recipient's reply to one request starts with: written once per request.
@functools.lru_cache(maxsize=64)
def _reply_head(uid: str, now: int, start: int, end: int, organizer: str) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Planerix//free-busy//EN", "METHOD:REPLY",
             "BEGIN:VFREEBUSY", f"UID:{uid}", f"DTSTAMP:{_stamp(now)}", f"DTSTART:{_stamp(start)}",
             f"DTEND:{_stamp(end)}", f"ORGANIZER:{organizer}"]
    return "".join(_fold(line) + "\r\n" for line in lines)


# The same account's periods are asked about again and again (a scheduling assistant re-asking as
# its user adds attendees, every attendee's view of a meeting): each list is written once. A few
# hundred lists of a few KB each.
@functools.lru_cache(maxsize=256)
def _busy_lines(periods: tuple[Period, ...]) -> str:
    lines = _LINES
    if len(lines) > _MAX_LINES:
        lines.clear()
    return "".join([lines.get(period) or _busy_line(period) for period in periods])


# After one event of each of twenty calendars moved, every list is new but nearly all of its
# periods are not: each period's line is written once too (a plain dict: looked up a hundred
# times per recipient, cheaper than a cached function's call).
_LINES: dict[Period, str] = {}
_MAX_LINES = 65536


def _busy_line(period: Period) -> str:
    start, end, code = period
    # A FREEBUSY line has at most 66 ASCII octets: never folded.
    line = _LINES[period] = f"FREEBUSY;FBTYPE={FBTYPE_NAMES[code]}:{_posix_stamp(start)}/{_posix_stamp(end)}\r\n"
    return line
