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
