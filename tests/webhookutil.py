"""A real webhook receiver on loopback, and a sidecar whose delivery worker the test drives."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
from dataclasses import dataclass, field
from typing import Optional

import pytest
from aiohttp import web

from conftest import ApiUser
from feedutil import AppServer, LoopThread, _client_pid
from okr_extension import create_app
from okr_extension.automation.runtime import AUTOMATION
from okr_extension.automation.settings import AutomationSettings

# The worker is driven by the test (``sidecar.run_due(now)``); receivers listen on 127.0.0.1.
TEST_SETTINGS = AutomationSettings(worker_enabled=False, evaluator_enabled=False, allow_private_networks=True,
                                   timeout_seconds=3, batch=500)


def verify_signature(secret: str, header: str, body: bytes, now: float, tolerance: float = 300) -> bool:
    """The README's receiver recipe, verbatim."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = int(parts["t"])
    if abs(now - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(parts["v1"], expected)


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    client_pid: Optional[int] = None


@dataclass
class Receiver:
    server: AppServer = None
    received: list[Received] = field(default_factory=list)
    # Statuses to answer, in turn (200 once they run out).
    statuses: list[int] = field(default_factory=list)
    # While set, answers wait until the test sets it.
    hold: Optional[threading.Event] = None
    identify_clients: bool = False  # record the process id of each request's sender

    def url(self, path: str = "/hook") -> str:
        return f"{self.server.url}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


def _receiver_app(state: Receiver) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        pid = _client_pid(request) if state.identify_clients else None
        state.received.append(Received(request.path, dict(request.headers), await request.read(), pid))
        if state.hold is not None:
            await asyncio.to_thread(state.hold.wait, 60)
        status = state.statuses.pop(0) if state.statuses else 200
        return web.Response(status=status, text="ok")

    app = web.Application()
    app.router.add_route("POST", "/{path:.*}", handle)
    return app


class WebhookSidecar(AppServer):

    @property
    def deliverer(self):
        return self.app[AUTOMATION].deliverer

    def run_due(self, now=None):
        return self.loop.run(self.deliverer.run_due(now))

    def user(self, other: ApiUser) -> ApiUser:
        """The same account, calling this sidecar."""
        return ApiUser(self.url, other.name, other.password)


@pytest.fixture(scope="module")
def hook_loop():
    loop = LoopThread()
    yield loop
    loop.stop()


@pytest.fixture(scope="module")
def hook_sidecar(engine, database_url, hook_loop):
    server = WebhookSidecar(hook_loop, create_app(database_url, automation_settings=TEST_SETTINGS))
    yield server
    server.stop()


@pytest.fixture
def receiver(hook_loop):
    state = Receiver()
    state.server = AppServer(hook_loop, _receiver_app(state))
    yield state
    if state.hold is not None:
        state.hold.set()
    state.server.stop()
