"""Rules: validated triggers and actions, RRULE schedules across DST, event rules, dry runs,
audit records and rate limits. Time is injected (``now``), never waited for."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import icalendar
import pytest
from sqlalchemy import text

from conftest import DavUser
from okr_extension.automation import rules
from storage_plugin import clock, database, writer


def run_rules(database_url, organisation_id, now):
    async def run():
        engine = database.async_engine_for(database_url, pool_size=2, max_overflow=0)
        storage = await asyncio.to_thread(writer.open_storage, database_url)

        async def storage_factory():
            return storage
        try:
            return await rules.run_rules(engine, storage_factory, uuid.UUID(organisation_id), now)
        finally:
            await engine.dispose()
    return asyncio.run(run())


def items_of(engine, path):
    with engine.connect() as conn:
        return [row.text for row in conn.execute(text(
            "SELECT i.text FROM item i JOIN collection c ON c.id = i.collection_id WHERE c.path = :path"
            " ORDER BY i.due"), {"path": path})]


def prop(ics: str, name: str) -> list[str]:
    return [line.split(":", 1)[1] for line in ics.splitlines() if line.split(":", 1)[0].split(";")[0] == name]


@pytest.fixture
def planner(alice, org, base_url):
    dav = DavUser(base_url, alice.name, alice.password)
    dav.mkcalendar("tasks", ("VTODO",))
    dav.mkcalendar("work", ("VEVENT",))
    goal = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Grow"})
    kr = alice.ok("POST", "/api/key-results", {"objective_id": goal["id"], "title": "Signups", "target_value": 10})
    return {"kr": kr, "tasks": f"/{alice.name}/tasks/", "work": f"/{alice.name}/work/"}


def weekly(planner, **action):
    return {"type": "schedule", "dtstart": "2026-03-16T09:00:00", "tzid": "Europe/Berlin",
            "rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9"}


def test_weekly_rule_creates_one_task_per_week_across_dst(alice, org, planner, engine, database_url):
    with clock.frozen(datetime(2026, 3, 10, tzinfo=timezone.utc)):
        rule = alice.ok("POST", "/api/rules", {
            "organisation_id": org["id"], "name": "Weekly check-in", "trigger": weekly(planner),
            "action": {"type": "create_task", "calendar": planner["tasks"], "summary": "Check in ({rule}, {date} {time})",
                       "key_result_id": planner["kr"]["id"], "due_in_hours": 8}})
    # Sweeps every 7 hours from before the first Monday to after the fifth, each done twice
    # (as by a second process): Europe/Berlin moves to summer time on Sunday 29 March.
    now = datetime(2026, 3, 15, tzinfo=timezone.utc)
    while now < datetime(2026, 4, 14, tzinfo=timezone.utc):
        run_rules(database_url, org["id"], now)
        run_rules(database_url, org["id"], now)
        now += timedelta(hours=7)
    tasks = items_of(engine, f"{alice.name}/tasks")
    assert [prop(t, "DTSTART")[0] for t in tasks] == [
        "20260316T080000Z", "20260323T080000Z", "20260330T070000Z", "20260406T070000Z", "20260413T070000Z"]
    assert prop(tasks[2], "SUMMARY") == ["Check in (Weekly check-in\\, 2026-03-30 09:00)"]
    assert prop(tasks[2], "DUE") == ["20260330T150000Z"]
    assert all(prop(t, "X-PLANERIX-KEY-RESULT") == [planner["kr"]["id"]] for t in tasks)
    runs = alice.ok("GET", f"/api/rules/{rule['id']}/runs")["items"]
    assert sorted((r["occurrence"], r["outcome"]) for r in runs) == [
        (f"2026-{day}T{hour}:00:00Z", "done") for day, hour in
        (("03-16", "08"), ("03-23", "08"), ("03-30", "07"), ("04-06", "07"), ("04-13", "07"))]
    # The tasks count toward the key result like any linked task.
    linked = alice.ok("GET", "/api/links", target_kind="key_result", target_id=planner["kr"]["id"])
    assert len(linked["items"]) == 5


def test_dry_run_lists_what_would_happen_and_writes_nothing(alice, org, planner, engine):
    rule = alice.ok("POST", "/api/rules", {
        "organisation_id": org["id"], "name": "Review", "trigger": weekly(planner),
        "action": {"type": "create_event", "calendar": planner["work"], "summary": "Review {date}",
                   "duration_minutes": 45, "alarm_minutes_before": 10}})
    result = alice.ok("POST", f"/api/rules/{rule['id']}/dry-run",
                      {"start": "2026-03-20T00:00:00Z", "end": "2026-04-04T00:00:00Z"}, status=200)
    assert [i["occurrence"] for i in result["items"]] == ["2026-03-23T09:00:00+01:00", "2026-03-30T09:00:00+02:00"]
    assert result["items"][1]["action"]["summary"] == "Review 2026-03-30"
    assert result["items"][1]["action"]["end"] == "2026-03-30T07:45:00+00:00" and result["truncated"] is False
    assert items_of(engine, f"{alice.name}/work") == []
    assert alice.ok("GET", f"/api/rules/{rule['id']}/runs")["items"] == []


def test_event_rule_adds_an_alarmed_event_and_respects_its_rate_limit(alice, org, planner, engine, database_url,
                                                                       frozen_clock):
    rule = alice.ok("POST", "/api/rules", {
        "organisation_id": org["id"], "name": "Breach meeting", "max_runs_per_hour": 1,
        "trigger": {"type": "event", "kinds": ["kpi.breach"]},
        "action": {"type": "create_event", "calendar": planner["work"], "summary": "Discuss {title} ({kind})",
                   "duration_minutes": 30, "alarm_minutes_before": 15}})
    for name in ("Churn", "Latency"):
        indicator = alice.ok("POST", "/api/kpis", {"organisation_id": org["id"], "name": name, "period": "daily",
                                                   "warn_threshold": 10, "alarm_threshold": 5})
        alice.ok("POST", f"/api/kpis/{indicator['id']}/measurements",
                 {"measurements": [{"measured_at": frozen_clock.isoformat(), "value": 0}]}, status=200)
    assert run_rules(database_url, org["id"], frozen_clock) == 2
    assert run_rules(database_url, org["id"], frozen_clock) == 0  # handled: nothing twice
    [meeting] = items_of(engine, f"{alice.name}/work")
    assert prop(meeting, "SUMMARY") == ["Discuss Churn (kpi.breach)"]
    assert prop(meeting, "TRIGGER") == ["-PT15M"] and prop(meeting, "ACTION") == ["DISPLAY"]
    runs = alice.ok("GET", f"/api/rules/{rule['id']}/runs")["items"]
    assert sorted(r["outcome"] for r in runs) == ["done", "skipped"]
    assert all(r["event_id"] for r in runs)
    assert "rate limit" in [r for r in runs if r["outcome"] == "skipped"][0]["detail"]["reason"]


@pytest.mark.parametrize("change, field", [
    ({"trigger": {"type": "schedule", "dtstart": "2026-03-16T09:00:00", "tzid": "Mars/Olympus",
                  "rrule": "FREQ=WEEKLY"}}, "tzid"),
    ({"trigger": {"type": "schedule", "dtstart": "2026-03-16T09:00:00", "tzid": "UTC",
                  "rrule": "FREQ=MINUTELY"}}, "rrule"),
    ({"trigger": {"type": "schedule", "dtstart": "2026-03-16T09:00:00", "tzid": "UTC",
                  "rrule": "FREQ=WEEKLY;BYDAY=XX"}}, "rrule"),
    ({"trigger": {"type": "schedule", "dtstart": "2026-03-16T09:00:00+01:00", "tzid": "UTC",
                  "rrule": "FREQ=WEEKLY"}}, "dtstart"),
    ({"trigger": {"type": "sql", "query": "DELETE FROM organisation"}}, "trigger"),
    ({"action": {"type": "create_task", "calendar": "/someone-else/tasks/", "summary": "x"}}, "calendar"),
    ({"action": {"type": "create_task", "calendar": "TASKS", "summary": "{__class__}"}}, "summary"),
    ({"action": {"type": "create_event", "calendar": "TASKS", "summary": "x"}}, "calendar"),
    ({"action": {"type": "webhook", "webhook_id": str(uuid.uuid4())}}, "webhook_id"),
])
def test_rules_are_a_validated_vocabulary(alice, org, planner, change, field):
    body = {"organisation_id": org["id"], "name": "Bad", "trigger": weekly(planner),
            "action": {"type": "create_task", "calendar": planner["tasks"], "summary": "ok"}, **change}
    if body["action"].get("calendar") == "TASKS":
        body["action"]["calendar"] = planner["tasks"]
    response = alice.call("POST", "/api/rules", body)
    assert response.status_code == 422, response.text
    assert field in response.text


def test_only_admins_manage_rules(alice, org, planner, api_user_factory):
    member = api_user_factory("member")
    alice.ok("POST", f"/api/organisations/{org['id']}/members", {"user": member.name, "role": "member"})
    body = {"organisation_id": org["id"], "name": "Mine", "trigger": weekly(planner),
            "action": {"type": "create_task", "calendar": planner["tasks"], "summary": "x"}}
    assert member.call("POST", "/api/rules", body).status_code == 403
    rule = alice.ok("POST", "/api/rules", body)
    assert member.call("GET", f"/api/rules/{rule['id']}").status_code == 403
    assert member.ok("GET", "/api/rules")["items"] == []
    assert api_user_factory("stranger").call("DELETE", f"/api/rules/{rule['id']}").status_code == 404
    assert alice.ok("GET", "/api/rules", organisation_id=org["id"])["items"][0]["trigger"]["tzid"] == "Europe/Berlin"


def test_task_for_a_key_result_is_assigned_to_its_owner(alice, org, planner, engine, database_url,
                                                        api_user_factory):
    bob = api_user_factory("bob")
    alice.ok("POST", f"/api/organisations/{org['id']}/members", {"user": bob.name, "role": "member"})
    alice.ok("PATCH", "/api/account", {"email": f"{alice.name}@example.org"}, status=200)
    bob.ok("PATCH", "/api/account", {"email": f"{bob.name}@example.org", "display_name": 'Bob "B"'}, status=200)
    kr = alice.ok("POST", "/api/key-results", {"objective_id": planner["kr"]["objective_id"], "title": "Bob's",
                                               "target_value": 3, "owner": bob.name})
    with clock.frozen(datetime(2026, 3, 10, tzinfo=timezone.utc)):
        alice.ok("POST", "/api/rules", {
            "organisation_id": org["id"], "name": "Nudge", "trigger": weekly(planner),
            "action": {"type": "create_task", "calendar": planner["tasks"], "summary": "Check in",
                       "key_result_id": kr["id"]}})
    run_rules(database_url, org["id"], datetime(2026, 3, 17, tzinfo=timezone.utc))
    [task] = items_of(engine, f"{alice.name}/tasks")
    todo = icalendar.Calendar.from_ical(task).walk("VTODO")[0]
    assert str(todo["ORGANIZER"]) == f"mailto:{alice.name}@example.org"
    attendee = todo["ATTENDEE"]
    assert str(attendee) == f"mailto:{bob.name}@example.org"
    assert attendee.params["CN"] == "Bob B" and attendee.params["SCHEDULE-AGENT"] == "CLIENT"
