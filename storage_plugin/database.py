"""One SQLAlchemy engine per database URL and process, and the migration runner.

Radicale builds the storage plugin twice per process (app and sharing), and the
auth plugin and the CLI need the same database: they all share the engine
registered here.
"""
from __future__ import annotations

import contextlib
import functools
import os
import threading
from importlib import resources
from types import SimpleNamespace
from typing import Iterator

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage_plugin import pooler, time_bounds
from storage_plugin.time_bounds import Timeouts

DATABASE_URL_ENV = "PLANERIX_DATABASE_URL"

_engines: dict[str, Engine] = {}
_sizes: dict[str, tuple[int, int]] = {}  # (connections, timeout in seconds) per URL
# Radicale's default [server] max_connections.
DEFAULT_MAX_CONNECTIONS = 8
_engines_lock = threading.Lock()
# The process's bounds on waits for the database (``planerix serve`` may change them at start).
_timeouts = Timeouts()

# No statement, lock wait or idle transaction of a request lasts longer than the statement
# bound (``time_bounds.Timeouts``; [storage] database_timeout_seconds, 0 turns the server's
# limits off): a request that would hold a user's lock indefinitely fails instead.
# Migrations and reindexing lift them for their own transactions (``time_bounds.unbounded``).
DEFAULT_TIMEOUT_SECONDS = time_bounds.DEFAULT_STATEMENT_SECONDS

# Serializes migrations when several processes start on one database.
_MIGRATION_LOCK_KEY = 0x504C414E  # "PLAN"


def sqlalchemy_url(url: str, driver: str = "psycopg") -> str:
    """Turn a libpq-style URL (postgresql://...) into one naming the driver."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {parsed.render_as_string(hide_password=True)}")
    return parsed.set(drivername=f"postgresql+{driver}").render_as_string(hide_password=False)


def url_from(configuration) -> str:
    """The database URL from Radicale's ``[storage] database_url`` or the environment."""
    try:
        url = configuration.get("storage", "database_url")
    except KeyError:
        url = None
    url = url or os.environ.get(DATABASE_URL_ENV, "")
    if not url:
        raise RuntimeError(
            "storage_plugin needs a database: set [storage] database_url = postgresql://... "
            f"or the environment variable {DATABASE_URL_ENV}")
    return str(url)


def max_connections_from(configuration) -> int:
    """Radicale's ``[server] max_connections``: how many requests it serves in parallel."""
    try:
        return max(1, int(configuration.get("server", "max_connections")))
    except (KeyError, TypeError, ValueError):
        return DEFAULT_MAX_CONNECTIONS


def timeout_from(configuration) -> float:
    """``[storage] database_timeout_seconds``; by default the process's statement bound
    (``planerix serve --db-statement-timeout``, 60 s unless changed)."""
    try:
        value = configuration.get("storage", "database_timeout_seconds")
    except KeyError:
        value = None
    return _timeouts.statement if value in (None, "") else max(0.0, float(value))


def session_settings(timeout_seconds: float) -> dict[str, str]:
    """PostgreSQL settings bounding every statement, lock wait and idle transaction (0: none)."""
    return {name: str(round(timeout_seconds * 1000)) for name in time_bounds.SERVER_SETTINGS}


def set_timeouts(timeouts: Timeouts) -> None:
    """The bounds of engines created from now on (call before the servers start)."""
    global _timeouts
    _timeouts = timeouts


def timeouts() -> Timeouts:
    return _timeouts


def _bounds(timeout_seconds: float) -> Timeouts:
    """The client-side bounds of an engine whose server-side limit is ``timeout_seconds``: the
    client gives up on an answer only after the server would have cancelled the statement."""
    return Timeouts(connect=_timeouts.connect, statement=timeout_seconds or _timeouts.statement)


