"""Time-range and component filters of calendar-query, answered from the occurrence index.

Two kinds of checks, all over real HTTP against a fresh calendar per test:

* hand-written expectations for cases whose answer is clear from RFC 4791 §9.9
  (single, COUNT, UNTIL, unbounded, overrides, EXDATE, all-day, TZID, floating,
  VTODO table, component filters, VTODO-only lists);
* an oracle: a varied corpus queried with many windows (some far beyond the
  expansion horizon) must give exactly what Radicale's own filter
  (``radicale.app.report.test_filter``) gives on each item; a stock Radicale
  server (multifilesystem) holding the same items is queried too, and answers
  the same except where its prefilter shortcut skips that filter
  (``stock_server_answer`` models this).
"""
from __future__ import annotations

import itertools
import socket
import threading
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import caldav
import pytest
import radicale
import requests
import vobject
from radicale import config as radicale_config
from radicale import item as radicale_item
from radicale import server as radicale_server
from radicale.item import filter as radicale_filter
from radicale.app.report import test_filter as radicale_test_filter
from sqlalchemy import text

from davutil import BERLIN, NEW_YORK
from server.caldav_server import _HTTPServer

NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav"}
DAV = "{DAV:}"
CAL = "{urn:ietf:params:xml:ns:caldav}"


TIMEZONES = {"Europe/Berlin": BERLIN, "America/New_York": NEW_YORK}


# -- building items and queries ------------------------------------------------
def uid(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def calendar(*components: str) -> str:
    """A VCALENDAR around ``components`` (each a block of lines), with the
    VTIMEZONEs its TZIDs need, CRLF line endings."""
    body = "\n".join(components)
    zones = [zone for tzid, zone in TIMEZONES.items() if f"TZID={tzid}" in body]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Planerix tests//time-range//EN",
             *zones, body, "END:VCALENDAR"]
    return "\r\n".join("\n".join(lines).splitlines()) + "\r\n"


def component(kind: str, item_uid: str, *lines: str) -> str:
    return "\n".join([f"BEGIN:{kind}", f"UID:{item_uid}", "DTSTAMP:20261101T000000Z",
                      f"SUMMARY:{item_uid}", *lines, f"END:{kind}"])


def event(item_uid: str, *lines: str) -> str:
    return calendar(component("VEVENT", item_uid, *lines))


def todo(item_uid: str, *lines: str) -> str:
    return calendar(component("VTODO", item_uid, *lines))


def stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def time_range_xml(start: datetime | None, end: datetime | None) -> str:
    attrs = (f' start="{stamp(start)}"' if start else "") + (f' end="{stamp(end)}"' if end else "")
    return f"<C:time-range{attrs}/>"


def filter_xml(start: datetime | None = None, end: datetime | None = None,
               comp: str | None = "VEVENT", time_range: bool = True) -> str:
    """A C:filter; ``comp=None`` puts the time-range on VCALENDAR itself."""
    tr = time_range_xml(start, end) if time_range else ""
    inner = f'<C:comp-filter name="{comp}">{tr}</C:comp-filter>' if comp else tr
    return f'<C:filter><C:comp-filter name="VCALENDAR">{inner}</C:comp-filter></C:filter>'


def query_body(filter_: str, calendar_data: bool = False) -> str:
    prop = "<D:getetag/>" + ("<C:calendar-data/>" if calendar_data else "")
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            f"<D:prop>{prop}</D:prop>{filter_}</C:calendar-query>")


def parse_multistatus(response: requests.Response) -> dict[str, ET.Element]:
    assert response.status_code == 207, (response.status_code, response.text[:2000])
    root = ET.fromstring(response.content)
    assert root.tag == DAV + "multistatus"
    found = {}
    for resp in root.findall(DAV + "response"):
        href = unquote(resp.find(DAV + "href").text)
        name = href.rstrip("/").rsplit("/", 1)[-1]
        assert name not in found, f"{name} reported twice"
        found[name] = resp
    return found


def query(client, path: str, filter_: str, calendar_data: bool = False) -> dict[str, str | None]:
    """calendar-query on ``path``: {href name: calendar-data or None} of the matches."""
    response = client.report(path, query_body(filter_, calendar_data))
    matches = {}
    for name, resp in parse_multistatus(response).items():
        statuses = [s.text for s in resp.iter(DAV + "status")]
        assert statuses and all(" 200 " in s for s in statuses), (name, statuses)
        data = resp.find(f".//{CAL}calendar-data")
        matches[name] = data.text if data is not None else None
    return matches


def hrefs(client, path: str, filter_: str) -> set[str]:
    return set(query(client, path, filter_))


def put_all(client, path: str, items: dict[str, str]) -> None:
    for name, ics in items.items():
        response = client.put(f"{path}{name}", ics)
        assert response.status_code == 201, (name, response.status_code, response.text)


# -- single events -------------------------------------------------------------
def test_single_events_match_only_overlapping_windows(user):
    cal = user.mkcalendar("single")
    put_all(user, cal, {
        "meeting.ics": event(uid("meeting"), "DTSTART:20261201T100000Z", "DTEND:20261201T110000Z"),
        "duration.ics": event(uid("duration"), "DTSTART:20261201T120000Z", "DURATION:PT90M"),
        "instant.ics": event(uid("instant"), "DTSTART:20261201T150000Z"),
    })
    cases = [
        (utc(2026, 12, 1, 9), utc(2026, 12, 1, 10), set()),  # ends where the meeting starts
        (utc(2026, 12, 1, 11), utc(2026, 12, 1, 12), set()),  # starts where it ends, ends where next starts
        (utc(2026, 12, 1, 9), utc(2026, 12, 1, 10, 1), {"meeting.ics"}),
        (utc(2026, 12, 1, 10, 59), utc(2026, 12, 1, 11, 30), {"meeting.ics"}),
        (utc(2026, 12, 1, 10, 15), utc(2026, 12, 1, 10, 45), {"meeting.ics"}),
        (utc(2026, 12, 1, 13, 29), utc(2026, 12, 1, 13, 31), {"duration.ics"}),
        (utc(2026, 12, 1, 13, 30), utc(2026, 12, 1, 15), set()),
        (utc(2026, 12, 1, 15), utc(2026, 12, 1, 15, 1), {"instant.ics"}),  # DTSTART only: 1 s
        (utc(2026, 12, 1, 14), utc(2026, 12, 1, 15), set()),
        (utc(2026, 12, 1, 15, 0, 1), utc(2026, 12, 1, 16), set()),
        (utc(2026, 12, 1), utc(2026, 12, 2), {"meeting.ics", "duration.ics", "instant.ics"}),
        (utc(2026, 12, 2), utc(2030, 1, 1), set()),
        (utc(2040, 1, 1), utc(2041, 1, 1), set()),
    ]
    for start, end, expected in cases:
        assert hrefs(user, cal, filter_xml(start, end)) == expected, (start, end)


