"""Bounded work per request: no input makes a request run on, hold a lock or crash the process.

Each class of input gets its bounded outcome (a 4xx/503 with a reason), finishes within its
budget (plus a generous margin: a failure guard, not a benchmark), leaves other users served
while it runs, and changes nothing stored.
"""
from __future__ import annotations

import secrets
import socket
import sys
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from conftest import ServeProcess, new_user, start_caldav_server
from davutil import NS, XML_HEADER, calendar, event, vevent
from feedutil import Feed, feed_server, loop_thread  # noqa: F401 (fixtures)
from okr_extension.feeds import importer
from storage_plugin import database, time_bounds, writer
from storage_plugin.bounds import budget

# A guard against hanging, far above what a bounded request takes.
MARGIN = 5.0
# The dedicated server's budgets (small, so the tests that exhaust them stay short).
SMALL_BUDGET = 1.0
# dateutil searches these to the year 9999 for a first occurrence (minute by minute): no
# static check proves them empty, only the budget ends them.
UNPROVABLE_EMPTY_RULE = "FREQ=MINUTELY;BYWEEKNO=1;BYMONTH=6"
NEVER_OCCURRING = ["FREQ=MONTHLY;BYMONTHDAY=31;BYMONTH=2", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
                   "FREQ=DAILY;BYMONTH=4,6,9,11;BYMONTHDAY=31", "FREQ=YEARLY;BYYEARDAY=366;BYMONTH=1"]
MALFORMED_RULES = {
    "FREQ=WEEKLY;INTERVAL=0": "INTERVAL=0",
    "FREQ=DAILY;INTERVAL=-3": "INTERVAL=-3",
    "FREQ=DAILY;COUNT=0": "COUNT=0",
    "FREQ=MONTHLY;BYMONTHDAY=32": "BYMONTHDAY=32",
    "FREQ=YEARLY;BYMONTH=13": "BYMONTH=13",
    "FREQ=DAILY;BYHOUR=24": "BYHOUR=24",
    "FREQ=MONTHLY;BYDAY=0MO": "BYDAY=0MO",
    "FREQ=FORTNIGHTLY": "FREQ",
    "FREQ=DAILY;UNTIL=2027-01-01": "UNTIL",
}


def recurring(uid: str, rule: str, summary: str = "Series") -> str:
    return event(uid, summary, extra=f"RRULE:{rule}\r\n")


def precondition_and_reason(response) -> tuple[bool, str]:
    text = response.text
    return "valid-calendar-object-resource" in text, text


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def run_in_background(call):
    """Start ``call`` in a thread; returns (thread, result holder)."""
    holder: dict = {}

    def target():
        try:
            holder["result"] = call()
        except BaseException as e:  # reported to the test by the holder
            holder["error"] = e
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, holder


def served_meanwhile(other, thread, calendar_path: str) -> int:
    """PUT one normal event as another user while ``thread`` runs; how many were written then."""
    written = 0
    while True:
        running = thread.is_alive()
        response = other.put(f"{calendar_path}ok-{written}.ics", event(f"ok-{written}"))
        assert response.status_code == 201, response.text
        written += 1
        if not running:
            return written


def snapshot(user, path: str) -> dict[str, str]:
    body = (f'{XML_HEADER}<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>')
    response = user.request("PROPFIND", path, body, Depth="1", **{"Content-Type": "application/xml"})
    assert response.status_code == 207, response.text
    root = ET.fromstring(response.content)
    return {r.findtext("D:href", namespaces=NS): r.findtext(".//D:getetag", namespaces=NS)
            for r in root.findall("D:response", NS)}


@pytest.fixture(scope="module")
def small_budget_url(database_url):
    # Its own URL (same database): the process's engine of the suite's URL keeps its settings.
    return make_url(database_url).update_query_dict(
        {"application_name": "planerix-bounded-tests"}).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def small_budget_server(engine, small_budget_url):
    server = start_caldav_server(small_budget_url, {"storage": {
        "expansion_budget_seconds": str(SMALL_BUDGET), "query_budget_seconds": str(SMALL_BUDGET),
        "expand_horizon_days": "30"}})
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


@pytest.fixture
def other_cal(other_user):
    return other_user.mkcalendar("cal")


# -- recurrence rules checked before expansion --------------------------------------


