"""Typed keys for what the application holds (engine, credential cache, API document)."""
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from storage_plugin.accounts import VerifiedCredentials
from storage_plugin.logins import LoginPolicy
from storage_plugin.readiness import Readiness

ENGINE = web.AppKey("engine", AsyncEngine)
CREDENTIALS = web.AppKey("credentials", VerifiedCredentials)
OPENAPI = web.AppKey("openapi", dict)
ROUTE_OPERATIONS = web.AppKey("route_operations", dict)  # (method, path template) -> api Operation
LOGIN_POLICY = web.AppKey("login_policy", LoginPolicy)
CLOCK = web.AppKey("clock", object)  # () -> aware datetime: login throttling's now (injectable for tests)
READINESS = web.AppKey("readiness", Readiness)
USER = web.RequestKey("user", str)  # the authenticated user name
AUTH_SCHEME = web.RequestKey("auth_scheme", str)  # "basic" or "bearer"
DASHBOARD_REQUEST = web.RequestKey("dashboard_request", bool)  # a page of /app/, signed in by session