def test_zero_duration_events_match_like_stock_radicale(engine, user):
    # DTEND equal to DTSTART: Radicale's filter matches a window only when it
    # surrounds that instant (start < DTSTART < end), not one starting at it
    # (RFC 4791 §9.9 would also take start == DTSTART); we answer as Radicale does.
    cal = user.mkcalendar("zero")
    put_all(user, cal, {
        "zero.ics": event(uid("zero"), "DTSTART:20261210T100000Z", "DTEND:20261210T100000Z"),
        "zero-weekly.ics": event(uid("zero-weekly"), "DTSTART:20261211T100000Z", "DTEND:20261211T100000Z",
                                 "RRULE:FREQ=WEEKLY;COUNT=3"),
    })
    cases = [
        ((2026, 12, 10, 10), (2026, 12, 10, 11), set()),
        ((2026, 12, 10, 9), (2026, 12, 10, 10), set()),
        ((2026, 12, 10, 9), (2026, 12, 10, 11), {"zero.ics"}),
        ((2026, 12, 10, 9, 59, 59), (2026, 12, 10, 10, 0, 1), {"zero.ics"}),
        ((2026, 12, 25, 9), (2026, 12, 25, 11), {"zero-weekly.ics"}),
        ((2026, 12, 25, 10), (2026, 12, 25, 11), set()),
        ((2027, 1, 1, 9), (2027, 1, 1, 11), set()),
    ]
    for start, end, expected in cases:
        assert hrefs(user, cal, filter_xml(utc(*start), utc(*end))) == expected, (start, end)
    # Such an occurrence is indexed (as a range a window must surround), not left to the parser.
    index = item_index(engine, user, cal)
    assert index["zero.ics"] == (None, 1)
    assert index["zero-weekly.ics"] == (None, 3)


def test_open_ended_windows(user):
    cal = user.mkcalendar("open")
    put_all(user, cal, {
        "early.ics": event(uid("early"), "DTSTART:20261201T100000Z", "DTEND:20261201T110000Z"),
        "late.ics": event(uid("late"), "DTSTART:20361201T100000Z", "DTEND:20361201T110000Z"),
    })
    assert hrefs(user, cal, filter_xml(utc(2030, 1, 1), None)) == {"late.ics"}
    assert hrefs(user, cal, filter_xml(None, utc(2030, 1, 1))) == {"early.ics"}
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 1, 11), None)) == {"late.ics"}
    assert hrefs(user, cal, filter_xml(None, utc(2026, 12, 1, 10))) == set()


# -- recurring events ------------------------------------------------------------
def test_weekly_count_series_ends_at_its_fifth_occurrence(user):
    cal = user.mkcalendar("count")
    # Tuesdays 2026-11-10, 17, 24, 12-01, 12-08.
    put_all(user, cal, {"weekly.ics": event(
        uid("weekly"), "DTSTART:20261110T090000Z", "DTEND:20261110T100000Z", "RRULE:FREQ=WEEKLY;COUNT=5")})
    week = timedelta(days=7)
    fifth_week = utc(2026, 12, 7)  # Monday of the 5th occurrence
    assert hrefs(user, cal, filter_xml(fifth_week, fifth_week + week)) == {"weekly.ics"}
    assert hrefs(user, cal, filter_xml(fifth_week + week, fifth_week + 2 * week)) == set()
    assert hrefs(user, cal, filter_xml(utc(2026, 11, 9), utc(2026, 11, 10))) == set()
    assert hrefs(user, cal, filter_xml(utc(2026, 11, 10, 9, 30), utc(2026, 11, 10, 9, 31))) == {"weekly.ics"}
    # Between two occurrences: nothing.
    assert hrefs(user, cal, filter_xml(utc(2026, 11, 18), utc(2026, 11, 24))) == set()
    assert hrefs(user, cal, filter_xml(utc(2027, 1, 1), utc(2040, 1, 1))) == set()


def test_count_first_in_rrule_is_still_bounded(user):
    # Radicale's own "is it infinite" test looks for ";COUNT=": a rule that
    # starts with COUNT must still end at its last occurrence.
    cal = user.mkcalendar("count-first")
    put_all(user, cal, {"daily.ics": event(
        uid("daily"), "DTSTART:20261201T090000Z", "DTEND:20261201T100000Z", "RRULE:COUNT=3;FREQ=DAILY")})
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 3), utc(2026, 12, 4))) == {"daily.ics"}
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 4), utc(2026, 12, 5))) == set()
    assert hrefs(user, cal, filter_xml(utc(2035, 1, 1), utc(2036, 1, 1))) == set()


def test_until_series_ends_at_until_inclusive(user):
    cal = user.mkcalendar("until")
    put_all(user, cal, {
        # UNTIL equal to an occurrence: that occurrence is the last (RFC 5545 §3.3.10).
        "inclusive.ics": event(uid("inclusive"), "DTSTART:20261201T080000Z", "DTEND:20261201T090000Z",
                               "RRULE:FREQ=DAILY;UNTIL=20261205T080000Z"),
        # UNTIL between occurrences, TZID series.
        "berlin.ics": event(uid("berlin"), "DTSTART;TZID=Europe/Berlin:20261201T200000",
                            "DTEND;TZID=Europe/Berlin:20261201T210000",
                            "RRULE:FREQ=DAILY;UNTIL=20261206T120000Z"),
    })
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 5), utc(2026, 12, 5, 12))) == {"inclusive.ics"}
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 6), utc(2026, 12, 6, 12))) == set()
    # Berlin 20:00 in December is 19:00Z; the last occurrence is on Dec 5.
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 5, 19), utc(2026, 12, 5, 20))) == {"berlin.ics"}
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 6, 19), utc(2026, 12, 6, 20))) == set()
    assert hrefs(user, cal, filter_xml(utc(2030, 1, 1), utc(2040, 1, 1))) == set()


def test_unbounded_series_is_open_ended_beyond_the_expansion_horizon(user):
    cal = user.mkcalendar("unbounded")
    # Every other Monday from 2026-11-02, 18:00 Berlin time (17:00Z in winter, 16:00Z in summer).
    put_all(user, cal, {"biweekly.ics": event(
        uid("biweekly"), "DTSTART;TZID=Europe/Berlin:20261102T180000",
        "DTEND;TZID=Europe/Berlin:20261102T190000", "RRULE:FREQ=WEEKLY;INTERVAL=2")})
    on = {"biweekly.ics"}
    for day, expected in [
        ((2026, 11, 16), on), ((2026, 11, 23), set()),
        ((2029, 6, 11), on), ((2029, 6, 18), set()),      # inside the horizon
        ((2030, 6, 10), on), ((2030, 6, 17), set()),      # just past it
        ((2035, 6, 4), on), ((2035, 6, 11), set()),
        ((2040, 6, 11), on), ((2040, 6, 18), set()),
    ]:
        # Summer: 18:00 CEST is 16:00Z; winter: 18:00 CET is 17:00Z.
        hour = 16 if day[1] == 6 else 17
        start = utc(*day, hour)
        assert hrefs(user, cal, filter_xml(start, start + timedelta(minutes=30))) == expected, day
        # The same wall-clock hour in the other offset misses it.
        other = utc(*day, 17 if hour == 16 else 16)
        assert hrefs(user, cal, filter_xml(other, other + timedelta(minutes=30))) == set(), day
    assert hrefs(user, cal, filter_xml(utc(2026, 1, 1), utc(2026, 11, 2))) == set()
    assert hrefs(user, cal, filter_xml(utc(2090, 1, 1), None)) == on


def test_overrides_move_occurrences_out_of_and_into_windows(user):
    cal = user.mkcalendar("overrides")
    series = uid("series")
    # Mondays 09:00Z: Dec 7, 14, 21, 28, Jan 4, Jan 11.
    ics = calendar(
        component("VEVENT", series, "DTSTART:20261207T090000Z", "DTEND:20261207T100000Z",
                  "RRULE:FREQ=WEEKLY;COUNT=6"),
        # The Dec 21 occurrence moves to Wednesday Dec 23, 15:00Z.
        component("VEVENT", series, "RECURRENCE-ID:20261221T090000Z",
                  "DTSTART:20261223T150000Z", "DTEND:20261223T160000Z"),
        # The last one (Jan 11) moves back into mid-December.
        component("VEVENT", series, "RECURRENCE-ID:20270111T090000Z",
                  "DTSTART:20261216T120000Z", "DTEND:20261216T130000Z"),
    )
    put_all(user, cal, {"series.ics": ics})
    cases = [
        ((2026, 12, 21, 8), (2026, 12, 21, 10), set()),  # moved out of here
        ((2026, 12, 23, 15), (2026, 12, 23, 16), {"series.ics"}),  # ... to here
        ((2027, 1, 11, 8), (2027, 1, 11, 10), set()),
        ((2026, 12, 16, 11), (2026, 12, 16, 13), {"series.ics"}),
        ((2026, 12, 14, 8), (2026, 12, 14, 10), {"series.ics"}),  # untouched occurrence
        ((2027, 1, 4, 8), (2027, 1, 4, 10), {"series.ics"}),
        ((2027, 1, 5), (2027, 2, 1), set()),  # after the (moved) last one
    ]
    for start, end, expected in cases:
        assert hrefs(user, cal, filter_xml(utc(*start), utc(*end))) == expected, (start, end)


