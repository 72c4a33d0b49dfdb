"""PgBouncer in transaction pooling mode (Debian's pgbouncer) between two ``planerix serve``
processes and PostgreSQL, with ``PLANERIX_DATABASE_POOLER=transaction``: the concurrency tests of
test_two_processes pass through it, and the sidecar (asyncpg) serves repeated statements."""
from __future__ import annotations

import pytest
import requests
from sqlalchemy.engine import make_url

from conftest import new_user
from proxies import PgBouncer
# Collected here again, with this module's ``two_servers``: the same races, through PgBouncer.
from test_two_processes import (  # noqa: F401
    test_concurrent_creates_of_one_href_through_two_processes,
    test_concurrent_if_match_updates_through_two_processes,
    two_serve_processes,
)

POOLED = {"PLANERIX_DATABASE_POOLER": "transaction"}


@pytest.fixture(scope="module")
def pgbouncer(database_server):
    bouncer = PgBouncer(database_server, pool_size=6)
    yield bouncer
    bouncer.stop()


@pytest.fixture(scope="module")
def two_servers(engine, database_url, pgbouncer):
    url = pgbouncer.url(make_url(database_url).database)
    yield from two_serve_processes("--database-url", url, "--workers", "1", env=POOLED)


def test_the_sidecar_repeats_statements_through_the_pooler(engine, two_servers):
    """asyncpg would reuse a named prepared statement on whatever server connection PgBouncer
    hands out next ("prepared statement ... does not exist"); psycopg too after 5 uses."""
    first, second = two_servers
    user = new_user(engine, first.caldav_url)
    with requests.Session() as session:
        session.auth = (user.name, user.password)
        for n in range(12):
            server = (first, second)[n % 2]
            created = session.post(f"{server.api_url}/api/organisations", json={"name": f"Org {n}"})
            assert created.status_code == 201, created.text
            listed = session.get(f"{server.api_url}/api/organisations")
            assert listed.status_code == 200 and len(listed.json()["items"]) == n + 1, listed.text
            assert requests.get(f"{server.api_url}/readyz").status_code == 200
    for n in range(12):
        assert user.request("PROPFIND", "", Depth="1").status_code == 207


def test_a_one_statement_read_keeps_its_time_bounds_under_transaction_pooling(database_url, monkeypatch):
    """Item GETs read in one statement without BEGIN; behind a transaction pooler the time
    bounds exist only inside a transaction, so there the read must still open one."""
    from sqlalchemy import text

    from server import settings
    from storage_plugin import database
    from storage_plugin.storage import Storage

    monkeypatch.setenv("PLANERIX_DATABASE_POOLER", "transaction")
    pooled_url = str(make_url(database_url).update_query_dict({"application_name": "pooled-bounds"}))
    try:
        storage = Storage(settings.radicale_configuration(pooled_url, "127.0.0.1", 0))
        with storage.acquire_lock("r", one_statement=True), storage.connection() as conn:
            bound = conn.execute(text("SELECT current_setting('statement_timeout')")).scalar()
        assert bound not in ("0", None), "the read ran without a statement timeout"
    finally:
        database.dispose(pooled_url)


def test_concurrent_sign_ins_through_the_pooler(engine, two_servers):
    """Each API request signs in with one read; outside a transaction, asyncpg's prepare and
    execute of it could reach two server connections of PgBouncer's ("prepared statement ...
    does not exist"), which only shows when the pool is busy."""
    from concurrent.futures import ThreadPoolExecutor

    users = [new_user(engine, two_servers[0].caldav_url) for _ in range(4)]

    def sign_in_and_list(n: int) -> int:
        user, server = users[n % len(users)], two_servers[n % 2]
        return requests.get(f"{server.api_url}/api/organisations", auth=(user.name, user.password),
                            timeout=60).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(sign_in_and_list, range(160)))
    assert statuses == [200] * len(statuses), sorted(set(statuses))
