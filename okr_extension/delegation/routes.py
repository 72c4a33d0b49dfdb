"""/api/delegations: the signed-in user's proxies (only they see and change them), and the users
whose proxy they are."""
from __future__ import annotations

from aiohttp import web

from okr_extension.api.operations import Operation
from okr_extension.api.requests import path_name, read_json
from okr_extension.api.responses import no_content, respond
from okr_extension.delegation import schemas, service
from okr_extension.keys import USER
from okr_extension.transactions import transaction

TAG = "sharing"
_DELEGATE = {"delegate": {"type": "string", "minLength": 1}}
_PATH = "/api/delegations/{delegate}"


async def post_delegation(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.DelegationIn)
    async with transaction(request) as conn:
        row = await service.create(conn, request[USER], body)
    return respond(schemas.DelegationOut, row, status=201)


async def get_delegations(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        found = await service.listing(conn, request[USER])
    return respond(schemas.Delegations, found)


async def get_delegation(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        row = await service.one(conn, request[USER], path_name(request, "delegate"))
    return respond(schemas.DelegationOut, row)


async def patch_delegation(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.DelegationPatch)
    async with transaction(request) as conn:
        row = await service.change(conn, request[USER], path_name(request, "delegate"), body.access)
    return respond(schemas.DelegationOut, row)


async def delete_delegation(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        await service.revoke(conn, request[USER], path_name(request, "delegate"))
    return no_content()


OPERATIONS = [
    Operation("POST", "/api/delegations", post_delegation,
              "Make another user your read or write proxy (CalDAV: your calendar-proxy-read/-write group)", TAG,
              body=schemas.DelegationIn, response=schemas.DelegationOut, status=201, errors=(401, 409, 422)),
    Operation("GET", "/api/delegations", get_delegations,
              "Your proxies, and the users whose proxy you are", TAG,
              response=schemas.Delegations, errors=(401,)),
    Operation("GET", _PATH, get_delegation, "One of your proxies", TAG,
              response=schemas.DelegationOut, path_params=_DELEGATE, errors=(401, 404)),
    Operation("PATCH", _PATH, patch_delegation, "Change a proxy's access (takes effect at once)", TAG,
              body=schemas.DelegationPatch, response=schemas.DelegationOut, path_params=_DELEGATE,
              errors=(401, 404, 422)),
    Operation("DELETE", _PATH, delete_delegation,
              "Revoke a proxy: their access to your calendars ends at once", TAG,
              status=204, path_params=_DELEGATE, errors=(401, 404)),
]