def test_override_of_an_unbounded_series(user):
    cal = user.mkcalendar("overrides-unbounded")
    series = uid("daily")
    ics = calendar(
        component("VEVENT", series, "DTSTART;TZID=America/New_York:20261201T070000",
                  "DTEND;TZID=America/New_York:20261201T073000", "RRULE:FREQ=WEEKLY;BYDAY=TU"),
        # Tuesday Dec 8 07:00 EST (12:00Z) moves to Thursday Dec 10 07:00 EST.
        component("VEVENT", series, "RECURRENCE-ID;TZID=America/New_York:20261208T070000",
                  "DTSTART;TZID=America/New_York:20261210T070000",
                  "DTEND;TZID=America/New_York:20261210T073000"),
    )
    put_all(user, cal, {"standup.ics": ics})
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 8, 11), utc(2026, 12, 8, 13))) == set()
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 10, 11), utc(2026, 12, 10, 13))) == {"standup.ics"}
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 15, 11), utc(2026, 12, 15, 13))) == {"standup.ics"}
    # 2035-07-03 is a Tuesday; 07:00 EDT is 11:00Z.
    assert hrefs(user, cal, filter_xml(utc(2035, 7, 3, 11), utc(2035, 7, 3, 11, 30))) == {"standup.ics"}
    assert hrefs(user, cal, filter_xml(utc(2035, 7, 4), utc(2035, 7, 10))) == set()


def test_exdate_removes_one_occurrence(user):
    cal = user.mkcalendar("exdate")
    # Wednesdays Dec 2, (9 excluded), 16, 23.
    put_all(user, cal, {
        "weekly.ics": event(uid("exdate"), "DTSTART:20261202T100000Z", "DTEND:20261202T110000Z",
                            "RRULE:FREQ=WEEKLY;COUNT=4", "EXDATE:20261209T100000Z"),
        "unbounded.ics": event(uid("exdate-open"), "DTSTART;TZID=Europe/Berlin:20261203T090000",
                               "DTEND;TZID=Europe/Berlin:20261203T100000", "RRULE:FREQ=WEEKLY",
                               "EXDATE;TZID=Europe/Berlin:20261210T090000"),
    })
    for day, expected in [(2, {"weekly.ics"}), (9, set()), (16, {"weekly.ics"}), (23, {"weekly.ics"}),
                          (30, set())]:
        assert hrefs(user, cal, filter_xml(utc(2026, 12, day, 10), utc(2026, 12, day, 11))) == expected, day
    # Thursdays 09:00 Berlin = 08:00Z; Dec 10 is excluded.
    for day, expected in [(3, {"unbounded.ics"}), (10, set()), (17, {"unbounded.ics"})]:
        assert hrefs(user, cal, filter_xml(utc(2026, 12, day, 8), utc(2026, 12, day, 9))) == expected, day


def test_rdate_adds_occurrences(user):
    cal = user.mkcalendar("rdate")
    put_all(user, cal, {"rdate.ics": event(
        uid("rdate"), "DTSTART:20261201T100000Z", "DTEND:20261201T110000Z",
        "RDATE:20261215T100000Z,20270301T100000Z")})
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 15), utc(2026, 12, 16))) == {"rdate.ics"}
    assert hrefs(user, cal, filter_xml(utc(2027, 3, 1), utc(2027, 3, 2))) == {"rdate.ics"}
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 2), utc(2026, 12, 15))) == set()


# -- all-day, TZID, floating ---------------------------------------------------
def test_all_day_events_cover_their_utc_days(user):
    cal = user.mkcalendar("all-day")
    put_all(user, cal, {
        "xmas.ics": event(uid("xmas"), "DTSTART;VALUE=DATE:20261224"),
        "holiday.ics": event(uid("holiday"), "DTSTART;VALUE=DATE:20261228", "DTEND;VALUE=DATE:20270102"),
        "birthday.ics": event(uid("birthday"), "DTSTART;VALUE=DATE:19900315", "DTEND;VALUE=DATE:19900316",
                              "RRULE:FREQ=YEARLY"),
    })
    cases = [
        ((2026, 12, 23, 23), (2026, 12, 24), set()),
        ((2026, 12, 24), (2026, 12, 24, 1), {"xmas.ics"}),
        ((2026, 12, 24, 23), (2026, 12, 25), {"xmas.ics"}),
        ((2026, 12, 25), (2026, 12, 25, 1), set()),
        ((2027, 1, 1, 12), (2027, 1, 1, 13), {"holiday.ics"}),
        ((2027, 1, 2), (2027, 1, 3), set()),  # DTEND is exclusive
        ((2027, 3, 15, 12), (2027, 3, 15, 13), {"birthday.ics"}),
        ((2027, 3, 16), (2027, 3, 17), set()),
        ((2035, 3, 15, 23), (2035, 3, 16), {"birthday.ics"}),
        ((2035, 3, 16), (2035, 3, 17), set()),
        ((2040, 3, 15), (2040, 3, 15, 0, 0, 1), {"birthday.ics"}),
        ((2040, 3, 14), (2040, 3, 15), set()),
        ((2000, 3, 15, 6), (2000, 3, 15, 7), {"birthday.ics"}),
    ]
    for start, end, expected in cases:
        assert hrefs(user, cal, filter_xml(utc(*start), utc(*end))) == expected, (start, end)


def test_tzid_times_map_to_utc_bounds(user):
    cal = user.mkcalendar("tzid")
    put_all(user, cal, {
        # 00:30-01:00 CET on Dec 3 is 23:30-00:00Z on Dec 2.
        "berlin.ics": event(uid("berlin"), "DTSTART;TZID=Europe/Berlin:20261203T003000",
                            "DTEND;TZID=Europe/Berlin:20261203T010000"),
        # Sundays 09:00 New York: Mar 7 (EST, 14:00Z), Mar 14 and 21 (EDT, 13:00Z).
        "newyork.ics": event(uid("newyork"), "DTSTART;TZID=America/New_York:20270307T090000",
                             "DTEND;TZID=America/New_York:20270307T100000", "RRULE:FREQ=WEEKLY;COUNT=3"),
        # Mondays 10:00 Berlin across the March switch: 09:00Z, then 08:00Z from Mar 29.
        "switch.ics": event(uid("switch"), "DTSTART;TZID=Europe/Berlin:20270322T100000",
                            "DTEND;TZID=Europe/Berlin:20270322T103000", "RRULE:FREQ=WEEKLY;COUNT=2"),
    })
    cases = [
        ((2026, 12, 2, 23), (2026, 12, 3), {"berlin.ics"}),
        ((2026, 12, 3), (2026, 12, 3, 2), set()),  # local 00:30-01:00 read as UTC
        ((2026, 12, 3), (2026, 12, 4), set()),
        ((2026, 12, 2, 23, 59), (2026, 12, 3, 0, 30), {"berlin.ics"}),
        ((2027, 3, 7, 14), (2027, 3, 7, 15), {"newyork.ics"}),
        ((2027, 3, 7, 13), (2027, 3, 7, 14), set()),
        ((2027, 3, 14, 13), (2027, 3, 14, 14), {"newyork.ics"}),
        ((2027, 3, 14, 14), (2027, 3, 14, 15), set()),
        ((2027, 3, 21, 13), (2027, 3, 21, 13, 1), {"newyork.ics"}),
        ((2027, 3, 28), (2027, 3, 29), set()),
        ((2027, 3, 22, 9), (2027, 3, 22, 9, 30), {"switch.ics"}),
        ((2027, 3, 22, 8), (2027, 3, 22, 9), set()),
        ((2027, 3, 29, 8), (2027, 3, 29, 8, 30), {"switch.ics"}),
        ((2027, 3, 29, 9), (2027, 3, 29, 10), set()),
    ]
    for start, end, expected in cases:
        assert hrefs(user, cal, filter_xml(utc(*start), utc(*end))) == expected, (start, end)


