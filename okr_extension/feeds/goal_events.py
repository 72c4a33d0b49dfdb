"""The events of a goals feed, generated as iCalendar text (the feed builder takes stored-like
rows: uid, component, text)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


RRULE_OF_PERIOD = {"daily": {"FREQ": "DAILY"}, "weekly": {"FREQ": "WEEKLY"}, "monthly": {"FREQ": "MONTHLY"},
                   "quarterly": {"FREQ": "MONTHLY", "INTERVAL": 3}, "yearly": {"FREQ": "YEARLY"}}
TITLE = {"objective": "Objective due: {}", "key_result": "Key result due: {}", "kpi": "KPI review: {}"}
PATH = {"objective": "objectives", "key_result": "key-results", "kpi": "kpis"}


@dataclass(frozen=True)
class GoalEvent:
    uid: str
    component: str
    text: str


def event_of(row, origin: str) -> GoalEvent:
    """One all-day VEVENT for a goal date; a KPI review repeats every period of the KPI."""
    import icalendar  # on first use: only API links and goals feeds need it (~5 MiB)

    uid = f"planerix-{row.kind}-{row.id}@planerix"
    event = icalendar.Event()
    event.add("UID", uid)
    event.add("DTSTAMP", icalendar.vDatetime.from_ical("20000101T000000Z"))  # stable text: stable ETag
    event.add("DTSTART", row.day)
    event.add("DTEND", row.day + timedelta(days=1))
    event.add("SUMMARY", TITLE[row.kind].format(row.title))
    event.add("TRANSP", "TRANSPARENT")
    event.add("URL", f"{origin}/api/{PATH[row.kind]}/{row.id}")
    if row.period:
        event.add("RRULE", RRULE_OF_PERIOD[row.period])
    calendar = icalendar.Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", "-//Planerix//goals//EN")
    calendar.add_component(event)
    return GoalEvent(uid, "VEVENT", calendar.to_ical().decode("utf-8"))
