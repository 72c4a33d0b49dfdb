"""What the application holds for feeds: settings, the storage writer, publisher and scheduler."""
from __future__ import annotations

import asyncio
from typing import Optional

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from okr_extension.feeds.publishing import FeedCache, Publisher
from okr_extension.feeds.scheduler import Scheduler, run_in_background
from okr_extension.feeds.settings import FeedSettings
from storage_plugin import writer
from storage_plugin.storage import Storage


class FeedRuntime:

    def __init__(self, database_url: str, engine: AsyncEngine, settings: FeedSettings) -> None:
        self.settings = settings
        self.engine = engine
        self.publisher = Publisher(engine, FeedCache(settings.cache_max_bytes))
        self.scheduler = Scheduler(engine, self.storage, settings)
        self._database_url = database_url
        self._storage: Optional[Storage] = None

    async def storage(self) -> Storage:
        """The storage plugin, for writes into calendars (built on first use, in a thread)."""
        if self._storage is None:
            self._storage = await asyncio.to_thread(writer.open_storage, self._database_url)
        return self._storage


FEEDS = web.AppKey("feeds", FeedRuntime)


def install(app: web.Application, database_url: str, engine: AsyncEngine,
            settings: FeedSettings) -> FeedRuntime:
    runtime = FeedRuntime(database_url, engine, settings)
    app[FEEDS] = runtime
    app.cleanup_ctx.append(
        lambda _app: run_in_background(runtime.scheduler, runtime.settings.scheduler_enabled))
    return runtime
