"""``planerix serve``: database, migrations, CalDAV server and sidecar, and a clean stop."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from aiohttp import web

from okr_extension import access, create_app, migrate
from okr_extension.automation.settings import AutomationSettings
from okr_extension.feeds.settings import FeedSettings, SettingError
from okr_extension.web.settings import DashboardSettings
from server import drain, memory, settings
from server.caldav_server import CalDAVServer
from server.embedded import EmbeddedPostgres
from server.mail_replies.settings import MailboxSettings
from server.supervisor import DatabaseSupervisor, RestartPolicy
from storage_plugin import accounts, database
from storage_plugin.email_outbox import EmailSettings
from storage_plugin.time_bounds import Timeouts

logger = logging.getLogger("planerix")
DEMO_USER = "demo"
# How long requests in flight get to finish after SIGTERM (a load balancer's or an
# orchestrator's grace period is longer: 30 s for Kubernetes).
DEFAULT_DRAIN_SECONDS = 10.0


class DatabaseLost(Exception):
    """The embedded database died and could not be restarted."""


@dataclass
class Database:
    url: str
    embedded: EmbeddedPostgres | None


@contextlib.contextmanager
def open_database(data_dir: Path, database_url: str | None) -> Iterator[Database]:
    """The external database named by URL, or the embedded one; migrated either way."""
    embedded = None
    if not database_url:
        embedded = EmbeddedPostgres(data_dir)
        database_url = embedded.start()
    try:
        engine = database.engine_for(database_url)
        migrate(engine)
        # The connection that ran the migrations keeps their catalog caches (megabytes in its
        # backend): the server starts with a fresh pool.
        engine.dispose()
        yield Database(database_url, embedded)
    finally:
        database.dispose_all()
        if embedded is not None:
            embedded.stop()


def create_demo_account(db: Database) -> str | None:
    """On the first start of a fresh embedded database: a ``demo`` user, random password."""
    engine = database.engine_for(db.url)
    if db.embedded is None or not db.embedded.freshly_created or accounts.names(engine):
        return None
    password = secrets.token_urlsafe(12)
    accounts.add(engine, DEMO_USER, password)
    return password


async def run_until_signalled(api: web.Application, host: str, port: int, ready, caldav: CalDAVServer,
                              drain_seconds: float, listening: socket.socket | None = None,
                              extra_signals: dict | None = None) -> None:
    """Serve the API until SIGTERM or SIGINT, then drain: both servers stop accepting at once,
    and the requests in flight get ``drain_seconds`` to finish (``caldav.stop`` waits for its own)."""
    in_flight = drain.InFlight()
    in_flight.install(api)
    runner = web.AppRunner(api, handle_signals=False, shutdown_timeout=drain_seconds)
    await runner.setup()
    site = web.SockSite(runner, listening) if listening is not None else web.TCPSite(runner, host, port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    for sig, handler in (extra_signals or {}).items():
        loop.add_signal_handler(sig, handler)
    # After the handlers: whoever reads the URLs may send SIGTERM at once.
    memory.tune_gc()  # everything the servers hold at start
    ready(runner.addresses[0][1] if runner.addresses else port)
    try:
        await stop.wait()
    finally:
        deadline = time.monotonic() + drain_seconds
        await site.stop()
        await asyncio.to_thread(caldav.stop_accepting)
        if not await in_flight.wait_idle(deadline):
            logger.warning("API requests still in flight after %g s: cut", drain_seconds)
        await runner.cleanup()


def supervise(db: Database, policy: RestartPolicy, lost: list[str]) -> DatabaseSupervisor | None:
    """For the embedded database: restarted when it dies; when it cannot be, the reason goes
    to ``lost`` and serve stops as on SIGTERM."""
    if db.embedded is None:
        return None

    def give_up(reason: str) -> None:
        lost.append(reason)
        os.kill(os.getpid(), signal.SIGTERM)
    def restarted() -> None:
        database.reset_pools()
        memory.tune_gc()  # the old pools were frozen with everything else at start
    supervisor = DatabaseSupervisor(db.embedded, policy, on_restarted=restarted, on_give_up=give_up)
    supervisor.start()
    return supervisor


def serve(data_dir: Path, database_url: str | None, host: str, caldav_port: int, api_port: int,
          config_file: str | None = None, timeouts: Timeouts | None = None,
          restart_policy: RestartPolicy | None = None, workers: int | None = 1,
          drain_seconds: float = DEFAULT_DRAIN_SECONDS, log_level: str = "info") -> None:
    """Raises DatabaseLost when the embedded database died for good. ``workers`` above 1 (None:
    one per core): that many server processes share the ports (``server.workers``)."""
    memory.tune_malloc()
    check_settings(host, caldav_port, config_file)
    database.set_timeouts(timeouts or Timeouts())
    lost: list[str] = []
    try:
        with open_database(data_dir, database_url) as db:
            if workers != 1:
                from server import workers as worker_processes
                workers = worker_processes.fitting_count(db.url, workers)
            if workers == 1:
                _serve(db, host, caldav_port, api_port, config_file, restart_policy, drain_seconds, lost)
            else:
                worker_processes.serve(
                    db, worker_processes.WorkerSpec(db.url, host, config_file, database.timeouts(),
                                                    drain_seconds, log_level),
                    caldav_port, api_port, workers, create_demo_account(db),
                    restart_policy or RestartPolicy(), lost)
    except Exception:
        if not lost:
            raise
        # Stopping after the database was lost for good can fail too (a pool or a listener on
        # the dead server): the loss is the reason serve stops, and what its status says.
        logger.exception("error while stopping after the database was lost")
    if lost:
        raise DatabaseLost(lost[0])
    print("Planerix stopped.", flush=True)


def check_settings(host: str, caldav_port: int, config_file: str | None) -> None:
    """A wrong setting stops the start with its reason here, in the first process, before any
    worker would die of it one after the other."""
    access.directory_scope()
    FeedSettings.from_env(), DashboardSettings.from_env(), AutomationSettings.from_env()
    configuration = settings.radicale_configuration("postgresql://checking/settings", host, caldav_port, config_file)
    try:
        EmailSettings.from_configuration(configuration), MailboxSettings.from_configuration(configuration)
    except ValueError as e:
        raise SettingError(str(e)) from None


def _serve(db: Database, host: str, caldav_port: int, api_port: int, config_file: str | None,
           restart_policy: RestartPolicy | None, drain_seconds: float, lost: list[str]) -> None:
    demo_password = create_demo_account(db)
    caldav = CalDAVServer(settings.radicale_configuration(db.url, host, caldav_port, config_file),
                          host, caldav_port)
    caldav.start()
    supervisor = supervise(db, restart_policy or RestartPolicy(), lost)
    try:
        def ready(api_bound_port: int) -> None:
            announce(host, caldav.port, api_bound_port, demo_password)
        asyncio.run(run_until_signalled(create_api(db.url), host, api_port, ready, caldav, drain_seconds))
    finally:
        if supervisor is not None:
            supervisor.stop()
        caldav.stop(drain_seconds)


def create_api(database_url: str) -> web.Application:
    return create_app(database_url, FeedSettings.from_env(), dashboard_settings=DashboardSettings.from_env(),
                      automation_settings=AutomationSettings.from_env())


def announce(host: str, caldav_port: int, api_port: int, demo_password: str | None) -> None:
    """The lines saying the servers are ready (scripts and tests wait for the API's)."""
    print(f"Planerix CalDAV: http://{host}:{caldav_port}/", flush=True)
    print(f"Planerix API:    http://{host}:{api_port}/api/", flush=True)
    if demo_password:
        print(f"Created user '{DEMO_USER}' with password: {demo_password}  "
              "(shown once; change it with 'planerix user passwd demo')", flush=True)
