"""One database transaction per request."""
from __future__ import annotations

from aiohttp import web

from okr_extension.keys import ENGINE


def transaction(request: web.Request):
    """``async with transaction(request) as conn``: committed on success, rolled back on any error
    (a Problem included), so a rejected request leaves nothing half-written."""
    return request.app[ENGINE].begin()
