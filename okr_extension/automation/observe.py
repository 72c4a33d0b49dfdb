"""After a write: recompute the states of the goals it touched and record their transitions.

Called inside the writing transaction (check-in, key-result and objective writes, KPI
writes and measurement ingest). Each subject's state row is locked before its state is
computed, bottom-up (key result, then its objective, then the objectives above), so that
concurrent writers take the locks in one order and compare one after the other.
"""
from __future__ import annotations

import uuid
from typing import Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension.automation import outbox, transitions
from okr_extension.goals import rollup
from okr_extension.models import goals as goal_models
from okr_extension.models import kpis as kpi_models
from okr_extension.tables import key_result, kpi, objective

# The objective and those above it, nearest first.
_CHAIN = sa.text("""
    WITH RECURSIVE up(id, parent_id, depth) AS (
        SELECT id, parent_id, 0 FROM objective WHERE id = :start
        UNION ALL
        SELECT o.id, o.parent_id, up.depth + 1 FROM objective o JOIN up ON o.id = up.parent_id
        WHERE up.depth < 1000)
    SELECT id FROM up ORDER BY depth""")


async def _chain(conn: AsyncConnection, objective_id: uuid.UUID | None) -> list[uuid.UUID]:
    if objective_id is None:
        return []
    return [row.id for row in await conn.execute(_CHAIN, {"start": objective_id})]


async def objectives(conn: AsyncConnection, objective_id: uuid.UUID | None) -> None:
    """The objective and every objective above it."""
    chain = await _chain(conn, objective_id)
    before = {oid: await outbox.lock_state(conn, "objective", oid) for oid in chain}
    if not chain:
        return
    rows = (await conn.execute(sa.select(objective).where(objective.c.id.in_(chain)))).all()
    for item in await rollup.present_objectives(conn, rows):
        above = tuple(chain[chain.index(item["id"]) + 1:])
        subject = outbox.Subject("objective", item["id"], item["organisation_id"],
                                 f"/api/objectives/{item['id']}", above)
        after = item["tracking"]
        await outbox.transition(conn, subject, before[item["id"]], after,
                                transitions.tracking_events("objective", before[item["id"]], after),
                                goal_models.ObjectiveOut.model_validate(item).model_dump(mode="json"))


async def key_result_and_objectives(conn: AsyncConnection, key_result_id: uuid.UUID) -> None:
    before = await outbox.lock_state(conn, "key_result", key_result_id)
    row = (await conn.execute(sa.select(key_result).where(key_result.c.id == key_result_id))).first()
    chain = await _chain(conn, row.objective_id)
    item = (await rollup.present_key_results(conn, [row]))[0]
    subject = outbox.Subject("key_result", row.id, row.organisation_id, f"/api/key-results/{row.id}",
                             tuple(chain))
    after = item["tracking"]
    await outbox.transition(conn, subject, before, after,
                            transitions.tracking_events("key_result", before, after),
                            goal_models.KeyResultOut.model_validate(item).model_dump(mode="json"))
    await objectives(conn, row.objective_id)


Present = Callable[[AsyncConnection, list], Awaitable[list[dict]]]


async def kpi_health(conn: AsyncConnection, kpi_id: uuid.UUID, present: Present) -> None:
    """``present`` is the KPI resource's (current period value and health)."""
    before = await outbox.lock_state(conn, "kpi", kpi_id)
    row = (await conn.execute(sa.select(kpi).where(kpi.c.id == kpi_id))).first()
    if row is None:
        await outbox.forget(conn, "kpi", kpi_id)
        return
    item = (await present(conn, [row]))[0]
    subject = outbox.Subject("kpi", row.id, row.organisation_id, f"/api/kpis/{row.id}")
    after = item["health"]
    await outbox.transition(conn, subject, before, after, transitions.kpi_events(before, after),
                            kpi_models.KpiOut.model_validate(item).model_dump(mode="json"))


async def forget_objective(conn: AsyncConnection, objective_id: uuid.UUID) -> None:
    await outbox.forget(conn, "objective", objective_id)


async def forget_key_result(conn: AsyncConnection, key_result_id: uuid.UUID) -> None:
    await outbox.forget(conn, "key_result", key_result_id)


# The organisation's objectives, deepest first: the order writers lock a chain in (bottom-up),
# so the evaluator's locks never cross theirs.
_DEEPEST_FIRST = sa.text("""
    WITH RECURSIVE d(id, parent_id, depth) AS (
        SELECT id, parent_id, 0 FROM objective WHERE organisation_id = :organisation_id AND parent_id IS NULL
        UNION ALL
        SELECT o.id, o.parent_id, d.depth + 1 FROM objective o JOIN d ON o.parent_id = d.id WHERE d.depth < 1000)
    SELECT id, parent_id FROM d ORDER BY depth DESC, id""")


def _above(parents: dict, objective_id) -> tuple:
    chain, seen = [], set()
    while objective_id is not None and objective_id not in seen:
        seen.add(objective_id)
        chain.append(objective_id)
        objective_id = parents.get(objective_id)
    return tuple(chain)


async def organisation(conn: AsyncConnection, organisation_id: uuid.UUID, kpi_present: Present) -> None:
    """Every goal of the organisation, as time passes (tracking against the time elapsed, KPI
    periods ending): key results, then objectives deepest first, then KPIs."""
    key_result_ids = (await conn.execute(sa.select(key_result.c.id).where(
        key_result.c.organisation_id == organisation_id).order_by(key_result.c.id))).scalars().all()
    parents = {r.id: r.parent_id for r in await conn.execute(_DEEPEST_FIRST, {"organisation_id": organisation_id})}
    for key_result_id in key_result_ids:
        before = await outbox.lock_state(conn, "key_result", key_result_id)
        row = (await conn.execute(sa.select(key_result).where(key_result.c.id == key_result_id))).first()
        if row is None:
            continue
        item = (await rollup.present_key_results(conn, [row]))[0]
        subject = outbox.Subject("key_result", row.id, organisation_id, f"/api/key-results/{row.id}",
                                 _above(parents, row.objective_id))
        await outbox.transition(conn, subject, before, item["tracking"],
                                transitions.tracking_events("key_result", before, item["tracking"]),
                                goal_models.KeyResultOut.model_validate(item).model_dump(mode="json"))
    ordered = (await conn.execute(_DEEPEST_FIRST, {"organisation_id": organisation_id})).all()
    parents = {r.id: r.parent_id for r in ordered}
    before = {r.id: await outbox.lock_state(conn, "objective", r.id) for r in ordered}
    rows = (await conn.execute(sa.select(objective).where(objective.c.id.in_(list(before))))).all()
    for item in await rollup.present_objectives(conn, rows) if rows else []:
        was = before[item["id"]]
        subject = outbox.Subject("objective", item["id"], organisation_id, f"/api/objectives/{item['id']}",
                                 _above(parents, parents.get(item["id"])))
        await outbox.transition(conn, subject, was, item["tracking"],
                                transitions.tracking_events("objective", was, item["tracking"]),
                                goal_models.ObjectiveOut.model_validate(item).model_dump(mode="json"))
    kpi_ids = (await conn.execute(sa.select(kpi.c.id).where(kpi.c.organisation_id == organisation_id)
                                  .order_by(kpi.c.id))).scalars().all()
    for kpi_id in kpi_ids:
        await kpi_health(conn, kpi_id, kpi_present)
