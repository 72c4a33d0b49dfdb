"""Personal API tokens for automation."""
from __future__ import annotations

from aiohttp import web

from okr_extension import tokens as store
from okr_extension.api.operations import Operation
from okr_extension.api.problems import Problem
from okr_extension.api.requests import path_id, read_json
from okr_extension.api.responses import no_content, respond
from okr_extension.keys import AUTH_SCHEME, USER
from okr_extension.models import tokens as models
from okr_extension.transactions import transaction

TAG = "tokens"


async def create_token(request: web.Request) -> web.Response:
    if request[AUTH_SCHEME] != "basic":
        # Otherwise a leaked short-lived token could mint itself a lasting one.
        raise Problem(403, "create tokens with your user name and password (HTTP Basic), not with a token")
    body = await read_json(request, models.TokenCreate)
    async with transaction(request) as conn:
        row = await store.create(conn, request[USER], body)
    return respond(models.TokenCreated, row, status=201)


async def list_tokens(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        rows = await store.list_mine(conn, request[USER])
    return respond(models.TokenList, {"items": rows})


async def revoke_token(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        await store.revoke(conn, request[USER], path_id(request))
    return no_content()


OPERATIONS = [
    Operation("GET", "/api/tokens", list_tokens, "List your API tokens (never their secrets)", TAG,
              response=models.TokenList, errors=(401,), token_scope="admin"),
    Operation("POST", "/api/tokens", create_token, "Create an API token; its secret is shown once", TAG,
              body=models.TokenCreate, response=models.TokenCreated, status=201, errors=(401, 403, 404),
              token_scope="admin"),
    Operation("DELETE", "/api/tokens/{id}", revoke_token, "Revoke a token at once", TAG, status=204, token_scope="admin"),
]
