"""The time-driven evaluator: what becomes true only because time passes.

- ``deadline.approaching``: an active objective's or a key result's due date is at most
  ``deadline_days`` away (once per goal and due date);
- ``checkin.missing``: a key result measured by value, not achieved, under an active objective,
  had no check-in (nor creation) for ``checkin_days`` (once per silence: a check-in starts a new one);
- ``kpi.measurement_missing``: the KPI's last completed period has no measurement (once per period);
- ``task.overdue``: a VTODO linked to one of the organisation's goals, not COMPLETED nor
  CANCELLED, is past its DUE (once per occurrence: each occurrence of a recurring task has its
  own due instant; occurrences due more than ``overdue_lookback_days`` ago are not reported);
- and the tracking and health transitions that time alone causes (elapsed time, a KPI period
  rolling over), exactly as a write would record them.

Every process runs the evaluator. The unit of work is an organisation: each process claims due
organisations with ``FOR UPDATE SKIP LOCKED`` and a lease, evaluates them at ``now`` in one
transaction and sets their next run. Every event is keyed by what it is about (goal and due
date, key result and silence start, KPI and period, task and occurrence), so even a second
evaluation of the same moment (after an expired lease) records nothing twice.
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import uuid
from datetime import date, datetime, time, timedelta, timezone
from typing import Optional

import sqlalchemy as sa
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from okr_extension import background
from okr_extension.automation import observe, outbox, rules
from okr_extension.automation.settings import AutomationSettings
from okr_extension.domain import kpi as kpi_domain
from okr_extension.goals import kpis as kpi_goals
from okr_extension.goals import rollup
from okr_extension.models import goals as goal_models
from okr_extension.models import kpis as kpi_models
from okr_extension.tables import check_in, key_result, kpi, kpi_measurement, objective
from storage_plugin import availability, clock

logger = logging.getLogger("planerix.automation")
TASK_NAME = "planerix-automation-evaluator"

_ENLIST = text(
    "INSERT INTO automation_sweep (organisation_id, next_run)"
    " SELECT id, '-infinity' FROM organisation ON CONFLICT DO NOTHING")
_CLAIM = text(
    "WITH due AS ("
    "  SELECT organisation_id FROM automation_sweep"
    "  WHERE next_run <= :now AND (lease_until IS NULL OR lease_until < :now)"
    "  ORDER BY next_run LIMIT :batch FOR UPDATE SKIP LOCKED)"
    " UPDATE automation_sweep s SET lease_owner = :lease_owner,"
    "   lease_until = CAST(:now AS timestamptz) + make_interval(secs => :lease_seconds)"
    " FROM due WHERE s.organisation_id = due.organisation_id RETURNING s.organisation_id")
_FINISH = text(
    "UPDATE automation_sweep SET lease_owner = NULL, lease_until = NULL, last_run = :now,"
    "  next_run = CAST(:now AS timestamptz) + make_interval(secs => :interval)"
    " WHERE organisation_id = :organisation_id AND lease_owner = :lease_owner")
# Open tasks of the organisation's members linked to one of its goals. A single task's due
# instant is the indexed DUE; a recurring one's occurrences come from its rule (``_dues``).
_OPEN_TASKS = text("""
    WITH goals AS (
        SELECT id, 'key_result' AS kind FROM key_result WHERE organisation_id = :organisation_id
        UNION ALL SELECT id, 'objective' FROM objective WHERE organisation_id = :organisation_id
        UNION ALL SELECT id, 'kpi' FROM kpi WHERE organisation_id = :organisation_id)
    SELECT i.id, i.href, i.uid, i.summary, i.status, i.due, c.path,
           CASE WHEN i.text ~ '\nR(RULE|DATE)[;:]' THEN i.text END AS recurring_text,
           array_agg(DISTINCT g.id) AS goal_ids
    FROM item i JOIN collection c ON c.id = i.collection_id
    -- Only tasks of the organisation's members: anyone may write a goal's id into a task.
    JOIN membership m ON m.organisation_id = :organisation_id AND m.account = split_part(c.path, '/', 1)
    JOIN item_link l ON l.item_id = i.id
    JOIN goals g ON g.kind = l.target_kind AND g.id::text = l.target_id
    WHERE i.component = 'VTODO' AND i.due IS NOT NULL AND i.due <= :now
      AND coalesce(i.status, '') NOT IN ('COMPLETED', 'CANCELLED')
    GROUP BY i.id, i.owner, c.path
    ORDER BY i.id""")


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time(), timezone.utc) + timedelta(days=1)


async def _parents(conn: AsyncConnection, organisation_id: uuid.UUID) -> dict:
    rows = await conn.execute(sa.select(objective.c.id, objective.c.parent_id)
                              .where(objective.c.organisation_id == organisation_id))
    return {row.id: row.parent_id for row in rows}


async def _deadlines(conn, organisation_id, now: datetime, settings: AutomationSettings, parents) -> None:
    soon = now + timedelta(days=settings.deadline_days)
    objectives = (await conn.execute(sa.select(objective).where(
        objective.c.organisation_id == organisation_id, objective.c.status == "active",
        objective.c.due_date.is_not(None)))).all()
    for item in await rollup.present_objectives(conn, objectives) if objectives else []:
        due = _end_of(item["due_date"])
        if not (now < due <= soon) or item["tracking"] == "achieved":
            continue
        subject = outbox.Subject("objective", item["id"], organisation_id, f"/api/objectives/{item['id']}",
                                 observe._above(parents, parents.get(item["id"])))
        await outbox.record(conn, "deadline.approaching", subject,
                            f"deadline.approaching:{item['id']}:{item['due_date']}", None,
                            goal_models.ObjectiveOut.model_validate(item).model_dump(mode="json"), now,
                            {"due": due.isoformat(), "days": settings.deadline_days})
    results = (await conn.execute(sa.select(key_result).where(
        key_result.c.organisation_id == organisation_id, key_result.c.due_date.is_not(None)))).all()
    for item in await rollup.present_key_results(conn, results) if results else []:
        due = _end_of(item["due_date"])
        if not (now < due <= soon) or item["tracking"] == "achieved":
            continue
        subject = outbox.Subject("key_result", item["id"], organisation_id, f"/api/key-results/{item['id']}",
                                 observe._above(parents, item["objective_id"]))
        await outbox.record(conn, "deadline.approaching", subject,
                            f"deadline.approaching:{item['id']}:{item['due_date']}", None,
                            goal_models.KeyResultOut.model_validate(item).model_dump(mode="json"), now,
                            {"due": due.isoformat(), "days": settings.deadline_days})


async def _silent_key_results(conn, organisation_id, now: datetime, settings: AutomationSettings, parents) -> None:
    newest = sa.select(sa.func.max(check_in.c.created)).where(
        check_in.c.key_result_id == key_result.c.id).scalar_subquery()
    anchor = sa.func.coalesce(newest, key_result.c.created)
    rows = (await conn.execute(
        sa.select(key_result, anchor.label("last_activity"))
        .join(objective, objective.c.id == key_result.c.objective_id)
        .where(key_result.c.organisation_id == organisation_id, key_result.c.progress_mode == "value",
               objective.c.status == "active",
               anchor <= now - timedelta(days=settings.checkin_days)))).all()
    for row, item in zip(rows, await rollup.present_key_results(conn, rows) if rows else []):
        if item["tracking"] == "achieved":
            continue
        subject = outbox.Subject("key_result", row.id, organisation_id, f"/api/key-results/{row.id}",
                                 observe._above(parents, row.objective_id))
        item.pop("last_activity", None)
        await outbox.record(conn, "checkin.missing", subject,
                            f"checkin.missing:{row.id}:{row.last_activity.isoformat()}", None,
                            goal_models.KeyResultOut.model_validate(item).model_dump(mode="json"), now,
                            {"last_activity": row.last_activity.isoformat(), "days": settings.checkin_days})


async def _missing_measurements(conn, organisation_id, now: datetime) -> None:
    rows = (await conn.execute(sa.select(kpi).where(kpi.c.organisation_id == organisation_id))).all()
    for row in rows:
        current = kpi_domain.period_start(now, row.period)
        previous = kpi_domain.next_period(current, row.period, -1)
        if row.created >= current:
            continue  # the KPI did not exist during that whole period
        measured = (await conn.execute(sa.select(kpi_measurement.c.kpi_id).where(
            kpi_measurement.c.kpi_id == row.id, kpi_measurement.c.measured_at >= previous,
            kpi_measurement.c.measured_at < current).limit(1))).first()
        if measured is not None:
            continue
        item = (await kpi_goals.present(conn, [row]))[0]
        subject = outbox.Subject("kpi", row.id, organisation_id, f"/api/kpis/{row.id}")
        await outbox.record(conn, "kpi.measurement_missing", subject,
                            f"kpi.measurement_missing:{row.id}:{previous.isoformat()}", None,
                            kpi_models.KpiOut.model_validate(item).model_dump(mode="json"), now,
                            {"period_start": previous.isoformat(), "period_end": current.isoformat(),
                             "period": row.period})


def _utc(moment) -> datetime:
    if not isinstance(moment, datetime):  # a DATE: its start, as the index reads a floating time
        moment = datetime.combine(moment, time())
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _dues(text_: str, oldest: datetime, now: datetime, limit: int = 1000) -> list[datetime]:
    """Due instants of a recurring task's occurrences in (oldest, now]: each occurrence's start
    plus the task's DTSTART-to-DUE length (RFC 5545: DUE moves with each occurrence)."""
    import vobject

    todo = vobject.readOne(text_).vtodo
    due = _utc(todo.due.value)
    length = due - _utc(todo.dtstart.value) if hasattr(todo, "dtstart") else timedelta(0)
    found = []
    for start in todo.getrruleset(addRDate=True):
        moment = _utc(start) + length
        if moment > now or len(found) >= limit:
            break
        if moment > oldest:
            found.append(moment)
    return found


