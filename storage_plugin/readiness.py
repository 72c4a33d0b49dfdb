"""Whether the database can serve requests now: it answers, and its schema is up to date.

Both servers answer ``GET /livez`` (the process serves) and ``GET /readyz`` (it can serve
requests) without credentials, with a body saying nothing more than that: ``health``."""
from __future__ import annotations

import logging

import psycopg

from storage_plugin import availability, database, time_bounds

logger = logging.getLogger("planerix.readiness")
LIVEZ, READYZ = "/livez", "/readyz"
PATHS = (LIVEZ, READYZ)


def problem(url: str, packages: tuple[str, ...]) -> str | None:
    """Why the database at ``url`` cannot serve (None: it can). A fresh connection, so a
    restarted database counts as back only when it accepts connections again; bounded
    by the connect timeout."""
    timeouts = database.timeouts()
    try:
        with time_bounds.connect(url, timeouts, answer_timeout=timeouts.connect) as conn:
            applied = {(c, v) for c, v in conn.execute(database.APPLIED_MIGRATIONS).fetchall()}
    except psycopg.errors.UndefinedTable:
        return "migrations pending: the schema is missing"
    except psycopg.Error as e:
        return f"database unreachable: {availability.describe(e)}"
    pending = database.pending_migrations(applied, packages)
    return f"migrations pending: {', '.join(pending)}" if pending else None


class Readiness:
    """The readiness check of one server, logging when its answer changes (a load balancer
    asks every few seconds)."""

    def __init__(self, url: str, packages: tuple[str, ...]) -> None:
        self._url, self._packages = url, packages
        self._last: str | None = None

    def problem(self) -> str | None:
        found = problem(self._url, self._packages)
        if found != self._last:
            if found:
                logger.warning("not ready: %s", found)
            else:
                logger.info("ready again")
            self._last = found
        return found


def health(path: str, readiness: Readiness) -> tuple[int, dict, dict]:
    """Status, JSON body and headers of the answer to a GET of ``path`` (one of PATHS)."""
    headers = {"Cache-Control": "no-store"}
    if path == READYZ and readiness.problem() is not None:
        return 503, {"status": "unavailable"}, {**headers, "Retry-After": str(availability.RETRY_AFTER_SECONDS)}
    return 200, {"status": "ok"}, headers
