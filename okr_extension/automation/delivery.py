"""The delivery worker: POST each pending delivery, signed, until the receiver answers 2xx.

Every process runs one. Each claims due deliveries with ``SELECT … FOR UPDATE SKIP LOCKED``
and leases them (its id and an expiry) in the same statement, as the feed scheduler claims
feeds: a leased delivery is invisible to the other processes until it is finished or, if the
process died mid-way, until the lease expires. Deliveries are rows written with their event,
so a process killed after the commit loses nothing: another (or itself, restarted) sends it.
Delivery is at-least-once (a receiver answering after the lease expired may see an event
twice): receivers de-duplicate on the event id.

Failures (non-2xx, timeouts, refused connections) are retried after ``retry_delay``; after
``max_attempts`` the delivery is dead. A webhook whose every attempt has failed for
``disable_after_seconds`` is disabled, and a ``webhook.disabled`` event says so.

``run_due(now)`` takes the time (default: ``storage_plugin.clock``), so tests drive the
schedule without waiting.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

import aiohttp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from okr_extension import background
from okr_extension.automation import outbox, signing
from okr_extension.automation.models import WebhookOut
from okr_extension.automation.settings import AutomationSettings
from okr_extension.feeds import fetch
from storage_plugin import availability, clock, pooler

logger = logging.getLogger("planerix.webhooks")
TASK_NAME = "planerix-webhook-delivery"
USER_AGENT = "Planerix-Webhook/1"

_CLAIM = text(
    "WITH due AS ("
    "  SELECT d.id FROM webhook_delivery d"
    "    JOIN webhook w ON w.id = d.webhook_id AND w.organisation_id = d.organisation_id"
    "  WHERE d.state = 'pending' AND d.next_attempt <= :now AND w.enabled"
    "    AND (d.lease_until IS NULL OR d.lease_until < :now)"
    "  ORDER BY d.next_attempt LIMIT :batch FOR UPDATE OF d SKIP LOCKED)"
    " UPDATE webhook_delivery d SET lease_owner = :lease_owner,"
    "   lease_until = CAST(:now AS timestamptz) + make_interval(secs => :lease_seconds)"
    " FROM due, webhook w, automation_event e"
    " WHERE d.id = due.id AND w.id = d.webhook_id AND w.organisation_id = d.organisation_id"
    "   AND e.seq = d.event_seq AND e.organisation_id = d.organisation_id"
    " RETURNING d.id, d.attempts, d.webhook_id, w.url, w.secret, e.id AS event_id, e.kind, e.body")
_FINISH = text(
    "UPDATE webhook_delivery SET state = :state, attempts = attempts + 1, last_attempt = :now,"
    "  last_status = :status, last_error = :error, next_attempt = :next_attempt,"
    "  delivered = CASE WHEN :state = 'delivered' THEN CAST(:now AS timestamptz) END,"
    "  lease_owner = NULL, lease_until = NULL"
    " WHERE id = :id AND lease_owner = :lease_owner")
_SUCCEEDED = text("UPDATE webhook SET failing_since = NULL WHERE id = :id AND failing_since IS NOT NULL")
_FAILED = text(
    "UPDATE webhook SET failing_since = coalesce(failing_since, :now) WHERE id = :id RETURNING failing_since")
_DISABLE = text(
    "UPDATE webhook SET enabled = false, disabled_reason = :reason, updated = :now"
    " WHERE id = :id AND enabled RETURNING *")


def retry_delay(attempts: int, settings: AutomationSettings, rng: random.Random) -> float:
    """Seconds before the next try after ``attempts`` failed ones (≥ 1): doubling from the base,
    capped, less up to ``jitter`` of it at random."""
    doublings = min(max(attempts, 1) - 1, 64)
    delay = min(settings.base_delay_seconds * 2 ** doublings, settings.max_delay_seconds)
    return delay * (1 - settings.jitter * rng.random())


def encode(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Outcome:
    delivery_id: object
    state: str              # delivered, pending (will retry), dead
    status: Optional[int]   # the receiver's HTTP status, if it answered
    error: Optional[str]


class Deliverer:

    def __init__(self, engine: AsyncEngine, settings: AutomationSettings,
                 rng: Optional[random.Random] = None, database_url: Optional[str] = None) -> None:
        self._engine = engine
        self.settings = settings
        self._rng = rng or random.Random()
        self._database_url = database_url
        self.lease_owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.wake = asyncio.Event()
        self._session: Optional[aiohttp.ClientSession] = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            resolver = None if self.settings.allow_private_networks else fetch.PublicOnlyResolver()
            connector = aiohttp.TCPConnector(resolver=resolver, limit=self.settings.batch * 2)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT})
        return self._session

    # -- one round -------------------------------------------------------------
    async def run_due(self, now: Optional[datetime] = None) -> list[Outcome]:
        now = now or clock.now()
        claimed = await self.claim(now)
        return list(await asyncio.gather(*(self._deliver(row, now) for row in claimed)))

    async def claim(self, now: datetime) -> list:
        async with self._engine.begin() as conn:
            return (await conn.execute(_CLAIM, {
                "now": now, "batch": self.settings.batch, "lease_owner": self.lease_owner,
                "lease_seconds": float(self.settings.lease_seconds)})).all()

    async def _deliver(self, row, now: datetime) -> Outcome:
        try:
            status, error = await self._post(row, now)
        except Exception as e:  # keep the worker alive; the log shows the error
            logger.exception("delivering %s to %s failed", row.id, row.url)
            status, error = None, f"internal error: {type(e).__name__}: {e}"
        if error is None:
            state, next_attempt = "delivered", None
        elif row.attempts + 1 >= self.settings.max_attempts:
            state, next_attempt = "dead", None
        else:
            state = "pending"
            next_attempt = now + timedelta(seconds=retry_delay(row.attempts + 1, self.settings, self._rng))
        async with self._engine.begin() as conn:
            await conn.execute(_FINISH, {"id": row.id, "lease_owner": self.lease_owner, "state": state,
                                         "now": now, "status": status, "error": error and error[:2000],
                                         "next_attempt": next_attempt or now})
            if error is None:
                await conn.execute(_SUCCEEDED, {"id": row.webhook_id})
            else:
                await self._note_failure(conn, row.webhook_id, now)
        if error is not None:
            logger.warning("webhook delivery %s to %s: %s (%s)", row.id, row.url, error, state)
        return Outcome(row.id, state, status, error)

    async def _post(self, row, now: datetime) -> tuple[Optional[int], Optional[str]]:
        """(status, None) on a 2xx answer; (status or None, reason) otherwise."""
        body = encode(row.body)
        timestamp = int(now.timestamp())
        headers = {"Content-Type": "application/json", "Planerix-Event-Id": str(row.event_id),
                   "Planerix-Event-Kind": row.kind, "Planerix-Delivery-Id": str(row.id),
                   signing.HEADER: signing.header(row.secret, timestamp, body)}
        try:
            await fetch.check_host(row.url, self.settings)
        except ValueError as e:
            return None, f"refused {row.url}: {e}"
        seconds = self.settings.timeout_seconds
        try:
            async with asyncio.timeout(seconds):
                async with self._http().post(row.url, data=body, headers=headers,
                                             allow_redirects=False) as response:
                    status = response.status
        except TimeoutError:
            return None, f"no answer within {seconds:g} s"
        except aiohttp.ClientConnectorError as e:
            return None, f"cannot connect to {e.host}:{e.port}: {e.os_error or e}"
        except (aiohttp.ClientError, OSError) as e:
            return None, f"network error: {type(e).__name__}: {e}"
        if 200 <= status < 300:
            return status, None
        return status, f"HTTP {status} (a 2xx answer is expected; redirects are not followed)"

    async def _note_failure(self, conn, webhook_id, now: datetime) -> None:
        since = (await conn.execute(_FAILED, {"id": webhook_id, "now": now})).scalar_one()
        if (now - since).total_seconds() < self.settings.disable_after_seconds:
            return
        reason = f"every delivery failed since {since.isoformat()}"
        disabled = (await conn.execute(_DISABLE, {"id": webhook_id, "reason": reason, "now": now})).first()
        if disabled is None:
            return
        data = WebhookOut.model_validate(
            {k: v for k, v in disabled._mapping.items() if k != "secret"}).model_dump(mode="json")
        subject = outbox.Subject("webhook", disabled.id, disabled.organisation_id, f"/api/webhooks/{disabled.id}")
        await outbox.record(conn, "webhook.disabled", subject, f"webhook.disabled:{disabled.id}:{since.isoformat()}",
                            {"from": "enabled", "to": "disabled"}, data, now)

    # -- the background loop -----------------------------------------------------
    async def _listen(self):
        """A connection LISTENing for new events, so deliveries start at once; None if it cannot
        be opened or would not hear (behind a transaction pooler): the worker then finds work
        every tick."""
        if not self._database_url or pooler.transaction_pooling():
            return None
        import asyncpg
        try:
            conn = await asyncpg.connect(self._database_url, timeout=10)
            await conn.add_listener(outbox.CHANNEL, lambda *_: self.wake.set())
            return conn
        except (OSError, asyncpg.PostgresError) as e:
            logger.warning("webhook worker cannot listen for events (polling instead): %s", e)
            return None

    async def run_forever(self) -> None:
        listener = await self._listen()
        try:
            while True:
                outcomes: list[Outcome] = []
                try:
                    outcomes = await self.run_due()
                except Exception as e:
                    if availability.is_database_unavailable(e):
                        logger.warning("webhook delivery round skipped: the database is unavailable: %s",
                                       availability.describe(e))
                    else:
                        logger.exception("webhook delivery round failed")
                if len(outcomes) >= self.settings.batch:
                    continue  # a full batch: more may be due
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.settings.tick_seconds)
                self.wake.clear()
        finally:
            if listener is not None:
                with contextlib.suppress(Exception):
                    await listener.close()


def run_in_background(deliverer: Deliverer, enabled: bool):
    """For ``app.cleanup_ctx``: the worker runs while the application does."""
    return background.while_running(deliverer.run_forever, TASK_NAME, enabled, deliverer.close)
