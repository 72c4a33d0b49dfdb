"""Objectives: alignment without cycles, parents in the same organisation."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension import access
from okr_extension.automation import observe
from okr_extension.goals import rollup
from okr_extension.goals.crud import Actor, Resource, invalid, undated_last
from okr_extension.models import goals as models
from okr_extension.tables import objective

# Walks up from a candidate parent; the objective may not appear among its ancestors.
_ANCESTORS = sa.text("""
    WITH RECURSIVE up(id, parent_id, depth) AS (
        SELECT id, parent_id, 1 FROM objective WHERE id = :start
        UNION ALL
        SELECT o.id, o.parent_id, up.depth + 1 FROM objective o JOIN up ON o.id = up.parent_id
        WHERE up.depth < 1000)
    SELECT id, p.organisation_id, p.owner FROM up, (SELECT organisation_id, owner FROM objective WHERE id = :start) p""")


async def check(conn: AsyncConnection, merged: dict, existing, actor: Actor) -> None:
    try:
        models.check_dates(merged.get("start_date"), merged.get("due_date"))
    except ValueError as e:
        raise invalid("due_date", str(e)) from None
    parent_id = merged.get("parent_id")
    if parent_id is None or (existing is not None and existing.parent_id == parent_id):
        return
    rows = (await conn.execute(_ANCESTORS, {"start": parent_id})).all()
    if not rows or rows[0].organisation_id != merged["organisation_id"]:
        raise invalid("parent_id", f"no objective {parent_id} in the same organisation")
    if existing is not None and any(row.id == existing.id for row in rows):
        raise invalid("parent_id", "this parent would make a cycle: the objective is among its ancestors")
    # A child counts in its parent's progress: aligning under an objective changes it.
    access.require_write(actor.role, actor.user, rows[0].owner, "parent objective")


async def observe_objective(conn: AsyncConnection, row) -> None:
    await observe.objectives(conn, row.id)


async def observe_above_deleted(conn: AsyncConnection, deleted) -> None:
    await observe.forget_objective(conn, deleted.id)
    await observe.objectives(conn, deleted.parent_id)


RESOURCE = Resource(
    label="objective", path="objectives", table=objective,
    create=models.ObjectiveCreate, patch=models.ObjectivePatch, out=models.ObjectiveOut,
    page=models.ObjectivePage, query=models.ObjectiveQuery,
    sort_keys={"due_date": undated_last(objective.c.due_date)},
    check=check, present=rollup.present_objectives,
    after_write=observe_objective, after_delete=observe_above_deleted)
