"""Graceful drain of the API: count the requests in flight so a stop can wait for them.

aiohttp's own shutdown closes every connection first and then ignores what arrives on it, so a
request whose body is still being received would be cut; the launcher therefore stops the
listening socket, waits here for the requests in flight, and only then shuts aiohttp down."""
from __future__ import annotations

import asyncio
import time

from aiohttp import web


class InFlight:

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        self._count += 1
        self._idle.clear()
        try:
            return await handler(request)
        finally:
            self._count -= 1
            if not self._count:
                self._idle.set()

    def install(self, app: web.Application) -> None:
        """Outermost, so it counts everything the other middlewares do (before the app is frozen)."""
        app.middlewares.insert(0, self.middleware)

    async def wait_idle(self, deadline: float) -> bool:
        """Until no request is in flight or ``deadline`` (``time.monotonic``); True if none is."""
        try:
            await asyncio.wait_for(self._idle.wait(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            return False
        return True
