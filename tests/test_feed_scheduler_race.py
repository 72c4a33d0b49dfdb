"""Two ``planerix serve`` processes on one database: each feed is fetched once per interval."""
from __future__ import annotations

from collections import Counter

import pytest
import requests
from sqlalchemy import text

import okr_extension
from conftest import ServeProcess, fresh_database, new_user
from davutil import calendar, vevent
from feedutil import Feed, feed_server, loop_thread  # noqa: F401 (fixtures)
from storage_plugin import database
from waiting import wait_until

FEEDS = 12
SCHEDULER_ENV = {"PLANERIX_FEEDS_TICK_SECONDS": "0.1", "PLANERIX_FEEDS_ALLOW_PRIVATE_NETWORKS": "1"}


@pytest.fixture(scope="module")
def own_database(database_server):
    """The schedulers fetch every due feed of their database: give them one holding only ours."""
    with fresh_database(database_server) as url:
        okr_extension.migrate(database.engine_for(url))
        yield url


@pytest.fixture(scope="module")
def engine(own_database):
    return database.engine_for(own_database)


@pytest.fixture(scope="module")
def two_servers(own_database):
    first = ServeProcess("--database-url", own_database, env=SCHEDULER_ENV)
    try:
        second = ServeProcess("--database-url", own_database, env=SCHEDULER_ENV)
    except Exception:
        first.stop()
        raise
    yield first, second
    for process in (first, second):
        process.stop()


def _quiescent(engine, ids) -> bool:
    """No subscription claimed and none due: no process can fetch any of them any more,
    so the feed server's request counts are final."""
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT bool_and(lease_until IS NULL AND next_run > now()) FROM feed_subscription"
            " WHERE id = ANY(:ids)"), {"ids": ids}).scalar_one()


def test_two_schedulers_fetch_each_feed_once_per_interval(engine, two_servers, feed_server):
    first, second = two_servers
    user = new_user(engine, first.caldav_url)
    paths = [f"/race-{i}.ics" for i in range(FEEDS)]
    feed_server.identify_clients = True
    for path in paths:
        feed_server.feeds[path] = Feed(calendar(vevent(path[1:-4], "Round 1")).encode(), delay=0.3)
    created = []
    for i, path in enumerate(paths):  # registered through both processes; all due at once
        api = (first, second)[i % 2].api_url
        response = requests.post(f"{api}/api/subscriptions", auth=(user.name, user.password),
                                 json={"url": feed_server.url(path), "calendar": f"race-{i}"})
        assert response.status_code == 201, response.text
        created.append(response.json()["id"])

    def statuses():
        answer = requests.get(f"{second.api_url}/api/subscriptions", auth=(user.name, user.password))
        return {s["id"]: s["status"] for s in answer.json()}

    def all_succeeded(count: int):
        current = statuses()
        done = [s for s in current.values() if s["last_success"] and s["item_count"] == 1
                and s["last_changes"]["result"] == "imported"]
        return current if len(done) == count and len(current) == FEEDS else None

    wait_until(lambda: all_succeeded(FEEDS), timeout=60, what="every feed imported")
    wait_until(lambda: _quiescent(engine, created), what="no feed claimed or due")
    assert Counter(p for p, _ in feed_server.requests) == Counter({p: 1 for p in paths})

    # The next interval: every feed due again (with new content), raced again by both processes.
    for path in paths:
        feed_server.feeds[path].body = calendar(vevent(path[1:-4], "Round 2")).encode()
    with engine.begin() as conn:
        conn.execute(text("UPDATE feed_subscription SET next_run = now() WHERE id = ANY(:ids)"),
                     {"ids": created})

    def all_updated():
        current = statuses()
        return all(s["last_changes"].get("changed") == 1 for s in current.values()) and current

    final = wait_until(all_updated, timeout=60, what="every feed updated")
    wait_until(lambda: _quiescent(engine, created), what="no feed claimed or due")
    assert Counter(p for p, _ in feed_server.requests) == Counter({p: 2 for p in paths})
    assert all(s["state"] == "ok" and s["consecutive_failures"] == 0 for s in final.values())
    body = requests.get(f"{second.caldav_url}/{user.name}/race-0/race-0.ics",
                        auth=(user.name, user.password)).text
    assert "SUMMARY:Round 2" in body
    # It was a race: both processes fetched feeds.
    fetched_by = Counter(feed_server.client_pids)
    assert set(fetched_by) == {first.process.pid, second.process.pid}, fetched_by