def test_floating_times_are_read_as_utc_like_stock_radicale(user):
    cal = user.mkcalendar("floating")
    put_all(user, cal, {
        "floating.ics": event(uid("floating"), "DTSTART:20261205T090000", "DTEND:20261205T100000"),
        "daily.ics": event(uid("floating-daily"), "DTSTART:20261210T220000", "DTEND:20261210T233000",
                           "RRULE:FREQ=DAILY;COUNT=3"),
    })
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 5, 9), utc(2026, 12, 5, 10))) == {"floating.ics"}
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 5, 8), utc(2026, 12, 5, 9))) == set()
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 5, 10), utc(2026, 12, 5, 11))) == set()
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 12, 23), utc(2026, 12, 13))) == {"daily.ics"}
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 13, 22), utc(2026, 12, 14))) == set()


# -- VTODO: RFC 4791 §9.9 --------------------------------------------------------
def test_vtodo_time_ranges_follow_rfc4791_table(user):
    cal = user.mkcalendar("todos")
    put_all(user, cal, {
        # DTSTART + DURATION: start <= DTSTART+DURATION and (end > DTSTART or end >= DTSTART+DURATION)
        "duration.ics": todo(uid("t-duration"), "DTSTART:20261212T100000Z", "DURATION:PT2H"),
        # DTSTART + DUE: (start < DUE or start <= DTSTART) and (end > DTSTART or end >= DUE)
        "due-start.ics": todo(uid("t-both"), "DTSTART:20261206T090000Z", "DUE:20261209T170000Z"),
        # DTSTART only: start <= DTSTART and end > DTSTART
        "start.ics": todo(uid("t-start"), "DTSTART:20261202T080000Z"),
        # DUE only: start < DUE and end >= DUE
        "due.ics": todo(uid("t-due"), "DUE:20261202T120000Z"),
        # Neither: matches every time range.
        "neither.ics": todo(uid("t-neither")),
    })
    always = {"neither.ics"}
    cases = [
        ((2026, 12, 12, 11), (2026, 12, 12, 11, 30), {"duration.ics"}),
        ((2026, 12, 12, 12), (2026, 12, 12, 13), {"duration.ics"}),  # start == DTSTART+DURATION
        ((2026, 12, 12, 12, 0, 1), (2026, 12, 12, 13), set()),
        ((2026, 12, 12, 9), (2026, 12, 12, 10), set()),  # end == DTSTART
        ((2026, 12, 7), (2026, 12, 8), {"due-start.ics"}),
        ((2026, 12, 9, 17), (2026, 12, 9, 18), set()),  # start == DUE
        ((2026, 12, 9, 16, 59), (2026, 12, 9, 18), {"due-start.ics"}),
        ((2026, 12, 6, 8), (2026, 12, 6, 9), set()),  # end == DTSTART
        ((2026, 12, 6, 8), (2026, 12, 6, 9, 0, 1), {"due-start.ics"}),
        ((2026, 12, 2, 8), (2026, 12, 2, 8, 30), {"start.ics"}),  # start == DTSTART
        ((2026, 12, 2, 7), (2026, 12, 2, 8), set()),
        ((2026, 12, 2, 8, 0, 1), (2026, 12, 2, 9), set()),
        ((2026, 12, 2, 11), (2026, 12, 2, 12), {"due.ics"}),  # end == DUE
        ((2026, 12, 2, 12), (2026, 12, 2, 13), set()),  # start == DUE
        ((2026, 12, 2), (2026, 12, 3), {"start.ics", "due.ics"}),
        ((2020, 1, 1), (2020, 1, 2), set()),
        ((2040, 1, 1), (2040, 1, 2), set()),
    ]
    for start, end, expected in cases:
        got = hrefs(user, cal, filter_xml(utc(*start), utc(*end), comp="VTODO"))
        assert got == expected | always, (start, end)
    # A VEVENT filter never returns a task.
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 1), utc(2026, 12, 31))) == set()


def test_recurring_vtodo(user):
    cal = user.mkcalendar("todo-series")
    put_all(user, cal, {
        "chore.ics": todo(uid("chore"), "DTSTART:20261207T080000Z", "DUE:20261207T120000Z",
                          "RRULE:FREQ=WEEKLY;COUNT=3"),
        "report.ics": todo(uid("report"), "DUE;VALUE=DATE:20261215", "RRULE:FREQ=MONTHLY"),
    })
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 21, 9), utc(2026, 12, 21, 10), comp="VTODO")) == {"chore.ics"}
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 28), utc(2026, 12, 29), comp="VTODO")) == set()
    # DUE only, all-day: the second before midnight UTC of the due day.
    assert hrefs(user, cal, filter_xml(utc(2027, 2, 14, 23), utc(2027, 2, 15), comp="VTODO")) == {"report.ics"}
    assert hrefs(user, cal, filter_xml(utc(2027, 2, 15), utc(2027, 2, 16), comp="VTODO")) == set()
    assert hrefs(user, cal, filter_xml(utc(2038, 4, 14, 23), utc(2038, 4, 15), comp="VTODO")) == {"report.ics"}


# -- component filters -------------------------------------------------------------
def test_component_filters_in_a_mixed_calendar(user):
    cal = user.mkcalendar("mixed")
    put_all(user, cal, {
        "event.ics": event(uid("m-event"), "DTSTART:20261203T100000Z", "DTEND:20261203T110000Z"),
        "later-event.ics": event(uid("m-event2"), "DTSTART:20270103T100000Z", "DTEND:20270103T110000Z"),
        "todo.ics": todo(uid("m-todo"), "DTSTART:20261203T100000Z", "DUE:20261203T110000Z"),
        "later-todo.ics": todo(uid("m-todo2"), "DUE:20270103T110000Z"),
        "journal.ics": calendar(component("VJOURNAL", uid("m-journal"), "DTSTART;VALUE=DATE:20261203")),
    })
    start, end = utc(2026, 12, 3), utc(2026, 12, 4)
    assert hrefs(user, cal, filter_xml(start, end, "VEVENT")) == {"event.ics"}
    assert hrefs(user, cal, filter_xml(start, end, "VTODO")) == {"todo.ics"}
    assert hrefs(user, cal, filter_xml(start, end, "VJOURNAL")) == {"journal.ics"}
    assert hrefs(user, cal, filter_xml(comp="VEVENT", time_range=False)) == {"event.ics", "later-event.ics"}
    assert hrefs(user, cal, filter_xml(comp="VTODO", time_range=False)) == {"todo.ics", "later-todo.ics"}
    everything = {"event.ics", "later-event.ics", "todo.ics", "later-todo.ics", "journal.ics"}
    assert hrefs(user, cal, filter_xml(comp=None, time_range=False)) == everything
    assert hrefs(user, cal, filter_xml(start, end, comp=None)) == {"event.ics", "todo.ics", "journal.ics"}
    # A filter Radicale must finish itself (a prop-filter) still only sees the component asked for.
    prop_filter = ('<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO">'
                   f'{time_range_xml(start, utc(2027, 2, 1))}<C:prop-filter name="DUE"/>'
                   '</C:comp-filter></C:comp-filter></C:filter>')
    assert hrefs(user, cal, prop_filter) == {"todo.ics", "later-todo.ics"}


