"""``planerix serve --workers N``: several processes share the ports and one database; a dead
worker is replaced; SIGTERM drains the requests in flight; a client whose requests land on
different workers sees one state."""
from __future__ import annotations

import json
import os
import signal
import time
import uuid

import pytest
import requests

from conftest import ServeProcess, new_user
from davutil import multistatus, sync_body
from test_two_processes import _event
from workerutil import SlowRequest, wait_for_workers, wait_until_serving


@pytest.fixture(scope="module")
def two_workers(engine, database_url):
    serve = ServeProcess("--database-url", database_url, "--workers", "2")
    yield serve
    started = time.monotonic()
    try:
        serve.stop()
    finally:
        print(f"stopped after {time.monotonic() - started:.1f} s:\n" + "".join(serve.output))


def _sync_token(user, calendar: str, token: str = "") -> tuple[str, list]:
    response = user.report(calendar, sync_body(token))
    assert response.status_code == 207, response.text
    responses, root = multistatus(response.content)
    return root.find("{DAV:}sync-token").text, responses


def test_a_killed_worker_is_replaced_and_requests_are_still_served(engine, two_workers):
    user = new_user(engine, two_workers.caldav_url)
    calendar = user.mkcalendar(f"kill-{uuid.uuid4().hex[:6]}")
    before = wait_for_workers(two_workers.process.pid, 2)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    # A connection kept open to the victim (server.keep_alive) dies with it, as a connection to
    # any killed server does: the client connects again, and the survivor (and the queue of the
    # shared socket) answers while the victim is replaced.
    user.session.close()
    for n in range(10):
        assert user.put(f"{calendar}e{n}.ics", _event(f"e{n}", "x"), If_None_Match="*").status_code == 201
    after = wait_for_workers(two_workers.process.pid, 2, without={victim})
    assert len(after & before) == 1
    (replacement,) = after - before
    wait_until_serving(replacement, two_workers.caldav_port)
    assert wait_for_workers(two_workers.process.pid, 2, timeout=1) == after
    for _ in range(10):
        assert requests.get(two_workers.caldav_url + "/readyz").status_code == 200
        assert requests.get(two_workers.api_url + "/readyz").status_code == 200
    _, members = _sync_token(user, calendar)
    assert len(members) == 10


def test_requests_on_different_workers_see_one_state(engine, two_workers):
    """Radicale answers HTTP/1.0: every request is a connection of its own, which whichever
    worker accepts first serves."""
    user = new_user(engine, two_workers.caldav_url)
    calendar = user.mkcalendar("one-state")
    etag = user.put(f"{calendar}a.ics", _event("a", "v1"), If_None_Match="*").headers["ETag"]
    token, _ = _sync_token(user, calendar)
    for round_ in range(8):
        assert user.request("GET", f"{calendar}a.ics").headers["ETag"] == etag
        assert _sync_token(user, calendar, token) == (token, [])
        stale = user.put(f"{calendar}a.ics", _event("a", "stale"), If_Match='"stale"')
        assert stale.status_code == 412
        updated = user.put(f"{calendar}a.ics", _event("a", f"v{round_ + 2}"), If_Match=etag)
        assert updated.status_code == 204, updated.text
        assert updated.headers["ETag"] != etag
        etag = updated.headers["ETag"]
        new_token, changed = _sync_token(user, calendar, token)
        assert new_token != token and [r.href.rsplit("/", 1)[1] for r in changed] == ["a.ics"]
        token = new_token


def _wait_until_refused(url: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=5)
        except requests.ConnectionError:
            return
        time.sleep(0.05)
    raise AssertionError(f"{url} still accepts connections {timeout:g} s after SIGTERM")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_lets_requests_in_flight_finish(engine, database_url, base_url, workers):
    serve = ServeProcess("--database-url", database_url, "--workers", workers, "--drain-timeout", "10")
    try:
        user = new_user(engine, serve.caldav_url)
        calendar = user.mkcalendar("drain")
        api_user = new_user(engine, serve.caldav_url)
        caldav_write = SlowRequest("127.0.0.1", serve.caldav_port, "PUT", f"/{user.name}/{calendar}late.ics",
                                   _event("late", "sent while stopping").encode(), "text/calendar",
                                   (user.name, user.password))
        api_write = SlowRequest("127.0.0.1", serve.api_port, "POST", "/api/organisations",
                                json.dumps({"name": "Late"}).encode(), "application/json",
                                (api_user.name, api_user.password))
        caldav_write.wait_accepted(serve.process.pid)
        api_write.wait_accepted(serve.process.pid)
        serve.process.send_signal(signal.SIGTERM)
        _wait_until_refused(serve.caldav_url + "/livez")
        assert serve.process.poll() is None, "exited with requests in flight"
        assert caldav_write.finish()[0] == 201
        assert api_write.finish()[0] == 201
        assert serve.process.wait(15) == 0
    finally:
        serve.stop()
    stored = requests.get(f"{base_url}/{user.name}/{calendar}late.ics", auth=(user.name, user.password))
    assert stored.status_code == 200 and "sent while stopping" in stored.text
