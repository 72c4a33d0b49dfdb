"""Two ``planerix serve`` processes on one database deliver each event once, and a process
killed after claiming a delivery does not lose it."""
from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

import okr_extension
from conftest import ApiUser, ServeProcess, fresh_database, new_user
from storage_plugin import clock, database
from waiting import wait_until
from webhookutil import hook_loop, receiver  # noqa: F401 (fixtures)

ENV = {"PLANERIX_ALLOW_PRIVATE_NETWORKS": "1", "PLANERIX_WEBHOOKS_TICK_SECONDS": "0.2",
       "PLANERIX_WEBHOOKS_LEASE_SECONDS": "3", "PLANERIX_FEEDS_SCHEDULER": "0"}
KPIS = 16


@pytest.fixture(scope="module")
def own_database(database_server):
    """The workers deliver every due delivery of their database: give them one holding only ours."""
    with fresh_database(database_server) as url:
        okr_extension.migrate(database.engine_for(url))
        yield url


@pytest.fixture(scope="module")
def engine(own_database):
    return database.engine_for(own_database)


@pytest.fixture
def two_servers(own_database):
    first = ServeProcess("--database-url", own_database, env=ENV)
    try:
        second = ServeProcess("--database-url", own_database, env=ENV)
    except Exception:
        first.stop()
        raise
    yield first, second
    for process in (first, second):
        process.stop()


def _setup(engine, servers, receiver):
    user = new_user(engine, servers[0].caldav_url)
    apis = [ApiUser(server.api_url, user.name, user.password) for server in servers]
    org = apis[0].ok("POST", "/api/organisations", {"name": "Two processes"})
    hook = apis[-1].ok("POST", "/api/webhooks", {"organisation_id": org["id"], "url": receiver.url(),
                                                "kinds": ["kpi.breach"]})
    return apis, org, hook


def _breach(api, org, name):
    indicator = api.ok("POST", "/api/kpis", {"organisation_id": org["id"], "name": name, "period": "daily",
                                             "warn_threshold": 10, "alarm_threshold": 5})
    api.ok("POST", f"/api/kpis/{indicator['id']}/measurements", {"measurements": [
        {"measured_at": clock.now().isoformat(), "value": 0}]}, status=200)
    return indicator


def _settled(engine, hook_id) -> bool:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT bool_and(state = 'delivered' AND lease_until IS NULL) FROM webhook_delivery"
            " WHERE webhook_id = :id"), {"id": hook_id}).scalar_one()


def test_two_processes_deliver_each_event_once(engine, two_servers, receiver):
    apis, org, hook = _setup(engine, two_servers, receiver)
    indicators = [_breach(apis[i % 2], org, f"KPI {i}") for i in range(KPIS)]
    wait_until(lambda: len(receiver.received) >= KPIS and _settled(engine, hook["id"]), timeout=60,
               what="every breach delivered")
    event_ids = Counter(r.headers["Planerix-Event-Id"] for r in receiver.received)
    assert len(event_ids) == KPIS and set(event_ids.values()) == {1}
    assert sorted(json.loads(r.body)["subject"]["id"] for r in receiver.received) == sorted(
        i["id"] for i in indicators)
    log = apis[0].ok("GET", f"/api/webhooks/{hook['id']}/deliveries", limit=100)["items"]
    assert len(log) == KPIS and {d["attempts"] for d in log} == {1}


def test_a_process_killed_while_delivering_loses_nothing(engine, two_servers, receiver):
    apis, org, hook = _setup(engine, two_servers, receiver)
    receiver.hold = threading.Event()  # the first POST waits: its sender is killed meanwhile
    receiver.identify_clients = True
    indicator = _breach(apis[0], org, "Killed")
    wait_until(lambda: receiver.received, timeout=30, what="the first delivery attempt")
    first = receiver.received[0]
    [victim] = [s for s in two_servers if s.process.pid == first.client_pid]
    victim.process.kill()
    victim.process.wait(10)
    receiver.hold.set()
    wait_until(lambda: len(receiver.received) >= 2 and _settled(engine, hook["id"]), timeout=60,
               what="the survivor to deliver after the lease expired")
    assert {r.headers["Planerix-Event-Id"] for r in receiver.received} == {first.headers["Planerix-Event-Id"]}
    assert json.loads(receiver.received[-1].body)["subject"]["id"] == indicator["id"]
    [log] = apis[1 if victim is two_servers[0] else 0].ok(
        "GET", f"/api/webhooks/{hook['id']}/deliveries")["items"]
    assert log["state"] == "delivered" and log["attempts"] == 1
    assert datetime.fromisoformat(log["delivered"]) - datetime.fromisoformat(log["created"]) >= timedelta(seconds=3)


def test_a_new_event_wakes_the_worker_at_once(own_database, engine, receiver):
    """With a tick of a minute, only the database's notification can make the delivery this quick."""
    server = ServeProcess("--database-url", own_database, env={**ENV, "PLANERIX_WEBHOOKS_TICK_SECONDS": "60"})
    try:
        apis, org, hook = _setup(engine, [server], receiver)
        _breach(apis[0], org, "Notified")
        wait_until(lambda: receiver.received, timeout=20, what="the notified delivery")
    finally:
        server.stop()
