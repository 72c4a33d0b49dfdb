"""Loops that run in every server process while the application does (feed scheduler,
webhook delivery, the automation evaluator)."""
from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator, Awaitable, Callable, Optional


async def while_running(loop: Callable[[], Awaitable[None]], name: str, enabled: bool,
                        close: Optional[Callable[[], Awaitable[None]]] = None) -> AsyncIterator[None]:
    """For ``app.cleanup_ctx``: ``loop()`` runs as a task from start-up to clean-up, then ``close()``."""
    task = asyncio.create_task(loop(), name=name) if enabled else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if close is not None:
            await close()
