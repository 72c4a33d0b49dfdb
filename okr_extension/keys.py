"""Typed keys for what the application holds (engine, credential cache)."""
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from storage_plugin.accounts import VerifiedCredentials

ENGINE = web.AppKey("engine", AsyncEngine)
CREDENTIALS = web.AppKey("credentials", VerifiedCredentials)
USER = "planerix.user"  # request key: the authenticated user name
