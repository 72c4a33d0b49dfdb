"""What the application holds for automation: settings and the delivery worker."""
from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from okr_extension.automation.delivery import Deliverer, run_in_background
from okr_extension.automation.settings import AutomationSettings


class AutomationRuntime:

    def __init__(self, database_url: str, engine: AsyncEngine, settings: AutomationSettings) -> None:
        self.settings = settings
        self.deliverer = Deliverer(engine, settings, database_url=database_url)


AUTOMATION = web.AppKey("automation", AutomationRuntime)


def install(app: web.Application, database_url: str, engine: AsyncEngine,
            settings: AutomationSettings) -> AutomationRuntime:
    runtime = AutomationRuntime(database_url, engine, settings)
    app[AUTOMATION] = runtime
    app.cleanup_ctx.append(lambda _app: run_in_background(runtime.deliverer, settings.worker_enabled))
    return runtime
