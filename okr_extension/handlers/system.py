"""Health, version and the API's own documentation (the document, and Swagger UI showing it)."""
from __future__ import annotations

import asyncio
from importlib import metadata
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from okr_extension.api import docs
from okr_extension.api.operations import Operation
from okr_extension.api.responses import respond
from okr_extension.keys import OPENAPI, READINESS
from storage_plugin import availability, readiness

TAG = "system"


class Health(BaseModel):
    status: str
    database: str


class Probe(BaseModel):
    status: Literal["ok", "unavailable"]


class Version(BaseModel):
    planerix: str
    radicale: str


class OpenApiDocument(BaseModel):
    """An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0); its parts are open objects."""
    model_config = ConfigDict(extra="allow")
    openapi: str
    info: dict
    paths: dict
    components: dict


async def healthz(request: web.Request) -> web.Response:
    """/readyz with the reason, for a signed-in person."""
    problem = await asyncio.to_thread(request.app[READINESS].problem)
    if problem is not None:
        return web.json_response({"status": "error", "database": problem}, status=503,
                                 headers={"Retry-After": str(availability.RETRY_AFTER_SECONDS)})
    return respond(Health, {"status": "ok", "database": "reachable"})


async def livez(request: web.Request) -> web.Response:
    status, body, headers = readiness.health(readiness.LIVEZ, request.app[READINESS])
    return web.json_response(body, status=status, headers=headers)


async def readyz(request: web.Request) -> web.Response:
    # The check opens its own bounded connection: in a thread, off the event loop.
    status, body, headers = await asyncio.to_thread(readiness.health, readiness.READYZ, request.app[READINESS])
    return web.json_response(body, status=status, headers=headers)


async def version(request: web.Request) -> web.Response:
    return respond(Version, {"planerix": metadata.version("planerix"), "radicale": metadata.version("radicale")})


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


async def api_docs(request: web.Request) -> web.Response:
    return web.Response(text=docs.page(request.app[OPENAPI]["info"]["title"]), content_type="text/html",
                        charset="utf-8", headers=docs.PAGE_HEADERS)


async def api_docs_asset(request: web.Request) -> web.FileResponse:
    return docs.asset(request.match_info["asset"])


OPERATIONS = [
    Operation("GET", "/healthz", healthz, "Is the database reachable and its schema up to date, "
              "and if not why", TAG, response=Health, errors=(401,)),
    Operation("GET", "/api/version", version, "Versions of Planerix and Radicale", TAG, response=Version,
              errors=(401,)),
    Operation("GET", docs.DOCUMENT, openapi_json, "This API's OpenAPI 3.1 document", TAG,
              response=OpenApiDocument, errors=(401,)),
    Operation("GET", docs.PAGE, api_docs, "This API's reference, as a web page (Swagger UI)", TAG,
              errors=(401,), content_type="text/html"),
    Operation("GET", docs.PAGE + "/{asset}", api_docs_asset, "A file of the reference page: Swagger UI's "
              "script and style sheet, and their licences", TAG, errors=(401, 404), content_type=docs.MEDIA_TYPES,
              path_params={"asset": {"type": "string", "enum": list(docs.ASSETS)}}),
    Operation("GET", readiness.LIVEZ, livez, "Liveness, without credentials: the process serves",
              TAG, response=Probe, errors=(), public=True),
    Operation("GET", readiness.READYZ, readyz, "Readiness, without credentials: 503 while the database "
              "is unreachable or migrations are pending", TAG, response=Probe, errors=(), public=True),
]
