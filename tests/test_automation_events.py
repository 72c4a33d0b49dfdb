"""Goal transitions become outbox events in the transaction of the change, once each."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import text

from okr_extension.automation import transitions


def events_of(engine, subject_id) -> list[tuple[str, str | None, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT kind, body FROM automation_event WHERE subject_id = :id ORDER BY seq"), {"id": subject_id})
        return [(row.kind, row.body["transition"]["from"], row.body["transition"]["to"]) for row in rows]


def test_transition_rules():
    assert transitions.kpi_events(None, "green") == []
    assert transitions.kpi_events("green", "yellow") == ["kpi.breach"]
    assert transitions.kpi_events("yellow", "red") == ["kpi.breach"]
    assert transitions.kpi_events("red", "yellow") == ["kpi.breach"]
    assert transitions.kpi_events("red", "green") == ["kpi.recovered"]
    assert transitions.kpi_events("red", None) == []
    assert transitions.tracking_events("key_result", "on_track", "at_risk") == ["key_result.risk"]
    assert transitions.tracking_events("key_result", "off_track", "achieved") == [
        "key_result.recovered", "key_result.achieved"]
    assert transitions.tracking_events("objective", "at_risk", "on_track") == ["objective.recovered"]
    assert transitions.tracking_events("objective", "on_track", "on_track") == []


def test_kpi_health_transitions_fire_once_each(alice, org, engine, frozen_clock):
    indicator = alice.ok("POST", "/api/kpis", {"organisation_id": org["id"], "name": "Uptime", "period": "daily",
                                               "warn_threshold": 50, "alarm_threshold": 20})
    moment = frozen_clock - timedelta(hours=6)

    def ingest(value, minutes):
        at = (moment + timedelta(minutes=minutes)).isoformat()
        alice.ok("POST", f"/api/kpis/{indicator['id']}/measurements",
                 {"measurements": [{"measured_at": at, "value": value}]}, status=200)

    ingest(60, 1)   # green: nothing to report
    ingest(30, 2)   # yellow
    ingest(31, 3)   # still yellow: no new event
    ingest(10, 4)   # red
    ingest(70, 5)   # green again
    ingest(70, 5)   # the same point re-sent: no change
    assert events_of(engine, indicator["id"]) == [
        ("kpi.breach", "green", "yellow"), ("kpi.breach", "yellow", "red"), ("kpi.recovered", "red", "green")]
    # Deleting the newest measurement makes the period red again: a write like any other.
    at = (moment + timedelta(minutes=5)).isoformat()
    assert alice.call("DELETE", f"/api/kpis/{indicator['id']}/measurements/{at}").status_code == 204
    assert events_of(engine, indicator["id"])[-1] == ("kpi.breach", "green", "red")


def test_event_carries_current_state_and_link(alice, org, engine, frozen_clock):
    indicator = alice.ok("POST", "/api/kpis", {"organisation_id": org["id"], "name": "Errors", "period": "daily",
                                               "direction": "lower_is_better", "warn_threshold": 5,
                                               "alarm_threshold": 10})
    alice.ok("POST", f"/api/kpis/{indicator['id']}/measurements",
             {"measurements": [{"measured_at": frozen_clock.isoformat(), "value": 12}]}, status=200)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT id, idempotency_key, body, organisation_id FROM automation_event"
                                " WHERE subject_id = :id"), {"id": indicator["id"]}).one()
    body = row.body
    assert body["id"] == str(row.id) and body["kind"] == "kpi.breach"
    assert body["organisation_id"] == org["id"] == str(row.organisation_id)
    assert body["subject"] == {"type": "kpi", "id": indicator["id"], "href": f"/api/kpis/{indicator['id']}"}
    assert body["data"]["health"] == "red" and body["data"]["current_value"] == 12
    assert body["data"] == alice.ok("GET", body["subject"]["href"]) | {"updated": body["data"]["updated"]}
    assert row.idempotency_key == f"kpi.breach:{indicator['id']}:1"


def test_key_result_and_objective_tracking_transitions(alice, org, engine, frozen_clock):
    today = frozen_clock.date()
    goal = alice.ok("POST", "/api/objectives", {
        "organisation_id": org["id"], "title": "Grow", "start_date": str(today - timedelta(days=50)),
        "due_date": str(today + timedelta(days=49))})
    result = alice.ok("POST", "/api/key-results", {"objective_id": goal["id"], "title": "Signups",
                                                   "kind": "increase_to", "start_value": 0, "target_value": 100})
    # Half the time elapsed and nothing done: off track from the start.
    assert events_of(engine, result["id"]) == [("key_result.risk", None, "off_track")]
    assert events_of(engine, goal["id"]) == [("objective.risk", None, "off_track")]

    def check_in(value):
        alice.ok("POST", "/api/check-ins", {"key_result_id": result["id"], "value": value})

    check_in(30)    # pace 0.6: at risk
    check_in(31)    # still at risk
    check_in(60)    # on track
    check_in(100)   # achieved
    assert events_of(engine, result["id"]) == [
        ("key_result.risk", None, "off_track"), ("key_result.risk", "off_track", "at_risk"),
        ("key_result.recovered", "at_risk", "on_track"), ("key_result.achieved", "on_track", "achieved")]
    assert [kind for kind, _, _ in events_of(engine, goal["id"])] == [
        "objective.risk", "objective.risk", "objective.recovered", "objective.achieved"]
    # A key result updated back below its target: at risk again (update is a write too).
    alice.ok("PATCH", f"/api/key-results/{result['id']}", {"target_value": 300})
    assert events_of(engine, result["id"])[-1] == ("key_result.risk", "achieved", "at_risk")


def test_parent_objective_events_carry_the_goal_chain(alice, org, engine, frozen_clock):
    today = frozen_clock.date()
    dates = {"start_date": str(today - timedelta(days=10)), "due_date": str(today + timedelta(days=10))}
    parent = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Parent", **dates})
    child = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Child",
                                                 "parent_id": parent["id"], **dates})
    result = alice.ok("POST", "/api/key-results", {"objective_id": child["id"], "title": "KR",
                                                   "kind": "increase_to", "start_value": 0, "target_value": 10})
    with engine.connect() as conn:
        goal_ids = conn.execute(text("SELECT goal_ids FROM automation_event WHERE subject_id = :id"),
                                {"id": result["id"]}).scalar_one()
    assert [str(g) for g in goal_ids] == [result["id"], child["id"], parent["id"]]
    assert events_of(engine, parent["id"]) == [("objective.risk", None, "off_track")]
    # Deleting the key result leaves the objectives with nothing to measure: no tracking, no event.
    alice.ok("DELETE", f"/api/key-results/{result['id']}")
    assert events_of(engine, parent["id"]) == [("objective.risk", None, "off_track")]


def test_concurrent_writers_record_a_transition_once(alice, org, engine, frozen_clock):
    indicator = alice.ok("POST", "/api/kpis", {"organisation_id": org["id"], "name": "Race", "period": "daily",
                                               "aggregation": "max", "warn_threshold": 50, "alarm_threshold": 20})

    def ingest(i):
        at = (frozen_clock - timedelta(minutes=i + 1)).isoformat()
        response = alice.session.post(f"{alice.api_url}/api/kpis/{indicator['id']}/measurements",
                                      json={"measurements": [{"measured_at": at, "value": 10 + i % 5}]})
        return response.status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(ingest, range(24))) == {200}
    assert events_of(engine, indicator["id"]) == [("kpi.breach", None, "red")]
