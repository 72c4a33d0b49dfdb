"""The write path's one statement (``storage_plugin.queries.WRITE_ITEMS``) alone, without HTTP
or iCalendar parsing: milliseconds per item of single-item writes (a PUT) and of batches of 300
(an import), new items and replacements, each with three occurrences, on a fresh database.

    python -m bench.write_statement --database-url postgresql://postgres@127.0.0.1:5432/postgres

Prints one JSON line. To compare two versions of the schema and statement, run it alternately
from two checkouts (``PYTHONPATH=<checkout>``) and compare the ratios of neighbouring runs.
"""
from __future__ import annotations

import argparse
import json
import time
import uuid

import psycopg
import sqlalchemy as sa
from psycopg import sql

from storage_plugin import database, queries

_TEXT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260101T100000Z\r\n"
         "SUMMARY:s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n") * 3
_START, _OCCURRENCES = 1767261600, 3


def _columns(hrefs: list[str], first: int) -> dict:
    k = len(hrefs)
    starts = [_START + i * 3600 + j * 86400 for i in range(k) for j in range(_OCCURRENCES)]
    return {
        "href": hrefs, "uid": [h[:-4] for h in hrefs], "component": ["VEVENT"] * k,
        "etag": [f'"e{first + i}"' for i in range(k)], "text_etag": [None] * k, "text": [_TEXT] * k,
        "series_start": [_START + i * 3600 for i in range(k)], "series_end": [_START + i * 3600 + 1800 for i in range(k)],
        "expanded_until": [None] * k, "summary": ["s"] * k, "status": [None] * k, "percent_complete": [None] * k,
        "due": [None] * k, "schedule_tag": [None] * k,
        "occurrence_of": [i + 1 for i in range(k) for _ in range(_OCCURRENCES)], "starts": starts,
        "ends": [s + 1800 for s in starts], "surrounds": [False] * len(starts), "fbtypes": ["B"] * len(starts),
        "link_of": [], "link_kinds": [], "link_targets": [], "link_weights": [], "link_completion": []}


def measure(engine: sa.Engine) -> dict[str, float]:
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO account (name, password_hash) VALUES ('wb', 'x')"))
        cid = conn.execute(queries.INSERT_COLLECTION, {"path": "wb/cal", "owner": "wb", "parent_path": "wb",
                                                       "tag": "VCALENDAR", "props": "{}"}).one().id
    # Both the owner of today's statement and the link owner of the statement before migration 0023.
    key = {"cid": cid, "owner": "wb", "link_owner": "wb"}
    results = {}

    def run(label: str, batches: list[list[str]]) -> None:
        start, items = time.perf_counter(), 0
        for hrefs in batches:
            with engine.begin() as conn:
                conn.execute(queries.WRITE_ITEMS, {**key, "count": len(hrefs), **_columns(hrefs, items)}).all()
            items += len(hrefs)
        results[label] = round((time.perf_counter() - start) * 1000 / items, 3)

    run("single new, ms/item", [[f"s{i}.ics"] for i in range(400)])
    run("single replace, ms/item", [[f"s{i}.ics"] for i in range(400)])
    run("batch-300 new, ms/item", [[f"b{j}-{i}.ics" for i in range(300)] for j in range(10)])
    run("batch-300 replace, ms/item", [[f"b{j}-{i}.ics" for i in range(300)] for j in range(10)])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server to make a fresh database on")
    args = parser.parse_args()
    name = f"planerix_write_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = args.database_url.rsplit("/", 1)[0] + "/" + name
    try:
        engine = database.engine_for(url)
        database.upgrade(engine)
        print(json.dumps(measure(engine)))
    finally:
        database.dispose(url)
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
