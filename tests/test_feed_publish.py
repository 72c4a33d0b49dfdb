"""Published ICS feeds: the secret URL, its options, correct iCalendar, caching and conditional GET.

Calendars are filled over CalDAV (or, for 10,000 items, straight into the
tables); feeds are read over HTTP without credentials, as calendar apps do,
and parsed with two parsers: ``icalendar`` and vobject (through Radicale).
"""
from __future__ import annotations

import gzip
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import icalendar
import pytest
import requests
import vobject
from radicale import item as radicale_item
from sqlalchemy import text

from conftest import FROZEN_NOW, new_user
from davutil import BERLIN, NEW_YORK, calendar, event
from okr_extension import account_removal
from feedutil import loop_thread, sidecar  # noqa: F401 (fixtures)

TOKYO = ("BEGIN:VTIMEZONE\r\nTZID:Asia/Tokyo\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
         "TZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\nTZNAME:JST\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")
SECRET = "Zanzibar"  # appears only in titles, descriptions, places, people and alarms

# A recurring event with everything clients put into events: people, alarm, place,
# categories, X-properties with parameters, an exception date and an override.
RICH_SERIES = calendar(
    BERLIN.replace("\n", "\r\n") + "\r\n", TOKYO,
    "BEGIN:VEVENT\r\nUID:rich-series@example.com\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART;TZID=Europe/Berlin:20260105T100000\r\nDTEND;TZID=Europe/Berlin:20260105T113000\r\n"
    "RRULE:FREQ=WEEKLY;COUNT=10;BYDAY=MO\r\nEXDATE;TZID=Europe/Berlin:20260112T100000\r\n"
    f"SUMMARY:Weekly {SECRET} planning\\, with commas\\; and semicolons\r\n"
    f"DESCRIPTION:Agenda:\\n1. Überblick – {SECRET}\\n2. A line long enough to be folded by any "
    "serializer that respects the seventy-five octet limit of RFC 5545\r\n"
    f"LOCATION:Room {SECRET}\r\nCATEGORIES:Work,Planning\r\nCLASS:PUBLIC\r\nPRIORITY:5\r\n"
    "SEQUENCE:3\r\nSTATUS:CONFIRMED\r\nTRANSP:OPAQUE\r\nURL:https://example.com/meeting\r\n"
    "GEO:52.52;13.405\r\n"
    f"ORGANIZER;CN=Olga {SECRET}:mailto:olga@example.com\r\n"
    "ATTENDEE;CN=Bob;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=TRUE:mailto:bob@example.com\r\n"
    f"X-PLANERIX-NOTE;X-KIND=\"a:b\":{SECRET} note\r\n"
    f"BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:{SECRET} soon\r\nEND:VALARM\r\n"
    "END:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:rich-series@example.com\r\nDTSTAMP:20260101T000000Z\r\n"
    "RECURRENCE-ID;TZID=Europe/Berlin:20260119T100000\r\n"
    "DTSTART;TZID=Europe/Berlin:20260119T140000\r\nDTEND;TZID=Europe/Berlin:20260119T153000\r\n"
    f"SUMMARY:Weekly {SECRET} planning (moved)\r\nSEQUENCE:4\r\nEND:VEVENT\r\n")
NEW_YORK_EVENT = calendar(
    NEW_YORK.replace("\n", "\r\n") + "\r\n",
    "BEGIN:VEVENT\r\nUID:ny-call\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART;TZID=America/New_York:20260210T090000\r\nDURATION:PT45M\r\n"
    f"SUMMARY:Call with {SECRET} office\r\nEND:VEVENT\r\n")
ALL_DAY = calendar("BEGIN:VEVENT\r\nUID:all-day\r\nDTSTAMP:20260101T000000Z\r\n"
                   "DTSTART;VALUE=DATE:20260301\r\nDTEND;VALUE=DATE:20260302\r\n"
                   "SUMMARY:Holiday\r\nEND:VEVENT\r\n")
TASK = calendar("BEGIN:VTODO\r\nUID:task-1\r\nDTSTAMP:20260101T000000Z\r\nDUE:20260105T120000Z\r\n"
                f"SUMMARY:Write the {SECRET} report\r\nSTATUS:IN-PROCESS\r\nPERCENT-COMPLETE:40\r\n"
                "RELATED-TO:rich-series@example.com\r\nEND:VTODO\r\n")
JOURNAL = calendar("BEGIN:VJOURNAL\r\nUID:journal-1\r\nDTSTAMP:20260101T000000Z\r\n"
                   "DTSTART;VALUE=DATE:20260105\r\nSUMMARY:Minutes\r\n"
                   "DESCRIPTION:We decided things.\r\nEND:VJOURNAL\r\n")
SOURCES = {"rich.ics": RICH_SERIES, "ny.ics": NEW_YORK_EVENT, "allday.ics": ALL_DAY,
           "task.ics": TASK, "journal.ics": JOURNAL}
MEMBERS = ("VEVENT", "VTODO", "VJOURNAL")