def test_interval_zero_is_refused_at_once_and_the_stored_version_stays(user, cal):
    assert user.put(f"{cal}series.ics", recurring("series", "FREQ=WEEKLY;COUNT=3")).status_code == 201
    before = snapshot(user, cal)
    response, took = timed(lambda: user.put(f"{cal}series.ics", recurring(
        "series", "FREQ=WEEKLY;INTERVAL=0", "Changed")))
    assert response.status_code == 403
    has_precondition, text = precondition_and_reason(response)
    assert has_precondition and "INTERVAL=0" in text and "never advances" in text
    assert took < MARGIN
    assert snapshot(user, cal) == before
    assert "Changed" not in user.request("GET", f"{cal}series.ics").text


def test_eight_interval_zero_puts_at_once_leave_caldav_to_everyone(user, cal, other_user, other_cal):
    def bad(n):
        return user.put(f"{cal}bad-{n}.ics", recurring(f"bad-{n}", "FREQ=WEEKLY;INTERVAL=0"))

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(bad, n) for n in range(8)]
        response = other_user.put(f"{other_cal}meanwhile.ics", event("meanwhile"))
        assert response.status_code == 201, response.text
        statuses = [f.result(timeout=MARGIN * 3).status_code for f in futures]
    assert statuses == [403] * 8
    assert time.monotonic() - started < MARGIN * 3
    assert [href for href in snapshot(user, cal) if href.endswith(".ics")] == []
    # The same user's own writes are not blocked either.
    assert user.put(f"{cal}fine.ics", event("fine")).status_code == 201


@pytest.mark.parametrize("rule", NEVER_OCCURRING)
def test_a_rule_that_never_occurs_is_refused_without_searching(user, cal, rule):
    response, took = timed(lambda: user.put(f"{cal}never.ics", recurring("never", rule)))
    assert response.status_code == 403
    has_precondition, text = precondition_and_reason(response)
    assert has_precondition and "no occurrence" in text
    assert took < MARGIN
    assert user.request("GET", f"{cal}never.ics").status_code == 404


@pytest.mark.parametrize("rule", list(MALFORMED_RULES))
def test_out_of_range_rule_parts_are_refused_with_the_part_named(user, cal, rule):
    response = user.put(f"{cal}bad.ics", recurring("bad", rule))
    assert response.status_code == 403
    has_precondition, text = precondition_and_reason(response)
    assert has_precondition and MALFORMED_RULES[rule] in text
    assert user.request("GET", f"{cal}bad.ics").status_code == 404


def test_a_bad_rule_in_a_time_zone_is_refused_too(user, cal):
    zone = ("BEGIN:VTIMEZONE\r\nTZID:Bad/Zone\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
            "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;INTERVAL=0\r\n"
            "END:STANDARD\r\nEND:VTIMEZONE\r\n")
    body = calendar(zone, vevent("zoned", start="20260105T100000", end="20260105T110000")).replace(
        "DTSTART:20260105T100000", "DTSTART;TZID=Bad/Zone:20260105T100000").replace(
        "DTEND:20260105T110000", "DTEND;TZID=Bad/Zone:20260105T110000")
    response = user.put(f"{cal}zoned.ics", body)
    assert response.status_code == 403 and "INTERVAL=0" in response.text


def test_ordinary_rules_still_work(user, cal):
    for n, rule in enumerate(["FREQ=WEEKLY;BYDAY=MO,WE,FR", "FREQ=MONTHLY;BYDAY=-1FR;COUNT=12",
                              "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "FREQ=MONTHLY;BYMONTHDAY=-1",
                              "FREQ=DAILY;INTERVAL=2;UNTIL=20270101T000000Z", "FREQ=SECONDLY;COUNT=10"]):
        response = user.put(f"{cal}ok-{n}.ics", recurring(f"ok-{n}", rule))
        assert response.status_code == 201, (rule, response.text)


def test_a_whole_calendar_upload_gets_a_budget_in_proportion(user):
    body = calendar(*(vevent(f"up-{n}", extra="RRULE:FREQ=WEEKLY;COUNT=10\r\n") for n in range(300)))
    response = user.put("upload/", body)
    assert response.status_code == 201, response.text
    assert len([href for href in snapshot(user, "upload/") if href.endswith(".ics")]) == 300


# -- time budgets ------------------------------------------------------------------------


