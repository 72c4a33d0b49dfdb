"""Helpers for the feed tests: the sidecar and a feed-serving HTTP server, both real
aiohttp servers on local ports, run on an event loop in a background thread."""
from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest
import requests
from aiohttp import web

from conftest import free_port
from okr_extension import create_app
from okr_extension.feeds.runtime import FEEDS
from okr_extension.feeds.settings import FeedSettings

# Tests drive the scheduler themselves (``sidecar.run_due()``); feeds come from 127.0.0.1.
TEST_SETTINGS = FeedSettings(scheduler_enabled=False, allow_private_networks=True,
                             fetch_timeout_seconds=3, max_feed_bytes=256 * 1024)


class LoopThread:
    """An asyncio event loop in a daemon thread; ``run`` executes a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-loop", daemon=True)
        self._thread.start()

    def run(self, coro, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


class AppServer:
    """An aiohttp application served by AppRunner on a free local port."""

    def __init__(self, loop: LoopThread, app: web.Application) -> None:
        self.loop = loop
        self.app = app
        self.port = free_port()
        self._runner = web.AppRunner(app)

        async def start():
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        loop.run(start())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.loop.run(self._runner.cleanup())


class Sidecar(AppServer):

    def __init__(self, loop: LoopThread, app: web.Application) -> None:
        super().__init__(loop, app)
        self.outcomes: dict[int, Any] = {}  # subscription id → its latest outcome, not yet looked at

    @property
    def feeds(self):
        return self.app[FEEDS]

    def run_due(self):
        """One scheduler round in the app's loop: the outcomes of the feeds that were due."""
        outcomes = self.loop.run(self.feeds.scheduler.run_due())
        self.outcomes.update((o.subscription_id, o) for o in outcomes)
        return outcomes

    def api(self, user) -> requests.Session:
        session = requests.Session()
        session.auth = (user.name, user.password)
        return session


@dataclass
class Feed:
    """What the feed server answers at one path."""
    body: bytes = b""
    status: int = 200
    etag: Optional[str] = None
    last_modified: Optional[str] = None
    content_type: str = "text/calendar; charset=utf-8"
    delay: float = 0.0
    # When set, the answer waits until the test sets it (a fetch held open for as long as the test needs).
    hold: Optional[threading.Event] = None
    redirect_to: Optional[str] = None
    chunked: bool = False  # no Content-Length


@dataclass
class FeedServer:
    server: AppServer = None
    feeds: dict[str, Feed] = field(default_factory=dict)
    requests: list[tuple[str, dict]] = field(default_factory=list)
    # With identify_clients, the process id of each request's client (found by its socket).
    client_pids: list[Optional[int]] = field(default_factory=list)
    identify_clients: bool = False

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    def hits(self, path: str) -> list[dict]:
        return [headers for p, headers in self.requests if p == path]


def _client_pid(request: web.Request) -> Optional[int]:
    import psutil

    # The client's end of this very connection: its port, and ours as its remote end (another
    # process may use the same local port for a connection elsewhere).
    port = request.transport.get_extra_info("peername")[1]
    server_port = request.transport.get_extra_info("sockname")[1]
    for connection in psutil.net_connections(kind="tcp"):
        if (connection.laddr and connection.laddr.port == port and connection.raddr
                and connection.raddr.port == server_port and connection.pid):
            return connection.pid
    return None


def _feed_app(state: FeedServer) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        state.requests.append((request.path, dict(request.headers)))
        if state.identify_clients:
            state.client_pids.append(_client_pid(request))
        feed = state.feeds.get(request.path)
        if feed is None:
            return web.Response(status=404, text="no such feed")
        if feed.delay:
            await asyncio.sleep(feed.delay)
        if feed.hold is not None:
            await asyncio.to_thread(feed.hold.wait, 60)
        if feed.redirect_to:
            raise web.HTTPFound(feed.redirect_to)
        headers = {}
        if feed.etag:
            headers["ETag"] = feed.etag
        if feed.last_modified:
            headers["Last-Modified"] = feed.last_modified
        if feed.status == 200 and feed.etag and request.headers.get("If-None-Match") == feed.etag:
            return web.Response(status=304, headers=headers)
        if (feed.status == 200 and not feed.etag and feed.last_modified
                and request.headers.get("If-Modified-Since") == feed.last_modified):
            return web.Response(status=304, headers=headers)
        if feed.chunked:
            response = web.StreamResponse(status=feed.status, headers=headers)
            response.content_type = feed.content_type.split(";")[0]
            response.enable_chunked_encoding()
            await response.prepare(request)
            for start in range(0, len(feed.body), 8192):
                await response.write(feed.body[start:start + 8192])
            await response.write_eof()
            return response
        return web.Response(status=feed.status, body=feed.body, headers=headers,
                            content_type=feed.content_type.split(";")[0],
                            charset="utf-8" if "charset" in feed.content_type else None)

    app = web.Application()
    app.router.add_route("GET", "/{path:.*}", handle)
    return app


@pytest.fixture(scope="module")
def loop_thread():
    loop = LoopThread()
    yield loop
    loop.stop()


@pytest.fixture(scope="module")
def sidecar(engine, database_url, loop_thread):
    server = Sidecar(loop_thread, create_app(database_url, TEST_SETTINGS))
    yield server
    server.stop()


@pytest.fixture
def feed_server(loop_thread):
    state = FeedServer()
    state.server = AppServer(loop_thread, _feed_app(state))
    yield state
    state.server.stop()
