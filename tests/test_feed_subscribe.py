"""Subscriptions: external feeds (served by a local aiohttp server) imported into read-only
calendars, with conditional fetches, every kind of change, failures, limits and rights."""
from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta, timezone

import icalendar
import pytest
import requests
from sqlalchemy import text

from conftest import free_port
from davutil import calendar, multistatus, propfind_body, sync_body, vevent, vtodo
from feedutil import AppServer, Feed, feed_server, loop_thread, sidecar  # noqa: F401 (fixtures)
from okr_extension import create_app
from okr_extension.feeds import fetch
from okr_extension.feeds.settings import FeedSettings
from waiting import wait_until


# -- helpers ---------------------------------------------------------------------
def ics(*components: str, stamp: str = "20260101T000000Z") -> bytes:
    return calendar(*components).replace("DTSTAMP:20260101T000000Z", f"DTSTAMP:{stamp}").encode()


def series(uid: str, summary: str = "Series", rule: str = "FREQ=WEEKLY;COUNT=6", extra: str = "") -> str:
    return vevent(uid, summary, start="20260105T100000Z", end="20260105T110000Z",
                  extra=f"RRULE:{rule}\r\n{extra}")


def override(uid: str, day: str, summary: str = "Moved", hour: str = "15") -> str:
    return (f"BEGIN:VEVENT\r\nUID:{uid}\r\nRECURRENCE-ID:{day}T100000Z\r\nDTSTAMP:20260101T000000Z\r\n"
            f"DTSTART:{day}T{hour}0000Z\r\nDTEND:{day}T{int(hour) + 1}0000Z\r\nSUMMARY:{summary}\r\n"
            "END:VEVENT\r\n")


def subscribe(sidecar, user, url: str, calendar_name: str = "subscribed", **extra) -> dict:
    response = sidecar.api(user).post(f"{sidecar.url}/api/subscriptions",
                                      json={"url": url, "calendar": calendar_name, **extra})
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"/api/subscriptions/{response.json()['id']}"
    return response.json()


def status(sidecar, user, subscription: dict) -> dict:
    response = sidecar.api(user).get(f"{sidecar.url}/api/subscriptions/{subscription['id']}")
    assert response.status_code == 200, response.text
    return response.json()


def refresh(sidecar, user, subscription: dict, *, now: bool = True):
    """Make the subscription due and run scheduler rounds until it was processed; its outcome."""
    if now:
        sidecar.outcomes.pop(subscription["id"], None)
        answer = sidecar.api(user).post(f"{sidecar.url}/api/subscriptions/{subscription['id']}/refresh")
        assert answer.status_code == 202, answer.text
    for _ in range(20):
        if subscription["id"] in sidecar.outcomes:  # maybe processed in an earlier round already
            return sidecar.outcomes.pop(subscription["id"])
        sidecar.run_due()
    raise AssertionError("the subscription was never processed")


def sync(user, path: str, token: str = "") -> tuple[str, dict[str, int]]:
    """sync-collection: the new token and href → status (200, or 404 for a deletion)."""
    response = user.report(path, sync_body(token), depth="0")
    assert response.status_code == 207, response.text
    responses, root = multistatus(response.content)
    new_token = root.find("{DAV:}sync-token").text
    return new_token, {r.href.rsplit("/", 1)[-1]: (r.status or 200) for r in responses}


def stored(user, path: str) -> dict[str, icalendar.Calendar]:
    """UID → calendar object, as CalDAV serves it."""
    responses, _ = multistatus(user.request(
        "PROPFIND", path, propfind_body("D:getetag"), Depth="1").content)
    found = {}
    for r in responses[1:]:
        body = user.session.get(user.base_url + r.href).text
        cal = icalendar.Calendar.from_ical(body)
        uid = str(next(c for c in cal.walk() if c.name in ("VEVENT", "VTODO"))["UID"])
        found[uid] = cal
    return found


def events_of(cal: icalendar.Calendar) -> list:
    return sorted(cal.walk("VEVENT"),
                  key=lambda e: e["RECURRENCE-ID"].to_ical() if "RECURRENCE-ID" in e else b"")


