"""CALDAV:expand of recurring tasks (RFC 4791 §9.6.5) and time-ranges on their instances (§9.9).

Driven as clients drive it: the ``caldav`` library's ``search(todo=True, expand=True)`` (what
caldav-server-tester and Python scripts send) and a raw calendar-query.
"""
from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import caldav
import icalendar

UTC = dt.timezone.utc
C = "urn:ietf:params:xml:ns:caldav"

WEEKLY_TASK = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Planerix tests//EN
BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:STANDARD
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VTODO
UID:weekly-review
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Berlin:20260105T090000
DUE;TZID=Europe/Berlin:20260105T100000
RRULE:FREQ=WEEKLY;COUNT=6
EXDATE;TZID=Europe/Berlin:20260119T090000
SUMMARY:Weekly review
STATUS:NEEDS-ACTION
END:VTODO
BEGIN:VTODO
UID:weekly-review
DTSTAMP:20260101T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20260126T090000
DTSTART;TZID=Europe/Berlin:20260127T140000
DUE;TZID=Europe/Berlin:20260127T150000
SUMMARY:Weekly review (moved to Tuesday)
STATUS:NEEDS-ACTION
END:VTODO
END:VCALENDAR
"""

PLAIN_TASK = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Planerix tests//EN
BEGIN:VTODO
UID:one-off
DTSTAMP:20260101T000000Z
DTSTART:20260113T120000Z
DUE:20260113T130000Z
SUMMARY:One-off
END:VTODO
END:VCALENDAR
"""


def _task_list(user):
    user.mkcalendar("tasks", components=("VTODO",))
    assert user.put("tasks/weekly.ics", WEEKLY_TASK).status_code == 201
    assert user.put("tasks/one-off.ics", PLAIN_TASK).status_code == 201
    client = caldav.DAVClient(url=user.url(), username=user.name, password=user.password)
    return client.calendar(url=user.url("tasks/"))


def _starts(found) -> list[tuple]:
    return sorted((str(t.icalendar_component["SUMMARY"]), t.icalendar_component["DTSTART"].dt,
                   t.icalendar_component["DUE"].dt) for t in found)


def test_caldav_library_gets_the_instances_of_a_recurring_task(user):
    tasks = _task_list(user)
    found = tasks.search(start=dt.datetime(2026, 1, 10, tzinfo=UTC), end=dt.datetime(2026, 1, 31, tzinfo=UTC),
                         todo=True, include_completed=True, expand=True, server_expand=True, post_filter=False)
    at = lambda d, h: dt.datetime(2026, 1, d, h, tzinfo=UTC)  # noqa: E731
    # 12 Jan as an instance of the series (Berlin 09:00 = 08:00 UTC), 19 Jan excluded by EXDATE,
    # 26 Jan replaced by its override moved to Tuesday 27th; the one-off task as it is.
    assert _starts(found) == [("One-off", at(13, 12), at(13, 13)),
                              ("Weekly review", at(12, 8), at(12, 9)),
                              ("Weekly review (moved to Tuesday)", at(27, 13), at(27, 14))]


def test_expanded_instances_carry_recurrence_ids_and_no_rules(user):
    _task_list(user)
    body = f"""<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="{C}">
  <D:prop><D:getetag/><C:calendar-data><C:expand start="20260101T000000Z" end="20260301T000000Z"/></C:calendar-data></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO">
    <C:time-range start="20260101T000000Z" end="20260301T000000Z"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""
    reply = user.report("tasks/", body)
    assert reply.status_code == 207, reply.text
    texts = {r.findtext("{DAV:}href").rsplit("/", 1)[1]: r.findtext(f".//{{{C}}}calendar-data")
             for r in ET.fromstring(reply.content).findall("{DAV:}response")}
    series = icalendar.Calendar.from_ical(texts["weekly.ics"])
    todos = [c for c in series.walk("VTODO")]
    # Six weekly instances minus the EXDATE: five, one of them the override.
    assert sorted(t["RECURRENCE-ID"].dt for t in todos) == [
        dt.datetime(2026, 1, d, 8, tzinfo=UTC) for d in (5, 12, 26)] + [
        dt.datetime(2026, 2, d, 8, tzinfo=UTC) for d in (2, 9)]
    assert not any(k in t for t in todos for k in ("RRULE", "EXDATE", "RDATE"))
    assert series.walk("VTIMEZONE") == []
    assert "RRULE" not in texts["one-off.ics"] and "RECURRENCE-ID" not in texts["one-off.ics"]


def test_a_series_with_no_instance_in_the_range_is_left_out(user):
    tasks = _task_list(user)
    # After the series' last instance (9 Feb) nothing of it overlaps; the time-range filter and
    # the expansion agree.
    found = tasks.search(start=dt.datetime(2026, 2, 10, tzinfo=UTC), end=dt.datetime(2026, 3, 1, tzinfo=UTC),
                         todo=True, include_completed=True, expand=True, server_expand=True, post_filter=False)
    assert found == []
    # A time-range between two instances finds none either (the task lasts an hour).
    found = tasks.search(start=dt.datetime(2026, 1, 5, 10, tzinfo=UTC), end=dt.datetime(2026, 1, 12, 7, tzinfo=UTC),
                         todo=True, include_completed=True, expand=True, server_expand=True, post_filter=False)
    assert found == []


def test_too_many_instances_are_refused_as_for_events(database_url, user):
    from conftest import start_caldav_server

    user.mkcalendar("tasks", components=("VTODO",))
    assert user.put("tasks/weekly.ics", WEEKLY_TASK).status_code == 201
    limited = start_caldav_server(database_url, {"reporting": {"max_expand_occurrence": "3"}})
    body = f"""<C:calendar-query xmlns:D="DAV:" xmlns:C="{C}">
  <D:prop><C:calendar-data><C:expand start="20260101T000000Z" end="20260301T000000Z"/></C:calendar-data></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"/></C:comp-filter></C:filter>
</C:calendar-query>"""
    try:
        reply = user.session.request("REPORT", f"http://127.0.0.1:{limited.port}/{user.name}/tasks/",
                                     data=body.encode(), headers={"Depth": "1"})
    finally:
        limited.stop()
    assert reply.status_code == 400
    assert "limit of 3" in reply.text
