"""Application factory and the route table of the sidecar.

ROUTES is the one list of operations: aiohttp's router and the OpenAPI document are both
built from it.
"""
from __future__ import annotations

from importlib import metadata

from aiohttp import web

from okr_extension import auth, schema, web as dashboard
from okr_extension.api import openapi
from okr_extension.availability import routes as availability
from okr_extension.resources import routes as calendar_resources
from okr_extension.delegation import routes as delegation
from okr_extension.sharing import routes as sharing
from okr_extension.team_calendars import routes as team_calendars
from okr_extension.api.limits import MAX_BODY
from okr_extension.api.problems import problem_middleware
from okr_extension.automation import handlers as automation_handlers
from okr_extension.automation import runtime as automation_runtime
from okr_extension.automation.settings import AutomationSettings
from okr_extension.feeds import runtime as feeds_runtime
from okr_extension.feeds.settings import FeedSettings
from okr_extension.goals import key_results, kpis, objectives
from okr_extension.identity import routes as identity
from okr_extension.handlers import feeds, links, organisations, resources, subscriptions, system, tokens
from okr_extension.handlers import kpis as kpi_handlers
from okr_extension.keys import CLOCK, CREDENTIALS, ENGINE, LOGIN_POLICY, OPENAPI, READINESS, ROUTE_OPERATIONS
from okr_extension.rsvp import routes as rsvp
from storage_plugin import accounts, database, logins, readiness

ROUTES = [
    *system.OPERATIONS,
    *organisations.OPERATIONS,
    *resources.operations(objectives.RESOURCE, "objectives"),
    *resources.operations(key_results.RESOURCE, "key results"),
    *resources.operations(key_results.CHECK_INS, "key results"),
    *resources.operations(kpis.RESOURCE, "kpis"),
    *kpi_handlers.OPERATIONS,
    *tokens.OPERATIONS,
    *identity.OPERATIONS,
    *links.OPERATIONS,
    *feeds.OPERATIONS,
    *subscriptions.OPERATIONS,
    *availability.OPERATIONS,
    *calendar_resources.OPERATIONS,
    *sharing.OPERATIONS,
    *delegation.OPERATIONS,
    *team_calendars.OPERATIONS,
    *automation_handlers.OPERATIONS,
    *rsvp.OPERATIONS,
]

async def _dispose_engine(app: web.Application):
    yield
    await app[ENGINE].dispose()


def create_app(database_url: str, feed_settings: FeedSettings | None = None,
               login_policy: logins.LoginPolicy = logins.LoginPolicy(),
               clock: logins.Clock = logins.server_now,
               dashboard_settings: dashboard.DashboardSettings | None = None,
               automation_settings: AutomationSettings | None = None) -> web.Application:
    """The sidecar on ``database_url``. Nothing is read from the environment here: without
    ``feed_settings`` the defaults apply and no background feed scheduler runs (the
    launcher passes ``FeedSettings.from_env()``, ``DashboardSettings.from_env()`` and
    ``AutomationSettings.from_env()``); likewise no webhook delivery worker nor evaluator without
    ``automation_settings``."""
    if feed_settings is None:
        feed_settings = FeedSettings(scheduler_enabled=False)
    if automation_settings is None:
        automation_settings = AutomationSettings(worker_enabled=False, evaluator_enabled=False)
    app = web.Application(middlewares=[problem_middleware, dashboard.dashboard_middleware,
                                       auth.authentication_middleware],
                          client_max_size=MAX_BODY)
    app[ENGINE] = database.async_engine_for(database_url, pool_size=5, max_overflow=5)
    app[READINESS] = readiness.Readiness(database_url, schema.PACKAGES)
    app[CREDENTIALS] = accounts.VerifiedCredentials()
    app[LOGIN_POLICY] = login_policy
    app[CLOCK] = clock
    app[OPENAPI] = openapi.document(ROUTES, "Planerix API", metadata.version("planerix"))
    app[ROUTE_OPERATIONS] = {(op.method, op.documented_path): op for op in ROUTES}
    app.cleanup_ctx.append(_dispose_engine)
    feeds = feeds_runtime.install(app, database_url, app[ENGINE], feed_settings)
    automation_runtime.install(app, database_url, app[ENGINE], automation_settings, feeds.storage)
    app.add_routes([operation.route() for operation in ROUTES])
    app.add_routes(rsvp.PAGES)
    dashboard.install(app, dashboard_settings or dashboard.DashboardSettings())
    return app
