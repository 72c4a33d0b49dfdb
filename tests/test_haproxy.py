"""Two ``planerix serve --database-url`` nodes behind HAProxy with the example configuration
(docs/haproxy.cfg): a client's consecutive requests alternate between the nodes and see one
state; killing a node in the middle of writes loses nothing that was acknowledged."""
from __future__ import annotations

import itertools
import signal
import threading
import time
import uuid

import pytest
import requests

from conftest import ServeProcess, new_user
from davutil import multistatus, sync_body
from proxies import HAProxy
from test_two_processes import _event
from waiting import wait_until

NODE_HEADER = "X-Planerix-Node"


def _nodes_behind_a_proxy(database_url, tmp_path_factory):
    started = []
    try:
        for _ in range(2):
            started.append(ServeProcess("--database-url", database_url, "--workers", "1"))
        proxy = HAProxy(started, tmp_path_factory.mktemp("haproxy"))
    except BaseException:
        for node in started:
            node.stop()
        raise
    yield proxy, started
    proxy.stop()
    for node in started:
        node.stop()


@pytest.fixture(scope="module")
def nodes(engine, database_url, tmp_path_factory):
    yield from _nodes_behind_a_proxy(database_url, tmp_path_factory)


@pytest.fixture
def nodes_to_kill(engine, database_url, tmp_path_factory):
    """Nodes of the killing test's own: the others' must not depend on whether it ran first."""
    yield from _nodes_behind_a_proxy(database_url, tmp_path_factory)


def _sync(user, calendar: str, token: str = ""):
    response = user.report(calendar, sync_body(token))
    assert response.status_code == 207, response.text
    responses, root = multistatus(response.content)
    return response.headers[NODE_HEADER], root.find("{DAV:}sync-token").text, responses


def test_alternating_nodes_see_one_state(engine, nodes):
    proxy, _ = nodes
    user = new_user(engine, proxy.caldav_url)
    calendar = user.mkcalendar("alternating")
    created = user.put(f"{calendar}a.ics", _event("a", "v1"), If_None_Match="*")
    assert created.status_code == 201
    etag = created.headers["ETag"]
    _, token, _ = _sync(user, calendar)
    served_by = []
    for round_ in range(6):
        read = user.request("GET", f"{calendar}a.ics")
        served_by.append(read.headers[NODE_HEADER])
        assert read.headers["ETag"] == etag
        node, same_token, changes = _sync(user, calendar, token)
        served_by.append(node)
        assert (same_token, changes) == (token, [])
        assert user.put(f"{calendar}a.ics", _event("a", "stale"), If_Match='"stale"').status_code == 412
        updated = user.put(f"{calendar}a.ics", _event("a", f"v{round_ + 2}"), If_Match=etag)
        served_by.append(updated.headers[NODE_HEADER])
        assert updated.status_code == 204, updated.text
        etag = updated.headers["ETag"]
        node, token, changes = _sync(user, calendar, token)
        served_by.append(node)
        assert [r.href.rsplit("/", 1)[1] for r in changes] == ["a.ics"]
    assert set(served_by) == {"caldav-1", "caldav-2"}
    # Round-robin: consecutive requests of this client are spread over both nodes.
    assert max(len(list(run)) for _, run in itertools.groupby(served_by)) <= 3, served_by


def test_the_api_is_balanced_and_ready_through_the_proxy(nodes):
    proxy, _ = nodes
    # Round-robin spreads consecutive requests; a node its health check has just marked down (a
    # slow answer on a busy machine) is back after two good checks.
    seen: set[str] = set()
    for _ in range(40):
        seen.add(requests.get(proxy.api_url + "/readyz").headers[NODE_HEADER])
        if len(seen) == 2:
            break
        time.sleep(0.25)
    assert seen == {"api-1", "api-2"}


def test_killing_a_node_mid_write_loses_nothing_acknowledged(engine, nodes_to_kill):
    """It kills node 2 of its own pair. Writers keep creating items through the proxy;
    every 201 must be stored with its ETag; a write cut by the kill may fail (the client would
    retry it), never count as done while lost."""
    proxy, started = nodes_to_kill
    user = new_user(engine, proxy.caldav_url)
    calendar = user.mkcalendar("kill")
    acknowledged: dict[str, str] = {}
    failures: list = []
    stop = threading.Event()

    def write(writer: int) -> None:
        with requests.Session() as session:
            session.auth = (user.name, user.password)
            for n in itertools.count():
                if stop.is_set():
                    return
                uid = f"w{writer}-{n}-{uuid.uuid4().hex[:6]}"
                try:
                    answer = session.put(user.url(f"{calendar}{uid}.ics"), data=_event(uid, "kept"),
                                         headers={"If-None-Match": "*", "Content-Type": "text/calendar"},
                                         timeout=30)
                except requests.RequestException as e:
                    failures.append(type(e).__name__)
                    continue
                if answer.status_code == 201:
                    acknowledged[f"{uid}.ics"] = answer.headers["ETag"]
                else:
                    failures.append(answer.status_code)

    writers = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in writers:
        thread.start()
    wait_until(lambda: len(acknowledged) >= 8, timeout=60, what="writes acknowledged through both nodes")
    started[1].process.send_signal(signal.SIGKILL)
    count_after_kill = len(acknowledged)
    # HAProxy retries on node 1 and its checks take node 2 out: the writers go on.
    wait_until(lambda: len(acknowledged) >= count_after_kill + 20, timeout=60, interval=0.1,
               what="writes acknowledged through node 1 after the kill")
    stop.set()
    for thread in writers:
        thread.join(30)
    assert count_after_kill > 0 and len(acknowledged) > count_after_kill, "writes go on through node 1"
    # What the kill cut is a gateway error (HAProxy), never a 5xx of Planerix's own.
    assert all(status in (502, 503, 504) or isinstance(status, str) for status in failures), failures
    response = user.report(calendar, sync_body())
    stored = {r.href.rsplit("/", 1)[1]: r.text("D:getetag") for r in multistatus(response.content)[0]}
    missing = sorted(href for href in acknowledged if href not in stored)
    assert not missing, f"{len(missing)} acknowledged writes lost: {missing[:5]}"
    assert all(stored[href] == etag for href, etag in acknowledged.items())
