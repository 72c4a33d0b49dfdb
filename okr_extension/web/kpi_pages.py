"""What the KPI pages show: the series per period with its bands and target, the latest
measurements, and the CSV export. Rights, health, trend and the series are the API's."""
from __future__ import annotations

import csv
import io
import uuid
from typing import AsyncIterator

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension import access
from okr_extension.domain import kpi as domain
from okr_extension.goals import crud, kpis
from okr_extension.models import kpis as models
from okr_extension.tables import kpi, kpi_measurement
from okr_extension.web import overview
from okr_extension.web.render import day, number
from storage_plugin import clock

SERIES_PERIODS = 12     # periods drawn, the current one last
LATEST_LIMIT = 20       # measurements listed on the page
CSV_PAGE = 5000         # measurements read per query while exporting
HEALTH_LABELS = {"green": "Healthy", "yellow": "Warning", "red": "Alarm", None: "No thresholds or value"}


def trend_text(trend: float | None) -> str:
    return "–" if trend is None else f"{trend:+.3g} per period"


async def kpi_list(conn: AsyncConnection, user: str, organisation_id: uuid.UUID) -> list:
    """The organisation's KPIs (one query; the page links to each KPI's own page for values)."""
    await access.require_member(conn, user, organisation_id)
    return (await conn.execute(sa.select(kpi).where(kpi.c.organisation_id == organisation_id)
                               .order_by(kpi.c.name, kpi.c.id))).all()


async def kpi_page(conn: AsyncConnection, user: str, kpi_id: uuid.UUID) -> dict:
    indicator = await crud.get(conn, kpis.RESOURCE, user, kpi_id)
    current = domain.period_start(clock.now(), indicator["period"])
    first = domain.next_period(current, indicator["period"], 1 - SERIES_PERIODS)
    series = await kpis.series(conn, user, kpi_id, models.SeriesQuery(
        start=first, end=domain.next_period(current, indicator["period"])))
    latest = (await conn.execute(sa.select(kpi_measurement).where(kpi_measurement.c.kpi_id == kpi_id)
                                 .order_by(kpi_measurement.c.measured_at.desc()).limit(LATEST_LIMIT))).all()
    return {"kpi": indicator, "series": series, "latest": latest,
            "health_label": HEALTH_LABELS.get(indicator["health"], HEALTH_LABELS[None]),
            # The tables' cells as text: the page renders them and its live twin sends them.
            "tables": {"series": [[p["period_start"].date().isoformat(), number(p["value"]), str(p["count"]),
                                   p["health"] or "–"] for p in reversed(series["points"])],
                       "latest": [[day(m.measured_at), number(m.value), m.note or "", m.source or "", m.author or ""]
                                  for m in latest]},
            "trend_text": trend_text(indicator["trend"]),
            "organisation_name": await overview.organisation_name(conn, indicator["organisation_id"]),
            "chart": {"points": [{"t": p["period_start"].isoformat(), "value": p["value"], "health": p["health"]}
                                 for p in series["points"]],
                      "target": indicator["target"], "warn": indicator["warn_threshold"],
                      "alarm": indicator["alarm_threshold"], "direction": indicator["direction"],
                      "unit": indicator["unit"]}}


def _cell(text: str | None) -> str:
    # A spreadsheet runs a cell starting with = + - @ as a formula: notes are shown as text.
    text = text or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def csv_rows(conn: AsyncConnection, user: str, kpi_id: uuid.UUID) -> AsyncIterator[str]:
    """Every measurement, oldest first, as CSV lines (read a page at a time, never all at once)."""
    query = models.MeasurementQuery(limit=CSV_PAGE)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["measured_at", "value", "note", "source", "author"])
    while True:
        rows, next_cursor = await kpis.measurements(conn, user, kpi_id, query)
        for row in rows:
            writer.writerow([row.measured_at.isoformat(), repr(row.value), _cell(row.note), _cell(row.source),
                             row.author])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if next_cursor is None:
            return
        query = models.MeasurementQuery(limit=CSV_PAGE, cursor=next_cursor)
