"""Webhooks over real HTTP: admins subscribe, a real receiver on loopback gets signed events
once per transition, retries follow the schedule, dead letters, disabling, replay."""
from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import timedelta

import pytest

from okr_extension.automation import delivery, signing
from okr_extension.automation.settings import AutomationSettings
from okr_extension.keys import ENGINE
from webhookutil import TEST_SETTINGS, hook_loop, hook_sidecar, receiver, verify_signature  # noqa: F401 (fixtures)


def red_kpi(admin, org, name="Latency"):
    return admin.ok("POST", "/api/kpis", {"organisation_id": org["id"], "name": name, "period": "daily",
                                          "direction": "lower_is_better", "warn_threshold": 100,
                                          "alarm_threshold": 200})


def measure(admin, indicator, at, value):
    admin.ok("POST", f"/api/kpis/{indicator['id']}/measurements",
             {"measurements": [{"measured_at": at.isoformat(), "value": value}]}, status=200)


def subscribe(admin, org, receiver, kinds=("kpi.breach", "kpi.recovered"), path="/hook", **fields):
    return admin.ok("POST", "/api/webhooks", {"organisation_id": org["id"], "url": receiver.url(path),
                                              "kinds": list(kinds), **fields})


def deliveries(admin, hook, **params):
    return admin.ok("GET", f"/api/webhooks/{hook['id']}/deliveries", **params)["items"]


def test_only_admins_manage_webhooks_and_the_secret_is_shown_once(hook_sidecar, alice, org, api_user_factory,
                                                                  receiver):
    admin = hook_sidecar.user(alice)
    created = subscribe(admin, org, receiver, description="n8n")
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    fetched = admin.ok("GET", f"/api/webhooks/{created['id']}")
    assert "secret" not in fetched and fetched["kinds"] == ["kpi.breach", "kpi.recovered"]
    assert all("secret" not in item for item in admin.ok("GET", "/api/webhooks")["items"])
    member, stranger = (hook_sidecar.user(api_user_factory(p)) for p in ("member", "stranger"))
    alice.ok("POST", f"/api/organisations/{org['id']}/members", {"user": member.name, "role": "member"})
    assert member.call("POST", "/api/webhooks", {"organisation_id": org["id"], "url": receiver.url(),
                                                 "kinds": ["kpi.breach"]}).status_code == 403
    assert member.call("GET", f"/api/webhooks/{created['id']}").status_code == 403
    assert member.ok("GET", "/api/webhooks")["items"] == []
    assert stranger.call("GET", f"/api/webhooks/{created['id']}").status_code == 404
    assert stranger.call("DELETE", f"/api/webhooks/{created['id']}").status_code == 404


@pytest.mark.parametrize("fields, field", [
    ({"url": "ftp://example.com/x"}, "url"), ({"kinds": []}, "kinds"), ({"kinds": ["kpi.nonsense"]}, "kinds"),
    ({"goal_id": "7d6c8f7e-1111-4c3b-9a55-000000000000"}, "goal_id"), ({"secret": "mine"}, "secret"),
])
def test_invalid_webhooks_are_refused_with_the_field(hook_sidecar, alice, org, receiver, fields, field):
    admin = hook_sidecar.user(alice)
    body = {"organisation_id": org["id"], "url": receiver.url(), "kinds": ["kpi.breach"], **fields}
    response = admin.call("POST", "/api/webhooks", body)
    assert response.status_code == 422, response.text
    assert field in response.text


def test_private_addresses_are_refused_unless_allowed(alice, org, receiver):
    """The server's own settings (``api_server``: the default, private networks off) refuse loopback,
    like feed subscriptions do."""
    response = alice.call("POST", "/api/webhooks", {"organisation_id": org["id"], "url": receiver.url(),
                                                    "kinds": ["kpi.breach"]})
    assert response.status_code == 422 and "private" in response.json()["detail"]


def test_each_transition_is_delivered_once_and_signed(hook_sidecar, alice, org, engine, receiver, frozen_clock):
    admin = hook_sidecar.user(alice)
    hook = subscribe(admin, org, receiver)
    indicator = red_kpi(admin, org)
    measure(admin, indicator, frozen_clock - timedelta(hours=2), 50)    # green: no event
    measure(admin, indicator, frozen_clock - timedelta(hours=1), 250)   # red: breach
    measure(admin, indicator, frozen_clock - timedelta(minutes=30), 260)  # still red
    hook_sidecar.run_due()
    hook_sidecar.run_due()  # nothing left: nothing sent twice
    assert len(receiver.received) == 1
    request = receiver.received[0]
    body = json.loads(request.body)
    assert body["kind"] == "kpi.breach" and body["transition"] == {"from": "green", "to": "red"}
    assert body["subject"] == {"type": "kpi", "id": indicator["id"], "href": f"/api/kpis/{indicator['id']}"}
    assert body["data"]["current_value"] == 260 or body["data"]["current_value"] == 250
    assert request.headers["Planerix-Event-Id"] == body["id"]
    assert request.headers["Planerix-Event-Kind"] == "kpi.breach"
    assert request.headers["Content-Type"] == "application/json"
    now = frozen_clock.timestamp()
    signature = request.headers["Planerix-Signature"]
    assert verify_signature(hook["secret"], signature, request.body, now)
    assert signing.verify(hook["secret"], signature, request.body, now)
    assert not verify_signature(hook["secret"], signature, request.body + b" ", now)
    assert not verify_signature("whsec_other", signature, request.body, now)
    assert not verify_signature(hook["secret"], signature, request.body, now + 3600)  # a stale replay
    log = deliveries(admin, hook)
    assert [(d["state"], d["attempts"], d["last_status"], d["event_id"]) for d in log] == [
        ("delivered", 1, 200, body["id"])]
    measure(admin, indicator, frozen_clock - timedelta(minutes=10), 20)  # recovered
    hook_sidecar.run_due()
    assert [json.loads(r.body)["kind"] for r in receiver.received] == ["kpi.breach", "kpi.recovered"]


