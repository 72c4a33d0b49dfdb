"""My week (the agenda of the link service, with goal badges) and the heatmap of time invested:
an organisation's objectives x ISO weeks, hours of linked events (the objective's own links and
its key results'), in one grouped query that also sorts (most time first) and pages the objectives,
so a page costs its ``HEATMAP_ROWS`` rows whatever the number of objectives."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension import access
from okr_extension.api.problems import Problem
from okr_extension.links import service as links_service
from okr_extension.links.queries import READABLE
from okr_extension.models import links as link_models
from okr_extension.tables import objective
from okr_extension.web.render import Paged
from storage_plugin import clock

HEATMAP_WEEKS = 12
HEATMAP_ROWS = 50  # objectives per page of the heatmap
HEAT_LEVELS = 4  # cells are shaded 0 (no time) to 4 (the busiest cell of the map)

# Each event occurrence in the range counts once per objective it serves, clipped to the range;
# readable calendars as for the API's time-invested (the user's own, as CalDAV allows).
HOURS_BY_OBJECTIVE_AND_WEEK = sa.text(
    "WITH goal_links AS ("
    "  SELECT l.item_id, o.id AS objective_id FROM item_link l"
    "    JOIN objective o ON l.target_kind = 'objective' AND l.target_id = CAST(o.id AS text)"
    "   WHERE o.organisation_id = :organisation"
    "  UNION"
    "  SELECT l.item_id, k.objective_id FROM item_link l"
    "    JOIN key_result k ON l.target_kind = 'key_result' AND l.target_id = CAST(k.id AS text)"
    "   WHERE k.organisation_id = :organisation),"
    " clipped AS ("
    "  SELECT g.objective_id, o.span * int8range(:start, :end) AS span"
    "    FROM item_occurrence o JOIN goal_links g ON g.item_id = o.item_id JOIN item i ON i.id = o.item_id"
    f"  WHERE o.collection_id IN (SELECT c.id FROM collection c WHERE {READABLE})"
    "    AND i.component = 'VEVENT' AND NOT o.surrounds AND o.span && int8range(:start, :end)),"
    " cells AS ("
    "  SELECT objective_id, date_trunc('week', to_timestamp(lower(span)) AT TIME ZONE 'UTC') AS week,"
    "         sum(upper(span) - lower(span)) / 3600.0 AS hours"
    "    FROM clipped WHERE NOT isempty(span) GROUP BY 1, 2),"
    " totals AS (SELECT objective_id, sum(hours) AS total FROM cells GROUP BY 1),"
    " page AS ("
    "  SELECT o.id, o.title, coalesce(t.total, 0) AS total, count(*) OVER () AS objectives"
    "    FROM objective o LEFT JOIN totals t ON t.objective_id = o.id"
    "   WHERE o.organisation_id = :organisation"
    "   ORDER BY 3 DESC, lower(o.title), o.id LIMIT :limit OFFSET :offset)"
    " SELECT p.id, p.title, p.total, p.objectives, (SELECT max(hours) FROM cells) AS busiest, c.week, c.hours"
    " FROM page p LEFT JOIN cells c ON c.objective_id = p.id"
    " ORDER BY p.total DESC, lower(p.title), p.id")


def monday_of(day: date) -> datetime:
    return datetime.combine(day - timedelta(days=day.weekday()), time(), timezone.utc)


def parse_week(value: str | None) -> datetime:
    """``2026-W49`` (ISO week) -> its Monday 00:00 UTC; none given: this week."""
    if not value:
        return monday_of(clock.now().date())
    try:
        year, week = value.split("-W")
        return datetime.combine(date.fromisocalendar(int(year), int(week), 1), time(), timezone.utc)
    except ValueError:
        raise Problem(422, f"invalid week {value!r}: give an ISO week such as 2026-W49") from None


def iso_week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def goal_url(kind: str, target_id: str) -> str | None:
    path = {"objective": "objectives", "key_result": "key-results", "kpi": "kpis",
            "objective_due": "objectives", "key_result_due": "key-results", "kpi_review": "kpis"}.get(kind)
    return f"/app/{path}/{target_id}" if path else None


async def my_week(conn: AsyncConnection, user: str, week_start: datetime) -> dict:
    agenda = await links_service.agenda(conn, user, link_models.RangeParams(
        start=week_start, end=week_start + timedelta(days=7)))
    days: dict[date, list] = {week_start.date() + timedelta(days=i): [] for i in range(7)}
    for index, entry in enumerate(agenda["entries"]):
        badges = [{**link, "url": None if link["dangling"] else goal_url(link["target_kind"], link["target_id"])}
                  for link in entry["links"]]
        if entry.get("goal_id"):
            badges.append({"title": entry["title"], "target_kind": entry["kind"],
                           "url": goal_url(entry["kind"], entry["goal_id"]), "dangling": False})
        day = entry["start"].astimezone(timezone.utc).date()
        days.setdefault(day, []).append({**entry, "index": index, "badges": badges})
    return {"week": iso_week(week_start), "start": week_start, "days": days,
            "previous": iso_week(week_start - timedelta(days=7)), "next": iso_week(week_start + timedelta(days=7)),
            "truncated": agenda["truncated"]}


@dataclass
class Heatmap(Paged):
    weeks: list[datetime]
    rows: list[dict]   # {"objective": {"id", "title"}, "cells": [{"hours", "level", "week"}], "total"}
    objectives: int    # in the organisation, over all pages
    offset: int
    limit: int

    def total_rows(self) -> int:
        return self.objectives


async def heatmap(conn: AsyncConnection, user: str, organisation_id: uuid.UUID,
                  weeks: int = HEATMAP_WEEKS, offset: int = 0, limit: int = HEATMAP_ROWS) -> Heatmap:
    await access.require_member(conn, user, organisation_id)
    last = monday_of(clock.now().date())
    starts = [last - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    result = await conn.execute(HOURS_BY_OBJECTIVE_AND_WEEK, {
        "organisation": organisation_id, "user": user, "start": int(starts[0].timestamp()),
        "end": int((last + timedelta(weeks=1)).timestamp()), "limit": limit, "offset": offset})
    page: dict[uuid.UUID, dict] = {}
    busiest, objectives = 0.0, 0
    for row in result:
        busiest, objectives = float(row.busiest or 0), row.objectives
        entry = page.setdefault(row.id, {"objective": {"id": row.id, "title": row.title},
                                         "total": float(row.total), "hours": {}})
        if row.week is not None:
            entry["hours"][row.week.replace(tzinfo=timezone.utc)] = float(row.hours)
    rows = []
    for entry in page.values():
        cells = []
        for start in starts:
            value = entry["hours"].get(start, 0.0)
            level = 0 if value == 0 else max(1, round(HEAT_LEVELS * value / busiest))
            cells.append({"hours": value, "level": level, "week": iso_week(start)})
        rows.append({"objective": entry["objective"], "cells": cells, "total": entry["total"]})
    if not rows and offset:  # past the last page: say how many there are
        objectives = (await conn.execute(sa.select(sa.func.count()).select_from(objective)
                                         .where(objective.c.organisation_id == organisation_id))).scalar()
    return Heatmap(starts, rows, objectives, offset, limit)
