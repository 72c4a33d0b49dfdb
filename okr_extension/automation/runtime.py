"""What the application holds for automation: settings and the delivery worker."""
from __future__ import annotations

import asyncio

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from okr_extension.automation import delivery, evaluator, rules
from okr_extension.automation.settings import AutomationSettings


class AutomationRuntime:

    def __init__(self, database_url: str, engine: AsyncEngine, settings: AutomationSettings,
                 storage: rules.StorageFactory) -> None:
        self.settings = settings
        self.deliverer = delivery.Deliverer(engine, settings, database_url=database_url)
        self.evaluator = evaluator.Evaluator(engine, settings, storage)
        self.engine = engine
        self.closing = asyncio.Event()  # set at shutdown: open event streams end


AUTOMATION = web.AppKey("automation", AutomationRuntime)


def install(app: web.Application, database_url: str, engine: AsyncEngine, settings: AutomationSettings,
            storage: rules.StorageFactory) -> AutomationRuntime:
    """``storage``: the storage plugin (for rules writing calendar items), built on first use."""
    runtime = AutomationRuntime(database_url, engine, settings, storage)
    app[AUTOMATION] = runtime
    async def end_streams(_app: web.Application) -> None:
        runtime.closing.set()

    app.on_shutdown.append(end_streams)
    app.cleanup_ctx.append(lambda _app: delivery.run_in_background(runtime.deliverer, settings.worker_enabled))
    app.cleanup_ctx.append(lambda _app: evaluator.run_in_background(runtime.evaluator, settings.evaluator_enabled))
    return runtime