def test_a_rule_only_the_budget_can_stop_is_refused_within_it(engine, small_budget_server):
    owner, other = new_user(engine, small_budget_server), new_user(engine, small_budget_server)
    cal, other_cal = owner.mkcalendar("cal"), other.mkcalendar("cal")
    assert owner.put(f"{cal}slow.ics", recurring("slow", "FREQ=DAILY;COUNT=2")).status_code == 201
    before = snapshot(owner, cal)
    started = time.monotonic()
    thread, holder = run_in_background(
        lambda: owner.put(f"{cal}slow.ics", recurring("slow", UNPROVABLE_EMPTY_RULE)))
    assert served_meanwhile(other, thread, other_cal) >= 1
    thread.join(SMALL_BUDGET * 3 + MARGIN)
    assert not thread.is_alive()
    response = holder["result"]
    assert response.status_code == 403
    has_precondition, text = precondition_and_reason(response)
    assert has_precondition and f"more than {SMALL_BUDGET:g} s" in text
    assert time.monotonic() - started < SMALL_BUDGET * 3 + MARGIN
    assert snapshot(owner, cal) == before
    # The owner's lock was released: the next write goes through at once.
    assert owner.put(f"{cal}next.ics", event("next")).status_code == 201


def time_range_query(start: str, end: str) -> str:
    return (f'{XML_HEADER}<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
            f'<C:comp-filter name="VEVENT"><C:time-range start="{start}" end="{end}"/>'
            '</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>')


def test_a_query_far_past_the_horizon_of_an_endless_series_ends_with_its_budget(engine, small_budget_server):
    owner, other = new_user(engine, small_budget_server), new_user(engine, small_budget_server)
    cal, other_cal = owner.mkcalendar("cal"), other.mkcalendar("cal")
    response = owner.put(f"{cal}every-second.ics", event("every-second", start="20260102T100000Z",
                                                          end="20260102T100001Z",
                                                          extra="RRULE:FREQ=SECONDLY\r\n"))
    assert response.status_code == 201, response.text
    before = snapshot(owner, cal)
    started = time.monotonic()
    thread, holder = run_in_background(
        lambda: owner.report(cal, time_range_query("21000101T000000Z", "21000102T000000Z")))
    assert served_meanwhile(other, thread, other_cal) >= 1
    thread.join(SMALL_BUDGET * 3 + MARGIN)
    assert not thread.is_alive()
    response = holder["result"]
    assert response.status_code == 503
    assert f"more than {SMALL_BUDGET:g} s" in response.text and "shorter time range" in response.text
    assert time.monotonic() - started < SMALL_BUDGET * 3 + MARGIN
    assert snapshot(owner, cal) == before
    # Within the indexed horizon the same series answers from the index.
    near = owner.report(cal, time_range_query("20260102T100000Z", "20260102T100010Z"))
    assert near.status_code == 207 and "every-second.ics" in near.text


# -- parsing: linear pre-scans ------------------------------------------------------------


def test_a_property_folded_over_many_lines_is_refused_before_parsing(user, cal):
    folded = "DESCRIPTION:x" + "\r\n y" * 20_000 + "\r\n"
    response, took = timed(lambda: user.put(f"{cal}folded.ics", event("folded", extra=folded)))
    assert response.status_code == 400
    assert "folded over more than 10000 lines" in response.text
    assert took < MARGIN
    assert user.request("GET", f"{cal}folded.ics").status_code == 404


def test_a_body_of_too_many_lines_is_refused_before_parsing(user, cal):
    lines = "".join(f"X-FILL-{n}:v\r\n" for n in range(120_000))
    response, took = timed(lambda: user.put(f"{cal}long.ics", event("long", extra=lines)))
    assert response.status_code == 400
    assert "at most 100000 are accepted" in response.text
    assert took < MARGIN


def test_deeply_nested_xml_is_refused_and_the_server_lives_on(user, cal, other_user):
    depth = 700_000  # about 14 MB: enough to overflow the C stack in the recursive code
    body = (XML_HEADER + '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<C:filter>' + '<C:comp-filter name="VCALENDAR">' * depth + '</C:comp-filter>' * depth
            + '</C:filter></C:calendar-query>')
    response, took = timed(lambda: user.report(cal, body))
    assert response.status_code == 400
    assert "more than 64 levels deep" in response.text
    assert took < MARGIN * 2
    assert other_user.request("PROPFIND", "", Depth="0").status_code == 207


@pytest.mark.parametrize("body", [
    XML_HEADER + '<!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><D:propfind xmlns:D="DAV:"><D:prop>'
    '<D:displayname>&c;</D:displayname></D:prop></D:propfind>',
    XML_HEADER + '<!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/passwd">]>'
    '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&ext;</D:displayname></D:prop></D:propfind>',
], ids=["billion-laughs", "external-entity"])
def test_xml_with_entity_declarations_is_refused(user, cal, body):
    for method in ("PROPFIND", "REPORT", "PROPPATCH"):
        response = user.request(method, cal, body, Depth="0", **{"Content-Type": "application/xml"})
        assert response.status_code == 400, (method, response.text)
        assert "DTDs and entity declarations are not accepted" in response.text


# -- the database bounds every statement, lock wait and idle transaction --------------------