# -- helpers ---------------------------------------------------------------------
def fill(user, name: str = "work", sources=None, displayname: str = "Work calendar") -> str:
    user.mkcalendar(name, displayname=displayname)
    for href, body in (sources or SOURCES).items():
        response = user.put(f"{name}/{href}", body)
        assert response.status_code == 201, response.text
    return name


def publish(sidecar, user, calendar_name: str = "work", **options) -> dict:
    response = sidecar.api(user).post(f"{sidecar.url}/api/feeds",
                                      json={"calendar": calendar_name, "options": options})
    assert response.status_code == 201, response.text
    return response.json()


def fetch_feed(url: str, **headers) -> requests.Response:
    response = requests.get(url, headers=headers)  # no credentials: the secret is the capability
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    return response


def members(cal: icalendar.Calendar) -> dict:
    """(UID, RECURRENCE-ID) → component, for events, tasks and journals."""
    found = {}
    for component in cal.walk():
        if component.name in MEMBERS:
            rid = component.get("RECURRENCE-ID")
            key = (str(component["UID"]), rid.to_ical().decode() if rid is not None else None)
            assert key not in found, f"{key} twice"
            found[key] = component
    return found


def properties(component) -> list:
    """Every property of a component and of its subcomponents, comparable across serializers."""
    found = []
    for sub in component.walk():
        for name, value in sub.property_items(recursive=False, sorted=False):
            if name in ("BEGIN", "END"):
                continue
            found.append((sub.name, name, value.to_ical() if hasattr(value, "to_ical") else value,
                          tuple(sorted((k, str(v)) for k, v in getattr(value, "params", {}).items()))))
    return sorted(found, key=repr)


def stored_texts(user, name: str = "work") -> dict[str, str]:
    return {href: user.request("GET", f"{name}/{href}").text for href in SOURCES}


# -- the secret URL ----------------------------------------------------------------
def test_a_feed_is_served_without_login_and_round_trips_every_property(sidecar, user):
    fill(user)
    feed = publish(sidecar, user)
    assert feed["calendar"] == f"/{user.name}/work/"
    assert feed["webcal_url"] == feed["url"].replace("http://", "webcal://")
    body = fetch_feed(feed["url"]).text
    published = members(icalendar.Calendar.from_ical(body))
    expected = {}
    for source in SOURCES.values():
        expected.update(members(icalendar.Calendar.from_ical(source)))
    assert set(published) == set(expected)  # stable UIDs, each override once
    for key, component in expected.items():
        assert properties(published[key]) == properties(component), key
    assert len(properties(expected[("rich-series@example.com", None)])) == 23  # 20 + 3 in the alarm
    # What CalDAV serves and what the feed serves are the very same components.
    stored = {}
    for text_ in stored_texts(user).values():
        stored.update(members(icalendar.Calendar.from_ical(text_)))
    assert {k: c.to_ical() for k, c in stored.items()} == {k: c.to_ical() for k, c in published.items()}


def test_a_feed_parses_with_vobject_through_radicale(sidecar, user):
    fill(user)
    body = fetch_feed(publish(sidecar, user)["url"]).text
    parsed, = radicale_item.read_components(body)
    radicale_item.check_and_sanitize_items([parsed], max_vevent_rrule_occurrence=10000,
                                           is_collection=True, tag="VCALENDAR")
    events = {(e.uid.value, getattr(e, "recurrence_id", None) is not None) for e in parsed.vevent_list}
    assert events == {("rich-series@example.com", False), ("rich-series@example.com", True),
                      ("ny-call", False), ("all-day", False)}
    assert [t.uid.value for t in parsed.vtodo_list] == ["task-1"]
    assert [j.uid.value for j in parsed.vjournal_list] == ["journal-1"]
    # The VTIMEZONEs are usable: local times resolve to the right UTC instants.
    series = next(e for e in parsed.vevent_list if e.uid.value == "rich-series@example.com"
                  and not hasattr(e, "recurrence_id"))
    assert series.dtstart.value.astimezone(timezone.utc) == datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    ny = next(e for e in parsed.vevent_list if e.uid.value == "ny-call")
    assert ny.dtstart.value.astimezone(timezone.utc) == datetime(2026, 2, 10, 14, 0, tzinfo=timezone.utc)
    assert [r for r in series.rruleset][:2] == [
        datetime(2026, 1, 5, 10, 0, tzinfo=series.dtstart.value.tzinfo),
        datetime(2026, 1, 19, 10, 0, tzinfo=series.dtstart.value.tzinfo)]  # the 12th is excluded


