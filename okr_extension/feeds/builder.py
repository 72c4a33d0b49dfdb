"""Assemble a published feed from stored calendar objects (pure and synchronous).

Each stored text is cut into its components (``ical.components_of``): event,
task and journal components are copied as stored (or reduced to their times
for free/busy), and one VTIMEZONE is emitted per TZID the copied lines use,
taken from the stored objects (every object carries the VTIMEZONEs it uses) or,
for an IANA name no object defines, generated.
"""
from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from typing import Iterable, Optional

from okr_extension.feeds import ical

# Part of every feed's cache key and ETag: bump when the output for the same data changes.
BUILDER_VERSION = "1"
PRODID = "-//Planerix//Planerix feeds//EN"
# What a free/busy feed keeps of an event: when it happens, and whether it blocks time.
FREE_BUSY_PROPERTIES = frozenset({
    "UID", "DTSTAMP", "DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE",
    "RECURRENCE-ID", "SEQUENCE", "TRANSP", "STATUS"})


@dataclass(frozen=True)
class FeedMeta:
    calname: str
    description: Optional[str]
    refresh_minutes: int
    free_busy: bool
    # Free/busy UIDs are replaced by hashes salted with this (stable per feed).
    uid_salt: str


@dataclass(frozen=True)
class BuiltFeed:
    body: bytes
    gzipped: bytes
    items: int


def duration(minutes: int) -> str:
    return f"PT{minutes // 60}H" if minutes % 60 == 0 else f"PT{minutes}M"


def _header(meta: FeedMeta) -> list[str]:
    interval = duration(meta.refresh_minutes)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN",
             f"NAME:{ical.escape_text(meta.calname)}", f"X-WR-CALNAME:{ical.escape_text(meta.calname)}"]
    if meta.description:
        lines += [f"DESCRIPTION:{ical.escape_text(meta.description)}",
                  f"X-WR-CALDESC:{ical.escape_text(meta.description)}"]
    lines += [f"REFRESH-INTERVAL;VALUE=DURATION:{interval}", f"X-PUBLISHED-TTL:{interval}"]
    return lines


def _free_busy(component: ical.Component, uid_salt: str) -> ical.Component:
    """The component with only its times (nested alarms dropped) and an opaque UID."""
    out = [component.lines[0]]
    for line in component.properties():
        if line.name not in FREE_BUSY_PROPERTIES:
            continue
        if line.name == "UID":
            uid = line.logical.split(":", 1)[1]
            digest = hashlib.sha256(f"{uid_salt}\0{uid}".encode()).hexdigest()[:32]
            out.append(ical.Line(f"UID:{digest}@planerix"))
        else:
            out.append(line)
    out.append(component.lines[-1])
    return ical.Component(component.name, out)


def build(rows: Iterable, meta: FeedMeta) -> BuiltFeed:
    """``rows`` have ``component`` and ``text`` (a stored calendar object), ordered stably."""
    timezones: dict[str, str] = {}
    used_tzids: set[str] = set()
    bodies: list[str] = []
    count = 0
    for row in rows:
        count += 1
        for component in ical.components_of(row.text):
            if component.name == "VTIMEZONE":
                tzid = component.value_of("TZID")
                if tzid and tzid not in timezones:
                    timezones[tzid] = component.raw()
            elif component.name == row.component:
                if meta.free_busy:
                    component = _free_busy(component, meta.uid_salt)
                bodies.append(component.raw())
                used_tzids |= component.tzids()
    parts = ["".join(ical.fold(line) for line in _header(meta))]
    for tzid in sorted(used_tzids):
        definition = timezones.get(tzid) or ical.vtimezone_for(tzid)
        if definition:
            parts.append(definition)
    parts.extend(bodies)
    parts.append("END:VCALENDAR" + ical.CRLF)
    body = "".join(parts).encode("utf-8")
    return BuiltFeed(body, gzip.compress(body, compresslevel=6, mtime=0), count)