def test_database_sessions_carry_timeouts_that_maintenance_lifts(engine, database_url, tmp_path,
                                                                monkeypatch):
    # Its own URL: the engines of the other tests keep their settings.
    url = make_url(database_url).update_query_dict(
        {"application_name": "planerix-timeout-test"}).render_as_string(hide_password=False)
    limited = database.engine_for(url, timeout_seconds=1)
    with limited.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "1s"
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "1s"
        assert conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar() == "1s"
        with pytest.raises(sa.exc.OperationalError, match="statement timeout"):
            conn.exec_driver_sql("SELECT pg_sleep(3)")
        conn.rollback()
        with conn.begin(), time_bounds.unbounded(conn):
            assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "0"
            conn.exec_driver_sql("SELECT pg_sleep(1.2)")
    # Migrations lift them for their transaction (they may wait for another process's).
    # A migration longer than the timeout still runs (upgrade lifts the limits for its transaction).
    package = f"slow_migration_{secrets.token_hex(4)}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "0001_slow.sql").write_text("SELECT pg_sleep(1.5);")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert database.upgrade(limited, package) == ["0001_slow.sql"]


# -- the feed importer ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def feed_storage(engine, small_budget_url):
    return writer.open_storage(small_budget_url, {"expansion_budget_seconds": str(SMALL_BUDGET)})


def subscribed_calendar(storage, owner) -> str:
    path = f"{owner.name}/feed"
    writer.create_calendar(storage, owner.name, path, {"D:displayname": "Feed"}, read_only=True)
    return path


def feed(*components: str) -> bytes:
    return calendar(*components).encode("utf-8")


def stored_texts(storage, owner, path) -> dict[str, str]:
    with writer.editing(storage, owner.name, path, allow_read_only=True) as editor:
        return {item.uid: item.text for item in editor.items()}


def test_the_importer_skips_objects_with_bad_rules_while_others_write(feed_storage, user, other_user,
                                                                      other_cal):
    path = subscribed_calendar(feed_storage, user)
    importer.import_feed(feed_storage, user.name, path, feed(vevent("kept", "Kept")))
    before = stored_texts(feed_storage, user, path)
    malicious = feed(vevent("kept", "Kept"), vevent("stuck", extra="RRULE:FREQ=WEEKLY;INTERVAL=0\r\n"),
                     vevent("never", extra="RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30\r\n"),
                     vevent("slow", extra=f"RRULE:{UNPROVABLE_EMPTY_RULE}\r\n"))
    started = time.monotonic()
    thread, holder = run_in_background(lambda: importer.import_feed(
        feed_storage, user.name, path, malicious, budget_seconds=30))
    assert served_meanwhile(other_user, thread, other_cal) >= 1
    thread.join(SMALL_BUDGET * 3 + MARGIN)
    assert not thread.is_alive()
    changes = holder["result"]
    assert time.monotonic() - started < SMALL_BUDGET * 3 + MARGIN
    assert (changes.added, changes.changed, changes.unchanged) == (0, 0, 1)
    assert "INTERVAL=0" in changes.skipped["stuck"]
    assert "no occurrence" in changes.skipped["never"]
    assert f"more than {SMALL_BUDGET:g} s" in changes.skipped["slow"]
    assert stored_texts(feed_storage, user, path) == before


def test_a_feed_too_long_to_parse_is_refused_whole(feed_storage, user):
    path = subscribed_calendar(feed_storage, user)
    importer.import_feed(feed_storage, user.name, path, feed(vevent("kept")))
    before = stored_texts(feed_storage, user, path)
    folded = vevent("folded", extra="DESCRIPTION:x" + "\r\n y" * 20_000 + "\r\n")
    with pytest.raises(importer.FeedInvalid, match="folded over more than"):
        importer.import_feed(feed_storage, user.name, path, feed(vevent("new"), folded))
    many = "".join(vevent(f"e{n}") for n in range(200))
    with pytest.raises(importer.FeedInvalid, match="at most 1000 are accepted"):
        importer.import_feed(feed_storage, user.name, path, feed(many), max_lines=1000)
    assert stored_texts(feed_storage, user, path) == before