def test_calendar_query_returns_stored_calendar_data(user):
    cal = user.mkcalendar("with-data")
    ics = event(uid("data"), "DTSTART;TZID=Europe/Berlin:20261203T090000",
                "DTEND;TZID=Europe/Berlin:20261203T100000", "RRULE:FREQ=DAILY;COUNT=2")
    put_all(user, cal, {"data.ics": ics})
    stored = user.request("GET", f"{cal}data.ics").text
    matches = query(user, cal, filter_xml(utc(2026, 12, 4), utc(2026, 12, 5)), calendar_data=True)
    # XML end-of-line handling turns the CRLFs of calendar-data into LFs.
    assert matches == {"data.ics": stored.replace("\r\n", "\n")}
    assert vobject.readOne(stored).vevent.uid.value == vobject.readOne(ics).vevent.uid.value


def test_caldav_library_search(user):
    cal = user.mkcalendar("library")
    put_all(user, cal, {
        "in.ics": event(uid("lib-in"), "DTSTART:20261203T100000Z", "DTEND:20261203T110000Z",
                        "RRULE:FREQ=WEEKLY;COUNT=3"),
        "out.ics": event(uid("lib-out"), "DTSTART:20261203T100000Z", "DTEND:20261203T110000Z"),
        "task.ics": todo(uid("lib-task"), "DUE:20261217T100000Z"),
    })
    with caldav.DAVClient(url=user.url(), username=user.name, password=user.password) as client:
        calendar_ = client.calendar(url=user.url(cal))
        found = calendar_.search(start=utc(2026, 12, 17), end=utc(2026, 12, 18), event=True, expand=False)
        assert {str(o.url).rsplit("/", 1)[-1] for o in found} == {"in.ics"}
        tasks = calendar_.search(start=utc(2026, 12, 17), end=utc(2026, 12, 18), todo=True,
                                 include_completed=True, expand=False)
        assert {str(o.url).rsplit("/", 1)[-1] for o in tasks} == {"task.ics"}


# -- VTODO-only lists ----------------------------------------------------------------
def test_vtodo_only_list_refuses_events(user):
    cal = user.mkcalendar("tasks", components=("VTODO",))
    refused = user.put(f"{cal}meeting.ics", event(uid("refused"), "DTSTART:20261203T100000Z",
                                                    "DTEND:20261203T110000Z"))
    assert refused.status_code == 403, refused.text
    error = ET.fromstring(refused.content)
    assert error.tag == DAV + "error"
    assert error.find(CAL + "supported-calendar-component") is not None, refused.text
    assert user.request("GET", f"{cal}meeting.ics").status_code == 404

    accepted = user.put(f"{cal}task.ics", todo(uid("accepted"), "DUE:20261203T110000Z"))
    assert accepted.status_code == 201, accepted.text
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 3), utc(2026, 12, 4), "VTODO")) == {"task.ics"}
    assert hrefs(user, cal, filter_xml(utc(2026, 12, 3), utc(2026, 12, 4), "VEVENT")) == set()

    propfind = user.request("PROPFIND", cal, '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
                            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>'
                            '<C:supported-calendar-component-set/></D:prop></D:propfind>', Depth="0")
    assert propfind.status_code == 207
    comps = {c.get("name") for c in ET.fromstring(propfind.content).iter(CAL + "comp")}
    assert comps == {"VTODO"}


# -- the index itself --------------------------------------------------------------
def item_index(engine, user, cal: str) -> dict[str, tuple]:
    path = f"{user.name}/{cal.strip('/')}"
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT i.href, i.expanded_until, count(o.item_id) AS n "
            "FROM item i JOIN collection c ON c.id = i.collection_id "
            "LEFT JOIN item_occurrence o ON o.item_id = i.id "
            "WHERE c.path = :path GROUP BY i.href, i.expanded_until"), {"path": path}).all()
    return {row.href: (row.expanded_until, row.n) for row in rows}


def weekly_starts_until(first: datetime, horizon: datetime) -> list[datetime]:
    """Wall-clock weekly starts of a series from ``first`` (zoned) up to the first one at or past ``horizon``."""
    starts = [first]
    while starts[-1] < horizon:
        starts.append(starts[-1] + timedelta(weeks=1))  # zoneinfo keeps the wall-clock time
    return starts


def test_occurrence_index_rows_and_expansion_bound(engine, user, frozen_clock):
    cal = user.mkcalendar("index")
    put_all(user, cal, {
        "single.ics": event(uid("i-single"), "DTSTART:20261203T100000Z", "DTEND:20261203T110000Z"),
        "count.ics": event(uid("i-count"), "DTSTART:20261110T090000Z", "DTEND:20261110T100000Z",
                           "RRULE:FREQ=WEEKLY;COUNT=5"),
        "until.ics": event(uid("i-until"), "DTSTART:20261201T080000Z", "DTEND:20261201T090000Z",
                           "RRULE:FREQ=DAILY;UNTIL=20261205T080000Z", "EXDATE:20261203T080000Z"),
        "task.ics": todo(uid("i-task"), "DTSTART:20261207T080000Z", "DUE:20261207T120000Z",
                         "RRULE:FREQ=WEEKLY;COUNT=3"),
        "open.ics": event(uid("i-open"), "DTSTART;TZID=Europe/Berlin:20261102T180000",
                          "DTEND;TZID=Europe/Berlin:20261102T190000", "RRULE:FREQ=WEEKLY"),
    })
    index = item_index(engine, user, cal)
    assert index["single.ics"] == (None, 1)
    assert index["count.ics"] == (None, 5)
    assert index["until.ics"] == (None, 4)
    # RFC 4791 §9.9 gives a DTSTART+DUE task several ranges per occurrence; all indexed.
    assert index["task.ics"][0] is None and index["task.ics"][1] >= 3
    # Expanded up to expand_horizon_days (1100) after the write, not forever: the first
    # start past the horizon is where the index stops.
    starts = weekly_starts_until(datetime(2026, 11, 2, 18, tzinfo=ZoneInfo("Europe/Berlin")),
                                 frozen_clock + timedelta(days=1100))
    assert index["open.ics"] == (int(starts[-1].timestamp()), len(starts) - 1)


def test_in_horizon_windows_are_answered_by_the_index_alone(engine, user, frozen_clock):
    """Rewrite a stored text behind the server's back: windows inside the
    expansion horizon still follow the index (no parsing), windows beyond it
    follow the text (Radicale parses the candidate)."""
    cal = user.mkcalendar("index-only")
    put_all(user, cal, {"open.ics": event(uid("io"), "DTSTART:20261102T170000Z", "DTEND:20261102T180000Z",
                                          "RRULE:FREQ=WEEKLY")})
    # The same series moved from Mondays to Tuesdays, in the text only.
    moved = event(uid("io"), "DTSTART:20261103T170000Z", "DTEND:20261103T180000Z", "RRULE:FREQ=WEEKLY")
    with engine.begin() as conn:
        conn.execute(text("UPDATE item SET text = :text FROM collection c "
                          "WHERE c.id = item.collection_id AND c.path = :path AND item.href = 'open.ics'"),
                     {"text": moved, "path": f"{user.name}/{cal.strip('/')}"})
    monday, tuesday = utc(2027, 6, 7, 17), utc(2027, 6, 8, 17)
    assert hrefs(user, cal, filter_xml(monday, monday + timedelta(hours=1))) == {"open.ics"}
    assert hrefs(user, cal, filter_xml(tuesday, tuesday + timedelta(hours=1))) == set()
    monday, tuesday = utc(2035, 6, 4, 17), utc(2035, 6, 5, 17)
    assert hrefs(user, cal, filter_xml(monday, monday + timedelta(hours=1))) == set()
    assert hrefs(user, cal, filter_xml(tuesday, tuesday + timedelta(hours=1))) == {"open.ics"}


