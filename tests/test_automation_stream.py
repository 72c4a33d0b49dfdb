"""The event stream over real HTTP: Server-Sent Events of the caller's organisations, resumed
with Last-Event-ID without gaps or repeats."""
from __future__ import annotations

import json
from datetime import timedelta

import requests


def read_events(user, count, resume=None, max_seconds=5, **params):
    """Up to ``count`` events (id, kind, body) from a fresh connection, the way EventSource reads
    (``resume``: the Last-Event-ID header it sends when reconnecting)."""
    headers = {"Accept": "text/event-stream"}
    if resume is not None:
        headers["Last-Event-ID"] = str(resume)
    events, fields = [], {}
    with requests.get(f"{user.api_url}/api/events/stream", auth=(user.name, user.password), headers=headers,
                      params={"max_seconds": max_seconds, **params}, stream=True, timeout=30) as response:
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for line in response.iter_lines(decode_unicode=True):
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.lstrip(" ")
                continue
            if "data" in fields:
                events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
                if len(events) >= count:
                    break
            fields = {}
    return events


def breach(user, org, name, at):
    indicator = user.ok("POST", "/api/kpis", {"organisation_id": org["id"], "name": name, "period": "daily",
                                              "warn_threshold": 10, "alarm_threshold": 5})
    user.ok("POST", f"/api/kpis/{indicator['id']}/measurements",
            {"measurements": [{"measured_at": at.isoformat(), "value": 0}]}, status=200)
    return indicator


def test_stream_resumes_without_gaps_or_repeats_and_is_scoped(alice, org, api_user_factory, frozen_clock):
    bob = api_user_factory("bob")
    bobs = bob.ok("POST", "/api/organisations", {"name": "Bob's"})
    first = [breach(alice, org, f"A{i}", frozen_clock - timedelta(hours=1)) for i in range(3)]
    breach(bob, bobs, "Not for alice", frozen_clock - timedelta(hours=1))
    seen = read_events(alice, 2, resume=0)
    assert [body["subject"]["id"] for _, _, body in seen] == [i["id"] for i in first[:2]]
    assert [kind for _, kind, _ in seen] == ["kpi.breach", "kpi.breach"]
    ids = [event_id for event_id, _, _ in seen]
    assert ids == sorted(ids)
    later = [breach(alice, org, f"B{i}", frozen_clock - timedelta(hours=1)) for i in range(2)]
    rest = read_events(alice, 3, resume=ids[-1])
    assert [body["subject"]["id"] for _, _, body in rest] == [first[2]["id"], *(i["id"] for i in later)]
    assert all(body["organisation_id"] == org["id"] for _, _, body in seen + rest)
    # The query parameter resumes too (for clients that cannot set the header); filters apply.
    by_param = read_events(alice, 1, last_event_id=ids[-1], kind="kpi.breach")
    assert [body["subject"]["id"] for _, _, body in by_param] == [first[2]["id"]]
    assert read_events(alice, 5, max_seconds=1, resume=0, organisation_id=bobs["id"]) == []
    assert read_events(alice, 5, max_seconds=1, resume=0, kind="kpi.recovered") == []


def test_a_stream_without_last_event_id_starts_at_the_present(alice, org, frozen_clock):
    breach(alice, org, "Old", frozen_clock - timedelta(hours=1))
    assert read_events(alice, 1, max_seconds=1) == []


def test_bad_last_event_id_is_refused(alice):
    response = requests.get(f"{alice.api_url}/api/events/stream", auth=(alice.name, alice.password),
                            headers={"Last-Event-ID": "yesterday"}, timeout=10)
    assert response.status_code == 400 and "Last-Event-ID" in response.json()["detail"]
    assert requests.get(f"{alice.api_url}/api/events/stream", timeout=10).status_code == 401


def test_resuming_while_writers_race_misses_and_repeats_nothing(alice, org, frozen_clock):
    """Positions are drawn in commit order: a reader that reconnects after every few events,
    while eight writers commit concurrently, sees each event exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    kpis = [alice.ok("POST", "/api/kpis", {"organisation_id": org["id"], "name": f"R{i}", "period": "daily",
                                           "warn_threshold": 10, "alarm_threshold": 5}) for i in range(16)]
    last = 0  # a new user: all of her organisation's events follow

    def red(indicator):
        response = alice.session.post(f"{alice.api_url}/api/kpis/{indicator['id']}/measurements", json={
            "measurements": [{"measured_at": (frozen_clock - timedelta(hours=1)).isoformat(), "value": 0}]})
        return response.status_code

    seen = []
    with ThreadPoolExecutor(8) as pool:
        writes = pool.map(red, kpis)
        while len(seen) < len(kpis):
            chunk = read_events(alice, 3, resume=last, max_seconds=2)
            seen += chunk
            if chunk:
                last = chunk[-1][0]
        assert set(writes) == {200}
    subjects = [body["subject"]["id"] for _, _, body in seen]
    assert sorted(subjects) == sorted(k["id"] for k in kpis) and len(set(subjects)) == len(subjects)
