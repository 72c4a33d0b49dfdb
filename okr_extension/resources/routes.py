"""/api/resources: rooms and resources of an organisation (admins manage them, members see them
and their bookings; named managers answer requests under the manual policy)."""
from __future__ import annotations

import asyncio

from aiohttp import web

from okr_extension import access
from okr_extension.api.operations import Operation
from okr_extension.api.problems import Problem
from okr_extension.api.requests import path_id, path_name, read_json, read_query
from okr_extension.api.responses import no_content, respond
from okr_extension.feeds.runtime import FEEDS
from okr_extension.keys import USER
from okr_extension.resources import schemas, service
from okr_extension.transactions import transaction
from scheduling import freebusy as window
from storage_plugin import clock, resources as booking

TAG = "resources"
UID_PARAM = {"uid": {"type": "string", "description": "the event's UID"}}


def _refused(e: service.ResourceRefused) -> Problem:
    return Problem(e.status, str(e), errors=[{"field": e.field, "message": str(e)}])


def _out(row) -> dict:
    return {**row._mapping, "features": list(row.features), "managers": list(row.managers)}


async def _resource(request: web.Request, conn, needed: str = "viewer"):
    """The resource of the path, if the caller's role in its organisation allows ``needed``."""
    row = await conn.run_sync(service.load, path_id(request))
    if row is None:
        raise Problem(404, "no such resource")
    await access.require_member(conn, request[USER], row.organisation_id, needed, "resource")
    return row


async def create_resource(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.ResourceIn)
    try:
        async with transaction(request) as conn:
            await access.require_member(conn, request[USER], body.organisation_id, "admin")
            resource_id = await conn.run_sync(service.create, body)
            row = await conn.run_sync(service.load, resource_id)
    except service.ResourceRefused as e:
        raise _refused(e) from None
    return respond(schemas.Resource, _out(row), status=201,
                   headers={"Location": f"/api/resources/{resource_id}"})


async def list_resources(request: web.Request) -> web.Response:
    params = read_query(request, schemas.ResourceListParams)
    async with transaction(request) as conn:
        rows = await conn.run_sync(service.visible, request[USER], params.organisation_id, params.type)
    return respond(schemas.ResourceList, {"items": [_out(row) for row in rows]})


async def get_resource(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        row = await _resource(request, conn)
    return respond(schemas.Resource, _out(row))


async def patch_resource(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.ResourcePatch)
    try:
        async with transaction(request) as conn:
            row = await _resource(request, conn, "admin")
            await conn.run_sync(service.update, row, body.changes())
            row = await conn.run_sync(service.load, row.id)
    except service.ResourceRefused as e:
        raise _refused(e) from None
    return respond(schemas.Resource, _out(row))


async def delete_resource(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        row = await _resource(request, conn, "admin")
        await conn.run_sync(service.delete, row.account)
    return no_content()


async def get_bookings(request: web.Request) -> web.Response:
    params = read_query(request, schemas.BookingParams)
    try:
        window.check_window(int(params.start.timestamp()), int(params.end.timestamp()))
    except window.FreeBusyError as e:
        raise Problem(422, str(e)) from None
    async with transaction(request) as conn:
        row = await _resource(request, conn)
        found = await conn.run_sync(booking.bookings, row.account, params.start, params.end)
    return respond(schemas.Bookings, {
        "resource": row.id, "start": params.start, "end": params.end,
        "bookings": [{**b._mapping, "instance": b.instance or None} for b in found]})


async def answer_booking(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.Decision)
    uid = path_name(request, "uid")
    async with transaction(request) as conn:
        row = await _resource(request, conn)
        role = await access.role_of(conn, request[USER], row.organisation_id)
    if request[USER] not in row.managers and access.RANK[role] < access.RANK["admin"]:
        raise Problem(403, "only the resource's managers and the organisation's admins answer its requests")
    storage = await request.app[FEEDS].storage()
    found = await asyncio.to_thread(booking.decide, storage, row.account, uid, body.answer == "accept",
                                    clock.now())
    if not found:
        raise Problem(404, f"the resource has no event with the UID {uid!r}")
    async with transaction(request) as conn:
        rows = await conn.run_sync(booking.bookings_of_event, row.account, uid)
    return respond(schemas.EventBookings, {"resource": row.id, "uid": uid,
                                           "bookings": [{**b._mapping, "instance": b.instance or None}
                                                        for b in rows]})


OPERATIONS = [
    Operation("GET", "/api/resources", list_resources,
              "Rooms and resources of your organisations", TAG,
              query=schemas.ResourceListParams, response=schemas.ResourceList, errors=(401, 422)),
    Operation("POST", "/api/resources", create_resource,
              "Add a room or resource to an organisation (admins)", TAG, body=schemas.ResourceIn,
              response=schemas.Resource, status=201, errors=(401, 403, 404, 409, 422)),
    Operation("GET", "/api/resources/{id}", get_resource, "One room or resource", TAG,
              response=schemas.Resource),
    Operation("PATCH", "/api/resources/{id}", patch_resource,
              "Change a room or resource (admins)", TAG, body=schemas.ResourcePatch,
              response=schemas.Resource, errors=(401, 403, 404, 409, 422)),
    Operation("DELETE", "/api/resources/{id}", delete_resource,
              "Remove a room or resource with its calendar (admins)", TAG, status=204,
              errors=(401, 403, 404)),
    Operation("GET", "/api/resources/{id}/bookings", get_bookings,
              "The occurrences booked, declined or pending on a resource in a window", TAG,
              query=schemas.BookingParams, response=schemas.Bookings, errors=(401, 404, 422)),
    Operation("POST", "/api/resources/{id}/bookings/{uid}", answer_booking,
              "Answer a request for a resource (its managers and the organisation's admins)", TAG,
              body=schemas.Decision, response=schemas.EventBookings, path_params=UID_PARAM,
              errors=(401, 403, 404, 422)),
]
