"""The schema's distribution rules (storage_plugin/distribution.py) against the live schema:
every table is placed (distributed by a key, or a reference table); a distributed table's
primary key and unique constraints include its key; the departures of today are listed with
their reasons, and the list can only shrink."""
from __future__ import annotations

import sqlalchemy as sa

from conftest import REPO
from storage_plugin import distribution
from storage_plugin.distribution import Distributed

_TABLES = sa.text("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                  " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')")
_COLUMNS = sa.text("SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
                   " JOIN pg_namespace n ON n.oid = c.relnamespace"
                   " WHERE n.nspname = current_schema() AND a.attnum > 0 AND NOT a.attisdropped")
# Unique indexes, with or without a constraint (primary keys and UNIQUE constraints included).
_UNIQUE = sa.text(
    "SELECT t.relname, i.relname, ARRAY(SELECT a.attname FROM unnest(x.indkey) k"
    "   JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k)"
    " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
    " JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = current_schema() AND x.indisunique")


def _departures(engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        columns: dict[str, set[str]] = {}
        for table, column in conn.execute(_COLUMNS):
            columns.setdefault(table, set()).add(column)
        unique = conn.execute(_UNIQUE).all()
    found = set()
    for table, placement in distribution.LAYOUT.items():
        if not isinstance(placement, Distributed) or table not in columns:
            continue
        if placement.key not in columns[table]:
            found.add((table, "column"))
        for index_table, index, indexed in unique:
            if index_table == table and placement.key not in indexed:
                found.add((table, index))
    return found


def test_every_table_is_placed(engine):
    with engine.connect() as conn:
        tables = set(conn.execute(_TABLES).scalars())
    unplaced = tables - set(distribution.LAYOUT)
    assert not unplaced, (f"tables without a place in storage_plugin/distribution.py LAYOUT: {sorted(unplaced)} "
                          "(distributed by owner or organisation_id, or a reference table)")
    assert not set(distribution.LAYOUT) - tables, "LAYOUT names tables that do not exist"


def test_unique_constraints_include_the_distribution_key(engine):
    departures = _departures(engine)
    new = departures - set(distribution.EXCEPTIONS)
    assert not new, ("primary keys or unique constraints without the table's distribution key "
                     f"(include it, or list the reason in distribution.EXCEPTIONS): {sorted(new)}")
    fixed = set(distribution.EXCEPTIONS) - departures
    assert not fixed, f"no longer departures: remove them from distribution.EXCEPTIONS: {sorted(fixed)}"


def test_colocated_tables_share_the_key_type(engine):
    with engine.connect() as conn:
        types = {(t, c): ty for t, c, ty in conn.execute(sa.text(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema()"))}
    for table, placement in distribution.LAYOUT.items():
        if not isinstance(placement, Distributed) or (table, placement.key) not in types:
            continue
        root = distribution.LAYOUT[placement.colocate_with]
        root_type = types.get((placement.colocate_with, root.key))
        if root_type is not None:
            assert types[(table, placement.key)] == root_type, (table, placement.colocate_with)


def test_the_documented_ddl_is_the_layout():
    assert distribution.ddl() in (REPO / "docs" / "scale-out.md").read_text()