def engine_for(url: str, max_connections: int | None = None,
               timeout_seconds: float | None = None) -> Engine:
    """The process's engine for ``url``: at most ``max_connections`` database connections
    (default: Radicale's default of parallel requests), a quarter of them (at least two) kept open
    when idle.

    Each request holds one connection while it reads or writes, and a PostgreSQL
    backend costs a few megabytes, so the pool follows the server's parallelism
    rather than its client count: more requests wait a moment for a connection.
    An engine asked for with another size or timeout replaces the registered one.
    """
    with _engines_lock:
        engine = _engines.get(url)
        size, timeout = _sizes.get(url, (DEFAULT_MAX_CONNECTIONS, _timeouts.statement))
        wanted = (max_connections or size, timeout if timeout_seconds is None else timeout_seconds)
        if engine is not None and _sizes[url] == wanted:
            return engine
        if engine is not None:
            engine.dispose()
        # At least two kept: with one, a second request's connection is opened and closed each time.
        kept = min(wanted[0], max(2, wanted[0] // 4))
        bounds = _bounds(wanted[1])
        engine = sa.create_engine(
            sqlalchemy_url(url), pool_size=kept, max_overflow=wanted[0] - kept,
            # No ping per checkout (a round trip per request): a dropped
            # connection fails one statement and SQLAlchemy then renews the pool.
            pool_recycle=3600, pool_timeout=bounds.statement,
            connect_args={**pooler.psycopg_connect_args(session_settings(wanted[1])),
                          **time_bounds.psycopg_connect_args(bounds)})
        time_bounds.install(engine, bounds, psycopg_driver=True)
        pooler.bound_each_transaction(engine, session_settings(wanted[1]))
        _engines[url] = engine
        _sizes[url] = wanted
        return engine


_driver_statements: dict[tuple[int, int], tuple[sa.TextClause, str]] = {}


def read_once(engine: Engine, statement: sa.TextClause, params: dict):
    """The first row (its columns as attributes) of one read run on its own, in autocommit: no
    BEGIN and COMMIT round trips. Through the driver: for a statement run on every request (the
    login), SQLAlchemy's connection and result objects cost more CPU than the round trip.
    Not behind a transaction pooler, where the time bounds exist only inside a transaction."""
    key = (id(statement), id(engine.dialect))
    compiled = _driver_statements.get(key)
    if compiled is None or compiled[0] is not statement:
        compiled = _driver_statements[key] = (statement, str(statement.compile(dialect=engine.dialect)))
    pooled = engine.raw_connection()  # the pool's checkout, time bounds and session settings
    driver = pooled.driver_connection
    try:
        driver.autocommit = True
        try:
            cursor = driver.execute(compiled[1], params)
            row = cursor.fetchone()
            names = [column.name for column in cursor.description]
        finally:
            if not driver.closed:
                driver.autocommit = False
    except psycopg.Error:
        if driver.closed or driver.broken:  # as SQLAlchemy does with a lost connection
            pooled.invalidate()
        raise
    finally:
        pooled.close()
    return None if row is None else SimpleNamespace(**dict(zip(names, row)))


@contextlib.contextmanager
def reading(engine: Engine) -> Iterator[sa.Connection]:
    """A connection for reads outside any transaction of the request's: each statement on its own
    (autocommit: no BEGIN and COMMIT round trips), or behind a transaction pooler one transaction,
    committed (the time bounds exist only in one there). Never ended by ROLLBACK, which makes
    psycopg drop every statement it prepared on the connection (DEALLOCATE ALL)."""
    if pooler.transaction_pooling():
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


def dispose(url: str) -> None:
    """Close and forget the process's engine for ``url`` (before its database is dropped)."""
    with _engines_lock:
        engine = _engines.pop(url, None)
        _sizes.pop(url, None)
    if engine is not None:
        engine.dispose()


def dispose_all() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _sizes.clear()


def async_engine_for(url: str, pool_size: int, max_overflow: int,
                     timeouts: Timeouts | None = None) -> AsyncEngine:
    """An asyncpg engine (the sidecar's) with the same bounds as ``engine_for``'s."""
    timeouts = timeouts or _timeouts
    engine = create_async_engine(
        sqlalchemy_url(url, driver="asyncpg"), pool_size=pool_size, max_overflow=max_overflow,
        pool_timeout=timeouts.statement,  # a ping at checkout: time_bounds.install
        connect_args={**time_bounds.asyncpg_connect_args(timeouts),
                      **pooler.asyncpg_connect_args(session_settings(timeouts.statement))})
    time_bounds.install(engine.sync_engine, timeouts, psycopg_driver=False)
    pooler.bound_each_transaction(engine.sync_engine, session_settings(timeouts.statement))
    return engine


def reset_pools() -> None:
    """Close the idle connections of every engine (after the database restarted: they are dead).
    Connections in use are closed when returned."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()


@functools.lru_cache(maxsize=None)
def _migrations(package: str) -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files(package).iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


STORAGE_MIGRATIONS = "storage_plugin.migrations"


def upgrade(engine: Engine, package: str = STORAGE_MIGRATIONS) -> list[str]:
    """Apply the pending migrations of one package (each component keeps its own numbering);
    returns the names applied. Safe to run concurrently."""
    applied = []
    with engine.begin() as conn, time_bounds.unbounded(conn):
        # a migration may rewrite large tables, or wait for another's
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        conn.execute(sa.text(
            "CREATE TABLE IF NOT EXISTS schema_migration ("
            " component text NOT NULL, version integer NOT NULL, name text NOT NULL,"
            " applied timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))"))
        done = set(conn.execute(sa.text("SELECT version FROM schema_migration WHERE component = :c"),
                                {"c": package}).scalars())
        for version, name, sql in _migrations(package):
            if version in done:
                continue
            conn.exec_driver_sql(sql)
            conn.execute(sa.text("INSERT INTO schema_migration (component, version, name)"
                                 " VALUES (:c, :v, :n)"), {"c": package, "v": version, "n": name})
            applied.append(name)
    return applied


APPLIED_MIGRATIONS = "SELECT component, version FROM schema_migration"


def pending_migrations(applied: set[tuple[str, int]], packages: tuple[str, ...]) -> list[str]:
    """The names of the migrations of ``packages`` missing from ``applied`` (component, version)."""
    return [name for package in packages for version, name, _ in _migrations(package)
            if (package, version) not in applied]