def test_daylight_saving_gap_occurrences_are_indexed_not_parsed(engine, user, frozen_clock):
    """An occurrence whose end falls into a daylight-saving gap has an empty or
    reversed range; Radicale matches it only with a window surrounding it. It is
    indexed as such (the series is not cut there), so the index answers alone:
    rewriting the text behind the server's back does not change any answer."""
    cal = user.mkcalendar("dst-gap")
    items = {
        # Sundays 01:15-02:15 Berlin; on 2027-03-28 02:15 does not exist: 00:15Z-00:15Z.
        "empty.ics": event(uid("gap"), "DTSTART;TZID=Europe/Berlin:20270307T011500",
                           "DTEND;TZID=Europe/Berlin:20270307T021500", "RRULE:FREQ=WEEKLY"),
        # Sundays 01:45-02:15 Berlin; on 2027-03-28: 00:45Z-00:15Z.
        "reversed.ics": event(uid("gap"), "DTSTART;TZID=Europe/Berlin:20270307T014500",
                              "DTEND;TZID=Europe/Berlin:20270307T021500", "RRULE:FREQ=WEEKLY;COUNT=6"),
    }
    put_all(user, cal, items)
    index = item_index(engine, user, cal)
    assert index["reversed.ics"] == (None, 6)
    starts = weekly_starts_until(datetime(2027, 3, 7, 1, 15, tzinfo=ZoneInfo("Europe/Berlin")),
                                 frozen_clock + timedelta(days=1100))
    assert index["empty.ics"][0] == int(starts[-1].timestamp())
    cases = [
        ((2027, 3, 28, 0, 0), (2027, 3, 28, 0, 30), {"empty.ics"}),
        ((2027, 3, 28, 0, 15), (2027, 3, 28, 1), set()),
        ((2027, 3, 28, 0, 14, 59), (2027, 3, 28, 0, 15, 1), {"empty.ics"}),
        ((2027, 3, 28, 0, 10), (2027, 3, 28, 0, 50), {"empty.ics", "reversed.ics"}),
        ((2027, 3, 28, 0, 14), (2027, 3, 28, 0, 46), {"empty.ics", "reversed.ics"}),
        ((2027, 3, 28, 0, 15), (2027, 3, 28, 0, 46), set()),
        ((2027, 3, 28, 0, 14), (2027, 3, 28, 0, 45), {"empty.ics"}),
        ((2027, 3, 28, 0, 20), (2027, 3, 28, 0, 40), set()),
        ((2027, 3, 21), (2027, 3, 22), {"empty.ics", "reversed.ics"}),
        ((2027, 4, 3, 23), (2027, 4, 4, 1), {"empty.ics", "reversed.ics"}),
    ]
    parsed = radicale_items(items)
    for start, end, expected in cases:
        filter_ = filter_xml(utc(*start), utc(*end))
        assert radicale_filter_matches(parsed, filter_) == expected, (start, end)
        assert hrefs(user, cal, filter_) == expected, (start, end)
    # The same series moved to Saturdays, in the texts only: the answers inside the
    # horizon still come from the index, so nothing was handed to the parser.
    with engine.begin() as conn:
        for name, ics in items.items():
            conn.execute(text("UPDATE item SET text = :text FROM collection c "
                              "WHERE c.id = item.collection_id AND c.path = :path AND item.href = :href"),
                         {"text": ics.replace("20270307T", "20270306T"),
                          "path": f"{user.name}/{cal.strip('/')}", "href": name})
    for start, end, expected in cases:
        assert hrefs(user, cal, filter_xml(utc(*start), utc(*end))) == expected, (start, end)