async def _overdue_tasks(conn, organisation_id, now: datetime, settings: AutomationSettings) -> None:
    oldest = now - timedelta(days=settings.overdue_lookback_days)
    rows = await conn.execute(_OPEN_TASKS, {"organisation_id": organisation_id, "now": now})
    for row in rows.all():
        try:
            dues = _dues(row.recurring_text, oldest, now) if row.recurring_text else [row.due]
        except Exception:  # a rule the server stored but cannot expand here: report its first DUE
            logger.warning("cannot expand the occurrences of task %s/%s", row.path, row.href, exc_info=True)
            dues = [row.due]
        path = f"{row.path}/{row.href}"
        subject = outbox.Subject("task", path, organisation_id, f"/{path}", tuple(row.goal_ids))
        for moment in dues:
            due = moment.astimezone(timezone.utc).isoformat()
            await outbox.record(conn, "task.overdue", subject, f"task.overdue:{path}:{due}", None,
                                {"uid": row.uid, "summary": row.summary, "status": row.status,
                                 "calendar": f"/{row.path}/", "href": row.href,
                                 "goals": [str(g) for g in row.goal_ids]},
                                now, {"due": due})


async def evaluate_organisation(conn: AsyncConnection, organisation_id: uuid.UUID, now: datetime,
                                settings: AutomationSettings) -> None:
    """Everything time-driven about one organisation at ``now``, in the caller's transaction."""
    parents = await _parents(conn, organisation_id)
    # Tracking and health are what the API shows now (storage_plugin.clock), as for any write.
    await observe.organisation(conn, organisation_id, kpi_goals.present)
    await _deadlines(conn, organisation_id, now, settings, parents)
    await _silent_key_results(conn, organisation_id, now, settings, parents)
    await _missing_measurements(conn, organisation_id, now)
    await _overdue_tasks(conn, organisation_id, now, settings)