def test_calendar_properties_and_one_vtimezone_per_tzid_used(sidecar, user):
    fill(user)
    body = fetch_feed(publish(sidecar, user)["url"]).text
    cal = icalendar.Calendar.from_ical(body)
    assert str(cal["X-WR-CALNAME"]) == "Work calendar"
    assert str(cal["NAME"]) == "Work calendar"
    assert cal["REFRESH-INTERVAL"].to_ical() == b"PT1H"
    assert str(cal["X-PUBLISHED-TTL"]) == "PT1H"
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in body
    tzids = [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")]
    # Tokyo is defined in a stored object but used by nothing.
    assert sorted(tzids) == ["America/New_York", "Europe/Berlin"]
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))
    assert body.endswith("END:VCALENDAR\r\n") and "\n" not in body.replace("\r\n", "")


def test_a_tzid_without_a_vtimezone_gets_a_generated_one(sidecar, user):
    fill(user, sources={"bare.ics": calendar(
        "BEGIN:VEVENT\r\nUID:bare-tz\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART;TZID=Europe/Paris:20260105T100000\r\nDTEND;TZID=Europe/Paris:20260105T110000\r\n"
        "SUMMARY:No VTIMEZONE sent\r\nEND:VEVENT\r\n")})
    cal = icalendar.Calendar.from_ical(fetch_feed(publish(sidecar, user)["url"]).text)
    [tz] = cal.walk("VTIMEZONE")
    assert str(tz["TZID"]) == "Europe/Paris"
    [ev] = cal.walk("VEVENT")
    assert ev.decoded("DTSTART").astimezone(timezone.utc) == datetime(2026, 1, 5, 9, tzinfo=timezone.utc)


def test_an_unknown_or_malformed_secret_is_404(sidecar):
    for path in ("/api/ics/" + "A" * 43 + ".ics", "/api/ics/short.ics", "/api/ics/..%2F..%2Fetc.ics"):
        response = requests.get(sidecar.url + path)
        assert response.status_code == 404, path
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert "revoked" in response.json()["detail"]


