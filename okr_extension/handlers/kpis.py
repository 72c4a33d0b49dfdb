"""KPI measurements (bulk, idempotent) and values per period."""
from __future__ import annotations

from datetime import datetime

from aiohttp import web

from okr_extension.api.operations import Operation
from okr_extension.api.problems import Problem
from okr_extension.api.requests import path_id, read_json, read_query
from okr_extension.api.responses import no_content, respond
from okr_extension.goals import kpis as store
from okr_extension.keys import USER
from okr_extension.models import kpis as models
from okr_extension.transactions import transaction

TAG = "kpis"
MEASUREMENTS = "/api/kpis/{id}/measurements"
AT_PARAM = {"measured_at": {"type": "string", "format": "date-time"}}


async def ingest_measurements(request: web.Request) -> web.Response:
    kpi_id = path_id(request)
    batch = await read_json(request, models.MeasurementBatch)
    async with transaction(request) as conn:
        result = await store.ingest(conn, request[USER], kpi_id, batch)
    return respond(models.IngestResult, result)


async def list_measurements(request: web.Request) -> web.Response:
    kpi_id = path_id(request)
    query = read_query(request, models.MeasurementQuery)
    async with transaction(request) as conn:
        rows, next_cursor = await store.measurements(conn, request[USER], kpi_id, query)
    return respond(models.MeasurementPage, {"items": rows, "next_cursor": next_cursor})


async def delete_measurement(request: web.Request) -> web.Response:
    kpi_id = path_id(request)
    try:
        measured_at = datetime.fromisoformat(request.match_info["measured_at"])
    except ValueError:
        raise Problem(404, "no such measurement: measured_at is not an ISO 8601 timestamp") from None
    if measured_at.tzinfo is None:
        raise Problem(404, "no such measurement: give measured_at with its UTC offset")
    async with transaction(request) as conn:
        await store.delete_measurement(conn, request[USER], kpi_id, measured_at)
    return no_content()


async def kpi_series(request: web.Request) -> web.Response:
    kpi_id = path_id(request)
    query = read_query(request, models.SeriesQuery)
    async with transaction(request) as conn:
        result = await store.series(conn, request[USER], kpi_id, query)
    return respond(models.Series, result)


OPERATIONS = [
    Operation("POST", MEASUREMENTS, ingest_measurements,
              "Record measurements in one transaction; a timestamp sent again replaces its value", TAG,
              body=models.MeasurementBatch, response=models.IngestResult, errors=(401, 403, 404),
              token_scope="ingest"),
    Operation("GET", MEASUREMENTS, list_measurements, "Measurements in a time range, oldest first", TAG,
              query=models.MeasurementQuery, response=models.MeasurementPage),
    Operation("DELETE", MEASUREMENTS + "/{measured_at}", delete_measurement, "Delete one measurement", TAG,
              status=204, path_params=AT_PARAM, errors=(401, 403, 404)),
    Operation("GET", "/api/kpis/{id}/series", kpi_series,
              "Values per period by the KPI's aggregation, with health and trend", TAG,
              query=models.SeriesQuery, response=models.Series),
]
