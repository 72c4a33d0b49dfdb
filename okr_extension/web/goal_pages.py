"""What the objective and key-result pages show, loaded in a fixed number of queries.

Rights and computed fields come from the API's own functions (``crud.get``, the roll-up,
``access``, the link service); this module only gathers them for a page.
"""
from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension import access
from okr_extension.api.problems import Problem
from okr_extension.goals import crud, key_results, objectives, rollup
from okr_extension.links import service as links_service
from okr_extension.models import links as link_models
from okr_extension.tables import check_in, key_result, objective
from okr_extension.web.overview import latest_confidence, organisation_name, risk_key
from storage_plugin import clock

HISTORY_LIMIT = 500   # check-ins drawn on a chart (the newest)
LINKED_LIMIT = 100    # linked items listed
HOURS_WEEKS = 12      # weeks of time invested shown


def may_write(role: str | None, user: str, owner: str, what: str) -> bool:
    """Whether ``access.require_write`` would let ``user`` change this (forms are shown only then)."""
    try:
        access.require_write(role, user, owner, what)
    except Problem:
        return False
    return True


async def objective_page(conn: AsyncConnection, user: str, objective_id: uuid.UUID) -> dict:
    item = await crud.get(conn, objectives.RESOURCE, user, objective_id)
    role = await access.role_of(conn, user, item["organisation_id"])
    org_name = await organisation_name(conn, item["organisation_id"])
    rows = (await conn.execute(sa.select(key_result).where(key_result.c.objective_id == objective_id)
                               .order_by(key_result.c.created, key_result.c.id))).all()
    results = await rollup.present_key_results(conn, rows)
    confidence = await latest_confidence(conn, key_result.c.id, key_result.c.objective_id == objective_id)
    child_rows = (await conn.execute(sa.select(objective).where(objective.c.parent_id == objective_id))).all()
    children = sorted(await rollup.present_objectives(conn, child_rows), key=risk_key)
    parent = None
    if item["parent_id"] is not None:
        parent = (await conn.execute(sa.select(objective.c.id, objective.c.title)
                                     .where(objective.c.id == item["parent_id"]))).first()
    return {"objective": item, "organisation_name": org_name, "role": role, "parent": parent,
            "key_results": [{**kr, "confidence": confidence.get(kr["id"]),
                             "may_check_in": may_write(role, user, kr["owner"], "key result")}
                            for kr in results],
            "children": children,
            "may_edit": may_write(role, user, item["owner"], "objective"),
            "hours": await hours_per_week(conn, user, "objective", objective_id)}


def _day_start(day, fallback: datetime) -> datetime:
    return datetime.combine(day, time(), timezone.utc) if day else fallback


def pace_line(kr: dict, parent, now: datetime) -> list[dict]:
    """Where the value should be over time: a straight line from the start value at the start of
    the period to the target at its end (the basis of the tracking colour)."""
    start = _day_start(parent.start_date, kr["created"])
    due_day = kr["due_date"] or parent.due_date
    if due_day is None:
        return []
    due = _day_start(due_day, now) + timedelta(days=1)
    return [{"t": start.isoformat(), "value": kr["start_value"]},
            {"t": due.isoformat(), "value": kr["target_value"]}]


async def key_result_page(conn: AsyncConnection, user: str, key_result_id: uuid.UUID) -> dict:
    kr = await crud.get(conn, key_results.RESOURCE, user, key_result_id)
    role = await access.role_of(conn, user, kr["organisation_id"])
    parent = (await conn.execute(sa.select(objective.c.id, objective.c.title, objective.c.start_date,
                                           objective.c.due_date)
                                 .where(objective.c.id == kr["objective_id"]))).one()
    newest = (await conn.execute(sa.select(check_in).where(check_in.c.key_result_id == key_result_id)
                                 .order_by(check_in.c.created.desc(), check_in.c.id.desc())
                                 .limit(HISTORY_LIMIT))).all()
    history = list(reversed(newest))
    linked = await links_service.linked_items(conn, user, link_models.TargetParams(
        target_kind="key_result", target_id=str(key_result_id), limit=LINKED_LIMIT))
    return {"key_result": kr, "objective": parent, "role": role,
            "check_ins": newest,
            "chart": {"check_ins": [{"t": row.created.isoformat(), "value": row.value,
                                     "confidence": row.confidence} for row in history],
                      "pace": pace_line(kr, parent, clock.now()),
                      "target": kr["target_value"], "unit": kr["unit"]},
            "linked": linked["items"],
            "may_check_in": may_write(role, user, kr["owner"], "key result"),
            "hours": await hours_per_week(conn, user, "key_result", key_result_id)}


async def hours_per_week(conn: AsyncConnection, user: str, kind: str, target_id: uuid.UUID) -> dict:
    now = clock.now()
    week_start = datetime.combine((now - timedelta(days=now.weekday())).date(), time(), timezone.utc)
    return await links_service.time_invested(conn, user, link_models.TimeParams(
        target_kind=kind, target_id=str(target_id), start=week_start - timedelta(weeks=HOURS_WEEKS - 1),
        end=week_start + timedelta(weeks=1)))