def test_goal_filter_and_kinds_select_events(hook_sidecar, alice, org, receiver, frozen_clock):
    admin = hook_sidecar.user(alice)
    watched, other = red_kpi(admin, org, "Watched"), red_kpi(admin, org, "Other")
    subscribe(admin, org, receiver, path="/filtered", goal_id=watched["id"])
    subscribe(admin, org, receiver, kinds=["kpi.recovered"], path="/recoveries")
    for indicator in (watched, other):
        measure(admin, indicator, frozen_clock - timedelta(hours=1), 300)
    hook_sidecar.run_due()
    assert [json.loads(r.body)["subject"]["id"] for r in receiver.at("/filtered")] == [watched["id"]]
    assert receiver.at("/recoveries") == []


def test_retries_follow_the_backoff_schedule_then_deliver(hook_sidecar, alice, org, engine, receiver, frozen_clock):
    admin = hook_sidecar.user(alice)
    hook = subscribe(admin, org, receiver)
    receiver.statuses = [500, 503, 429]
    measure(admin, red_kpi(admin, org), frozen_clock - timedelta(hours=1), 999)
    settings = hook_sidecar.deliverer.settings
    now = frozen_clock
    for attempt, status in enumerate([500, 503, 429], start=1):
        hook_sidecar.run_due(now)
        [log] = deliveries(admin, hook)
        assert (log["state"], log["attempts"], log["last_status"]) == ("pending", attempt, status)
        assert f"HTTP {status}" in log["last_error"]
        delay = (_parse(log["next_attempt"]) - now).total_seconds()
        scheduled = min(settings.base_delay_seconds * 2 ** (attempt - 1), settings.max_delay_seconds)
        assert scheduled * (1 - settings.jitter) <= delay <= scheduled
        # Not before it is due.
        hook_sidecar.run_due(now + timedelta(seconds=delay - 1))
        assert len(receiver.received) == attempt
        now += timedelta(seconds=delay)
    hook_sidecar.run_due(now)
    [log] = deliveries(admin, hook)
    assert (log["state"], log["attempts"], log["last_status"], log["last_error"]) == ("delivered", 4, 200, None)
    assert len({r.headers["Planerix-Event-Id"] for r in receiver.received}) == 1 and len(receiver.received) == 4
    assert admin.ok("GET", f"/api/webhooks/{hook['id']}")["failing_since"] is None


def _parse(moment: str):
    from datetime import datetime
    return datetime.fromisoformat(moment)


def test_retry_delay_doubles_is_capped_and_jittered():
    settings = AutomationSettings(base_delay_seconds=10, max_delay_seconds=3600, jitter=0.2)
    rng = random.Random(7)
    delays = [delivery.retry_delay(n, settings, rng) for n in range(1, 12)]
    for n, value in enumerate(delays, start=1):
        scheduled = min(10 * 2 ** (n - 1), 3600)
        assert scheduled * 0.8 <= value <= scheduled
    assert len({round(d / min(10 * 2 ** i, 3600), 6) for i, d in enumerate(delays)}) > 1  # jittered


def test_dead_letter_after_the_last_attempt_then_replay(hook_sidecar, alice, org, receiver, frozen_clock):
    admin = hook_sidecar.user(alice)
    hook = subscribe(admin, org, receiver, path="/down")
    receiver.statuses = [500] * 4
    measure(admin, red_kpi(admin, org), frozen_clock - timedelta(hours=1), 999)
    settings = replace(TEST_SETTINGS, max_attempts=4)
    worker = delivery.Deliverer(hook_sidecar.app[ENGINE], settings, random.Random(1))
    now = frozen_clock
    for attempt in range(1, 5):
        hook_sidecar.loop.run(worker.run_due(now))
        [log] = deliveries(admin, hook)
        assert log["attempts"] == attempt
        if log["state"] != "pending":
            break
        now = _parse(log["next_attempt"])
    assert (log["state"], log["attempts"], log["next_attempt"]) == ("dead", 4, None)
    hook_sidecar.loop.run(worker.run_due(now + timedelta(days=7)))
    assert len(receiver.at("/down")) == 4  # dead: never tried again by itself
    replayed = admin.ok("POST", f"/api/webhooks/{hook['id']}/deliveries/{log['id']}/replay", status=202)
    assert replayed["replay_of"] == log["id"] and replayed["state"] == "pending"
    hook_sidecar.loop.run(worker.run_due(now))
    assert receiver.at("/down")[-1].headers["Planerix-Event-Id"] == log["event_id"]
    assert [d["id"] for d in deliveries(admin, hook, state="delivered")] == [replayed["id"]]
    assert admin.call("POST", f"/api/webhooks/{hook['id']}/deliveries/{hook['id']}/replay").status_code == 404
    hook_sidecar.loop.run(worker.close())


