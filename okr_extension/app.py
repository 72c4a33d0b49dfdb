"""Application factory and route table of the sidecar."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import create_async_engine

from okr_extension import auth
from okr_extension.feeds import runtime as feeds_runtime
from okr_extension.feeds.settings import FeedSettings
from okr_extension.keys import CREDENTIALS, ENGINE
from okr_extension.handlers import feeds, subscriptions, system
from storage_plugin import accounts, database

ROUTES = [
    web.get("/healthz", system.healthz),
    web.get("/api/version", system.version),
    # ICS feeds: publishing (management; the secret URL is served without login, see auth.py)
    web.post("/api/feeds", feeds.create_feed),
    web.get("/api/feeds", feeds.list_feeds),
    web.get(r"/api/feeds/{id:\d+}", feeds.get_feed),
    web.patch(r"/api/feeds/{id:\d+}", feeds.update_feed),
    web.delete(r"/api/feeds/{id:\d+}", feeds.revoke_feed),
    web.post(r"/api/feeds/{id:\d+}/rotate", feeds.rotate_feed),
    web.get(auth.PUBLIC_FEED_ROUTE, feeds.serve_feed),
    # ICS feeds: subscriptions (import into read-only calendars)
    web.post("/api/subscriptions", subscriptions.create),
    web.get("/api/subscriptions", subscriptions.list_all),
    web.get(r"/api/subscriptions/{id:\d+}", subscriptions.get),
    web.patch(r"/api/subscriptions/{id:\d+}", subscriptions.update),
    web.delete(r"/api/subscriptions/{id:\d+}", subscriptions.delete),
    web.post(r"/api/subscriptions/{id:\d+}/refresh", subscriptions.refresh),
]


async def _dispose_engine(app: web.Application):
    yield
    await app[ENGINE].dispose()


def create_app(database_url: str, feed_settings: FeedSettings | None = None) -> web.Application:
    app = web.Application(middlewares=[auth.basic_auth_middleware])
    app[ENGINE] = create_async_engine(database.sqlalchemy_url(database_url, driver="asyncpg"),
                                      pool_size=5, max_overflow=5, pool_pre_ping=True)
    app[CREDENTIALS] = accounts.VerifiedCredentials()
    app.cleanup_ctx.append(_dispose_engine)
    feeds_runtime.install(app, database_url, app[ENGINE], feed_settings)
    app.add_routes(ROUTES)
    return app
