"""The time-driven evaluator: deadlines, silences, missing measurements and overdue tasks, each
once, driven by an injected time (never by waiting)."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from conftest import DavUser, fresh_database
from davutil import calendar
from okr_extension import migrate
from okr_extension.automation import evaluator
from okr_extension.automation.settings import AutomationSettings
from storage_plugin import clock, database

SETTINGS = AutomationSettings(worker_enabled=False, evaluator_enabled=False, deadline_days=3, checkin_days=7)


def evaluate(database_url, organisation_id, now, settings=SETTINGS):
    async def run():
        engine = database.async_engine_for(database_url, pool_size=1, max_overflow=0)
        try:
            async with engine.begin() as conn:
                await evaluator.evaluate_organisation(conn, uuid.UUID(organisation_id), now, settings)
        finally:
            await engine.dispose()
    asyncio.run(run())


def events(engine, organisation_id, kind):
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT subject_id, body FROM automation_event WHERE organisation_id = :org AND kind = :kind"
            " ORDER BY seq"), {"org": organisation_id, "kind": kind}).all()


def created_of(engine, table, row_id) -> datetime:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT created FROM {table} WHERE id = :id"), {"id": row_id}).scalar_one()


def test_deadline_approaching_fires_once_per_due_date(alice, org, engine, database_url, frozen_clock):
    today = frozen_clock.date()
    soon = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Soon",
                                                "due_date": str(today + timedelta(days=2))})
    later = alice.ok("POST", "/api/key-results", {"objective_id": soon["id"], "title": "Later", "target_value": 10,
                                                  "due_date": str(today + timedelta(days=9))})
    alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Draft", "status": "draft",
                                         "due_date": str(today + timedelta(days=1))})
    evaluate(database_url, org["id"], frozen_clock)
    evaluate(database_url, org["id"], frozen_clock + timedelta(hours=1))
    found = events(engine, org["id"], "deadline.approaching")
    assert [row.subject_id for row in found] == [soon["id"]]
    body = found[0].body
    assert body["detail"] == {"due": f"{today + timedelta(days=3)}T00:00:00+00:00", "days": 3}
    assert body["data"]["title"] == "Soon" and body["subject"]["href"] == f"/api/objectives/{soon['id']}"
    with clock.frozen(frozen_clock + timedelta(days=7)) as later_now:
        evaluate(database_url, org["id"], later_now)
    assert [row.subject_id for row in events(engine, org["id"], "deadline.approaching")] == [soon["id"], later["id"]]
    # A new due date is a new deadline.
    alice.ok("PATCH", f"/api/objectives/{soon['id']}", {"due_date": str(today + timedelta(days=1))})
    evaluate(database_url, org["id"], frozen_clock)
    assert len(events(engine, org["id"], "deadline.approaching")) == 3


def test_checkin_missing_fires_once_per_silence(alice, org, engine, database_url):
    goal = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Quiet"})
    result = alice.ok("POST", "/api/key-results", {"objective_id": goal["id"], "title": "Silent", "target_value": 10})
    created = created_of(engine, "key_result", result["id"])
    evaluate(database_url, org["id"], created + timedelta(days=6))
    assert events(engine, org["id"], "checkin.missing") == []
    evaluate(database_url, org["id"], created + timedelta(days=7, seconds=1))
    evaluate(database_url, org["id"], created + timedelta(days=9))
    [first] = events(engine, org["id"], "checkin.missing")
    assert first.subject_id == result["id"] and first.body["detail"]["last_activity"] == created.isoformat()
    check_in = alice.ok("POST", "/api/check-ins", {"key_result_id": result["id"], "value": 3})
    checked = created_of(engine, "check_in", check_in["id"])
    evaluate(database_url, org["id"], checked + timedelta(days=6))
    assert len(events(engine, org["id"], "checkin.missing")) == 1
    evaluate(database_url, org["id"], checked + timedelta(days=8))
    assert [row.body["detail"]["last_activity"] for row in events(engine, org["id"], "checkin.missing")] == [
        created.isoformat(), checked.isoformat()]


def test_measurement_missing_fires_once_per_empty_period(alice, org, engine, database_url):
    fed = alice.ok("POST", "/api/kpis", {"organisation_id": org["id"], "name": "Fed", "period": "daily"})
    starved = alice.ok("POST", "/api/kpis", {"organisation_id": org["id"], "name": "Starved", "period": "daily"})
    created = created_of(engine, "kpi", starved["id"])
    day_after = datetime.combine(created.date() + timedelta(days=1), datetime.min.time(), timezone.utc)
    alice.ok("POST", f"/api/kpis/{fed['id']}/measurements",
             {"measurements": [{"measured_at": (day_after + timedelta(hours=5)).isoformat(), "value": 1}]}, status=200)
    # During the KPI's first full day nothing is missing yet; after it, the starved one's is.
    evaluate(database_url, org["id"], day_after + timedelta(hours=12))
    assert events(engine, org["id"], "kpi.measurement_missing") == [] or all(
        row.body["detail"]["period_start"] != day_after.isoformat()
        for row in events(engine, org["id"], "kpi.measurement_missing"))
    for hours in (30, 40):
        evaluate(database_url, org["id"], day_after + timedelta(hours=hours))
    found = [row for row in events(engine, org["id"], "kpi.measurement_missing")
             if row.body["detail"]["period_start"] == day_after.isoformat()]
    assert [row.subject_id for row in found] == [starved["id"]]
    assert found[0].body["detail"]["period"] == "daily" and found[0].body["data"]["name"] == "Starved"


def _task(uid, due, extra="", rrule=None, start=None):
    lines = f"BEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Task {uid}\r\n"
    if start:
        lines += f"DTSTART:{start}\r\n"
    lines += f"DUE:{due}\r\n"
    if rrule:
        lines += f"RRULE:{rrule}\r\n"
    return calendar(lines + extra + "END:VTODO\r\n")


def test_task_overdue_fires_once_per_occurrence(alice, org, engine, database_url, base_url, api_user_factory):
    goal = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Tasks"})
    result = alice.ok("POST", "/api/key-results", {"objective_id": goal["id"], "title": "Done", "target_value": 1,
                                                   "progress_mode": "tasks"})
    link = f"X-PLANERIX-KEY-RESULT:{result['id']}\r\n"
    dav = DavUser(base_url, alice.name, alice.password)
    dav.mkcalendar("tasks", ("VTODO",))
    assert dav.put("tasks/once.ics", _task("once", "20260105T120000Z", link)).status_code == 201
    assert dav.put("tasks/daily.ics", _task("daily", "20260110T090000Z", link, "FREQ=DAILY;COUNT=5",
                                            start="20260110T080000Z")).status_code == 201
    assert dav.put("tasks/done.ics", _task("done", "20260105T120000Z", link + "STATUS:COMPLETED\r\n")).status_code == 201
    assert dav.put("tasks/free.ics", _task("free", "20260105T120000Z")).status_code == 201
    # A stranger linking a task to the organisation's goal does not make it the organisation's.
    stranger = api_user_factory("stranger")
    stranger_dav = DavUser(base_url, stranger.name, stranger.password)
    stranger_dav.mkcalendar("tasks", ("VTODO",))
    assert stranger_dav.put("tasks/spy.ics", _task("spy", "20260105T120000Z", link)).status_code == 201

    def overdue():
        return sorted((row.body["data"]["uid"], row.body["detail"]["due"])
                      for row in events(engine, org["id"], "task.overdue"))

    evaluate(database_url, org["id"], datetime(2026, 1, 11, 10, tzinfo=timezone.utc))
    evaluate(database_url, org["id"], datetime(2026, 1, 11, 10, 30, tzinfo=timezone.utc))
    assert overdue() == [("daily", "2026-01-10T09:00:00+00:00"), ("daily", "2026-01-11T09:00:00+00:00"),
                         ("once", "2026-01-05T12:00:00+00:00")]
    evaluate(database_url, org["id"], datetime(2026, 1, 20, tzinfo=timezone.utc))
    assert [due for uid, due in overdue() if uid == "daily"] == [
        f"2026-01-{day}T09:00:00+00:00" for day in range(10, 15)]
    [once] = [row.body for row in events(engine, org["id"], "task.overdue") if row.body["data"]["uid"] == "once"]
    assert once["subject"] == {"type": "task", "id": f"{alice.name}/tasks/once.ics",
                               "href": f"/{alice.name}/tasks/once.ics"}
    assert once["data"]["goals"] == [result["id"]]


def test_two_evaluators_share_the_organisations_and_fire_each_event_once(database_server):
    """Several processes: each organisation is claimed by one evaluator per round (SKIP LOCKED),
    and a second evaluation of the same moment records nothing new."""
    from storage_plugin import accounts
    with fresh_database(database_server) as url:
        sync_engine = database.engine_for(url)
        migrate(sync_engine)
        accounts.add(sync_engine, "owner", "a-long-password-1")
        with sync_engine.begin() as conn:
            orgs = [conn.execute(text("INSERT INTO organisation (name) VALUES (:n) RETURNING id"),
                                 {"n": f"Org {i}"}).scalar_one() for i in range(6)]
            for org_id in orgs:
                conn.execute(text("INSERT INTO objective (organisation_id, title, owner, due_date)"
                                  " VALUES (:org, 'Due', 'owner', :due)"),
                             {"org": org_id, "due": datetime(2026, 3, 2).date()})
        now = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)

        async def race():
            engine = database.async_engine_for(url, pool_size=4, max_overflow=0)
            try:
                first, second = (evaluator.Evaluator(engine, SETTINGS) for _ in range(2))
                claimed = await asyncio.gather(first.claim(now, batch=4), second.claim(now, batch=4))
                assert not set(claimed[0]) & set(claimed[1])
                assert len(claimed[0]) + len(claimed[1]) == 6
                # Leases held: nobody gets them again until they expire.
                assert await first.claim(now) == []
                later = now + timedelta(seconds=SETTINGS.sweep_seconds * 2)
                done = await asyncio.gather(first.run_due(later), second.run_due(later))
                assert sorted(done[0] + done[1]) == sorted(orgs)
                await first.run_due(later + timedelta(seconds=SETTINGS.sweep_seconds))
            finally:
                await engine.dispose()
        asyncio.run(race())
        with sync_engine.connect() as conn:
            counts = conn.execute(text("SELECT organisation_id, count(*) FROM automation_event"
                                       " WHERE kind = 'deadline.approaching' GROUP BY organisation_id")).all()
        assert sorted(org for org, _ in counts) == sorted(orgs) and {n for _, n in counts} == {1}
        sync_engine.dispose()


def test_tracking_that_time_alone_changes_is_recorded_by_the_evaluator(alice, org, engine, database_url,
                                                                        frozen_clock):
    today = frozen_clock.date()
    goal = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Paced",
                                                "start_date": str(today - timedelta(days=10)),
                                                "due_date": str(today + timedelta(days=9))})
    result = alice.ok("POST", "/api/key-results", {"objective_id": goal["id"], "title": "Half", "target_value": 100})
    alice.ok("POST", "/api/check-ins", {"key_result_id": result["id"], "value": 50})  # on track today
    before = len(events(engine, org["id"], "key_result.risk"))
    evaluate(database_url, org["id"], frozen_clock)
    assert len(events(engine, org["id"], "key_result.risk")) == before  # nothing changed
    with clock.frozen(frozen_clock + timedelta(days=8)) as later:  # 50 % done, 90 % of the time gone
        evaluate(database_url, org["id"], later)
        evaluate(database_url, org["id"], later)
    risks = [row.body for row in events(engine, org["id"], "key_result.risk") if row.subject_id == result["id"]]
    assert [(r["transition"]["from"], r["transition"]["to"]) for r in risks][-1] == ("on_track", "at_risk")
    assert len([r for r in risks if r["transition"]["from"] == "on_track"]) == 1
