"""The connection pool follows Radicale's [server] max_connections."""
from radicale import config as radicale_config

from storage_plugin import database


def test_pool_follows_max_connections(database_url):
    url = database_url + ("&" if "?" in database_url else "?") + "application_name=pool-test"
    engine = database.engine_for(url, 12)
    assert engine.pool.size() == 3 and engine.pool._max_overflow == 9
    assert database.engine_for(url) is engine  # any size: the registered one
    assert database.engine_for(url, 12) is engine
    smaller = database.engine_for(url, 4)
    assert smaller is not engine and database.engine_for(url) is smaller
    assert smaller.pool.size() == 2 and smaller.pool._max_overflow == 2  # a quarter, but at least two
    assert database.engine_for(url, 1).pool.size() == 1  # never more than the bound
    with smaller.connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    smaller.dispose()


def test_max_connections_from_the_configuration():
    configuration = radicale_config.load()
    assert database.max_connections_from(configuration) == 8  # Radicale's default
    configuration.update({"server": {"max_connections": "20"}}, "test")
    assert database.max_connections_from(configuration) == 20
