"""KPIs: the indicator resource, idempotent measurement ingest, and values per period.

Measurements are bucketed by period in SQL (date_trunc in UTC), so a series over years of
hourly points costs one grouped scan of the index, not a transfer of every point.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension import access
from okr_extension.api import pagination
from okr_extension.api.problems import Problem
from okr_extension.automation import observe
from okr_extension.domain import kpi as domain
from okr_extension.goals import kpi_source, kpi_values
from okr_extension.goals.crud import Actor, Resource, invalid, undated_last
from okr_extension.models import kpis as models
from okr_extension.tables import kpi, kpi_measurement
from storage_plugin import clock

TREND_PERIODS = 6
_TRUNC = {"daily": "day", "weekly": "week", "monthly": "month", "quarterly": "quarter", "yearly": "year"}


async def check(conn: AsyncConnection, merged: dict, existing, actor: Actor) -> None:
    try:
        models.check_thresholds(merged["direction"], merged.get("warn_threshold"), merged.get("alarm_threshold"))
    except ValueError as e:
        raise invalid("alarm_threshold", str(e)) from None


def _bucket(period: str) -> sa.ColumnElement:
    return sa.func.date_trunc(_TRUNC[period], kpi_measurement.c.measured_at, "UTC")


async def period_values(conn: AsyncConnection, indicator, period: str, start: datetime,
                        end: datetime) -> list[dict]:
    """One point per period from the period holding ``start`` up to ``end`` (exclusive),
    empty periods included (value None)."""
    start = domain.period_start(start.astimezone(timezone.utc), period)
    bucket = _bucket(period).label("bucket")
    rows = await conn.execute(
        sa.select(bucket, kpi_values.AGGREGATE[indicator.aggregation].label("value"), sa.func.count().label("count"))
        .where(kpi_measurement.c.kpi_id == indicator.id,
               kpi_measurement.c.measured_at >= start,
               kpi_measurement.c.measured_at < end)
        .group_by(bucket))
    found = {row.bucket: row for row in rows}
    points = []
    moment = start
    while moment < end:
        row = found.get(moment)
        value = float(row.value) if row else None
        points.append({"period_start": moment, "value": value, "count": row.count if row else 0,
                       "health": health(indicator, value)})
        moment = domain.next_period(moment, period)
    return points


def health(indicator, value: float | None) -> str | None:
    if value is None or indicator.warn_threshold is None or indicator.alarm_threshold is None:
        return None
    result = domain.health(value, indicator.warn_threshold, indicator.alarm_threshold,
                           indicator.direction == "higher_is_better")
    return result.value if result else None


async def present(conn: AsyncConnection, rows) -> list[dict]:
    now = clock.now()
    out = []
    for row in rows:
        current = domain.period_start(now, row.period)
        first = domain.next_period(current, row.period, 1 - TREND_PERIODS)
        points = await period_values(conn, row, row.period, first, domain.next_period(current, row.period))
        value = points[-1]["value"]
        out.append({**row._mapping, "current_period_start": current, "current_value": value,
                    "health": health(row, value), "trend": domain.trend([p["value"] for p in points])})
    return out


async def observe_health(conn: AsyncConnection, row) -> None:
    await observe.kpi_health(conn, row.id, present)


async def observe_change(conn: AsyncConnection, row) -> None:
    """A changed aggregation changes the value of the key results that follow the KPI too."""
    await observe_health(conn, row)
    await kpi_source.move_followers(conn, row.id)


RESOURCE = Resource(
    label="KPI", path="kpis", table=kpi,
    create=models.KpiCreate, patch=models.KpiPatch, out=models.KpiOut,
    page=models.KpiPage, query=models.KpiQuery,
    sort_keys={"next_review": undated_last(kpi.c.next_review)},
    check=check, present=present, after_write=observe_change, after_delete=observe_health)


async def _indicator(conn: AsyncConnection, user: str, kpi_id: uuid.UUID, write: bool = False):
    row = (await conn.execute(sa.select(kpi).where(kpi.c.id == kpi_id))).first()
    role = await access.role_of(conn, user, row.organisation_id) if row else None
    if role is None:
        raise Problem(404, f"no such KPI: {kpi_id}")
    if write:
        access.require_write(role, user, row.owner, "KPI")
    return row


async def ingest(conn: AsyncConnection, user: str, kpi_id: uuid.UUID,
                 batch: models.MeasurementBatch) -> dict:
    """Upsert every point in one statement (the caller's transaction): all or nothing.

    The points travel as four arrays unnested in SQL, so a batch of any size is four bound
    parameters (a row per point would pass asyncpg's limit of 32,767 above 5,461 points)."""
    indicator = await _indicator(conn, user, kpi_id, write=True)
    latest: dict[datetime, models.MeasurementIn] = {}
    for point in batch.measurements:  # the last of duplicates in one batch wins, as a re-send would
        latest[point.measured_at] = point
    points = sa.func.unnest(
        sa.literal(list(latest), ARRAY(sa.DateTime(timezone=True))),
        sa.literal([p.value for p in latest.values()], ARRAY(sa.Float)),
        sa.literal([p.note for p in latest.values()], ARRAY(sa.Text)),
        sa.literal([p.source for p in latest.values()], ARRAY(sa.Text)),
    ).table_valued("measured_at", "value", "note", "source").render_derived()
    rows = sa.select(sa.literal(kpi_id, kpi_measurement.c.kpi_id.type),
                     sa.literal(indicator.organisation_id, kpi_measurement.c.organisation_id.type), sa.literal(user),
                     points.c.measured_at, points.c.value, points.c.note, points.c.source)
    statement = insert(kpi_measurement).from_select(
        ["kpi_id", "organisation_id", "author", "measured_at", "value", "note", "source"], rows)
    statement = statement.on_conflict_do_update(
        index_elements=["kpi_id", "measured_at", "organisation_id"],
        set_={name: statement.excluded[name] for name in ("value", "note", "source", "author")}
        | {"recorded": sa.func.now()},
    ).returning(sa.literal_column("xmax = 0").label("inserted"))
    inserted = sum(1 for row in await conn.execute(statement) if row.inserted)
    await observe.kpi_health(conn, kpi_id, present)
    await kpi_source.move_followers(conn, kpi_id)
    return {"inserted": inserted, "updated": len(latest) - inserted}


async def measurements(conn: AsyncConnection, user: str, kpi_id: uuid.UUID,
                       query: models.MeasurementQuery) -> tuple[list, str | None]:
    await _indicator(conn, user, kpi_id)
    select = sa.select(kpi_measurement).where(kpi_measurement.c.kpi_id == kpi_id)
    if query.start:
        select = select.where(kpi_measurement.c.measured_at >= query.start)
    if query.end:
        select = select.where(kpi_measurement.c.measured_at < query.end)
    if query.cursor:
        select = select.where(kpi_measurement.c.measured_at > _decode_time(query.cursor))
    rows = (await conn.execute(select.order_by(kpi_measurement.c.measured_at).limit(query.limit + 1))).all()
    if len(rows) <= query.limit:
        return rows, None
    rows = rows[:query.limit]
    return rows, pagination.encode_cursor("measured_at", rows[-1].measured_at, kpi_id)


def _decode_time(cursor: str) -> datetime:
    moment, _ = pagination.decode_cursor(cursor, "measured_at")
    if not isinstance(moment, datetime):
        raise Problem(422, "invalid cursor: pass the next_cursor of the previous page unchanged")
    return moment


async def delete_measurement(conn: AsyncConnection, user: str, kpi_id: uuid.UUID, measured_at: datetime) -> None:
    await _indicator(conn, user, kpi_id, write=True)
    deleted = await conn.execute(sa.delete(kpi_measurement).where(
        kpi_measurement.c.kpi_id == kpi_id, kpi_measurement.c.measured_at == measured_at))
    if deleted.rowcount == 0:
        raise Problem(404, f"no measurement of KPI {kpi_id} at {measured_at.isoformat()}")
    await observe.kpi_health(conn, kpi_id, present)
    await kpi_source.move_followers(conn, kpi_id)


async def series(conn: AsyncConnection, user: str, kpi_id: uuid.UUID, query: models.SeriesQuery) -> dict:
    indicator = await _indicator(conn, user, kpi_id)
    if query.end <= query.start:
        raise Problem(422, "invalid query: end must be after start",
                      errors=[{"field": "end", "message": "must be after start"}])
    period = query.period or indicator.period
    # A bounded answer: at most ~10 years of days.
    if (query.end - query.start).days > 3700 * {"daily": 1}.get(period, 30):
        raise Problem(422, "invalid query: the range is too long for this period; narrow it or use a longer period")
    points = await period_values(conn, indicator, period, query.start, query.end)
    return {"kpi_id": kpi_id, "period": period, "aggregation": indicator.aggregation, "points": points,
            "trend": domain.trend([p["value"] for p in points[-TREND_PERIODS:]])}
