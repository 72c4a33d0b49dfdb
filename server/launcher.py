"""``planerix serve``: database, migrations, CalDAV server and sidecar, and a clean stop."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from aiohttp import web

from okr_extension import access, create_app, migrate
from okr_extension.automation.settings import AutomationSettings
from okr_extension.feeds.settings import FeedSettings
from okr_extension.web.settings import DashboardSettings
from server import memory, settings
from server.caldav_server import CalDAVServer
from server.embedded import EmbeddedPostgres
from server.supervisor import DatabaseSupervisor, RestartPolicy
from storage_plugin import accounts, database
from storage_plugin.time_bounds import Timeouts

logger = logging.getLogger("planerix")
DEMO_USER = "demo"


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


async def _run_until_signalled(api: web.Application, host: str, port: int, ready) -> None:
    runner = web.AppRunner(api, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # After the handlers: whoever reads the URLs may send SIGTERM at once.
    ready(runner.addresses[0][1] if runner.addresses else port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def supervise(db: Database, policy: RestartPolicy, lost: list[str]) -> DatabaseSupervisor | None:
    """For the embedded database: restarted when it dies; when it cannot be, the reason goes
    to ``lost`` and serve stops as on SIGTERM."""
    if db.embedded is None:
        return None

    def give_up(reason: str) -> None:
        lost.append(reason)
        os.kill(os.getpid(), signal.SIGTERM)
    supervisor = DatabaseSupervisor(db.embedded, policy, on_restarted=database.reset_pools,
                                    on_give_up=give_up)
    supervisor.start()
    return supervisor


def serve(data_dir: Path, database_url: str | None, host: str, caldav_port: int, api_port: int,
          config_file: str | None = None, timeouts: Timeouts | None = None,
          restart_policy: RestartPolicy | None = None) -> None:
    """Raises DatabaseLost when the embedded database died for good."""
    memory.tune_malloc()
    access.directory_scope()  # a wrong PLANERIX_DIRECTORY_SCOPE stops the start with its reason
    database.set_timeouts(timeouts or Timeouts())
    lost: list[str] = []
    try:
        _serve(data_dir, database_url, host, caldav_port, api_port, config_file, restart_policy, lost)
    except Exception:
        if not lost:
            raise
        # Stopping after the database was lost for good can fail too (a pool or a listener on
        # the dead server): the loss is the reason serve stops, and what its status says.
        logger.exception("error while stopping after the database was lost")
    if lost:
        raise DatabaseLost(lost[0])
    print("Planerix stopped.", flush=True)


def _serve(data_dir: Path, database_url: str | None, host: str, caldav_port: int, api_port: int,
           config_file: str | None, restart_policy: RestartPolicy | None, lost: list[str]) -> None:
    with open_database(data_dir, database_url) as db:
        demo_password = create_demo_account(db)
        caldav = CalDAVServer(settings.radicale_configuration(db.url, host, caldav_port, config_file),
                              host, caldav_port)
        caldav.start()
        supervisor = supervise(db, restart_policy or RestartPolicy(), lost)
        try:
            def ready(api_bound_port: int) -> None:
                print(f"Planerix CalDAV: http://{host}:{caldav.port}/", flush=True)
                print(f"Planerix API:    http://{host}:{api_bound_port}/api/", flush=True)
                if demo_password:
                    print(f"Created user '{DEMO_USER}' with password: {demo_password}  "
                          "(shown once; change it with 'planerix user passwd demo')", flush=True)
            app = create_app(db.url, FeedSettings.from_env(), dashboard_settings=DashboardSettings.from_env(),
                             automation_settings=AutomationSettings.from_env())
            asyncio.run(_run_until_signalled(app, host, api_port, ready))
        finally:
            if supervisor is not None:
                supervisor.stop()
            caldav.stop()
