"""Health and version."""
from __future__ import annotations

from importlib import metadata

import sqlalchemy as sa
from aiohttp import web

from okr_extension.keys import ENGINE


async def healthz(request: web.Request) -> web.Response:
    try:
        async with request.app[ENGINE].connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except Exception as e:  # any failure to reach the database is the answer here
        return web.json_response({"status": "error", "database": f"unreachable: {e}"}, status=503)
    return web.json_response({"status": "ok", "database": "reachable"})


async def version(request: web.Request) -> web.Response:
    return web.json_response({
        "planerix": metadata.version("planerix"),
        "radicale": metadata.version("radicale"),
    })
