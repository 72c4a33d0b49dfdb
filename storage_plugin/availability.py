"""Whether an error means "the database cannot serve now" (down, frozen, restarting,
overloaded): both servers answer those with 503 and ``Retry-After`` instead of 500."""
from __future__ import annotations

import psycopg
import sqlalchemy as sa

RETRY_AFTER_SECONDS = 5
# SQLSTATE classes: connection exception, insufficient resources, operator intervention
# (shutdown, "starting up", statement timeout), system error.
_UNAVAILABLE_CLASSES = frozenset({"08", "53", "57", "58"})


class DatabaseUnreachable(Exception):
    """No connection could be opened, or the database did not answer in time."""


def _causes(error: BaseException | None):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = (getattr(error, "orig", None) or error.__cause__
                 or (None if error.__suppress_context__ else error.__context__))


def is_database_unavailable(error: BaseException) -> bool:
    for cause in _causes(error):
        if isinstance(cause, (DatabaseUnreachable, sa.exc.TimeoutError)):  # the latter: pool checkout
            return True
        if isinstance(cause, sa.exc.DBAPIError) and cause.connection_invalidated:
            return True
        sqlstate = getattr(cause, "sqlstate", None)  # psycopg and asyncpg errors carry it
        if isinstance(sqlstate, str) and sqlstate[:2] in _UNAVAILABLE_CLASSES:
            return True
        if isinstance(cause, psycopg.OperationalError) and not sqlstate:
            return True  # client side: refused, connection lost, no answer in time
    return False


def describe(error: BaseException) -> str:
    """One line for the log: the driver's words (SQLAlchemy's wrappers add the SQL)."""
    for cause in _causes(error):
        if not isinstance(cause, sa.exc.DBAPIError) and str(cause):
            return " ".join(str(cause).split())
    return type(error).__name__
