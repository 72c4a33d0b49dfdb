"""Live updates by polling: each page has a small JSON twin with what may change (progress bars,
tracking, values, linked items' states, the chart; a KPI's health, values, tables and chart),
answered with an ETag so an unchanged page costs the browser a 304. Built from the same loaders as the pages, so it shows what a reload would."""
from __future__ import annotations

import hashlib
import json
import uuid

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension.web import goal_pages, kpi_pages, overview
from okr_extension.web.render import bar_value, number, percent


def bar(item: dict) -> dict:
    return {"value": bar_value(item["progress"]), "text": percent(item["progress"]),
            "tracking": item["tracking"] or "none", "label": overview.TRACKING_LABELS[item["tracking"]]}


async def organisation_state(conn: AsyncConnection, user: str, organisation_id: uuid.UUID,
                             offset: int = 0) -> dict:
    """The rows of the overview's page at ``offset`` (the page polls for what it shows)."""
    page = await overview.load(conn, user, organisation_id, offset=offset)
    bars, fields = {}, {}
    for node, _ in page.rows:
        key = str(node.objective["id"])
        bars[key] = bar(node.objective)
        fields[f"confidence:{key}"] = percent(node.confidence)
    return {"bars": bars, "fields": fields}


async def objective_state(conn: AsyncConnection, user: str, objective_id: uuid.UUID) -> dict:
    page = await goal_pages.objective_page(conn, user, objective_id)
    bars = {str(page["objective"]["id"]): bar(page["objective"])}
    fields = {"total-hours": f"{page['hours']['total_hours']:g}"}
    for kr in page["key_results"]:
        bars[str(kr["id"])] = bar(kr)
        fields[f"confidence:{kr['id']}"] = percent(kr["confidence"])
    return {"bars": bars, "fields": fields}


async def key_result_state(conn: AsyncConnection, user: str, key_result_id: uuid.UUID) -> dict:
    page = await goal_pages.key_result_page(conn, user, key_result_id)
    kr = page["key_result"]
    fields = {"current": f"{kr['current_value']:g}", "total-hours": f"{page['hours']['total_hours']:g}"}
    for item in page["linked"]:
        fields[f"state:{item['uid']}"] = item["status"] or "–"
    return {"bars": {str(kr["id"]): bar(kr)}, "fields": fields, "chart": page["chart"]}


async def kpi_state(conn: AsyncConnection, user: str, kpi_id: uuid.UUID) -> dict:
    page = await kpi_pages.kpi_page(conn, user, kpi_id)
    fields = {"health": page["health_label"], "current": number(page["kpi"]["current_value"]),
              "trend": page["trend_text"]}
    return {"fields": fields, "health": page["kpi"]["health"] or "none", "tables": page["tables"],
            "kpi_chart": page["chart"]}


def etag_of(state: dict) -> str:
    body = json.dumps(state, sort_keys=True, default=str)
    return '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'


def respond(request: web.Request, state: dict) -> web.Response:
    etag = etag_of(state)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    sent = {tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")}
    if etag in sent or "*" in sent:
        return web.Response(status=304, headers=headers)
    return web.json_response(state, headers=headers, dumps=lambda value: json.dumps(value, default=str))