def test_an_import_over_its_budget_or_cancelled_changes_nothing(feed_storage, user):
    path = subscribed_calendar(feed_storage, user)
    importer.import_feed(feed_storage, user.name, path, feed(vevent("kept")))
    before = stored_texts(feed_storage, user, path)
    slow = feed(vevent("new"), *(vevent(f"slow-{n}", extra=f"RRULE:{UNPROVABLE_EMPTY_RULE}\r\n")
                                 for n in range(20)))
    # Over the whole import's budget: refused, nothing written (not even the good object).
    with pytest.raises(importer.FeedInvalid, match="more than 0.5 s"):
        importer.import_feed(feed_storage, user.name, path, slow, budget_seconds=0.5)
    assert stored_texts(feed_storage, user, path) == before
    # Cancelled (the server stops) while dateutil searches: the thread ends at once.
    spend = budget.Budget(600, importer.IMPORTING)
    thread, holder = run_in_background(lambda: importer.import_feed(
        feed_storage, user.name, path, slow, spend=spend))
    deadline = time.monotonic() + MARGIN
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(thread.ident)
        if frame is not None and "dateutil" in frame.f_code.co_filename:
            break
        threading.Event().wait(0.01)  # poll the condition, not a fixed delay
    spend.cancel()
    cancelled_at = time.monotonic()
    thread.join(MARGIN)
    assert not thread.is_alive() and time.monotonic() - cancelled_at < MARGIN
    assert isinstance(holder.get("error"), importer.FeedInvalid)
    assert "shutting down" in str(holder["error"])
    assert stored_texts(feed_storage, user, path) == before


# -- SIGTERM during a malicious import --------------------------------------------------------


def test_sigterm_stops_the_server_while_a_malicious_feed_is_imported(engine, database_url, base_url,
                                                                     feed_server):
    # Each object costs the full expansion budget (5 s by default): about 150 s of import, and an
    # import budget far longer, so only the stop itself can end it.
    feed_server.feeds["/slow.ics"] = Feed(feed(*(vevent(f"slow-{n}", extra=f"RRULE:{UNPROVABLE_EMPTY_RULE}\r\n")
                                                  for n in range(30))))
    server = ServeProcess("--database-url", database_url, env={
        "PLANERIX_FEEDS_TICK_SECONDS": "0.1", "PLANERIX_FEEDS_ALLOW_PRIVATE_NETWORKS": "1",
        "PLANERIX_FEEDS_IMPORT_SECONDS": "600"})
    try:
        owner = new_user(engine, base_url)
        response = requests.post(f"{server.api_url}/api/subscriptions", auth=(owner.name, owner.password),
                                 json={"url": feed_server.url("/slow.ics"), "calendar": "slow"})
        assert response.status_code == 201, response.text
        deadline = time.monotonic() + MARGIN * 4
        while not feed_server.hits("/slow.ics") and time.monotonic() < deadline:
            threading.Event().wait(0.05)  # poll the condition
        assert feed_server.hits("/slow.ics"), "the scheduler never fetched the feed"
    finally:
        took = server.stop(timeout=MARGIN * 6)
    assert "Planerix stopped." in "".join(server.output)
    assert took < MARGIN * 3
    assert [href for href in snapshot(owner, "slow/") if href.endswith(".ics")] == []


# -- plain Radicale on the plugin is bounded by the storage itself ------------------------------


def test_plain_radicale_refuses_an_endless_rule_in_the_storage(engine, database_url):
    from radicale import app as radicale_app
    from radicale import server as radicale_server

    from server import settings

    configuration = settings.radicale_configuration(database_url, "127.0.0.1", 0)
    configuration.update({"logging": {"level": "warning"}, "auth": {"delay": "0"},
                          "server": {"_internal_server": "True"}}, "tests", privileged=True)
    httpd = radicale_server.ParallelHTTPServer(configuration, socket.AF_INET, ("127.0.0.1", 0),
                                              radicale_server.RequestHandler)
    httpd.set_app(radicale_app.Application(configuration))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        owner = new_user(engine, f"http://127.0.0.1:{httpd.server_address[1]}")
        cal = owner.mkcalendar("cal")
        response, took = timed(lambda: owner.put(f"{cal}stuck.ics", recurring("stuck", "FREQ=WEEKLY;INTERVAL=0")))
        assert response.status_code == 400  # stock Radicale turns a storage ValueError into 400
        assert took < MARGIN
        assert owner.request("GET", f"{cal}stuck.ics").status_code == 404
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(MARGIN)


def test_the_api_database_sessions_carry_the_timeouts_too(engine, database_url):
    import asyncio

    from okr_extension.app import ENGINE, create_app

    async def shown() -> list[str]:
        app = create_app(database_url)
        try:
            async with app[ENGINE].connect() as conn:
                return [(await conn.exec_driver_sql(f"SHOW {name}")).scalar() for name in
                        ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")]
        finally:
            await app[ENGINE].dispose()
    assert asyncio.run(shown()) == [f"{database.DEFAULT_TIMEOUT_SECONDS // 60}min"] * 3
