"""``planerix serve --workers N``: N server processes sharing the CalDAV and API ports.

The parent binds both listening sockets, opens (and migrates) the database, then spawns the
workers, which inherit the sockets: the kernel hands each new connection to whichever worker
accepts first, and connections waiting in the queue outlive any one worker. Each worker is a
whole Planerix server (Radicale's threads and the sidecar's event loop) without a database of
its own. The parent replaces a worker that dies, restarts the embedded database when it dies
(and tells the workers to renew their pools), and on SIGTERM or SIGINT tells every worker to
drain: stop accepting, finish the requests in flight, exit.

What must happen once (scheduling deliveries, feed fetches, webhook deliveries, automation
sweeps) is claimed in the database by whichever process gets it, so the loops run in every
worker; what a worker keeps in memory is either derived from the database on each request
(feed caches keyed by the feed's revision) or lives in the database (sessions, login failures).
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from server.supervisor import DatabaseSupervisor, RestartPolicy
from storage_plugin import database
from storage_plugin.time_bounds import Timeouts

logger = logging.getLogger("planerix.workers")
BACKLOG = 1024
START_TIMEOUT = 120.0
# A worker that dies is replaced at once; one that keeps dying young waits longer each time.
YOUNG_DEATH_SECONDS = 10.0
LONGEST_RESPAWN_DELAY = 30.0
# Beyond the drain: closing the pools and background loops.
STOP_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class WorkerSpec:
    database_url: str
    host: str
    config_file: str | None
    timeouts: Timeouts
    drain_seconds: float
    log_level: str


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][0]
    sock = socket.create_server((host, port), family=family, backlog=BACKLOG)
    sock.set_inheritable(True)
    return sock


def default_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# Database connections one worker may hold: the CalDAV pool, the API's (10), webhook LISTEN,
# a readiness check. Some are kept for the CLI, migrations and the parent.
CONNECTIONS_PER_WORKER = database.DEFAULT_MAX_CONNECTIONS + 12
RESERVED_CONNECTIONS = 10


def fitting_count(database_url: str, requested: int | None) -> int:
    """The number of workers: ``requested``, or by default one per core as far as the
    database's ``max_connections`` allows (a worker short of connections answers 503)."""
    with database.engine_for(database_url).connect() as conn:
        limit = int(conn.exec_driver_sql("SHOW max_connections").scalar())
    fit = max(1, (limit - RESERVED_CONNECTIONS) // CONNECTIONS_PER_WORKER)
    if requested is None:
        if default_count() > fit:
            logger.warning("%d workers (not one per core, %d): the database's max_connections (%d) allows "
                           "no more at up to %d connections each", fit, default_count(), limit,
                           CONNECTIONS_PER_WORKER)
        return min(default_count(), fit)
    if requested > fit:
        logger.warning("%d workers may hold up to %d database connections; the database allows %d: raise its "
                       "max_connections or put PgBouncer in front (docs/scale-out.md)",
                       requested, requested * CONNECTIONS_PER_WORKER + RESERVED_CONNECTIONS, limit)
    return requested


# -- one worker (a spawned process) ---------------------------------------------------------
def run_worker(spec: WorkerSpec, caldav_socket: socket.socket, api_socket: socket.socket,
               ready: Connection) -> None:
    import asyncio

    from server import launcher, memory, settings
    from server.caldav_server import CalDAVServer
    from okr_extension import access

    logging.basicConfig(level=spec.log_level.upper(),
                        format=f"%(asctime)s %(levelname)s %(name)s[worker {os.getpid()}]: %(message)s")
    if spec.log_level != "debug":
        logging.getLogger("radicale").setLevel(logging.WARNING)
    _exit_with_parent()
    memory.tune_malloc()
    access.directory_scope()
    database.set_timeouts(spec.timeouts)
    caldav = CalDAVServer(settings.radicale_configuration(spec.database_url, spec.host,
                                                          caldav_socket.getsockname()[1], spec.config_file),
                          spec.host, caldav_socket.getsockname()[1], listening=caldav_socket)
    caldav.start()
    try:
        def renew_pools() -> None:  # the parent restarted the embedded database
            threading.Thread(target=database.reset_pools, name="renew-pools", daemon=True).start()
        asyncio.run(launcher.run_until_signalled(
            launcher.create_api(spec.database_url), spec.host, 0, lambda port: _report_ready(ready, port), caldav,
            spec.drain_seconds, listening=api_socket, extra_signals={signal.SIGUSR1: renew_pools}))
    finally:
        caldav.stop(spec.drain_seconds)
        database.dispose_all()


def _report_ready(ready: Connection, port: int) -> None:
    """Tell the parent this worker serves (a replacement's parent no longer listens)."""
    try:
        ready.send(port)
    except OSError:
        pass
    ready.close()


def _exit_with_parent() -> None:
    """A worker whose parent is gone (killed with SIGKILL) drains and exits like on SIGTERM."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


# -- the parent -----------------------------------------------------------------------------
class Workers:
    """The running workers, each replaced when it dies until ``stop``."""

    def __init__(self, spec: WorkerSpec, caldav_socket: socket.socket, api_socket: socket.socket,
                 count: int) -> None:
        self._spec, self._sockets, self._count = spec, (caldav_socket, api_socket), count
        self._context = multiprocessing.get_context("spawn")
        self._processes: list = []
        self._started: dict[int, float] = {}
        self._young_deaths = 0
        self.stopping = threading.Event()

    def _spawn(self):
        receiving, sending = self._context.Pipe(duplex=False)
        process = self._context.Process(target=run_worker, name="planerix-worker",
                                        args=(self._spec, *self._sockets, sending))
        process.start()
        sending.close()
        self._started[process.pid] = time.monotonic()
        return process, receiving

    def start(self) -> None:
        """All workers, once each serves; raises if one dies before."""
        pending = [self._spawn() for _ in range(self._count)]
        deadline = time.monotonic() + START_TIMEOUT
        self._processes = [process for process, _ in pending]
        for process, receiving in pending:
            if not receiving.poll(max(0.0, deadline - time.monotonic())):
                self.stop()
                raise RuntimeError(f"worker {process.pid} did not start (exit status {process.exitcode})")
            try:
                receiving.recv()
            except EOFError:
                self.stop()
                raise RuntimeError(f"worker {process.pid} died while starting") from None
            receiving.close()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p.is_alive()]

    def signal_all(self, sig: int) -> None:
        for process in self._processes:
            if process.is_alive():
                try:
                    os.kill(process.pid, sig)
                except ProcessLookupError:
                    pass

    def supervise(self) -> None:
        """Replace workers that die, until ``stopping`` is set."""
        while not self.stopping.is_set():
            wait([p.sentinel for p in self._processes], timeout=0.5)
            for index, process in enumerate(self._processes):
                if process.is_alive() or self.stopping.is_set():
                    continue
                lived = time.monotonic() - self._started.pop(process.pid, 0.0)
                self._young_deaths = self._young_deaths + 1 if lived < YOUNG_DEATH_SECONDS else 0
                delay = min(LONGEST_RESPAWN_DELAY, 2 ** self._young_deaths - 1) if self._young_deaths else 0
                logger.warning("worker %s ended (exit status %s) after %.0f s; starting another%s",
                               process.pid, process.exitcode, lived, f" in {delay:g} s" if delay else "")
                process.close()
                if delay and self.stopping.wait(delay):
                    return
                self._processes[index], receiving = self._spawn()
                receiving.close()

    def stop(self) -> None:
        """SIGTERM to every worker; they drain. The parent's copies of the listening sockets
        close too, so new connections are refused rather than queued for nobody. Workers still
        running after the drain and a margin are killed."""
        self.stopping.set()
        self.signal_all(signal.SIGTERM)
        for sock in self._sockets:
            sock.close()
        deadline = time.monotonic() + self._spec.drain_seconds + STOP_MARGIN_SECONDS
        for process in self._processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                logger.error("worker %s did not stop within %.0f s: killed", process.pid,
                             self._spec.drain_seconds + STOP_MARGIN_SECONDS)
                process.kill()
                process.join(5)


def serve(db, spec: WorkerSpec, caldav_port: int, api_port: int, count: int, demo_password: str | None,
          policy: RestartPolicy, lost: list[str]) -> None:
    """Run ``count`` workers until SIGTERM or SIGINT (``db`` is open and migrated)."""
    from server.launcher import announce

    caldav_socket, api_socket = listening_socket(spec.host, caldav_port), listening_socket(spec.host, api_port)
    workers = Workers(spec, caldav_socket, api_socket, count)
    previous = {sig: signal.signal(sig, lambda *_: workers.stopping.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    supervisor = None
    try:
        workers.start()
        if db.embedded is not None:
            def give_up(reason: str) -> None:
                lost.append(reason)
                workers.stopping.set()

            def restarted() -> None:
                database.reset_pools()
                workers.signal_all(signal.SIGUSR1)
            supervisor = DatabaseSupervisor(db.embedded, policy, on_restarted=restarted, on_give_up=give_up)
            supervisor.start()
        announce(spec.host, caldav_socket.getsockname()[1], api_socket.getsockname()[1], demo_password)
        logger.info("%d workers: %s", count, " ".join(map(str, workers.pids)))
        workers.supervise()
    finally:
        workers.stop()
        if supervisor is not None:
            supervisor.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
