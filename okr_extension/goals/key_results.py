"""Key results and their check-ins (a check-in moves the current value)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension.automation import observe
from okr_extension.goals import kpi_source, rollup
from okr_extension.goals.crud import Actor, Parent, Resource, invalid, undated_last
from okr_extension.models import goals as models
from okr_extension.tables import check_in, key_result, objective


async def check(conn: AsyncConnection, merged: dict, existing, actor: Actor) -> None:
    await kpi_source.check(conn, merged, existing)
    if existing is None and merged.get("current_value") is None:
        merged["current_value"] = merged["start_value"]
    try:
        models.check_key_result_values(merged["kind"], merged["start_value"], merged["target_value"])
    except ValueError as e:
        raise invalid("target_value", str(e)) from None


async def check_check_in(conn: AsyncConnection, merged: dict, existing, actor: Actor) -> None:
    if existing is None:
        await kpi_source.refuse_check_in(conn, merged["key_result_id"])


async def move_current_value(conn: AsyncConnection, row) -> None:
    """The newest check-in sets the key result's current value."""
    newest = sa.select(check_in.c.id).where(check_in.c.key_result_id == row.key_result_id) \
        .order_by(check_in.c.created.desc(), check_in.c.id.desc()).limit(1).scalar_subquery()
    await conn.execute(sa.update(key_result).where(key_result.c.id == row.key_result_id, newest == row.id)
                       .values(current_value=row.value, updated=sa.func.now()))


async def restore_current_value(conn: AsyncConnection, deleted) -> None:
    """Deleting the newest check-in gives the key result the value of the one before it
    (or its start value when none is left)."""
    newer = sa.select(check_in.c.id).where(
        check_in.c.key_result_id == deleted.key_result_id,
        sa.tuple_(check_in.c.created, check_in.c.id) > sa.tuple_(sa.literal(deleted.created), sa.literal(deleted.id)))
    if (await conn.execute(newer.limit(1))).first() is not None:
        return
    previous = sa.select(check_in.c.value).where(check_in.c.key_result_id == deleted.key_result_id) \
        .order_by(check_in.c.created.desc(), check_in.c.id.desc()).limit(1).scalar_subquery()
    await conn.execute(sa.update(key_result).where(key_result.c.id == deleted.key_result_id)
                       .values(current_value=sa.func.coalesce(previous, key_result.c.start_value),
                               updated=sa.func.now()))


async def observe_after_check_in(conn: AsyncConnection, row) -> None:
    await move_current_value(conn, row)
    await observe.key_result_and_objectives(conn, row.key_result_id)


async def observe_after_check_in_deleted(conn: AsyncConnection, deleted) -> None:
    await restore_current_value(conn, deleted)
    await observe.key_result_and_objectives(conn, deleted.key_result_id)


async def observe_key_result(conn: AsyncConnection, row) -> None:
    await observe.key_result_and_objectives(conn, row.id)


async def observe_key_result_deleted(conn: AsyncConnection, deleted) -> None:
    await observe.forget_key_result(conn, deleted.id)
    await observe.objectives(conn, deleted.objective_id)


RESOURCE = Resource(
    label="key result", path="key-results", table=key_result,
    create=models.KeyResultCreate, patch=models.KeyResultPatch, out=models.KeyResultOut,
    page=models.KeyResultPage, query=models.KeyResultQuery,
    parent=Parent("objective_id", objective, "owner", "objective"),
    sort_keys={"due_date": undated_last(key_result.c.due_date)},
    check=check, columns=kpi_source.columns, present=rollup.present_key_results,
    after_write=observe_key_result, after_delete=observe_key_result_deleted)

CHECK_INS = Resource(
    label="check-in", path="check-ins", table=check_in,
    create=models.CheckInCreate, patch=models.CheckInPatch, out=models.CheckInOut,
    page=models.CheckInPage, query=models.CheckInQuery,
    owner_column="author", owner_from_body=False,
    parent=Parent("key_result_id", key_result, "owner", "key result"), check=check_check_in,
    after_write=observe_after_check_in, after_delete=observe_after_check_in_deleted)
