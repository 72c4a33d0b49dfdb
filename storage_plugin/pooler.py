"""Behind PgBouncer in transaction pooling mode (``PLANERIX_DATABASE_POOLER=transaction``).

Each transaction may run on another server connection, so nothing may outlive a transaction on
one: no server-side prepared statements kept by name (psycopg prepares none, asyncpg names each
one uniquely and caches none), no session settings sent at connection start (PgBouncer refuses
``options`` and unknown startup parameters; the statement, lock and idle-transaction bounds are
set per transaction with ``set_config(..., true)`` instead), no LISTEN (webhook deliveries poll
every tick instead of waking on NOTIFY). Locks are transaction-scoped advisory locks already.
"""
from __future__ import annotations

import os
import uuid

import sqlalchemy as sa

POOLER_ENV = "PLANERIX_DATABASE_POOLER"
MODES = ("none", "transaction")


class PoolerSettingError(ValueError):
    pass


def transaction_pooling() -> bool:
    mode = os.environ.get(POOLER_ENV, "").strip().lower() or "none"
    if mode not in MODES:
        raise PoolerSettingError(f"{POOLER_ENV}={mode!r}: use one of {', '.join(MODES)} "
                         "(session pooling needs nothing: leave it unset)")
    return mode == "transaction"


def psycopg_connect_args(session_settings: dict[str, str]) -> dict:
    if transaction_pooling():
        return {"prepare_threshold": None}
    return {"options": " ".join(f"-c {name}={value}" for name, value in session_settings.items())}


def asyncpg_connect_args(session_settings: dict[str, str]) -> dict:
    if transaction_pooling():
        return {"statement_cache_size": 0, "prepared_statement_cache_size": 0,
                "prepared_statement_name_func": lambda: f"__planerix_{uuid.uuid4().hex}__"}
    return {"server_settings": session_settings}


def bound_each_transaction(engine: sa.engine.Engine, session_settings: dict[str, str]) -> None:
    """Under transaction pooling: the session settings, set at the start of every transaction."""
    if not transaction_pooling():
        return
    statement = "SELECT " + ", ".join(f"set_config('{name}', '{int(value)}', true)"
                                      for name, value in session_settings.items())

    @sa.event.listens_for(engine, "begin")
    def set_bounds(connection) -> None:
        connection.exec_driver_sql(statement)
