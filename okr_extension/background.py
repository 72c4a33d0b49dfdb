"""Loops that run in every server process while the application does (feed scheduler,
webhook delivery, the automation evaluator)."""
from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator, Awaitable, Callable, Optional

log = logging.getLogger(__name__)


async def while_running(loop: Callable[[], Awaitable[None]], name: str, enabled: bool,
                        close: Optional[Callable[[], Awaitable[None]]] = None) -> AsyncIterator[None]:
    """For ``app.cleanup_ctx``: ``loop()`` runs as a task from start-up to clean-up, then ``close()``."""
    task = asyncio.create_task(loop(), name=name) if enabled else None
    try:
        yield
    finally:
        # A loop that failed, or a close on a database that is gone, must not fail the stop.
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("%s ended with an error", name)
        if close is not None:
            try:
                await close()
            except Exception:
                log.exception("closing %s failed", name)