# -- conditional GET, gzip, cache -----------------------------------------------
def test_conditional_get_with_etag_and_last_modified(sidecar, user, engine):
    fill(user)
    url = publish(sidecar, user)["url"]
    # Last-Modified has one-second precision: date the calendar and its feed ten seconds back,
    # so that the write below is later by more than that (instead of waiting a second).
    with engine.begin() as conn:
        conn.execute(text("UPDATE collection SET modified = modified - interval '10 seconds' WHERE path = :path"),
                     {"path": f"{user.name}/work"})
        conn.execute(text("UPDATE published_feed SET updated = updated - interval '10 seconds'"
                          " WHERE collection_id = (SELECT id FROM collection WHERE path = :path)"),
                     {"path": f"{user.name}/work"})
    first = fetch_feed(url, **{"Accept-Encoding": "identity"})
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    again = requests.get(url, headers={"If-None-Match": etag, "Accept-Encoding": "identity"})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == etag
    assert requests.get(url, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert requests.get(url, headers={"If-Modified-Since": last_modified}).status_code == 304
    assert requests.get(url, headers={"If-None-Match": '"stale"', "If-Modified-Since": last_modified}
                        ).status_code == 200  # If-None-Match decides when both are sent
    assert user.put("work/new.ics", event("new-one", "Added later")).status_code == 201
    changed = requests.get(url, headers={"If-None-Match": etag, "If-Modified-Since": last_modified})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag and "UID:new-one" in changed.text
    assert requests.get(url, headers={"If-Modified-Since": last_modified}).status_code == 200
    head = requests.head(url, headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["ETag"] == changed.headers["ETag"].replace("-gzip", "")


def test_gzip_is_served_when_accepted(sidecar, user):
    fill(user)
    url = publish(sidecar, user)["url"]
    plain = requests.get(url, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    raw = requests.get(url, headers={"Accept-Encoding": "gzip"}, stream=True)
    assert raw.headers["Content-Encoding"] == "gzip" and raw.headers["Vary"] == "Accept-Encoding"
    compressed = raw.raw.read(decode_content=False)
    assert gzip.decompress(compressed) == plain.content
    assert len(compressed) < len(plain.content)
    assert raw.headers["ETag"] == plain.headers["ETag"][:-1] + '-gzip"'
    assert requests.get(url, headers={"If-None-Match": raw.headers["ETag"]}).status_code == 304
    for refused in ("gzip;q=0", "gzip;q=nonsense", "br, deflate"):
        answer = requests.get(url, headers={"Accept-Encoding": refused}, stream=True)
        assert "Content-Encoding" not in answer.headers, refused
        assert answer.raw.read(decode_content=False) == plain.content


def test_the_feed_is_built_once_per_change_of_the_calendar(sidecar, user):
    fill(user)
    url = publish(sidecar, user)["url"]
    cache = sidecar.feeds.publisher.cache
    before = cache.builds
    first = fetch_feed(url)
    assert cache.builds == before + 1
    for _ in range(3):
        assert fetch_feed(url).content == first.content
    assert requests.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert cache.builds == before + 1
    # A change of an item, and a change of the calendar's name, each invalidate it.
    assert user.put("work/allday.ics", ALL_DAY.replace("Holiday", "Public holiday")).status_code == 204
    assert "SUMMARY:Public holiday" in fetch_feed(url).text
    assert cache.builds == before + 2
    proppatch = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
                 "<D:displayname>Renamed</D:displayname></D:prop></D:set></D:propertyupdate>")
    assert user.request("PROPPATCH", "work/", proppatch).status_code == 207
    assert "X-WR-CALNAME:Renamed" in fetch_feed(url).text
    assert cache.builds == before + 3


def test_concurrent_requests_after_a_change_build_the_feed_once(sidecar, user):
    fill(user)
    url = publish(sidecar, user)["url"]
    fetch_feed(url)
    assert user.put("work/late.ics", event("late")).status_code == 201
    builds = sidecar.feeds.publisher.cache.builds
    barrier, bodies = threading.Barrier(8), []

    def get():
        barrier.wait()
        bodies.append(fetch_feed(url).content)
    threads = [threading.Thread(target=get) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(bodies) == 8 and len(set(bodies)) == 1 and b"UID:late" in bodies[0]
    assert sidecar.feeds.publisher.cache.builds == builds + 1


def test_a_10000_item_calendar_is_built_without_parsing_items_and_then_cached(
        sidecar, user, engine, monkeypatch):
    user.mkcalendar("big")
    count = 10000
    with engine.begin() as conn:
        cid = conn.execute(text("SELECT id FROM collection WHERE path = :p"),
                           {"p": f"{user.name}/big"}).scalar_one()
        # Stored exactly as a PUT stores them (text, ETag, UID, series bounds, occurrence index).
        conn.execute(text(
            "WITH n AS (SELECT g, 1767952800 + g * 3600 AS s FROM generate_series(1, :count) g),"
            " t AS (SELECT g, s, 'BEGIN:VCALENDAR' || chr(13) || chr(10) || 'VERSION:2.0' || chr(13) || chr(10)"
            "   || 'PRODID:-//test//EN' || chr(13) || chr(10) || 'BEGIN:VEVENT' || chr(13) || chr(10)"
            "   || 'UID:bulk-' || g || chr(13) || chr(10) || 'DTSTAMP:20260101T000000Z' || chr(13) || chr(10)"
            "   || 'DTSTART:' || to_char(to_timestamp(s) AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISS\"Z\"')"
            "   || chr(13) || chr(10) || 'DURATION:PT30M' || chr(13) || chr(10)"
            "   || 'SUMMARY:Bulk event number ' || g || chr(13) || chr(10)"
            "   || 'END:VEVENT' || chr(13) || chr(10) || 'END:VCALENDAR' || chr(13) || chr(10) AS body FROM n),"
            " i AS (INSERT INTO item (collection_id, href, uid, component, etag, text, series_start,"
            "   series_end, revision, summary, due, owner)"
            "   SELECT :cid, 'bulk-' || g || '.ics', 'bulk-' || g, 'VEVENT',"
            "          '\"' || encode(sha256(convert_to(body, 'UTF8')), 'hex') || '\"', body, s, s + 1800, g,"
            "          'Bulk event number ' || g, to_timestamp(s), :owner"
            "   FROM t RETURNING id, series_start, series_end)"
            " INSERT INTO item_occurrence (item_id, collection_id, span, owner)"
            " SELECT id, :cid, int8range(series_start, series_end), :owner FROM i"),
            {"count": count, "cid": cid, "owner": user.name})
        conn.execute(text("UPDATE collection SET revision = :count, modified = now() WHERE id = :cid"),
                     {"count": count, "cid": cid})
    parses = []
    for module, name in ((vobject, "readComponents"), (vobject.base, "readComponents")):
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _o=original, **k: parses.append(1) or _o(*a, **k))
    original_from_ical = icalendar.Calendar.from_ical
    monkeypatch.setattr(icalendar.Calendar, "from_ical",
                        classmethod(lambda cls, *a, **k: parses.append(1) or original_from_ical(*a, **k)))
    url = publish(sidecar, user, "big")["url"]
    builds = sidecar.feeds.publisher.cache.builds
    started = time.monotonic()
    first = fetch_feed(url, **{"Accept-Encoding": "gzip"})
    build_seconds = time.monotonic() - started
    assert parses == []  # nothing was parsed to build the feed
    assert sidecar.feeds.publisher.cache.builds == builds + 1
    assert first.text.count("BEGIN:VEVENT\r\n") == count
    assert "UID:bulk-1\r\n" in first.text and f"UID:bulk-{count}\r\n" in first.text
    started = time.monotonic()
    for _ in range(5):
        assert fetch_feed(url, **{"Accept-Encoding": "gzip"}).headers["ETag"] == first.headers["ETag"]
    cached_seconds = (time.monotonic() - started) / 5
    assert sidecar.feeds.publisher.cache.builds == builds + 1
    monkeypatch.undo()
    # Timings are reported, not asserted (speed is the benchmark's business); the cache is
    # proven by the build count above.
    print(f"10,000 items: first request {build_seconds:.2f} s, cached {cached_seconds * 1000:.0f} ms")
    assert len(icalendar.Calendar.from_ical(first.content).walk("VEVENT")) == count


# -- options ---------------------------------------------------------------------
def test_components_option(sidecar, user):
    fill(user)
    body = fetch_feed(publish(sidecar, user, components=["VTODO", "VJOURNAL"])["url"]).text
    cal = icalendar.Calendar.from_ical(body)
    assert not cal.walk("VEVENT")
    assert [str(c["UID"]) for c in cal.walk("VTODO")] == ["task-1"]
    assert [str(c["UID"]) for c in cal.walk("VJOURNAL")] == ["journal-1"]
    assert not cal.walk("VTIMEZONE")  # the task and journal use none


def _day(offset: int) -> str:
    """The date ``offset`` days from the pinned "now" of ``frozen_clock``."""
    return (FROZEN_NOW + timedelta(days=offset)).strftime("%Y%m%d")


def test_window_option_keeps_series_whole(sidecar, user, frozen_clock):
    fill(user, "window", sources={
        "old.ics": event("old", start=f"{_day(-200)}T100000Z", end=f"{_day(-200)}T110000Z"),
        "recent.ics": event("recent", start=f"{_day(-10)}T100000Z", end=f"{_day(-10)}T110000Z"),
        "soon.ics": event("soon", start=f"{_day(100)}T100000Z", end=f"{_day(100)}T110000Z"),
        "far.ics": event("far", start=f"{_day(400)}T100000Z", end=f"{_day(400)}T110000Z"),
        "weekly.ics": calendar(
            f"BEGIN:VEVENT\r\nUID:weekly\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{_day(-730)}T090000Z\r\n"
            f"DTEND:{_day(-730)}T100000Z\r\nRRULE:FREQ=WEEKLY\r\nEXDATE:{_day(-723)}T090000Z\r\n"
            "SUMMARY:Since two years\r\nEND:VEVENT\r\n"),
        "ended.ics": calendar(
            f"BEGIN:VEVENT\r\nUID:ended\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{_day(-300)}T090000Z\r\n"
            f"DTEND:{_day(-300)}T100000Z\r\nRRULE:FREQ=DAILY;COUNT=5\r\nSUMMARY:Long over\r\n"
            "END:VEVENT\r\n"),
        "undated.ics": calendar("BEGIN:VTODO\r\nUID:undated\r\nDTSTAMP:20260101T000000Z\r\n"
                                "SUMMARY:Some day\r\nEND:VTODO\r\n")})
    feed = publish(sidecar, user, "window", past_days=90, future_days=365)
    cal = icalendar.Calendar.from_ical(fetch_feed(feed["url"]).text)
    included = {str(c["UID"]) for c in cal.walk() if c.name in MEMBERS}
    assert included == {"recent", "soon", "weekly", "undated"}
    [weekly] = [c for c in cal.walk("VEVENT") if str(c["UID"]) == "weekly"]
    assert weekly["RRULE"].to_ical() == b"FREQ=WEEKLY"  # a series, not expanded occurrences
    assert weekly.decoded("DTSTART").strftime("%Y%m%d") == _day(-730) and "EXDATE" in weekly
    only_future = publish(sidecar, user, "window", future_days=30)
    cal = icalendar.Calendar.from_ical(fetch_feed(only_future["url"]).text)
    assert {str(c["UID"]) for c in cal.walk() if c.name in MEMBERS} == {
        "old", "recent", "weekly", "ended", "undated"}


def test_free_busy_feed_leaks_nothing_but_times(sidecar, user):
    fill(user)
    feed = publish(sidecar, user, free_busy=True)
    assert feed["options"]["components"] == ["VEVENT"]
    body = fetch_feed(feed["url"]).text
    for leak in (SECRET, "SUMMARY", "DESCRIPTION", "LOCATION", "ATTENDEE", "ORGANIZER", "VALARM",
                 "CATEGORIES", "X-PLANERIX", "GEO", "URL:", "rich-series", "ny-call", "VTODO",
                 "VJOURNAL", "Holiday", "Minutes"):
        assert leak not in body, leak
    cal = icalendar.Calendar.from_ical(body)
    events = cal.walk("VEVENT")
    assert len(events) == 4  # the series, its override, the New York call, the holiday
    uids = {str(e["UID"]) for e in events}
    assert len(uids) == 3  # the override keeps its series' (opaque) UID
    series = [e for e in events if "RRULE" in e]
    [master] = series
    assert master["RRULE"].to_ical() == b"FREQ=WEEKLY;COUNT=10;BYDAY=MO" and "EXDATE" in master
    [override] = [e for e in events if "RECURRENCE-ID" in e]
    assert str(override["UID"]) == str(master["UID"])
    assert override.decoded("DTSTART").astimezone(timezone.utc) == datetime(2026, 1, 19, 13, tzinfo=timezone.utc)
    assert {str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")} == {"Europe/Berlin", "America/New_York"}
    assert str(master["TRANSP"]) == "OPAQUE"
    # The opaque UIDs are stable: a rebuilt feed keeps them.
    assert user.put("work/other.ics", event("other")).status_code == 201
    rebuilt = icalendar.Calendar.from_ical(fetch_feed(feed["url"]).text)
    assert uids < {str(e["UID"]) for e in rebuilt.walk("VEVENT")}


def test_name_and_refresh_options(sidecar, user):
    fill(user)
    body = fetch_feed(publish(sidecar, user, name="Team, public", refresh_minutes=90)["url"]).text
    assert "X-WR-CALNAME:Team\\, public\r\n" in body
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT90M\r\n" in body and "X-PUBLISHED-TTL:PT90M\r\n" in body


def test_changing_options_changes_the_feed_at_the_same_url(sidecar, user):
    fill(user)
    feed = publish(sidecar, user)
    first = fetch_feed(feed["url"])
    api = sidecar.api(user)
    changed = api.patch(f"{sidecar.url}/api/feeds/{feed['id']}", json={"options": {"free_busy": True}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["options"]["free_busy"] is True and "url" not in changed.json()
    second = requests.get(feed["url"], headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200 and SECRET not in second.text


@pytest.mark.parametrize("options, field", [
    ({"components": ["VEVENT", "VCARD"]}, "components"),
    ({"components": []}, "components"),
    ({"past_days": -1}, "past_days"),
    ({"future_days": "365"}, "future_days"),
    ({"free_busy": "yes"}, "free_busy"),
    ({"free_busy": True, "components": ["VTODO"]}, "components"),
    ({"refresh_minutes": 1}, "refresh_minutes"),
    ({"name": ""}, "name"),
    ({"goal": 7}, "goal"),
])
def test_invalid_options_are_422_and_nothing_is_created(sidecar, user, options, field):
    fill(user, sources={})
    api = sidecar.api(user)
    response = api.post(f"{sidecar.url}/api/feeds", json={"calendar": "work", "options": options})
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 422 and problem["errors"][0]["field"] == field
    assert problem["errors"][0]["reason"]
    assert api.get(f"{sidecar.url}/api/feeds").json() == []


def test_bad_requests_for_feeds(sidecar, user):
    fill(user, sources={"a.ics": event("a")})
    api = sidecar.api(user)
    url = f"{sidecar.url}/api/feeds"
    not_json = api.post(url, data="{nope", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and "JSON" in not_json.json()["detail"]
    missing = api.post(url, json={"calendar": "nothing-here"})
    assert missing.status_code == 404 and f"/{user.name}/nothing-here/" in missing.json()["detail"]
    home = api.post(url, json={"calendar": f"/{user.name}/"})
    assert home.status_code == 422
    item = api.post(url, json={"calendar": "work/a.ics"})
    assert item.status_code == 404
    assert api.post(url, json={"calendar": 5}).status_code == 422
    assert api.get(f"{url}/99999999999999999999").status_code == 404
    assert api.get(url).json() == []


# -- management and rights -------------------------------------------------------
def test_revoke_and_rotate_take_effect_at_once(sidecar, user):
    fill(user, sources={"a.ics": event("a")})
    api = sidecar.api(user)
    feed = publish(sidecar, user)
    fetch_feed(feed["url"])  # cached now
    rotated = api.post(f"{sidecar.url}/api/feeds/{feed['id']}/rotate")
    assert rotated.status_code == 200
    new_url = rotated.json()["url"]
    assert new_url != feed["url"] and rotated.json()["rotated"]
    assert requests.get(feed["url"]).status_code == 404
    assert "UID:a" in fetch_feed(new_url).text
    listed = api.get(f"{sidecar.url}/api/feeds").json()
    assert [f["id"] for f in listed] == [feed["id"]] and "url" not in listed[0]
    assert api.delete(f"{sidecar.url}/api/feeds/{feed['id']}").status_code == 204
    assert requests.get(new_url).status_code == 404
    assert api.get(f"{sidecar.url}/api/feeds/{feed['id']}").status_code == 404
    assert api.delete(f"{sidecar.url}/api/feeds/{feed['id']}").status_code == 404


def test_a_deleted_calendar_takes_its_feeds_along(sidecar, user):
    fill(user, sources={"a.ics": event("a")})
    feed = publish(sidecar, user)
    fetch_feed(feed["url"])
    assert user.request("DELETE", "work/").status_code == 200
    assert requests.get(feed["url"]).status_code == 404
    assert sidecar.api(user).get(f"{sidecar.url}/api/feeds").json() == []


def test_removing_an_account_revokes_its_feeds(sidecar, engine, base_url):
    leaver = new_user(engine, base_url, "leaver")
    fill(leaver, sources={"a.ics": event("a")})
    feed = publish(sidecar, leaver)
    fetch_feed(feed["url"])
    account_removal.remove(engine, leaver.name)
    assert requests.get(feed["url"]).status_code == 404


def test_only_the_owner_publishes_and_manages_feeds(sidecar, user, other_user):
    fill(user, sources={"a.ics": event("a")})
    feed = publish(sidecar, user)
    intruder = sidecar.api(other_user)
    foreign = intruder.post(f"{sidecar.url}/api/feeds", json={"calendar": f"/{user.name}/work/"})
    assert foreign.status_code == 403 and "another user" in foreign.json()["detail"]
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/rotate")):
        response = intruder.request(method, f"{sidecar.url}/api/feeds/{feed['id']}{path}",
                                    json={"options": {}} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path)
    assert intruder.get(f"{sidecar.url}/api/feeds").json() == []
    assert "UID:a" in fetch_feed(feed["url"]).text  # untouched


def test_every_route_but_the_secret_url_needs_a_login(sidecar, user):
    from okr_extension.auth import PUBLIC_ROUTES  # the secret URL, liveness and readiness

    fill(user, sources={})
    feed = publish(sidecar, user)
    assert "/api/ics/{token}.ics" in PUBLIC_ROUTES
    from okr_extension.web.assets import PREFIX as DASHBOARD_STATIC
    from okr_extension.web.guard import LOGIN, is_dashboard

    for route in sidecar.app.router.routes():
        path = route.resource.canonical
        if path in PUBLIC_ROUTES:
            continue
        url = sidecar.url + path.replace("{id}", "1")
        if is_dashboard(path):
            # The dashboard signs in with its form (public, like its styles and scripts): a page
            # sends a browser there; anything else is refused.
            if path == LOGIN or path.startswith(DASHBOARD_STATIC):
                continue
            response = requests.request(route.method, url, allow_redirects=False)
            if route.method in ("GET", "HEAD"):
                assert response.status_code == 303 and response.headers["Location"].startswith(LOGIN), \
                    (route.method, path, response.status_code)
            else:
                assert response.status_code == 401, (route.method, path, response.status_code)
            continue
        response = requests.request(route.method, url)
        assert response.status_code == 401, (route.method, path, response.status_code)
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        # Only GET and HEAD of the secret URL skip the login.
        assert requests.request(method, feed["url"]).status_code in (401, 405), method
    wrong = requests.get(f"{sidecar.url}/api/feeds", auth=(user.name, "wrong-password"))
    assert wrong.status_code == 401



def test_goal_filter_publishes_only_linked_items(sidecar, user, other_user):
    api = sidecar.api(user)
    org = api.post(f"{sidecar.url}/api/organisations", json={"name": "Acme"}).json()
    objective = api.post(f"{sidecar.url}/api/objectives", json={"organisation_id": org["id"], "title": "Launch"}).json()
    kr, other = (api.post(f"{sidecar.url}/api/key-results", json={
        "objective_id": objective["id"], "title": title, "target_value": 10}).json()["id"] for title in ("a", "b"))
    user.mkcalendar("goals")
    for uid, extra in (("linked", f"X-PLANERIX-KEY-RESULT:{kr}\r\n"), ("other", f"X-PLANERIX-KEY-RESULT:{other}\r\n"),
                       ("project", "X-PLANERIX-PROJECT:apollo\r\n"), ("plain", "")):
        body = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
                f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260102T100000Z\r\n"
                f"DTEND:20260102T110000Z\r\nSUMMARY:{uid}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")
        assert user.put(f"goals/{uid}.ics", body).status_code == 201
    by_kr = publish(sidecar, user, "goals", goal={"kind": "key_result", "id": kr.upper()})
    assert by_kr["options"]["goal"] == {"kind": "key_result", "id": kr}
    uids = [str(c["UID"]) for c in icalendar.Calendar.from_ical(fetch_feed(by_kr["url"]).text).walk("VEVENT")]
    assert uids == ["linked"]
    by_project = publish(sidecar, user, "goals", goal={"kind": "project", "id": "apollo"})
    uids = [str(c["UID"]) for c in icalendar.Calendar.from_ical(fetch_feed(by_project["url"]).text).walk("VEVENT")]
    assert uids == ["project"]
    # Unlinking in a client takes the item out of the feed.
    body = user.request("GET", "goals/linked.ics").text.replace(f"X-PLANERIX-KEY-RESULT:{kr}\r\n", "")
    assert user.put("goals/linked.ics", body).status_code == 204
    assert not icalendar.Calendar.from_ical(fetch_feed(by_kr["url"]).text).walk("VEVENT")
    bad = sidecar.api(user).post(f"{sidecar.url}/api/feeds",
                                 json={"calendar": "goals", "options": {"goal": {"kind": "key_result", "id": "nope"}}})
    assert bad.status_code == 422 and "goal" in bad.text
    # Only goals of your organisations: an outsider cannot filter by them (nor learn of their changes).
    other_user.mkcalendar("goals")
    foreign = sidecar.api(other_user).post(f"{sidecar.url}/api/feeds", json={
        "calendar": "goals", "options": {"goal": {"kind": "objective", "id": objective["id"]}}})
    assert foreign.status_code == 422 and "in your organisations" in foreign.text
    changed = api.patch(f"{sidecar.url}/api/feeds/{by_project['id']}",
                        json={"options": {"goal": {"kind": "key_result", "id": str(uuid.uuid4())}}})
    assert changed.status_code == 422


def test_objective_filter_follows_its_key_results(sidecar, user):
    api = sidecar.api(user)
    org = api.post(f"{sidecar.url}/api/organisations", json={"name": "Acme"}).json()
    objective = api.post(f"{sidecar.url}/api/objectives", json={"organisation_id": org["id"], "title": "Launch"}).json()
    krs = {name: api.post(f"{sidecar.url}/api/key-results", json={
        "objective_id": objective["id"], "title": name, "target_value": 10}).json()["id"] for name in ("kept", "dropped")}
    user.mkcalendar("okr")
    for uid, target in krs.items():
        body = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
                f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260102T100000Z\r\n"
                f"DTEND:20260102T110000Z\r\nX-PLANERIX-KEY-RESULT:{target}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        assert user.put(f"okr/{uid}.ics", body).status_code == 201
    feed = publish(sidecar, user, "okr", goal={"kind": "objective", "id": objective["id"]})
    first = fetch_feed(feed["url"])
    assert sorted(str(e["UID"]) for e in icalendar.Calendar.from_ical(first.text).walk("VEVENT")) == ["dropped", "kept"]
    # The calendar does not change, the objective's key results do: the feed follows at once.
    assert api.delete(f"{sidecar.url}/api/key-results/{krs['dropped']}").status_code == 204
    second = fetch_feed(feed["url"], **{"If-None-Match": first.headers["ETag"]})
    assert [str(e["UID"]) for e in icalendar.Calendar.from_ical(second.text).walk("VEVENT")] == ["kept"]

def test_goals_feed_of_an_organisation(sidecar, user, other_user):
    api = sidecar.api(user)
    org = api.post(f"{sidecar.url}/api/organisations", json={"name": "Acme"}).json()
    objective = api.post(f"{sidecar.url}/api/objectives", json={
        "organisation_id": org["id"], "title": "Launch", "due_date": "2026-12-31"}).json()
    kr = api.post(f"{sidecar.url}/api/key-results", json={
        "objective_id": objective["id"], "title": "Signups", "target_value": 10, "due_date": "2026-12-15"}).json()
    kpi = api.post(f"{sidecar.url}/api/kpis", json={
        "organisation_id": org["id"], "name": "NPS", "period": "quarterly", "next_review": "2027-01-05"}).json()
    api.post(f"{sidecar.url}/api/objectives", json={"organisation_id": org["id"], "title": "No date"})
    created = api.post(f"{sidecar.url}/api/feeds", json={"organisation": org["id"], "options": {"name": "Acme goals"}})
    assert created.status_code == 201, created.text
    feed = created.json()
    assert feed["kind"] == "goals" and feed["organisation"] == org["id"] and feed["calendar"] is None
    first = fetch_feed(feed["url"])
    cal = icalendar.Calendar.from_ical(first.text)
    assert str(cal["X-WR-CALNAME"]) == "Acme goals"
    events = {str(e["SUMMARY"]): e for e in cal.walk("VEVENT")}
    assert set(events) == {"Objective due: Launch", "Key result due: Signups", "KPI review: NPS"}
    assert events["Objective due: Launch"].decoded("DTSTART").isoformat() == "2026-12-31"
    assert str(events["Key result due: Signups"]["URL"]).endswith(f"/api/key-results/{kr['id']}")
    assert events["KPI review: NPS"]["RRULE"]["FREQ"] == ["MONTHLY"] and events["KPI review: NPS"]["RRULE"]["INTERVAL"] == [3]
    assert str(events["KPI review: NPS"]["URL"]).endswith(f"/api/kpis/{kpi['id']}")
    # A changed goal changes the feed; an unchanged one answers 304.
    assert requests.get(feed["url"], headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    api.patch(f"{sidecar.url}/api/key-results/{kr['id']}", json={"title": "Paying signups"})
    second = fetch_feed(feed["url"], **{"If-None-Match": first.headers["ETag"]})
    assert "Key result due: Paying signups" in second.text.replace("\r\n ", "")
    # Options for calendars do not apply; outsiders cannot publish an organisation's goals.
    wrong = api.post(f"{sidecar.url}/api/feeds", json={"organisation": org["id"], "options": {"free_busy": True}})
    assert wrong.status_code == 422
    outsider = sidecar.api(other_user).post(f"{sidecar.url}/api/feeds", json={"organisation": org["id"]})
    assert outsider.status_code == 404
    # A feed lives only while its owner is a member.
    second_owner = api.post(f"{sidecar.url}/api/organisations/{org['id']}/members",
                            json={"user": other_user.name, "role": "owner"})
    assert second_owner.status_code == 201
    assert api.delete(f"{sidecar.url}/api/organisations/{org['id']}/members/{user.name}").status_code == 204
    assert requests.get(feed["url"]).status_code == 404
