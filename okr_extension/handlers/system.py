"""Health, version and the API's own documentation."""
from __future__ import annotations

from importlib import metadata

import sqlalchemy as sa
from aiohttp import web
from pydantic import BaseModel

from okr_extension.api import openapi
from okr_extension.api.operations import Operation
from okr_extension.api.responses import respond
from okr_extension.keys import ENGINE, OPENAPI

TAG = "system"


class Health(BaseModel):
    status: str
    database: str


class Version(BaseModel):
    planerix: str
    radicale: str


async def healthz(request: web.Request) -> web.Response:
    try:
        async with request.app[ENGINE].connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except Exception as e:  # any failure to reach the database is the answer here
        return web.json_response({"status": "error", "database": f"unreachable: {e}"}, status=503)
    return respond(Health, {"status": "ok", "database": "reachable"})


async def version(request: web.Request) -> web.Response:
    return respond(Version, {"planerix": metadata.version("planerix"), "radicale": metadata.version("radicale")})


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


async def api_docs(request: web.Request) -> web.Response:
    return web.Response(text=openapi.page(request.app[OPENAPI]), content_type="text/html")


OPERATIONS = [
    Operation("GET", "/healthz", healthz, "Is the sidecar up and its database reachable", TAG,
              response=Health, errors=(401,)),
    Operation("GET", "/api/version", version, "Versions of Planerix and Radicale", TAG, response=Version,
              errors=(401,)),
    Operation("GET", "/api/openapi.json", openapi_json, "This API's OpenAPI 3.1 document", TAG,
              errors=(401,)),
    Operation("GET", "/api/docs", api_docs, "This API's reference, as a web page", TAG, errors=(401,),
              content_type="text/html"),
]
