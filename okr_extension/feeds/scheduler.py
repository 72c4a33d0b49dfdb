"""The import scheduler: fetch due subscriptions, apply them, record the outcome.

Several server processes may share one database. Each claims due feeds with
``SELECT … FOR UPDATE SKIP LOCKED`` and marks them with a lease (its own id and
an expiry) in the same statement; a leased feed is invisible to the others
until it is finished (next run set one interval ahead, lease cleared) or, if
the process died, until the lease expires. So each feed is fetched by exactly
one process per interval.

A failed fetch (network, HTTP status, timeout, size, invalid iCalendar) changes
no item: it records the error and its time and retries after an interval that
doubles with each consecutive failure, up to ``max_backoff_seconds`` (a day): a failing
feed is tried again at least daily, whatever its interval (``backoff_seconds``).

``run_due`` takes an optional ``now`` (default: the database's clock), so leases and
backoff can be exercised without waiting.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Awaitable, Callable, Optional

from sqlalchemy.ext.asyncio import AsyncEngine

from okr_extension import background
from okr_extension.feeds import fetch, importer, queries
from okr_extension.feeds.settings import FeedSettings
from storage_plugin import availability, writer
from storage_plugin.bounds import budget
from storage_plugin.storage import Storage

logger = logging.getLogger("planerix.feeds")
TASK_NAME = "planerix-feed-scheduler"


def backoff_seconds(refresh_seconds: int, failures: int, max_backoff: int) -> int:
    """Delay before the next try after ``failures`` consecutive failures (≥ 1): the interval,
    doubled per further failure, never more than ``max_backoff``."""
    doublings = min(max(failures, 1) - 1, 64)  # beyond 2**64 the cap has long applied
    return int(min(refresh_seconds * 2 ** doublings, max_backoff))


@dataclass(frozen=True)
class Outcome:
    subscription_id: int
    ok: bool
    detail: dict  # what last_changes records on success, {"error": ...} on failure


class Scheduler:

    def __init__(self, engine: AsyncEngine, storage: Callable[[], Awaitable[Storage]],
                 settings: FeedSettings) -> None:
        self._engine = engine
        self._storage = storage
        self.settings = settings
        self.lease_owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.wake = asyncio.Event()
        self._session = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self):
        if self._session is None:
            self._session = fetch.new_session(self.settings)
        return self._session

    # -- one round -------------------------------------------------------------
    async def run_due(self, now: Optional[datetime] = None) -> list[Outcome]:
        """Claim the feeds due ``now`` (at most ``concurrency``), process them, return the outcomes."""
        claimed = await self.claim(now)
        return list(await asyncio.gather(*(self._process(row, now) for row in claimed)))

    async def claim(self, now: Optional[datetime] = None) -> list:
        """Lease the feeds due ``now`` (default: the database's clock) to this process."""
        async with self._engine.begin() as conn:
            return (await conn.execute(queries.CLAIM_DUE, {
                "batch": self.settings.concurrency, "lease_owner": self.lease_owner,
                "lease_seconds": float(self.settings.lease_seconds), "now": now})).all()

    async def _process(self, row, now: Optional[datetime] = None) -> Outcome:
        try:
            detail, validators = await self._refresh(row)
        except (fetch.FetchError, importer.FeedInvalid) as e:
            return await self._failed(row, str(e), now)
        except writer.WriteError as e:
            return await self._failed(row, e.reason, now)
        except Exception as e:  # keep the scheduler alive; the status shows the error
            logger.exception("importing subscription %s from %s failed", row.id, row.url)
            return await self._failed(row, f"internal error: {type(e).__name__}: {e}", now)
        etag, last_modified, body_sha256 = validators
        await self._finish(queries.FINISH_SUCCESS, row, now, {
            "http_etag": etag, "http_last_modified": last_modified, "body_sha256": body_sha256,
            "last_changes": json.dumps(detail)})
        return Outcome(row.id, True, detail)

    async def _finish(self, statement, row, now: Optional[datetime], values: dict) -> None:
        params = {"id": row.id, "lease_owner": self.lease_owner, "url": row.url, "now": now, **values}
        async with self._engine.begin() as conn:
            await conn.execute(statement, params)
            await conn.execute(queries.RELEASE_STALE, {k: params[k] for k in ("id", "lease_owner", "url")})

    async def _refresh(self, row) -> tuple[dict, tuple]:
        fetched = await fetch.fetch(self._http(), row.url, self.settings,
                                    etag=row.http_etag, last_modified=row.http_last_modified)
        if fetched.not_modified:
            validators = (fetched.etag or row.http_etag,
                          fetched.last_modified or row.http_last_modified, row.body_sha256)
            return {"result": "not modified"}, validators
        digest = hashlib.sha256(fetched.body).digest()
        validators = (fetched.etag, fetched.last_modified, digest)
        if row.body_sha256 is not None and digest == bytes(row.body_sha256):
            return {"result": "unchanged body"}, validators
        storage = await self._storage()
        spend = budget.Budget(self.settings.import_budget_seconds, importer.IMPORTING)
        try:
            changes = await asyncio.to_thread(
                importer.import_feed, storage, row.owner, row.calendar_path, fetched.body, fetched.charset,
                max_lines=self.settings.max_feed_lines, spend=spend)
        except asyncio.CancelledError:
            # The server is stopping: end the import's thread too (it rolls back), or the
            # process would wait for it before it exits.
            spend.cancel()
            raise
        return {"result": "imported", **changes.to_json()}, validators

    async def _failed(self, row, error: str, now: Optional[datetime] = None) -> Outcome:
        delay = backoff_seconds(row.refresh_seconds, row.consecutive_failures + 1,
                                self.settings.max_backoff_seconds)
        logger.warning("subscription %s (%s): %s; next try in %s s", row.id, row.url, error, delay)
        await self._finish(queries.FINISH_FAILURE, row, now,
                           {"error": error[:2000], "delay_seconds": float(delay)})
        return Outcome(row.id, False, {"error": error})

    # -- the background loop -----------------------------------------------------
    async def run_forever(self) -> None:
        while True:
            outcomes: list[Outcome] = []
            try:
                outcomes = await self.run_due()
            except Exception as e:  # e.g. the database is briefly unreachable: try again next tick
                if availability.is_database_unavailable(e):
                    logger.warning("feed scheduler round skipped: the database is unavailable: %s",
                                   availability.describe(e))
                else:
                    logger.exception("feed scheduler round failed")
            if len(outcomes) >= self.settings.concurrency:
                continue  # a full batch: more may be due
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.settings.tick_seconds)
            self.wake.clear()


def run_in_background(scheduler: Scheduler, enabled: bool):
    """For ``app.cleanup_ctx``: the loop runs while the application does."""
    return background.while_running(scheduler.run_forever, TASK_NAME, enabled, scheduler.close)
