"""bench.write_statement runs against today's schema (it keeps the harness from rotting)."""
from __future__ import annotations

import sqlalchemy as sa

from bench import write_statement
from conftest import fresh_database
from storage_plugin import database


def test_the_write_statement_bench_measures_and_stores(database_server):
    with fresh_database(database_server) as url:
        engine = database.engine_for(url)
        database.upgrade(engine)
        results = write_statement.measure(engine)
        assert set(results) == {"single new, ms/item", "single replace, ms/item",
                                "batch-300 new, ms/item", "batch-300 replace, ms/item"}
        assert all(value > 0 for value in results.values())
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*), count(DISTINCT owner) FROM item")).one() == (3400, 1)
            assert conn.execute(sa.text("SELECT count(*) FROM item_occurrence")).scalar() == 3400 * 3
        database.dispose(url)
