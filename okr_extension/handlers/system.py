"""Health, version and the API's own documentation (the document, and Swagger UI showing it)."""
from __future__ import annotations

from importlib import metadata

import sqlalchemy as sa
from aiohttp import web
from pydantic import BaseModel, ConfigDict

from okr_extension.api import docs
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


class OpenApiDocument(BaseModel):
    """An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0); its parts are open objects."""
    model_config = ConfigDict(extra="allow")
    openapi: str
    info: dict
    paths: dict
    components: dict


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
    return web.Response(text=docs.page(request.app[OPENAPI]["info"]["title"]), content_type="text/html",
                        charset="utf-8", headers=docs.PAGE_HEADERS)


async def api_docs_asset(request: web.Request) -> web.FileResponse:
    return docs.asset(request.match_info["asset"])


OPERATIONS = [
    Operation("GET", "/healthz", healthz, "Is the sidecar up and its database reachable", TAG,
              response=Health, errors=(401,)),
    Operation("GET", "/api/version", version, "Versions of Planerix and Radicale", TAG, response=Version,
              errors=(401,)),
    Operation("GET", docs.DOCUMENT, openapi_json, "This API's OpenAPI 3.1 document", TAG,
              response=OpenApiDocument, errors=(401,)),
    Operation("GET", docs.PAGE, api_docs, "This API's reference, as a web page (Swagger UI)", TAG,
              errors=(401,), content_type="text/html"),
    Operation("GET", docs.PAGE + "/{asset}", api_docs_asset, "A file of the reference page: Swagger UI's "
              "script and style sheet, and their licences", TAG, errors=(401, 404), content_type=docs.MEDIA_TYPES,
              path_params={"asset": {"type": "string", "enum": list(docs.ASSETS)}}),
]
