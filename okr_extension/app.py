"""Application factory and route table of the sidecar."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import create_async_engine

from okr_extension import auth
from okr_extension.keys import CREDENTIALS, ENGINE
from okr_extension.handlers import system
from storage_plugin import accounts, database

ROUTES = [
    web.get("/healthz", system.healthz),
    web.get("/api/version", system.version),
]


async def _dispose_engine(app: web.Application):
    yield
    await app[ENGINE].dispose()


def create_app(database_url: str) -> web.Application:
    app = web.Application(middlewares=[auth.basic_auth_middleware])
    app[ENGINE] = create_async_engine(database.sqlalchemy_url(database_url, driver="asyncpg"),
                                      pool_size=5, max_overflow=5, pool_pre_ping=True)
    app[CREDENTIALS] = accounts.VerifiedCredentials()
    app.cleanup_ctx.append(_dispose_engine)
    app.add_routes(ROUTES)
    return app