# -- oracle: the same answers as stock Radicale ----------------------------------
def corpus() -> dict[str, str]:
    """~35 varied items; names are hrefs, UIDs are fresh."""
    e, t = event, todo
    items = {
        "e-single.ics": e(uid("o"), "DTSTART:20261201T100000Z", "DTEND:20261201T110000Z"),
        "e-duration.ics": e(uid("o"), "DTSTART:20261201T120000Z", "DURATION:PT90M"),
        "e-instant.ics": e(uid("o"), "DTSTART:20261201T150000Z"),
        "e-zero.ics": e(uid("o"), "DTSTART:20261210T100000Z", "DTEND:20261210T100000Z"),
        "e-allday.ics": e(uid("o"), "DTSTART;VALUE=DATE:20261224"),
        "e-allday-span.ics": e(uid("o"), "DTSTART;VALUE=DATE:20261228", "DTEND;VALUE=DATE:20270102"),
        "e-floating.ics": e(uid("o"), "DTSTART:20261205T090000", "DTEND:20261205T100000"),
        "e-berlin.ics": e(uid("o"), "DTSTART;TZID=Europe/Berlin:20261203T003000",
                          "DTEND;TZID=Europe/Berlin:20261203T010000"),
        "e-newyork-dst.ics": e(uid("o"), "DTSTART;TZID=America/New_York:20270307T090000",
                               "DTEND;TZID=America/New_York:20270307T100000", "RRULE:FREQ=WEEKLY;COUNT=3"),
        "e-count.ics": e(uid("o"), "DTSTART:20261110T090000Z", "DTEND:20261110T100000Z",
                         "RRULE:FREQ=WEEKLY;COUNT=5"),
        "e-count-first.ics": e(uid("o"), "DTSTART:20261201T090000Z", "DTEND:20261201T100000Z",
                               "RRULE:COUNT=3;FREQ=DAILY"),
        "e-until.ics": e(uid("o"), "DTSTART:20261201T080000Z", "DTEND:20261201T090000Z",
                         "RRULE:FREQ=DAILY;UNTIL=20261215T000000Z"),
        "e-weekly-open.ics": e(uid("o"), "DTSTART;TZID=Europe/Berlin:20261102T180000",
                               "DTEND;TZID=Europe/Berlin:20261102T190000", "RRULE:FREQ=WEEKLY;INTERVAL=2"),
        "e-daily-2020.ics": e(uid("o"), "DTSTART:20200101T070000Z", "DTEND:20200101T073000Z",
                              "RRULE:FREQ=DAILY"),
        "e-birthday.ics": e(uid("o"), "DTSTART;VALUE=DATE:19900315", "DTEND;VALUE=DATE:19900316",
                            "RRULE:FREQ=YEARLY"),
        "e-monthly-floating.ics": e(uid("o"), "DTSTART:20261204T170000", "DTEND:20261204T190000",
                                    "RRULE:FREQ=MONTHLY;BYDAY=1FR"),
        "e-exdate.ics": e(uid("o"), "DTSTART:20261202T100000Z", "DTEND:20261202T110000Z",
                          "RRULE:FREQ=WEEKLY;COUNT=6", "EXDATE:20261209T100000Z,20261223T100000Z"),
        "e-rdate.ics": e(uid("o"), "DTSTART:20261201T100000Z", "DTEND:20261201T110000Z",
                         "RDATE:20261215T100000Z,20350301T100000Z"),
        "e-hourly-capped.ics": e(uid("o"), "DTSTART:20261101T000000Z", "DTEND:20261101T001500Z",
                                 "RRULE:FREQ=HOURLY;INTERVAL=5"),
        "e-yearly-until-2042.ics": e(uid("o"), "DTSTART:20270704T160000Z", "DTEND:20270704T200000Z",
                                     "RRULE:FREQ=YEARLY;UNTIL=20420101T000000Z"),
        "e-far.ics": e(uid("o"), "DTSTART:20400601T120000Z", "DTEND:20400601T130000Z"),
        "e-past.ics": e(uid("o"), "DTSTART:20200115T120000Z", "DTEND:20200115T130000Z"),
        "e-mixed-floating-utc.ics": e(uid("o"), "DTSTART:20261205T090000", "DTEND:20261205T100000Z"),
        "e-allday-until.ics": e(uid("o"), "DTSTART;VALUE=DATE:20261201", "DTEND;VALUE=DATE:20261202",
                                "RRULE:FREQ=DAILY;UNTIL=20261203"),
        "e-duration-dst.ics": e(uid("o"), "DTSTART;TZID=Europe/Berlin:20270327T230000", "DURATION:PT4H",
                                "RRULE:FREQ=DAILY;COUNT=3"),
        "e-1800.ics": e(uid("o"), "DTSTART:18000704T120000Z", "DTEND:18000704T130000Z"),
        # Ends inside a daylight-saving gap: on 2027-03-28 (Berlin) and 2027-03-14 (New York)
        # the end maps to the start (an empty range) or before it (a reversed one).
        "e-gap-open.ics": e(uid("o"), "DTSTART;TZID=Europe/Berlin:20270307T011500",
                            "DTEND;TZID=Europe/Berlin:20270307T021500", "RRULE:FREQ=WEEKLY"),
        "e-gap-reversed.ics": e(uid("o"), "DTSTART;TZID=Europe/Berlin:20270307T014500",
                                "DTEND;TZID=Europe/Berlin:20270307T021500", "RRULE:FREQ=WEEKLY;COUNT=6"),
        "e-gap-monthly.ics": e(uid("o"), "DTSTART;TZID=Europe/Berlin:20270126T011500",
                               "DTEND;TZID=Europe/Berlin:20270126T021500", "RRULE:FREQ=MONTHLY"),
        "e-gap-ny.ics": e(uid("o"), "DTSTART;TZID=America/New_York:20270307T013000",
                          "DTEND;TZID=America/New_York:20270307T023000", "RRULE:FREQ=WEEKLY;COUNT=4"),
        "e-weekdays-ny.ics": e(uid("o"), "DTSTART;TZID=America/New_York:20261130T230000",
                               "DTEND;TZID=America/New_York:20261201T003000",
                               "RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR", "EXDATE;TZID=America/New_York:20261202T230000"),
    }
    series = uid("o")
    items["e-overrides.ics"] = calendar(
        component("VEVENT", series, "DTSTART:20261207T090000Z", "DTEND:20261207T100000Z",
                  "RRULE:FREQ=WEEKLY;COUNT=6"),
        component("VEVENT", series, "RECURRENCE-ID:20261221T090000Z",
                  "DTSTART:20261223T150000Z", "DTEND:20261223T160000Z"),
        component("VEVENT", series, "RECURRENCE-ID:20270111T090000Z",
                  "DTSTART:20261216T120000Z", "DTEND:20261216T130000Z"))
    series = uid("o")
    items["e-overrides-open.ics"] = calendar(
        component("VEVENT", series, "DTSTART;TZID=Europe/Berlin:20261201T090000",
                  "DTEND;TZID=Europe/Berlin:20261201T100000", "RRULE:FREQ=WEEKLY"),
        component("VEVENT", series, "RECURRENCE-ID;TZID=Europe/Berlin:20261208T090000",
                  "DTSTART;TZID=Europe/Berlin:20261209T140000", "DTEND;TZID=Europe/Berlin:20261209T150000"),
        # An occurrence far beyond the horizon moved into 2035-03.
        component("VEVENT", series, "RECURRENCE-ID;TZID=Europe/Berlin:20350605T090000",
                  "DTSTART;TZID=Europe/Berlin:20350310T090000", "DTEND;TZID=Europe/Berlin:20350310T100000"))
    items.update({
        "t-due.ics": t(uid("o"), "DUE:20261202T120000Z"),
        "t-start.ics": t(uid("o"), "DTSTART:20261202T080000Z"),
        "t-start-due.ics": t(uid("o"), "DTSTART:20261206T090000Z", "DUE:20261209T170000Z"),
        "t-start-duration.ics": t(uid("o"), "DTSTART:20261212T100000Z", "DURATION:PT2H"),
        "t-neither.ics": t(uid("o")),
        "t-completed-created.ics": t(uid("o"), "CREATED:20261120T080000Z", "COMPLETED:20261203T180000Z"),
        "t-completed.ics": t(uid("o"), "COMPLETED:20261203T180000Z"),
        "t-created.ics": t(uid("o"), "CREATED:20261215T080000Z"),
        "t-due-allday-monthly.ics": t(uid("o"), "DUE;VALUE=DATE:20261215", "RRULE:FREQ=MONTHLY"),
        "t-weekly-count.ics": t(uid("o"), "DTSTART:20261207T080000Z", "DUE:20261207T120000Z",
                                "RRULE:FREQ=WEEKLY;COUNT=3"),
        "t-tz-yearly.ics": t(uid("o"), "DTSTART;TZID=America/New_York:20261231T220000", "DURATION:PT3H",
                             "RRULE:FREQ=YEARLY"),
        "j-nodate.ics": calendar(component("VJOURNAL", uid("o"))),
        "j-allday.ics": calendar(component("VJOURNAL", uid("o"), "DTSTART;VALUE=DATE:20261203")),
        "j-weekly.ics": calendar(component("VJOURNAL", uid("o"), "DTSTART:20261204T080000Z",
                                           "RRULE:FREQ=WEEKLY")),
    })
    return items


