"""README, "Configuration": the plugin's [storage] options, [server] max_connections and the
failed-login delay, each set to a non-default value on a CalDAV server of its own and observed."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
import requests
from sqlalchemy import text

import okr_extension
from conftest import DavUser, fresh_database, new_user, start_caldav_server
from davutil import event
from storage_plugin import accounts, database
from test_sync import sync, sync_refused
from test_time_range import filter_xml, hrefs


@pytest.fixture
def caldav_server_with(database_url, engine):
    """``caldav_server_with(section_options)``: a CalDAV server on the session database with
    overrides; stopped after the test."""
    servers = []

    def start(extra: dict) -> str:
        server = start_caldav_server(database_url, extra)
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"
    yield start
    for server in servers:
        server.stop()


def same_user_on(base: str, user: DavUser) -> DavUser:
    return DavUser(base, user.name, user.password)


def occurrence_index(engine, user: DavUser, calendar: str, href: str) -> tuple[int | None, list[int]]:
    """(expanded_until, sorted occurrence starts) of one stored item."""
    with engine.connect() as conn:
        item_id, expanded_until = conn.execute(text(
            "SELECT i.id, i.expanded_until FROM item i JOIN collection c ON c.id = i.collection_id"
            " WHERE c.path = :path AND i.href = :href"), {"path": f"{user.name}/{calendar}", "href": href}).one()
        starts = conn.execute(text("SELECT lower(span) FROM item_occurrence WHERE item_id = :id ORDER BY 1"),
                              {"id": item_id}).scalars().all()
    return expanded_until, starts


def window(start: datetime, hours: int = 1) -> str:
    return filter_xml(start, start + timedelta(hours=hours))


# -- [auth] delay ---------------------------------------------------------------------------

def test_failed_login_is_delayed_by_the_configured_delay(database_url, engine, monkeypatch):
    """Radicale sleeps delay * (0.5 + random()) after a failed login, exactly delay when
    PYTEST_VERSION is set (its own test hook, pinned here so the bound is exact)."""
    monkeypatch.setenv("PYTEST_VERSION", "pinned")
    server = start_caldav_server(database_url, {"auth": {"delay": "1"}})
    try:
        user = new_user(engine, f"http://127.0.0.1:{server.port}")
        assert user.request("PROPFIND", "", Depth="0").status_code == 207
        started = time.monotonic()
        refused = requests.request("PROPFIND", user.url(), auth=(user.name, "wrong-password"),
                                   headers={"Depth": "0"})
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert refused.status_code == 401
    assert elapsed >= 0.9


# -- [storage] sync_history_days --------------------------------------------------------------

def test_sync_history_days_decides_when_an_old_token_is_refused(user, engine, caldav_server_with):
    """A deletion ten days old: the default (30 days) keeps its tombstone, so an older token still
    syncs; a server with sync_history_days = 5 prunes it at its next deletion, and that token
    gets 403 DAV:valid-sync-token."""
    short = same_user_on(caldav_server_with({"storage": {"sync_history_days": "5"}}), user)
    cal = user.mkcalendar("history")
    for name in ("a", "b", "c", "d"):
        assert user.put(f"history/{name}.ics", event(name)).status_code == 201
    oldest = sync(user, cal).token
    assert user.request("DELETE", "history/a.ics").status_code in (200, 204)
    after_a = sync(user, cal).token
    with engine.begin() as conn:  # a.ics was deleted ten days ago
        aged = conn.execute(text(
            "UPDATE tombstone t SET deleted_at = now() - interval '10 days' FROM collection c"
            " WHERE c.id = t.collection_id AND c.path = :path AND t.href = 'a.ics'"),
            {"path": f"{user.name}/history"}).rowcount
    assert aged == 1

    assert user.request("DELETE", "history/b.ics").status_code in (200, 204)  # default: 30 days
    answer = sync(user, cal, oldest)
    assert {href.rsplit("/", 1)[1]: r.status for href, r in answer.items.items()} == \
        {"a.ics": 404, "b.ics": 404}

    assert short.request("DELETE", "history/c.ics").status_code in (200, 204)  # 5 days: a.ics pruned
    sync_refused(user, cal, oldest)
    newer = sync(user, cal, after_a)
    assert {href.rsplit("/", 1)[1] for href in newer.items} == {"b.ics", "c.ics"}


# -- [storage] max_occurrences_per_item -------------------------------------------------------

def test_max_occurrences_per_item_caps_the_index_and_queries_stay_right(user, engine, caldav_server_with):
    capped = same_user_on(caldav_server_with({"storage": {"max_occurrences_per_item": "10"}}), user)
    first = datetime(2026, 1, 1, 10, tzinfo=timezone.utc)
    series = event("daily-50", start="20260101T100000Z", end="20260101T110000Z",
                   extra="RRULE:FREQ=DAILY;COUNT=50\r\n")
    user.mkcalendar("uncapped")
    user.mkcalendar("capped")
    assert user.put("uncapped/s.ics", series).status_code == 201
    assert capped.put("capped/s.ics", series).status_code == 201

    assert occurrence_index(engine, user, "uncapped", "s.ics") == \
        (None, [int((first + timedelta(days=n)).timestamp()) for n in range(50)])
    cut, starts = occurrence_index(engine, user, "capped", "s.ics")
    assert starts == [int((first + timedelta(days=n)).timestamp()) for n in range(10)]
    assert cut == int((first + timedelta(days=10)).timestamp())

    # Beyond the cap the series is parsed: the same answers as from the full index.
    for cal in ("uncapped/", "capped/"):
        assert hrefs(user, cal, window(first + timedelta(days=29))) == {"s.ics"}
        assert hrefs(user, cal, window(first + timedelta(days=49))) == {"s.ics"}
        assert hrefs(user, cal, window(first + timedelta(days=29, hours=5))) == set()
        assert hrefs(user, cal, window(first + timedelta(days=50))) == set()


# -- [storage] expand_horizon_days ------------------------------------------------------------

def test_expand_horizon_days_bounds_the_index_and_queries_beyond_fall_back(user, engine, caldav_server_with):
    near = same_user_on(caldav_server_with({"storage": {"expand_horizon_days": "30"}}), user)
    series = event("weekly", start="20260105T170000Z", end="20260105T180000Z", extra="RRULE:FREQ=WEEKLY\r\n")
    user.mkcalendar("far")
    user.mkcalendar("near")
    assert user.put("far/w.ics", series).status_code == 201
    assert near.put("near/w.ics", series).status_code == 201

    far_cut, far_starts = occurrence_index(engine, user, "far", "w.ics")
    near_cut, near_starts = occurrence_index(engine, user, "near", "w.ics")
    # Both cuts are the first occurrence past "write time + horizon"; the writes were moments apart.
    assert timedelta(days=1070 - 7) < timedelta(seconds=far_cut - near_cut) < timedelta(days=1070 + 7)
    assert near_starts == far_starts[:len(near_starts)] and max(near_starts) < near_cut
    assert len(far_starts) - len(near_starts) in range(152, 155)  # 1070 days of Mondays

    # Past the near server's horizon its calendar is answered by parsing the series, exactly.
    beyond = datetime.fromtimestamp(near_cut, timezone.utc)
    assert beyond.weekday() == 0 and (beyond.hour, beyond.minute) == (17, 0)
    for cal in ("far/", "near/"):
        assert hrefs(user, cal, window(beyond)) == {"w.ics"}
        assert hrefs(user, cal, window(beyond + timedelta(weeks=3))) == {"w.ics"}
        assert hrefs(user, cal, window(beyond + timedelta(days=1))) == set()
        assert hrefs(user, cal, window(beyond - timedelta(hours=2))) == set()


# -- [server] max_connections -------------------------------------------------------------------

def backends(monitor: psycopg.Connection, *besides: int) -> int:
    """Connections to the monitor's database other than the monitor's own and ``besides``."""
    return monitor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                           " AND pid <> pg_backend_pid() AND pid <> ALL(%s)", (list(besides),)).fetchone()[0]


def test_max_connections_bounds_the_database_connections_and_more_requests_wait(database_url):
    """max_connections = 2 and six simultaneous PUTs held up by a table lock: the server never
    holds more than two connections, the other requests wait for one, and all six succeed."""
    requests_sent = 6
    with fresh_database(database_url) as url:
        okr_extension.migrate(database.engine_for(url))
        server = start_caldav_server(url, {"server": {"max_connections": "2"}})
        try:
            accounts.add(database.engine_for(url), "pool", "pool-password")
            base = f"http://127.0.0.1:{server.port}"
            user = DavUser(base, "pool", "pool-password")
            user.mkcalendar("pool")
            user.session.close()  # the server keeps a connection open while its client does
            answers: list = [None] * requests_sent
            seen: list[int] = []
            with psycopg.connect(url) as monitor, psycopg.connect(url, autocommit=True) as locker:
                monitor.autocommit = True
                deadline = time.monotonic() + 30
                while server._httpd.worker_sockets:  # the MKCALENDAR's connection is done with
                    assert time.monotonic() < deadline, "the server kept a finished request"
                with locker.transaction():
                    # Writers bump the calendar's revision: they block on this lock holding their connection.
                    locker.execute("LOCK TABLE collection IN EXCLUSIVE MODE")

                    def put(index: int) -> None:
                        with requests.Session() as session:
                            answers[index] = session.put(
                                f"{base}/pool/pool/{index}.ics", data=event(f"p{index}").encode(),
                                auth=("pool", "pool-password"), headers={"Content-Type": "text/calendar"},
                                timeout=60)
                    threads = [threading.Thread(target=put, args=(i,)) for i in range(requests_sent)]
                    for thread in threads:
                        thread.start()
                    # All six accepted by the server (each has a worker socket until it finishes)...
                    while len(server._httpd.worker_sockets) < requests_sent:
                        seen.append(backends(monitor, locker.info.backend_pid))
                        assert time.monotonic() < deadline, "the six requests did not reach the server"
                    # ...and two of them waiting for the lock on their database connections.
                    while monitor.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                            " AND wait_event_type = 'Lock'").fetchone()[0] < 2:
                        seen.append(backends(monitor, locker.info.backend_pid))
                        assert time.monotonic() < deadline, "no request reached the database"
                    for _ in range(50):
                        seen.append(backends(monitor, locker.info.backend_pid))
                for thread in threads:
                    thread.join(60)
                seen.append(backends(monitor, locker.info.backend_pid))
        finally:
            server.stop()
    assert [a.status_code for a in answers] == [201] * requests_sent
    assert max(seen) == 2, seen
