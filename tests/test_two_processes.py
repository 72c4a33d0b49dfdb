"""Two ``planerix serve`` processes on one database must never lose an update."""
import threading
import uuid

import pytest
import requests

from conftest import ServeProcess, new_user

ROUNDS = 15


def _event(uid: str, summary: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261110T100000Z\r\n"
            f"DTEND:20261110T110000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def two_serve_processes(*args: str, env: dict | None = None):
    """Two ``planerix serve ARGS`` processes; a generator for module fixtures (stops both)."""
    first = ServeProcess(*args, env=env)
    try:
        second = ServeProcess(*args, env=env)
    except Exception:
        first.stop()
        raise
    yield first, second
    for process in (first, second):
        process.stop()


@pytest.fixture(scope="module")
def two_servers(engine, database_url):
    yield from two_serve_processes("--database-url", database_url)


def _race(requests_to_send):
    """Send the requests at the same instant from one thread each; returns responses in order."""
    barrier = threading.Barrier(len(requests_to_send))
    results = [None] * len(requests_to_send)

    def send(index, prepared):
        with requests.Session() as session:
            barrier.wait()
            results[index] = session.send(prepared)

    threads = [threading.Thread(target=send, args=(i, r)) for i, r in enumerate(requests_to_send)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_concurrent_if_match_updates_through_two_processes(engine, two_servers):
    first, second = two_servers
    user = new_user(engine, first.caldav_url)
    user.mkcalendar("race")
    uid = f"race-{uuid.uuid4().hex}"
    href = user.url(f"race/{uid}.ics")
    created = user.put(f"race/{uid}.ics", _event(uid, "v0"), If_None_Match="*")
    assert created.status_code == 201
    etag = created.headers["ETag"]
    for round_ in range(ROUNDS):
        bodies = [_event(uid, f"round {round_} via {name}") for name in ("first", "second")]
        prepared = [
            requests.Request("PUT", href.replace(first.caldav_url, server.caldav_url), data=body,
                             auth=(user.name, user.password),
                             headers={"If-Match": etag, "Content-Type": "text/calendar"}).prepare()
            for server, body in zip((first, second), bodies)]
        answers = _race(prepared)
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [204, 412], f"round {round_}: {statuses}"
        winner = next(i for i, a in enumerate(answers) if a.status_code == 204)
        etag = answers[winner].headers["ETag"]
        stored = requests.get(href.replace(first.caldav_url, second.caldav_url),
                              auth=(user.name, user.password))
        assert stored.headers["ETag"] == etag
        assert f"SUMMARY:round {round_} via {('first', 'second')[winner]}" in stored.text


def test_concurrent_creates_of_one_href_through_two_processes(engine, two_servers):
    first, second = two_servers
    user = new_user(engine, first.caldav_url)
    user.mkcalendar("create-race")
    for round_ in range(ROUNDS):
        uid = f"new-{round_}-{uuid.uuid4().hex}"
        prepared = [
            requests.Request("PUT", f"{server.caldav_url}/{user.name}/create-race/{uid}.ics",
                             data=_event(uid, f"by {server.caldav_port}"), auth=(user.name, user.password),
                             headers={"If-None-Match": "*", "Content-Type": "text/calendar"}).prepare()
            for server in (first, second)]
        statuses = sorted(a.status_code for a in _race(prepared))
        assert statuses == [201, 412], f"round {round_}: {statuses}"


def test_sidecar_health_and_version_need_credentials(engine, two_servers):
    first, _ = two_servers
    user = new_user(engine, first.caldav_url)
    for path in ("/healthz", "/api/version"):
        anonymous = requests.get(first.api_url + path)
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
        assert anonymous.headers["Content-Type"].startswith("application/problem+json")
        assert requests.get(first.api_url + path, auth=(user.name, "wrong-password")).status_code == 401
    health = requests.get(first.api_url + "/healthz", auth=(user.name, user.password))
    assert health.status_code == 200 and health.json() == {"status": "ok", "database": "reachable"}
    version = requests.get(first.api_url + "/api/version", auth=(user.name, user.password)).json()
    assert version["radicale"].startswith("3.9")
    assert version["planerix"]