def test_a_day_of_failures_disables_the_webhook_and_says_so(hook_sidecar, alice, org, receiver, frozen_clock):
    admin = hook_sidecar.user(alice)
    failing = subscribe(admin, org, receiver, path="/down")
    subscribe(admin, org, receiver, kinds=["webhook.disabled"], path="/watch")
    receiver.statuses = [500] * 200
    indicator = red_kpi(admin, org)
    measure(admin, indicator, frozen_clock - timedelta(hours=1), 999)
    settings = hook_sidecar.deliverer.settings
    now = frozen_clock
    while admin.ok("GET", f"/api/webhooks/{failing['id']}")["enabled"]:
        hook_sidecar.run_due(now)
        [log] = deliveries(admin, failing)
        assert log["state"] == "pending", log  # retried for over a day before it would be dead
        now = _parse(log["next_attempt"])
    assert (now - frozen_clock).total_seconds() >= settings.disable_after_seconds
    hook = admin.ok("GET", f"/api/webhooks/{failing['id']}")
    assert "failed since" in hook["disabled_reason"] and hook["failing_since"] is not None
    tries = len(receiver.at("/down"))
    receiver.statuses = []
    hook_sidecar.run_due(now)
    [notice] = [json.loads(r.body) for r in receiver.at("/watch")]
    assert notice["kind"] == "webhook.disabled" and notice["subject"]["id"] == failing["id"]
    assert notice["data"]["enabled"] is False and "secret" not in notice["data"]
    # Disabled: nothing is sent, and events meanwhile are not queued for it; enabled again, the
    # pending delivery goes out, and a range replay catches up with what happened meanwhile.
    measure(admin, indicator, frozen_clock - timedelta(minutes=30), 1)
    hook_sidecar.run_due(now)
    assert len(receiver.at("/down")) == tries
    admin.ok("PATCH", f"/api/webhooks/{failing['id']}", {"enabled": True})
    hook_sidecar.run_due(now)
    assert [json.loads(r.body)["kind"] for r in receiver.at("/down")[tries:]] == ["kpi.breach"]
    admin.ok("POST", f"/api/webhooks/{failing['id']}/replay", {
        "start": frozen_clock.isoformat(), "end": (frozen_clock + timedelta(seconds=1)).isoformat()}, status=202)
    hook_sidecar.run_due(now)
    assert [json.loads(r.body)["kind"] for r in receiver.at("/down")[tries + 1:]] == ["kpi.breach", "kpi.recovered"]
    assert admin.ok("GET", f"/api/webhooks/{failing['id']}")["failing_since"] is None


def test_replay_a_time_range_reaches_events_older_than_the_webhook(hook_sidecar, alice, org, receiver,
                                                                   frozen_clock):
    admin = hook_sidecar.user(alice)
    indicators = [red_kpi(admin, org, f"K{i}") for i in range(3)]
    for i, indicator in enumerate(indicators):
        measure(admin, indicator, frozen_clock - timedelta(hours=3 - i), 500)
    hook = subscribe(admin, org, receiver)
    hook_sidecar.run_due()
    assert receiver.received == []  # subscribed after the events
    window = {"start": (frozen_clock - timedelta(minutes=1)).isoformat(),
              "end": (frozen_clock + timedelta(minutes=1)).isoformat()}
    result = admin.ok("POST", f"/api/webhooks/{hook['id']}/replay", window, status=202)
    assert len(result["deliveries"]) == 3
    hook_sidecar.run_due()
    assert sorted(json.loads(r.body)["subject"]["id"] for r in receiver.received) == sorted(
        i["id"] for i in indicators)
    response = admin.call("POST", f"/api/webhooks/{hook['id']}/replay", {"start": window["end"],
                                                                          "end": window["start"]})
    assert response.status_code == 422 and "after start" in response.text


def test_unreachable_receiver_is_retried(hook_sidecar, alice, org, receiver, frozen_clock):
    admin = hook_sidecar.user(alice)
    hook = admin.ok("POST", "/api/webhooks", {"organisation_id": org["id"], "kinds": ["kpi.breach"],
                                              "url": "http://127.0.0.1:9/nothing-listens"})
    measure(admin, red_kpi(admin, org), frozen_clock - timedelta(hours=1), 999)
    hook_sidecar.run_due()
    [log] = deliveries(admin, hook)
    assert log["state"] == "pending" and log["last_status"] is None and "connect" in log["last_error"]