# -- import ------------------------------------------------------------------------

def database_now(engine) -> datetime:
    """The database's clock: the one the scheduler's next_run and leases are kept in."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT now()")).scalar_one()

def test_a_subscription_imports_into_a_read_only_calendar(sidecar, user, feed_server):
    feed_server.feeds["/team.ics"] = Feed(ics(vevent("one", "First"), series("two", "Second"),
                                              vtodo("three", "A task")))
    created = subscribe(sidecar, user, feed_server.url("/team.ics"), displayname="Team feed",
                        color="#3366FF", refresh_interval=900)
    assert created["calendar"] == f"/{user.name}/subscribed/"
    assert created["refresh_interval"] == 900 and created["displayname"] == "Team feed"
    assert created["status"]["state"] == "pending" and created["status"]["item_count"] == 0
    outcome = refresh(sidecar, user, created, now=False)  # due at once
    assert outcome.ok and outcome.detail["added"] == 3
    after = status(sidecar, user, created)["status"]
    assert after["state"] == "ok" and after["item_count"] == 3 and after["consecutive_failures"] == 0
    assert after["last_success"] and after["last_error"] is None
    next_run = datetime.fromisoformat(after["next_run"])
    assert timedelta(seconds=890) < next_run - datetime.fromisoformat(after["last_success"]) <= timedelta(seconds=900)
    assert after["last_changes"]["result"] == "imported"
    objects = stored(user, "subscribed/")
    assert set(objects) == {"one", "two", "three"}
    [master] = events_of(objects["two"])
    assert master["RRULE"].to_ical() == b"FREQ=WEEKLY;COUNT=6" and str(master["SUMMARY"]) == "Second"
    _, members = sync(user, "subscribed/")
    assert set(members) == {"one.ics", "two.ics", "three.ics"}
    props = user.request("PROPFIND", "subscribed/", propfind_body(
        "D:displayname", "A:calendar-color", "C:calendar-description"), Depth="0").text
    assert "Team feed" in props and "#3366FF" in props and "Subscribed from http://127.0.0.1" in props


def test_conditional_fetch_and_unchanged_feeds_change_nothing(sidecar, user, feed_server):
    feed_server.feeds["/etag.ics"] = Feed(ics(vevent("e1")), etag='"v1"')
    feed_server.feeds["/dated.ics"] = Feed(ics(vevent("d1")), last_modified="Mon, 05 Jan 2026 10:00:00 GMT")
    feed_server.feeds["/plain.ics"] = Feed(ics(vevent("p1"), vevent("p2")))
    by_etag = subscribe(sidecar, user, feed_server.url("/etag.ics"), "by-etag")
    by_date = subscribe(sidecar, user, feed_server.url("/dated.ics"), "by-date")
    plain = subscribe(sidecar, user, feed_server.url("/plain.ics"), "plain")
    for subscription in (by_etag, by_date, plain):
        assert refresh(sidecar, user, subscription, now=False).detail["added"] >= 1
    tokens = {name: sync(user, f"{name}/")[0] for name in ("by-etag", "by-date", "plain")}

    assert refresh(sidecar, user, by_etag).detail == {"result": "not modified"}
    assert feed_server.hits("/etag.ics")[-1]["If-None-Match"] == '"v1"'
    assert refresh(sidecar, user, by_date).detail == {"result": "not modified"}
    assert feed_server.hits("/dated.ics")[-1]["If-Modified-Since"] == "Mon, 05 Jan 2026 10:00:00 GMT"
    assert refresh(sidecar, user, plain).detail == {"result": "unchanged body"}
    # Every export stamped anew: parsed and compared, but no item is rewritten.
    feed_server.feeds["/plain.ics"].body = ics(vevent("p1"), vevent("p2"), stamp="20260301T120000Z")
    detail = refresh(sidecar, user, plain).detail
    assert detail["result"] == "imported" and detail["unchanged"] == 2
    assert detail["added"] == detail["changed"] == detail["removed"] == 0
    for name, token in tokens.items():
        assert sync(user, f"{name}/", token) == (token, {}), name  # clients see no change at all


def test_changes_of_every_kind_are_applied_by_uid_and_recurrence_id(sidecar, user, feed_server):
    first = ics(
        vevent("plain", "Plain"),
        series("rule", "Rule change"),
        series("exdate", "Gets an EXDATE"),
        series("overrides", "With overrides"), override("overrides", "20260112"),
        override("overrides", "20260119", "Will be dropped"),
        vevent("gone", "Will be removed"),
        vevent("same", "Stays the same"))
    feed_server.feeds["/changes.ics"] = Feed(first)
    subscription = subscribe(sidecar, user, feed_server.url("/changes.ics"), "changes")
    assert refresh(sidecar, user, subscription, now=False).detail["added"] == 6
    token, _ = sync(user, "changes/")

    feed_server.feeds["/changes.ics"].body = ics(
        vevent("plain", "Plain\\, renamed"),
        series("rule", "Rule change", rule="FREQ=DAILY;COUNT=3"),
        series("exdate", "Gets an EXDATE", extra="EXDATE:20260112T100000Z\r\n"),
        series("overrides", "With overrides"), override("overrides", "20260112", "Moved again", hour="16"),
        override("overrides", "20260126", "A new override"),
        vevent("same", "Stays the same"),
        vevent("new", "Brand new"))
    detail = refresh(sidecar, user, subscription).detail
    assert (detail["added"], detail["changed"], detail["removed"], detail["unchanged"]) == (1, 4, 1, 1)
    token, changed = sync(user, "changes/", token)
    assert changed == {"plain.ics": 200, "rule.ics": 200, "exdate.ics": 200, "overrides.ics": 200,
                       "new.ics": 200, "gone.ics": 404}
    objects = stored(user, "changes/")
    assert set(objects) == {"plain", "rule", "exdate", "overrides", "same", "new"}
    assert str(events_of(objects["plain"])[0]["SUMMARY"]) == "Plain, renamed"
    assert events_of(objects["rule"])[0]["RRULE"].to_ical() == b"FREQ=DAILY;COUNT=3"
    assert events_of(objects["exdate"])[0]["EXDATE"].to_ical() == b"20260112T100000Z"
    master, *overrides = events_of(objects["overrides"])
    assert "RECURRENCE-ID" not in master
    assert [(o["RECURRENCE-ID"].to_ical(), str(o["SUMMARY"])) for o in overrides] == [
        (b"20260112T100000Z", "Moved again"), (b"20260126T100000Z", "A new override")]
    assert overrides[0].decoded("DTSTART") == datetime(2026, 1, 12, 16, tzinfo=timezone.utc)

    # An override disappearing alone is a change of its series.
    feed_server.feeds["/changes.ics"].body = ics(
        vevent("plain", "Plain\\, renamed"), series("rule", "Rule change", rule="FREQ=DAILY;COUNT=3"),
        series("exdate", "Gets an EXDATE", extra="EXDATE:20260112T100000Z\r\n"),
        series("overrides", "With overrides"), override("overrides", "20260126", "A new override"),
        vevent("same", "Stays the same"), vevent("new", "Brand new"))
    detail = refresh(sidecar, user, subscription).detail
    assert (detail["added"], detail["changed"], detail["removed"]) == (0, 1, 0)
    assert sync(user, "changes/", token)[1] == {"overrides.ics": 200}
    assert len(events_of(stored(user, "changes/")["overrides"])) == 2


def test_bare_commas_in_text_values_survive_the_import(sidecar, user, feed_server):
    sloppy = ("BEGIN:VEVENT\r\nUID:sloppy\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260301T100000Z\r\n"
              "SUMMARY:Lunch, then a walk\r\nLOCATION:Cafe, Main Street 1, Berlin\r\n"
              "DESCRIPTION;ALTREP=\"cid:part1,x\":Bring: bread, cheese\\, and wine\r\n"
              "CATEGORIES:Food,Outside\r\nEND:VEVENT\r\n")
    feed_server.feeds["/sloppy.ics"] = Feed(ics(sloppy))
    subscription = subscribe(sidecar, user, feed_server.url("/sloppy.ics"), "sloppy")
    assert refresh(sidecar, user, subscription, now=False).ok
    [event_] = stored(user, "sloppy/")["sloppy"].walk("VEVENT")
    assert str(event_["SUMMARY"]) == "Lunch, then a walk"
    assert str(event_["LOCATION"]) == "Cafe, Main Street 1, Berlin"
    assert str(event_["DESCRIPTION"]) == "Bring: bread, cheese, and wine"
    assert event_["DESCRIPTION"].params["ALTREP"] == "cid:part1,x"
    assert [str(c) for c in event_["CATEGORIES"].cats] == ["Food", "Outside"]


def test_components_without_uid_get_stable_uids(sidecar, user, feed_server):
    no_uid = ("BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260301T100000Z\r\n"
              "DTEND:20260301T110000Z\r\nSUMMARY:Nobody gave me a UID\r\nEND:VEVENT\r\n")
    feed_server.feeds["/nouid.ics"] = Feed(ics(no_uid))
    subscription = subscribe(sidecar, user, feed_server.url("/nouid.ics"), "nouid")
    assert refresh(sidecar, user, subscription, now=False).detail["added"] == 1
    [uid] = stored(user, "nouid/")
    assert uid.startswith("planerix-import-")
    feed_server.feeds["/nouid.ics"].body = ics(no_uid, stamp="20260202T000000Z")
    detail = refresh(sidecar, user, subscription).detail
    assert (detail["added"], detail["removed"], detail["unchanged"]) == (0, 0, 1)
    assert list(stored(user, "nouid/")) == [uid]


def test_an_object_that_cannot_be_stored_is_skipped_and_its_old_version_kept(sidecar, user, feed_server):
    feed_server.feeds["/mixed.ics"] = Feed(ics(vevent("fine"), vevent("twin", "Event twin")))
    subscription = subscribe(sidecar, user, feed_server.url("/mixed.ics"), "mixed")
    assert refresh(sidecar, user, subscription, now=False).detail["added"] == 2
    # The same UID for an event and a task: not one calendar object, so not storable.
    feed_server.feeds["/mixed.ics"].body = ics(vevent("fine", "Fine, changed"), vevent("twin", "Event twin"),
                                               vtodo("twin", "Task twin"))
    detail = refresh(sidecar, user, subscription).detail
    assert detail["skipped_count"] == 1 and detail["skipped"][0]["uid"] == "twin"
    assert "component" in detail["skipped"][0]["reason"].lower()
    assert (detail["changed"], detail["removed"]) == (1, 0)
    objects = stored(user, "mixed/")
    assert set(objects) == {"fine", "twin"}
    assert str(events_of(objects["twin"])[0]["SUMMARY"]) == "Event twin"
    assert status(sidecar, user, subscription)["status"]["state"] == "ok"


# -- failures ------------------------------------------------------------------------
def test_a_feed_that_breaks_then_recovers(sidecar, user, feed_server):
    feed_server.feeds["/flaky.ics"] = Feed(ics(vevent("a", "Alpha"), vevent("b", "Beta")))
    subscription = subscribe(sidecar, user, feed_server.url("/flaky.ics"), "flaky", refresh_interval=300)
    assert refresh(sidecar, user, subscription, now=False).ok
    token, _ = sync(user, "flaky/")
    good = status(sidecar, user, subscription)["status"]

    feed_server.feeds["/flaky.ics"].status = 500
    outcome = refresh(sidecar, user, subscription)
    assert not outcome.ok and outcome.detail["error"] == "HTTP 500 Internal Server Error"
    failing = status(sidecar, user, subscription)["status"]
    assert failing["state"] == "failing" and failing["consecutive_failures"] == 1
    assert failing["last_error"] == "HTTP 500 Internal Server Error" and failing["last_error_at"]
    assert failing["last_success"] == good["last_success"] and failing["item_count"] == 2
    delay = datetime.fromisoformat(failing["next_run"]) - datetime.fromisoformat(failing["last_error_at"])
    assert timedelta(seconds=295) < delay <= timedelta(seconds=300)

    feed_server.feeds["/flaky.ics"].status = 200
    feed_server.feeds["/flaky.ics"].body = b"<html><body>Maintenance</body></html>"
    outcome = refresh(sidecar, user, subscription)
    assert not outcome.ok and "not valid iCalendar" in outcome.detail["error"]
    failing = status(sidecar, user, subscription)["status"]
    assert failing["consecutive_failures"] == 2
    delay = datetime.fromisoformat(failing["next_run"]) - datetime.fromisoformat(failing["last_error_at"])
    assert timedelta(seconds=595) < delay <= timedelta(seconds=600)  # backed off: doubled
    assert sync(user, "flaky/", token) == (token, {})  # the previous data is untouched

    feed_server.feeds["/flaky.ics"].body = ics(vevent("a", "Alpha"), vevent("c", "Gamma"))
    outcome = refresh(sidecar, user, subscription)
    assert outcome.ok and (outcome.detail["added"], outcome.detail["removed"]) == (1, 1)
    recovered = status(sidecar, user, subscription)["status"]
    assert recovered["state"] == "ok" and recovered["consecutive_failures"] == 0
    assert recovered["last_success"] > good["last_success"]
    assert "not valid iCalendar" in recovered["last_error"]  # the last error stays visible
    assert sync(user, "flaky/", token)[1] == {"b.ics": 404, "c.ics": 200}


@pytest.mark.parametrize("body, reason", [
    (b"hello, world", "not valid iCalendar"),
    (b"", "expected one VCALENDAR, found nothing"),
    (b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Someone\r\nN:One;Some;;;\r\nEND:VCARD\r\n", "found VCARD"),
    (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VCALENDAR\r\n", "not valid iCalendar"),
    ("BEGIN:VCALENDAR\r\nSUMMARY:caf\u00e9\r\n".encode("latin-1"), "not valid UTF-8"),
])
def test_garbage_feeds_keep_the_previous_data(sidecar, user, feed_server, body, reason):
    feed_server.feeds["/garbage.ics"] = Feed(ics(vevent("kept")))
    subscription = subscribe(sidecar, user, feed_server.url("/garbage.ics"), "garbage")
    assert refresh(sidecar, user, subscription, now=False).ok
    feed_server.feeds["/garbage.ics"] = Feed(body, content_type="text/calendar")
    outcome = refresh(sidecar, user, subscription)
    assert not outcome.ok and reason in outcome.detail["error"], outcome.detail
    assert list(stored(user, "garbage/")) == ["kept"]
    assert reason in status(sidecar, user, subscription)["status"]["last_error"]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_oversize_feed_is_refused(sidecar, user, feed_server, chunked):
    feed_server.feeds["/big.ics"] = Feed(ics(vevent("small")))
    subscription = subscribe(sidecar, user, feed_server.url("/big.ics"), "big")
    assert refresh(sidecar, user, subscription, now=False).ok
    many = "".join(vevent(f"e{i}", "x" * 200) for i in range(1500))  # about 450 KB > 256 KiB
    feed_server.feeds["/big.ics"] = Feed(ics(many), chunked=chunked)
    outcome = refresh(sidecar, user, subscription)
    assert not outcome.ok and str(256 * 1024) in outcome.detail["error"]
    assert ("larger than" if chunked else "bytes; at most") in outcome.detail["error"]
    assert list(stored(user, "big/")) == ["small"]


def test_network_errors_timeouts_and_redirects(sidecar, user, feed_server):
    closed = f"http://127.0.0.1:{free_port()}/feed.ics"
    subscription = subscribe(sidecar, user, closed, "unreachable")
    outcome = refresh(sidecar, user, subscription, now=False)
    assert not outcome.ok and outcome.detail["error"].startswith("cannot connect to 127.0.0.1")

    never_answers = threading.Event()
    feed_server.feeds["/slow.ics"] = Feed(ics(vevent("slow")), hold=never_answers)
    slow = subscribe(sidecar, user, feed_server.url("/slow.ics"), "slow")
    try:
        outcome = refresh(sidecar, user, slow, now=False)
    finally:
        never_answers.set()
    assert not outcome.ok and outcome.detail["error"] == "no complete answer within 3 s"

    feed_server.feeds["/moved.ics"] = Feed(redirect_to="/target.ics")
    feed_server.feeds["/target.ics"] = Feed(ics(vevent("target")))
    moved = subscribe(sidecar, user, feed_server.url("/moved.ics"), "moved")
    assert refresh(sidecar, user, moved, now=False).ok
    assert list(stored(user, "moved/")) == ["target"]

    feed_server.feeds["/loop.ics"] = Feed(redirect_to="/loop.ics")
    looping = subscribe(sidecar, user, feed_server.url("/loop.ics"), "looping")
    outcome = refresh(sidecar, user, looping, now=False)
    assert not outcome.ok and outcome.detail["error"] == "more than 5 redirects"


def test_private_addresses_are_refused_unless_allowed(engine, database_url, loop_thread, user, feed_server):
    strict = AppServer(loop_thread, create_app(database_url, FeedSettings(scheduler_enabled=False)))
    try:
        api = requests.Session()
        api.auth = (user.name, user.password)
        for url in (feed_server.url("/x.ics"), "http://[::1]/x.ics", "http://10.1.2.3/x.ics",
                    "http://169.254.169.254/latest/meta-data", "http://[::ffff:127.0.0.1]/x.ics"):
            response = api.post(f"{strict.url}/api/subscriptions", json={"url": url, "calendar": "x"})
            assert response.status_code == 422, url
            assert "non-public" in response.json()["errors"][0]["reason"]
        # A name is checked when it is resolved (and again after every redirect).
        feed_server.feeds["/x.ics"] = Feed(ics(vevent("x")))
        by_name = f"http://localhost:{feed_server.server.port}/x.ics"
        with pytest.raises(fetch.FetchError, match="resolves only to loopback"):
            loop_thread.run(_fetch_with(FeedSettings(), by_name))
        assert loop_thread.run(_fetch_with(FeedSettings(allow_private_networks=True), by_name)).body
    finally:
        strict.stop()


async def _fetch_with(settings: FeedSettings, url: str):
    async with fetch.new_session(settings) as session:
        return await fetch.fetch(session, url, settings)


# -- read-only for CalDAV --------------------------------------------------------------
def _assert_refused(response):
    assert response.status_code == 403, response.text
    assert "need-privileges" in response.text and "subscribed from an external iCalendar feed" in response.text


def test_caldav_clients_cannot_write_into_a_subscribed_calendar(sidecar, user, feed_server):
    feed_server.feeds["/ro.ics"] = Feed(ics(vevent("ro-1", "Imported")))
    subscription = subscribe(sidecar, user, feed_server.url("/ro.ics"), "readonly")
    assert refresh(sidecar, user, subscription, now=False).ok
    user.mkcalendar("mine")
    assert user.put("mine/own.ics", calendar(vevent("own"))).status_code == 201
    token, _ = sync(user, "readonly/")
    etag = user.request("GET", "readonly/ro-1.ics").headers["ETag"]

    _assert_refused(user.put("readonly/new.ics", calendar(vevent("new")), If_None_Match="*"))
    _assert_refused(user.put("readonly/ro-1.ics", calendar(vevent("ro-1", "Edited")), If_Match=etag))
    _assert_refused(user.request("DELETE", "readonly/ro-1.ics"))
    _assert_refused(user.request("DELETE", "readonly/"))
    _assert_refused(user.request("PROPPATCH", "readonly/", (
        '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set>'
        "<D:prop><C:calendar-description>Mine now</C:calendar-description></D:prop></D:set></D:propertyupdate>")))
    _assert_refused(user.request("MOVE", "readonly/ro-1.ics", Destination=user.url("mine/stolen.ics")))
    _assert_refused(user.request("MOVE", "mine/own.ics", Destination=user.url("readonly/own.ics")))
    _assert_refused(user.put("readonly/", calendar(vevent("whole")), **{"Content-Type": "text/calendar"}))

    assert sync(user, "readonly/", token) == (token, {})
    assert user.request("GET", "readonly/ro-1.ics").headers["ETag"] == etag
    assert user.request("GET", "mine/own.ics").status_code == 200
    assert user.request("GET", "mine/stolen.ics").status_code == 404
    # Clients are told up front: no write privileges on the calendar or its items.
    body = user.request("PROPFIND", "", propfind_body("D:current-user-privilege-set"), Depth="1").text
    responses, _ = multistatus(body)
    privileges = {r.href: {p.tag for p in r.props["{DAV:}current-user-privilege-set"].iter()
                           if p.tag != "{DAV:}privilege"} for r in responses}
    assert "{DAV:}write" not in privileges[f"/{user.name}/readonly/"]
    assert "{DAV:}write-content" not in privileges[f"/{user.name}/readonly/"]
    assert "{DAV:}read" in privileges[f"/{user.name}/readonly/"]
    items, _ = multistatus(user.request("PROPFIND", "readonly/", propfind_body("D:current-user-privilege-set"),
                                        Depth="1").text)
    item = next(r for r in items if r.href.endswith("/ro-1.ics"))
    assert {p.tag for p in item.props["{DAV:}current-user-privilege-set"].iter()} == {
        "{DAV:}current-user-privilege-set", "{DAV:}privilege", "{DAV:}read"}
    # How it looks stays the subscriber's: name, colour and order (Apple sets them on first sync).
    assert "{DAV:}write-properties" in privileges[f"/{user.name}/readonly/"]
    recolour = user.request("PROPPATCH", "readonly/", (
        '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:A="http://apple.com/ns/ical/"><D:set><D:prop>'
        "<D:displayname>Holidays</D:displayname><A:calendar-color>#FF0000FF</A:calendar-color>"
        "<A:calendar-order>3</A:calendar-order></D:prop></D:set></D:propertyupdate>"))
    assert recolour.status_code == 207 and "200 OK" in recolour.text and "403" not in recolour.text
    props = multistatus(user.request("PROPFIND", "readonly/", propfind_body("D:displayname"), Depth="0").text)[0]
    assert props[0].props["{DAV:}displayname"].text == "Holidays"
    assert "{DAV:}write" in privileges[f"/{user.name}/mine/"]
    items = multistatus(user.request("PROPFIND", "readonly/", propfind_body(
        "D:current-user-privilege-set"), Depth="1").content)[0]
    assert all("{DAV:}write-content" not in {p.tag for p in r.element.iter()} for r in items)


# -- management --------------------------------------------------------------------------
def test_changing_and_removing_a_subscription(sidecar, user, feed_server, engine):
    feed_server.feeds["/one.ics"] = Feed(ics(vevent("from-one")), etag='"1"')
    feed_server.feeds["/two.ics"] = Feed(ics(vevent("from-two")), etag='"2"')
    subscription = subscribe(sidecar, user, feed_server.url("/one.ics"), "changing")
    assert refresh(sidecar, user, subscription, now=False).ok
    api = sidecar.api(user)
    url = f"{sidecar.url}/api/subscriptions/{subscription['id']}"
    changed = api.patch(url, json={"url": feed_server.url("/two.ics"), "refresh_interval": 7200,
                                   "displayname": "Renamed feed"})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["url"] == feed_server.url("/two.ics") and body["refresh_interval"] == 7200
    assert body["displayname"] == "Renamed feed"
    assert datetime.fromisoformat(body["status"]["next_run"]) <= database_now(engine)  # due again
    outcome = refresh(sidecar, user, subscription, now=False)
    assert outcome.ok and (outcome.detail["added"], outcome.detail["removed"]) == (1, 1)
    assert "If-None-Match" not in feed_server.hits("/two.ics")[0]  # the old URL's validators are gone
    assert list(stored(user, "changing/")) == ["from-two"]
    assert "Renamed feed" in user.request("PROPFIND", "changing/", propfind_body("D:displayname"),
                                          Depth="0").text
    assert [s["id"] for s in api.get(f"{sidecar.url}/api/subscriptions").json()] == [subscription["id"]]

    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404
    assert user.request("PROPFIND", "changing/", propfind_body("D:displayname"), Depth="0").status_code == 404
    hits = len(feed_server.hits("/two.ics"))
    sidecar.run_due()
    assert len(feed_server.hits("/two.ics")) == hits
    # The calendar's name is free again, for a new subscription or calendar.
    user.mkcalendar("changing")


def test_a_url_changed_during_a_fetch_is_fetched_next(sidecar, user, feed_server, engine):
    answer_old = threading.Event()
    feed_server.feeds["/old.ics"] = Feed(ics(vevent("old")), etag='"old"', hold=answer_old)
    feed_server.feeds["/new.ics"] = Feed(ics(vevent("new")))
    subscription = subscribe(sidecar, user, feed_server.url("/old.ics"), "switched")
    running = asyncio.run_coroutine_threadsafe(sidecar.feeds.scheduler.run_due(), sidecar.loop.loop)
    try:
        wait_until(lambda: feed_server.hits("/old.ics"), what="the fetch of the old URL")
        changed = sidecar.api(user).patch(f"{sidecar.url}/api/subscriptions/{subscription['id']}",
                                          json={"url": feed_server.url("/new.ics")})
        assert changed.status_code == 200
        assert not running.done()  # the URL changed while the old one was being fetched
    finally:
        answer_old.set()
    running.result(30)
    after = status(sidecar, user, subscription)["status"]
    assert after["state"] == "pending" and after["last_changes"] is None  # the old URL's outcome is not kept
    assert datetime.fromisoformat(after["next_run"]) <= database_now(engine)  # due, lease released
    outcome = refresh(sidecar, user, subscription, now=False)
    assert outcome.ok and "If-None-Match" not in feed_server.hits("/new.ics")[0]
    assert list(stored(user, "switched/")) == ["new"]


def test_subscription_input_is_validated(sidecar, user, feed_server):
    api = sidecar.api(user)
    url = f"{sidecar.url}/api/subscriptions"
    good = feed_server.url("/v.ics")
    cases = [
        ({"calendar": "v"}, "url"),
        ({"url": good}, "calendar"),
        ({"url": "ftp://example.com/x.ics", "calendar": "v"}, "url"),
        ({"url": "http:///nohost", "calendar": "v"}, "url"),
        ({"url": good, "calendar": "v", "refresh_interval": 10}, "refresh_interval"),
        ({"url": good, "calendar": "v", "refresh_interval": "3600"}, "refresh_interval"),
        ({"url": good, "calendar": "v", "color": "blue"}, "color"),
        ({"url": good, "calendar": "v", "displayname": ""}, "displayname"),
        ({"url": good, "calendar": "v", "password": "x"}, "password"),
        ({"url": good, "calendar": f"/{user.name}/"}, "calendar"),
    ]
    for body, field in cases:
        response = api.post(url, json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], body
    assert api.post(url, data="nope", headers={"Content-Type": "application/json"}).status_code == 400
    user.mkcalendar("taken")
    taken = api.post(url, json={"url": good, "calendar": "taken"})
    assert taken.status_code == 409 and "already exists" in taken.json()["detail"]
    foreign = api.post(url, json={"url": good, "calendar": "/someone-else/cal/"})
    assert foreign.status_code == 403
    assert api.get(url).json() == []  # nothing was stored by any of these
    webcal = api.post(url, json={"url": "webcal://example.com/cal.ics", "calendar": "webcal"})
    assert webcal.status_code == 201 and webcal.json()["url"] == "https://example.com/cal.ics"
    assert api.delete(f"{url}/{webcal.json()['id']}").status_code == 204


def test_only_the_owner_sees_and_manages_a_subscription(sidecar, user, other_user, feed_server):
    feed_server.feeds["/own.ics"] = Feed(ics(vevent("own")))
    subscription = subscribe(sidecar, user, feed_server.url("/own.ics"), "owned")
    intruder = sidecar.api(other_user)
    base = f"{sidecar.url}/api/subscriptions/{subscription['id']}"
    for method, path, body in (("GET", "", None), ("PATCH", "", {"refresh_interval": 600}),
                               ("DELETE", "", None), ("POST", "/refresh", None)):
        assert intruder.request(method, base + path, json=body).status_code == 404, method
    assert intruder.get(f"{sidecar.url}/api/subscriptions").json() == []
    assert status(sidecar, user, subscription)["refresh_interval"] == 3600
    assert requests.get(base).status_code == 401
