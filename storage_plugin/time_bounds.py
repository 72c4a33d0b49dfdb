"""Every wait on the database is bounded, so a database that is down or frozen fails
requests quickly (503, see ``availability``) instead of holding them forever.

- opening a connection: ``connect`` seconds (libpq ``connect_timeout``, asyncpg ``timeout``);
- a statement, a lock wait, an idle transaction, in the server: ``statement`` seconds
  (``SERVER_SETTINGS``, set at connection start by ``database.session_settings``);
- an answer, in the client: ``statement + connect`` seconds. A server that has not answered
  by then, not even with its own statement timeout, is stopped or unreachable: the
  connection is closed and the request fails;
- a pool checkout: ``statement`` seconds (the connections in use end within that);
- TCP (external databases): keepalives, and unacknowledged data gives up after the answer bound.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Iterator

import psycopg
import sqlalchemy as sa
from psycopg import errors as pg_errors

from storage_plugin.availability import DatabaseUnreachable

# The client's wait of a psycopg connection: None waits as long as the server needs.
_ANSWER_TIMEOUT = "_planerix_answer_timeout"

DEFAULT_STATEMENT_SECONDS = 60
# The server-side limits, set at connection start (``database.session_settings``).
SERVER_SETTINGS = ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")


@dataclass(frozen=True)
class Timeouts:
    connect: float = 5.0
    statement: float = DEFAULT_STATEMENT_SECONDS

    @property
    def answer(self) -> float:
        return self.statement + self.connect

    @property
    def statement_ms(self) -> int:
        return max(1, round(self.statement * 1000))


class BoundedConnection(psycopg.Connection):
    """A psycopg connection whose every round trip (query, fetch, commit, rollback)
    waits at most its answer timeout; then it is closed, so the pool discards it."""

    def wait(self, gen, interval=0.1, timeout=None):
        bound = getattr(self, _ANSWER_TIMEOUT, None)
        if timeout is not None or bound is None:
            return super().wait(gen, interval=interval, timeout=timeout)
        try:
            return super().wait(gen, interval=interval, timeout=bound)
        except pg_errors._WaitTimeout:  # psycopg's own "no answer in time"
            # Mid-protocol: the connection cannot be used again.
            self.close()
            raise psycopg.OperationalError(
                f"the database did not answer within {bound:g} s") from None


def connect(url: str, timeouts: Timeouts, answer_timeout: float | None = None) -> BoundedConnection:
    """A connection outside any pool (autocommit), its answers bounded like a pool's
    or by ``answer_timeout``."""
    connection = BoundedConnection.connect(url, autocommit=True, **psycopg_connect_args(timeouts))
    setattr(connection, _ANSWER_TIMEOUT, answer_timeout or timeouts.answer)
    return connection


def psycopg_connect_args(timeouts: Timeouts) -> dict:
    # libpq counts connect_timeout in whole seconds (psycopg: at least 2).
    return {"connect_timeout": max(2, math.ceil(timeouts.connect)),
            "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3,
            "tcp_user_timeout": round(timeouts.answer * 1000)}


def asyncpg_connect_args(timeouts: Timeouts) -> dict:
    return {"timeout": timeouts.connect, "command_timeout": timeouts.answer}


def install(engine: sa.engine.Engine, timeouts: Timeouts, *, psycopg_driver: bool) -> None:
    """The connection hooks of ``engine`` (for an async engine: its ``sync_engine``)."""

    @sa.event.listens_for(engine, "do_connect")
    def connect(dialect, connection_record, cargs, cparams):
        if psycopg_driver:  # its failures to connect are psycopg.OperationalError
            connection = BoundedConnection.connect(*cargs, **cparams)
            setattr(connection, _ANSWER_TIMEOUT, timeouts.answer)
            return connection
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as e:
            if getattr(e, "sqlstate", None):  # the server's own answer (e.g. a wrong password)
                raise
            # asyncpg's: refused, no socket, timed out, the connection lost half-way.
            raise DatabaseUnreachable(f"cannot connect to the database: {e or type(e).__name__}") from e

    if not psycopg_driver:
        @sa.event.listens_for(engine, "checkout")
        def ping(dbapi_connection, connection_record, connection_proxy):
            # SQLAlchemy's pool_pre_ping lets asyncpg's bare TimeoutError escape, the
            # connection still in the pool: a failed ping here makes the pool replace it.
            try:
                dbapi_connection.ping()
            except Exception as e:
                raise sa.exc.DisconnectionError(f"the database did not answer a ping: {e!r}") from e

    @sa.event.listens_for(engine, "handle_error")
    def no_answer(context):
        # asyncpg's command_timeout raises a bare TimeoutError: the connection is mid-protocol.
        if isinstance(context.original_exception, TimeoutError):
            context.is_disconnect = True
            raise DatabaseUnreachable(
                f"the database did not answer within {timeouts.answer:g} s") from context.original_exception


@contextlib.contextmanager
def unbounded(connection: sa.engine.Connection) -> Iterator[None]:
    """Within a transaction of ``connection``: statements may run as long as they need
    (migrations rewrite whole tables)."""
    for name in SERVER_SETTINGS:
        connection.exec_driver_sql(f"SET LOCAL {name} = 0")
    raw = connection.connection.dbapi_connection
    saved = getattr(raw, _ANSWER_TIMEOUT, None)
    setattr(raw, _ANSWER_TIMEOUT, None)
    try:
        yield
    finally:
        setattr(raw, _ANSWER_TIMEOUT, saved)
