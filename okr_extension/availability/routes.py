"""GET /api/free-busy, GET /api/find-time, and GET/PUT/DELETE /api/availability (your own)."""
from __future__ import annotations

from datetime import datetime, timezone

from aiohttp import web

from okr_extension.api.operations import Operation
from okr_extension.api.problems import Problem
from okr_extension.api.requests import read_json, read_query
from okr_extension.api.responses import no_content, respond
from okr_extension.availability import schemas, service
from okr_extension.keys import USER
from okr_extension.transactions import transaction
from scheduling import freebusy as logic

TAG = "free-busy"


def _posix(moment: datetime) -> int:
    return int(moment.timestamp())


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


async def _free_busy(request: web.Request, params: schemas.FreeBusyParams):
    start, end = _posix(params.start), _posix(params.end)
    try:
        async with transaction(request) as conn:
            return start, end, await conn.run_sync(service.free_busy, request[USER], params.users, start, end)
    except logic.FreeBusyError as e:
        raise Problem(422, str(e)) from None


async def get_free_busy(request: web.Request) -> web.Response:
    params = read_query(request, schemas.FreeBusyParams)
    start, end, found = await _free_busy(request, params)
    users = [{"user": name, "found": periods is not None,
              "busy": [{"start": _moment(s), "end": _moment(e), "type": logic.FBTYPE_NAMES[t]}
                       for s, e, t in periods or ()]}
             for name, periods in found.items()]
    return respond(schemas.FreeBusy, {"start": params.start, "end": params.end, "users": users})


async def get_find_time(request: web.Request) -> web.Response:
    params = read_query(request, schemas.FindTimeParams)
    start, end, found = await _free_busy(request, params)
    unknown = [name for name, periods in found.items() if periods is None]
    if unknown:
        raise Problem(404, f"no such user: {', '.join(unknown)} (or not one whose time you may see: "
                           "users who share an organisation with you)")
    busy = [period for periods in found.values() for period in periods]
    duration = int(schemas.parse_duration(params.duration).total_seconds())
    step = int(schemas.parse_duration(params.step).total_seconds())
    slots = logic.free_slots(busy, start, end, duration, step)
    return respond(schemas.FindTime, {
        "start": params.start, "end": params.end, "duration": params.duration, "users": list(found),
        "slots": [{"start": _moment(s), "end": _moment(e)} for s, e in slots]})


async def get_availability(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        text = await conn.run_sync(service.availability_of, request[USER])
    return respond(schemas.Availability, {"user": request[USER], "vavailability": text})


async def put_availability(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.AvailabilityIn)
    try:
        text = body.vavailability
        if text is None:
            text = logic.weekly_availability(body.timezone, [(b.days, b.start, b.end) for b in body.weekly])
        async with transaction(request) as conn:
            await conn.run_sync(service.set_availability, request[USER], text)
    except logic.FreeBusyError as e:
        raise Problem(422, str(e)) from None
    return respond(schemas.Availability, {"user": request[USER], "vavailability": text})


async def delete_availability(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        await conn.run_sync(service.set_availability, request[USER], None)
    return no_content()


OPERATIONS = [
    Operation("GET", "/api/free-busy", get_free_busy,
              "Busy periods of users who share an organisation with you (times and types only)", TAG,
              query=schemas.FreeBusyParams, response=schemas.FreeBusy, errors=(401, 422)),
    Operation("GET", "/api/find-time", get_find_time,
              "Free stretches common to all the users, inside everybody's working hours", TAG,
              query=schemas.FindTimeParams, response=schemas.FindTime, errors=(401, 404, 422)),
    Operation("GET", "/api/availability", get_availability, "Your working hours (VAVAILABILITY)", TAG,
              response=schemas.Availability, errors=(401,)),
    Operation("PUT", "/api/availability", put_availability,
              "Set your working hours: a VAVAILABILITY text, or weekly hours in a time zone", TAG,
              body=schemas.AvailabilityIn, response=schemas.Availability, errors=(401, 422)),
    Operation("DELETE", "/api/availability", delete_availability,
              "Remove your working hours (all time counts as available again)", TAG,
              status=204, errors=(401,)),
]