class Evaluator:

    def __init__(self, engine: AsyncEngine, settings: AutomationSettings,
                 storage: Optional[rules.StorageFactory] = None) -> None:
        self._engine = engine
        self.settings = settings
        self._storage = storage
        self.lease_owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    async def claim(self, now: datetime, batch: int = 20) -> list[uuid.UUID]:
        async with self._engine.begin() as conn:
            await conn.execute(_ENLIST)
        async with self._engine.begin() as conn:
            return [row.organisation_id for row in await conn.execute(_CLAIM, {
                "now": now, "batch": batch, "lease_owner": self.lease_owner,
                "lease_seconds": float(max(self.settings.sweep_seconds, 60))})]

    async def run_due(self, now: Optional[datetime] = None) -> list[uuid.UUID]:
        """Evaluate the organisations due ``now`` (default: the clock); returns their ids."""
        now = now or clock.now()
        done = []
        for organisation_id in await self.claim(now):
            try:
                async with self._engine.begin() as conn:
                    await evaluate_organisation(conn, organisation_id, now, self.settings)
                if self._storage is not None:
                    await rules.run_rules(self._engine, self._storage, organisation_id, now)
                async with self._engine.begin() as conn:
                    await conn.execute(_FINISH, {"organisation_id": organisation_id, "now": now,
                                                 "lease_owner": self.lease_owner,
                                                 "interval": float(self.settings.sweep_seconds)})
                done.append(organisation_id)
            except Exception:  # one organisation's failure must not stop the others; its lease expires
                logger.exception("evaluating organisation %s failed", organisation_id)
        return done

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_due()
            except Exception as e:
                if availability.is_database_unavailable(e):
                    logger.warning("automation evaluation skipped: the database is unavailable: %s",
                                   availability.describe(e))
                else:
                    logger.exception("automation evaluation round failed")
            await asyncio.sleep(min(self.settings.sweep_seconds, 10))


def run_in_background(evaluator: Evaluator, enabled: bool):
    """For ``app.cleanup_ctx``: the evaluator runs while the application does."""
    return background.while_running(evaluator.run_forever, TASK_NAME, enabled)
