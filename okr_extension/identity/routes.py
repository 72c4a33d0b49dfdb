"""GET and PATCH /api/account: the caller's own identity (nobody else's)."""
from __future__ import annotations

import sqlalchemy as sa
from aiohttp import web

from okr_extension.api.operations import Operation
from okr_extension.api.problems import Problem
from okr_extension.api.requests import read_json
from okr_extension.api.responses import respond
from okr_extension.identity import schemas
from okr_extension.keys import USER
from okr_extension.transactions import transaction
from storage_plugin import directory
from storage_plugin.accounts import AccountError

TAG = "account"


def describe(conn: sa.Connection, name: str) -> dict:
    """The identity of ``name`` as the API and the principal properties show it."""
    row = directory.identity(conn, name)
    addresses = directory.addresses_of(conn, name)
    return {"name": name, "display_name": row.display_name,
            "email": addresses[0].removeprefix("mailto:") if addresses else None,
            "addresses": [*addresses, f"/{name}/"], "calendar_user_type": row.cutype,
            "default_calendar": (f"/{path}/" if (path := directory.default_calendar_path(conn, name))
                                 else None)}


async def get_identity(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        shown = await conn.run_sync(describe, request[USER])
    return respond(schemas.IdentityOut, shown)


async def update_identity(request: web.Request) -> web.Response:
    changes = (await read_json(request, schemas.IdentityPatch)).changes()

    def update(conn: sa.Connection) -> dict:
        directory.set_identity(conn, request[USER], email=changes.get("email"),
                               display_name=(changes["display_name"] or "") if "display_name" in changes
                               else None)
        return describe(conn, request[USER])
    try:
        async with transaction(request) as conn:
            shown = await conn.run_sync(update)
    except directory.AddressTaken as e:
        raise Problem(409, str(e)) from None
    except AccountError as e:
        raise Problem(422, str(e)) from None
    return respond(schemas.IdentityOut, shown)


OPERATIONS = [
    Operation("GET", "/api/account", get_identity, "Your identity for scheduling: email, display name, "
              "addresses, default calendar", TAG, response=schemas.IdentityOut, errors=(401,)),
    Operation("PATCH", "/api/account", update_identity, "Set your email address and/or display name",
              TAG, body=schemas.IdentityPatch, response=schemas.IdentityOut, errors=(401, 409, 422),
              token_scope="admin"),
]