WINDOWS = [
    (utc(2026, 12, 1), utc(2026, 12, 2)),
    (utc(2026, 12, 2), utc(2026, 12, 3)),
    (utc(2026, 12, 2, 23), utc(2026, 12, 3)),
    (utc(2026, 12, 3), utc(2026, 12, 4)),
    (utc(2026, 12, 10, 10), utc(2026, 12, 10, 11)),
    (utc(2026, 12, 10, 9), utc(2026, 12, 10, 10)),
    (utc(2026, 12, 7), utc(2026, 12, 14)),
    (utc(2026, 12, 21, 8), utc(2026, 12, 21, 10)),
    (utc(2026, 12, 24), utc(2026, 12, 25)),
    (utc(2027, 1, 1), utc(2027, 1, 2)),
    (utc(2027, 3, 14, 13), utc(2027, 3, 14, 14)),
    (utc(2027, 3, 28), utc(2027, 3, 28, 2)),
    (utc(2027, 3, 28, 2), utc(2027, 3, 28, 3)),
    # Around the daylight-saving gap occurrences (00:15Z empty, 00:45Z..00:15Z reversed).
    (utc(2027, 3, 28, 0, 0), utc(2027, 3, 28, 0, 30)),
    (utc(2027, 3, 28, 0, 15), utc(2027, 3, 28, 1)),
    (utc(2027, 3, 28, 0, 10), utc(2027, 3, 28, 0, 50)),
    (utc(2027, 3, 28, 0, 20), utc(2027, 3, 28, 0, 40)),
    (utc(2027, 3, 28, 0, 14, 59), utc(2027, 3, 28, 0, 15, 1)),
    (utc(2027, 3, 14, 6), utc(2027, 3, 14, 7)),
    (utc(2027, 3, 14, 6, 30), utc(2027, 3, 14, 7)),
    (utc(2028, 3, 26), utc(2028, 3, 26, 1)),
    (utc(1800, 1, 1), utc(1801, 1, 1)),
    (utc(2028, 3, 1), utc(2028, 4, 1)),
    (utc(2029, 11, 1), utc(2030, 1, 1)),
    (utc(2030, 6, 1), utc(2030, 6, 8)),
    (utc(2035, 3, 1), utc(2035, 4, 1)),
    (utc(2035, 6, 5, 7), utc(2035, 6, 5, 9)),
    (utc(2040, 5, 1), utc(2040, 7, 1)),
    (utc(2041, 7, 4, 17), utc(2041, 7, 4, 18)),
    (utc(2020, 1, 1), utc(2020, 2, 1)),
    (utc(2031, 1, 1), None),
    (None, utc(2026, 1, 1)),
    (utc(2026, 1, 1), utc(2031, 1, 1)),
    # Windows a client should not send but Radicale answers: empty and reversed.
    (utc(2026, 12, 1, 10, 30), utc(2026, 12, 1, 10, 30)),
    (utc(2026, 12, 1, 10), utc(2026, 12, 1, 10)),
    (utc(2026, 12, 2, 12), utc(2026, 12, 2, 10)),
    (utc(2026, 12, 30), utc(2026, 12, 29)),
    (utc(2027, 3, 28, 0, 30), utc(2027, 3, 28, 0, 10)),
]
FILTER_KINDS = ["VEVENT", "VTODO", "VJOURNAL", None]


@pytest.fixture(scope="module")
def stock_radicale(tmp_path_factory):
    """Stock Radicale 3.9 (multifilesystem storage, its own get_filtered) over HTTP."""
    configuration = radicale_config.load()
    configuration.update({
        "storage": {"type": "multifilesystem", "filesystem_folder": str(tmp_path_factory.mktemp("stock"))},
        "auth": {"type": "none"}, "rights": {"type": "owner_only"}, "logging": {"level": "warning"},
    }, "oracle")
    configuration.update({"server": {"_internal_server": "True"}}, "oracle", privileged=True)
    httpd = _HTTPServer(configuration, socket.AF_INET, ("127.0.0.1", 0), radicale_server.RequestHandler)
    httpd.set_app(radicale.Application(configuration))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


class StockUser:
    def __init__(self, base_url: str) -> None:
        self.session = requests.Session()
        self.session.auth = ("stock", "any")
        self.base = f"{base_url}/stock/"

    def request(self, method, path, body=None, **headers):
        return self.session.request(method, self.base + path, data=body.encode() if body else None,
                                    headers=headers)

    def put(self, path, ics):
        return self.request("PUT", path, ics, **{"Content-Type": "text/calendar; charset=utf-8"})

    def report(self, path, xml):
        return self.request("REPORT", path, xml, Depth="1", **{"Content-Type": "application/xml"})


def radicale_items(items: dict[str, str]) -> dict[str, radicale_item.Item]:
    """The corpus as Radicale holds it after a PUT (parsed and sanitized)."""
    parsed = {}
    for name, ics in items.items():
        component_ = vobject.readOne(ics)
        radicale_item.check_and_sanitize_items([component_], max_vevent_rrule_occurrence=10000, tag="VCALENDAR")
        parsed[name] = radicale_item.Item(collection_path="x", vobject_item=component_)
    return parsed


def radicale_filter_matches(items: dict[str, radicale_item.Item], filter_: str) -> set[str]:
    """Radicale's own filter applied to each item: the reference answer."""
    element = ET.fromstring(f'<x xmlns:C="{NS["C"]}">{filter_}</x>')[0]
    return {name for name, item in items.items() if radicale_test_filter("VCALENDAR", item, element)}


def stock_server_answer(items: dict[str, radicale_item.Item], filter_: str, filtered: set[str]) -> set[str]:
    """What a stock Radicale server answers: ``BaseCollection.get_filtered``
    prefilters on the series bounds and reports an item as matched without
    running the filter when ``start <= istart or iend <= end``. That shortcut
    also takes series whose bounds are infinite (no DTSTART, or a rule Radicale
    thinks unbounded such as COUNT written first) for any window open on that
    side. We answer what its filter answers (``filtered``)."""
    element = ET.fromstring(f'<x xmlns:C="{NS["C"]}">{filter_}</x>')[0]
    tag, start, end, simple = radicale_filter.simplify_prefilters([element], "VCALENDAR")
    answer = set()
    for name, item in items.items():
        istart, iend = item.time_range
        if (tag is not None and tag != item.component_name) or istart >= end or iend <= start:
            continue
        if (simple and (start <= istart or iend <= end)) or name in filtered:
            answer.add(name)
    return answer


def test_results_equal_stock_radicale(user, stock_radicale):
    items = corpus()
    assert len(items) >= 30
    cal = user.mkcalendar("oracle")
    put_all(user, cal, items)
    stock = StockUser(stock_radicale)
    stock_cal = f"oracle-{uuid.uuid4().hex[:8]}/"
    assert stock.request("MKCALENDAR", stock_cal).status_code == 201
    put_all(stock, stock_cal, items)

    parsed = radicale_items(items)
    mismatches, stock_shortcuts = [], set()
    for (start, end), comp in itertools.product(WINDOWS, FILTER_KINDS):
        filter_ = filter_xml(start, end, comp)
        expected = radicale_filter_matches(parsed, filter_)
        ours = hrefs(user, cal, filter_)
        theirs = hrefs(stock, stock_cal, filter_)
        if ours != expected or theirs != stock_server_answer(parsed, filter_, expected):
            mismatches.append(f"{comp} {start}..{end}: ours={sorted(ours)} stock-server={sorted(theirs)} "
                              f"filter={sorted(expected)}")
        if theirs != expected:
            stock_shortcuts.add((start is None or end is None, frozenset(theirs - expected)))
    assert not mismatches, "\n".join(mismatches)
    # Stock's server differs from its filter only by extra items, and only for half-open windows.
    assert {open_ for open_, _ in stock_shortcuts} <= {True}
    # The corpus exercises the interesting paths: both empty and busy windows, fallbacks.
    assert hrefs(user, cal, filter_xml(utc(2040, 5, 1), utc(2040, 7, 1), None)) >= {
        "e-far.ics", "e-weekly-open.ics", "e-daily-2020.ics", "e-hourly-capped.ics"}
    assert "e-yearly-until-2042.ics" in hrefs(user, cal, filter_xml(utc(2041, 7, 4, 17), utc(2041, 7, 4, 18)))
    assert "e-zero.ics" in hrefs(user, cal, filter_xml(utc(2026, 12, 10, 9), utc(2026, 12, 10, 11)))
    assert hrefs(user, cal, filter_xml(utc(2027, 3, 28, 0, 10), utc(2027, 3, 28, 0, 50))) >= {
        "e-gap-open.ics", "e-gap-reversed.ics"}
    assert not hrefs(user, cal, filter_xml(utc(2027, 3, 28, 0, 20), utc(2027, 3, 28, 0, 40))) & {
        "e-gap-open.ics", "e-gap-reversed.ics"}
    assert "e-single.ics" in hrefs(user, cal, filter_xml(utc(2026, 12, 1, 10, 30), utc(2026, 12, 1, 10, 30)))
    assert "e-allday-span.ics" in hrefs(user, cal, filter_xml(utc(2026, 12, 30), utc(2026, 12, 29)))
