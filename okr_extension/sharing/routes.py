"""/api/shares (the owner manages shares of their calendars) and /api/organisations/{id}/squads
(members read, admins manage)."""
from __future__ import annotations

from aiohttp import web

from okr_extension.access import require_member
from okr_extension.api.operations import Operation
from okr_extension.api.problems import Problem
from okr_extension.api.requests import path_id, path_int, read_json
from okr_extension.api.responses import no_content, respond
from okr_extension.keys import USER
from okr_extension.sharing import queries, schemas, service
from okr_extension.transactions import transaction

TAG = "sharing"
_ID = {"id": {"type": "integer", "minimum": 1}}
_SQUAD = {"id": {"type": "string", "format": "uuid"}, "squad_id": {"type": "integer", "minimum": 1}}


async def post_share(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.ShareIn)
    async with transaction(request) as conn:
        row = await service.create_share(conn, request[USER], body)
    return respond(schemas.ShareOut, row, status=201)


async def get_shares(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        found = await service.shares(conn, request[USER])
    return respond(schemas.Shares, found)


async def get_share(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        row = await service.share_of(conn, request[USER], path_int(request, "id"))
    return respond(schemas.ShareOut, row)


async def patch_share(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.SharePatch)
    share_id = path_int(request, "id")
    async with transaction(request) as conn:
        if (await conn.execute(queries.UPDATE_SHARE, {"id": share_id, "owner": request[USER],
                                                      "access": body.access})).first() is None:
            raise Problem(404, f"you have no share {share_id}")
        row = await service.share_of(conn, request[USER], share_id)
    return respond(schemas.ShareOut, row)


async def delete_share(request: web.Request) -> web.Response:
    share_id = path_int(request, "id")
    async with transaction(request) as conn:
        if (await conn.execute(queries.DELETE_SHARE, {"id": share_id, "owner": request[USER]})).first() is None:
            raise Problem(404, f"you have no share {share_id}")
    return no_content()


async def get_squads(request: web.Request) -> web.Response:
    organisation = path_id(request)
    async with transaction(request) as conn:
        await require_member(conn, request[USER], organisation)
        rows = await service.squads(conn, organisation)
    return respond(schemas.Squads, {"squads": rows})


async def get_squad(request: web.Request) -> web.Response:
    organisation = path_id(request)
    async with transaction(request) as conn:
        await require_member(conn, request[USER], organisation)
        row = await service.squad(conn, organisation, path_int(request, "squad_id"))
    return respond(schemas.SquadOut, row)


async def post_squad(request: web.Request) -> web.Response:
    organisation = path_id(request)
    body = await read_json(request, schemas.SquadIn)
    async with transaction(request) as conn:
        await require_member(conn, request[USER], organisation, "admin")
        row = await service.save_squad(conn, organisation, None, body.model_dump())
    return respond(schemas.SquadOut, row, status=201)


async def patch_squad(request: web.Request) -> web.Response:
    organisation = path_id(request)
    body = await read_json(request, schemas.SquadPatch)
    async with transaction(request) as conn:
        await require_member(conn, request[USER], organisation, "admin")
        squad_id = (await service.squad(conn, organisation, path_int(request, "squad_id"))).id
        row = await service.save_squad(conn, organisation, squad_id, body.changes())
    return respond(schemas.SquadOut, row)


async def delete_squad(request: web.Request) -> web.Response:
    organisation = path_id(request)
    squad_id = path_int(request, "squad_id")
    async with transaction(request) as conn:
        await require_member(conn, request[USER], organisation, "admin")
        if (await conn.execute(queries.DELETE_SQUAD, {"id": squad_id, "organisation": organisation})).first() is None:
            raise Problem(404, f"no squad {squad_id} in this organisation")
    return no_content()


_SHARE_PATH = r"/api/shares/{id:\d+}"
_SQUADS = "/api/organisations/{id}/squads"
_SQUAD_PATH = _SQUADS + r"/{squad_id:\d+}"
OPERATIONS = [
    Operation("POST", "/api/shares", post_share,
              "Share one of your calendars or task lists with a user, a squad or an organisation", TAG,
              body=schemas.ShareIn, response=schemas.ShareOut, status=201, errors=(401, 403, 404, 409, 422)),
    Operation("GET", "/api/shares", get_shares,
              "Shares of your calendars, and the calendars others share with you", TAG,
              response=schemas.Shares, errors=(401,)),
    Operation("GET", _SHARE_PATH, get_share, "One share of your calendars", TAG,
              response=schemas.ShareOut, path_params=_ID, errors=(401, 404)),
    Operation("PATCH", _SHARE_PATH, patch_share, "Change a share's access (takes effect at once)", TAG,
              body=schemas.SharePatch, response=schemas.ShareOut, path_params=_ID, errors=(401, 404, 422)),
    Operation("DELETE", _SHARE_PATH, delete_share,
              "Revoke a share: the calendar leaves the sharees' homes at once, nothing of it is lost", TAG,
              status=204, path_params=_ID, errors=(401, 404)),
    Operation("GET", _SQUADS, get_squads, "The organisation's squads", TAG,
              response=schemas.Squads, errors=(401, 404)),
    Operation("POST", _SQUADS, post_squad, "Create a squad of organisation members (admins)", TAG,
              body=schemas.SquadIn, response=schemas.SquadOut, status=201, errors=(401, 403, 404, 409, 422)),
    Operation("GET", _SQUAD_PATH, get_squad, "One squad", TAG,
              response=schemas.SquadOut, path_params=_SQUAD, errors=(401, 404)),
    Operation("PATCH", _SQUAD_PATH, patch_squad, "Rename a squad or replace its members (admins)", TAG,
              body=schemas.SquadPatch, response=schemas.SquadOut, path_params=_SQUAD,
              errors=(401, 403, 404, 409, 422)),
    Operation("DELETE", _SQUAD_PATH, delete_squad, "Delete a squad and its shares (admins)", TAG,
              status=204, path_params=_SQUAD, errors=(401, 403, 404)),
]
