"""Key results that follow a KPI: their current value is the KPI's value over the key result's
period, so measurements pushed by an automation move the key result without check-ins, and its
tracking transitions produce events like any other (in the measurement's transaction)."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension.api.problems import Problem
from okr_extension.automation import observe
from okr_extension.goals import kpi_values, rollup
from okr_extension.goals.crud import invalid
from okr_extension.tables import key_result, kpi, objective
from storage_plugin import clock


def columns(values: dict) -> dict:
    """The API's ``source`` object as the table's two columns."""
    if "source" in values:
        source = values.pop("source")
        values["source_kpi_id"] = source["kpi"] if source else None
        values["source_aggregation"] = source["aggregation"] if source else None
    return values


async def followed_value(conn: AsyncConnection, merged: dict) -> float:
    """The value a following key result has now: the aggregate of its KPI's measurements over its
    period, or its start value while there are none."""
    indicator = (await conn.execute(sa.select(kpi.c.id, kpi.c.organisation_id, kpi.c.aggregation)
                                    .where(kpi.c.id == merged["source_kpi_id"]))).first()
    if indicator is None or indicator.organisation_id != merged["organisation_id"]:
        raise invalid("source", f"no KPI {merged['source_kpi_id']} in the key result's organisation")
    parent = (await conn.execute(sa.select(objective.c.start_date, objective.c.due_date)
                                 .where(objective.c.id == merged["objective_id"]))).one()
    start, end = rollup.key_result_period(merged.get("created") or clock.now(), merged["due_date"], parent)
    value = await kpi_values.value_between(conn, indicator.id, merged["source_aggregation"] or indicator.aggregation,
                                           start, end)
    return merged["start_value"] if value is None else value


async def check(conn: AsyncConnection, merged: dict, existing) -> None:
    """A following key result's value is derived, never set by hand."""
    if merged.get("source_kpi_id") is None:
        return
    set_by_hand = (merged.get("current_value") is not None if existing is None
                   else merged["current_value"] != existing.current_value)
    if set_by_hand:
        raise invalid("current_value", "this key result follows a KPI: its value comes from the KPI's "
                                       "measurements (send source: null to set it by hand)")
    merged["current_value"] = await followed_value(conn, merged)


async def refuse_check_in(conn: AsyncConnection, key_result_id: uuid.UUID) -> None:
    followed = (await conn.execute(sa.select(key_result.c.source_kpi_id)
                                   .where(key_result.c.id == key_result_id))).scalar()
    if followed is not None:
        raise Problem(409, f"key result {key_result_id} follows KPI {followed}: its value comes from the "
                           f"KPI's measurements; record one (POST /api/kpis/{followed}/measurements), or stop "
                           "following (PATCH the key result with source: null) to check in by hand")


async def move_followers(conn: AsyncConnection, kpi_id: uuid.UUID) -> None:
    """After the KPI's measurements changed: every key result following it takes its new value."""
    followers = (await conn.execute(sa.select(key_result).where(key_result.c.source_kpi_id == kpi_id)
                                    .order_by(key_result.c.id).with_for_update())).all()
    for row in followers:
        value = await followed_value(conn, dict(row._mapping))
        if value != row.current_value:
            await conn.execute(sa.update(key_result).where(key_result.c.id == row.id)
                               .values(current_value=value, updated=sa.func.now()))
            await observe.key_result_and_objectives(conn, row.id)
