"""A KPI's measurements aggregated over a time range: per period for its series, over a key
result's period for a key result that follows the KPI."""
from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension.tables import kpi_measurement

AGGREGATE = {
    "sum": sa.func.sum(kpi_measurement.c.value),
    "avg": sa.func.avg(kpi_measurement.c.value),
    "min": sa.func.min(kpi_measurement.c.value),
    "max": sa.func.max(kpi_measurement.c.value),
    # The value of the latest measurement of the period.
    "last": sa.func.array_agg(aggregate_order_by(kpi_measurement.c.value,
                                                 kpi_measurement.c.measured_at.desc()),
                              type_=ARRAY(sa.Float))[1],
}


async def value_between(conn: AsyncConnection, kpi_id: uuid.UUID, aggregation: str, start: datetime,
                        end: datetime | None) -> float | None:
    """The aggregate of the measurements in [start, end) (no end: up to now and beyond); None
    without a measurement there."""
    select = sa.select(AGGREGATE[aggregation]).where(kpi_measurement.c.kpi_id == kpi_id,
                                                      kpi_measurement.c.measured_at >= start)
    if end is not None:
        select = select.where(kpi_measurement.c.measured_at < end)
    return (await conn.execute(select)).scalar()
