"""One SQLAlchemy engine per database URL and process, and the migration runner.

Radicale builds the storage plugin twice per process (app and sharing), and the
sidecar needs the same database: they all share the engine registered here.
"""
from __future__ import annotations

import os
import threading
from importlib import resources

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

DATABASE_URL_ENV = "PLANERIX_DATABASE_URL"

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()

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


def engine_for(url: str) -> Engine:
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = sa.create_engine(
                sqlalchemy_url(url), pool_size=16, max_overflow=16,
                # No ping per checkout (a round trip per request): a dropped
                # connection fails one statement and SQLAlchemy then renews the pool.
                pool_recycle=3600)
            _engines[url] = engine
        return engine


def dispose_all() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


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
    with engine.begin() as conn:
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
