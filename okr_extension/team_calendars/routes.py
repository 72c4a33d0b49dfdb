"""``/api/organisations/{id}/calendars``: calendars and task lists the organisation owns. Members
list them; admins create and delete them. Each appears in the members' (or a squad's) CalDAV homes
like any calendar shared with them."""
from __future__ import annotations

import asyncio

from aiohttp import web

from okr_extension.access import require_member
from okr_extension.api.operations import Operation
from okr_extension.api.problems import Problem
from okr_extension.api.requests import path_id, path_int, read_json
from okr_extension.api.responses import no_content, respond
from okr_extension.feeds.runtime import FEEDS
from okr_extension.goals import organisations
from okr_extension.keys import USER
from okr_extension.sharing import queries as sharing_queries
from okr_extension.team_calendars import schemas, service
from okr_extension.transactions import transaction
from storage_plugin import writer

TAG = "organisations"
CALENDARS = "/api/organisations/{id}/calendars"
CALENDAR = CALENDARS + "/{calendar_id}"


async def list_calendars(request: web.Request) -> web.Response:
    organisation_id = path_id(request)
    async with transaction(request) as conn:
        await require_member(conn, request[USER], organisation_id)
        rows = await conn.run_sync(service.listed, organisation_id, request[USER])
    return respond(schemas.TeamCalendars, {"items": rows})


async def create_calendar(request: web.Request) -> web.Response:
    organisation_id = path_id(request)
    body = await read_json(request, schemas.TeamCalendarIn)
    async with transaction(request) as conn:
        organisation = await organisations.get(conn, request[USER], organisation_id)
        await require_member(conn, request[USER], organisation_id, "admin", "organisation's calendars")
        if body.squad is not None and (await conn.execute(
                sharing_queries.SQUAD_ORGANISATION, {"id": body.squad})).scalar() != organisation_id:
            raise Problem(422, f"squad: no squad {body.squad} in this organisation",
                          errors=[{"field": "squad", "message": "not a squad of this organisation"}])
    storage = await request.app[FEEDS].storage()
    try:
        calendar_id = await asyncio.to_thread(service.create, storage, organisation_id, organisation.name, body)
    except writer.WriteError as e:
        raise Problem(422, f"the calendar cannot be created: {e}") from None
    async with transaction(request) as conn:
        rows = await conn.run_sync(service.listed, organisation_id, request[USER])
    return respond(schemas.TeamCalendarOut, next(r for r in rows if r["id"] == calendar_id), status=201)


async def delete_calendar(request: web.Request) -> web.Response:
    organisation_id, calendar_id = path_id(request), path_int(request, "calendar_id")
    async with transaction(request) as conn:
        await require_member(conn, request[USER], organisation_id, "admin", "organisation's calendars")
    storage = await request.app[FEEDS].storage()
    if not await asyncio.to_thread(service.delete, storage, organisation_id, calendar_id):
        raise Problem(404, f"the organisation has no calendar {calendar_id}")
    return no_content()


_CALENDAR_PARAM = {"calendar_id": {"type": "integer", "minimum": 1}}
OPERATIONS = [
    Operation("GET", CALENDARS, list_calendars, "The organisation's calendars and task lists, with where each "
              "appears in your CalDAV home", TAG, response=schemas.TeamCalendars),
    Operation("POST", CALENDARS, create_calendar, "Create a calendar or task list owned by the organisation, "
              "shared with its members or a squad (admins)", TAG, body=schemas.TeamCalendarIn,
              response=schemas.TeamCalendarOut, status=201, errors=(401, 403, 404, 422)),
    Operation("DELETE", CALENDAR, delete_calendar, "Delete one of the organisation's calendars with its items "
              "(admins)", TAG, status=204, path_params=_CALENDAR_PARAM, errors=(401, 403, 404)),
]
