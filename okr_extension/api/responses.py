"""JSON answers shaped by their documented model (so the document cannot drift from them)."""
from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel


def respond(model: type[BaseModel], data, status: int = 200, headers: dict | None = None) -> web.Response:
    body = model.model_validate(data).model_dump_json()
    return web.Response(text=body, status=status, content_type="application/json", headers=headers)


def no_content() -> web.Response:
    return web.Response(status=204)
