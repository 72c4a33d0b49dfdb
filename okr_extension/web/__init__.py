"""The web dashboard at ``/app/``: server-rendered pages over the same domain functions and
rights as the REST API, signed in with a session cookie (``guard``, ``sessions``)."""
from __future__ import annotations

from aiohttp import web

from okr_extension.web import render
from okr_extension.web.guard import dashboard_middleware
from okr_extension.web.handlers import ROUTES, SETTINGS
from okr_extension.web.settings import DashboardSettings

__all__ = ["install", "dashboard_middleware", "DashboardSettings"]


def install(app: web.Application, settings: DashboardSettings) -> None:
    app[SETTINGS] = settings
    render.setup(app)
    app.add_routes(ROUTES)
