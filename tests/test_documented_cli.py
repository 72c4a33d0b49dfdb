"""README, "Command line" and "Configuration": each documented behaviour of ``planerix``, tested
through the real command in a subprocess with a clean environment."""
from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import requests
from sqlalchemy import text

import okr_extension
from cliutil import (Serve, clean_env, copy_data_dir, planerix, port_in_use,
                     postgres_processes)
from conftest import REPO, free_port, fresh_database, new_user, start_caldav_server
from waiting import listening, wait_until
from davutil import event
from server import settings
from storage_plugin import accounts, database

TEMPLATE_USER, TEMPLATE_PASSWORD = "template-user", "template-password"


@pytest.fixture(scope="module")
def embedded_template(tmp_path_factory) -> Path:
    """A stopped embedded data directory, migrated, with one account; tests run on copies of it
    (initdb takes seconds, a copy milliseconds)."""
    data_dir = tmp_path_factory.mktemp("embedded-template")
    made = planerix("user", "add", TEMPLATE_USER, "--password", TEMPLATE_PASSWORD, "--data-dir", str(data_dir))
    assert made.returncode == 0, made.stderr
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
    return data_dir


def caldav_status(base: str, name: str, password: str) -> int:
    return requests.request("PROPFIND", f"{base}/{name}/", auth=(name, password),
                            headers={"Depth": "0"}, timeout=30).status_code


def put_event(base: str, name: str, password: str, calendar: str, uid: str, body: str | None = None):
    return requests.put(f"{base}/{name}/{calendar}/{uid}.ics", data=(body or event(uid)).encode(),
                        auth=(name, password), headers={"Content-Type": "text/calendar"}, timeout=30)


def mkcalendar(base: str, name: str, password: str, calendar: str) -> None:
    made = requests.request("MKCALENDAR", f"{base}/{name}/{calendar}/", auth=(name, password), timeout=30)
    assert made.status_code == 201, made.text


# -- serve --config -------------------------------------------------------------------------

def test_config_file_is_merged_over_the_defaults(tmp_path, engine, database_url):
    """The file lowers max_content_length; everything it leaves out (the Planerix accounts as
    auth) keeps the default."""
    config = tmp_path / "radicale.conf"
    config.write_text("[server]\nmax_content_length = 2000\n")
    user = new_user(engine, "unused")
    with Serve("--database-url", database_url, "--caldav-port", "0", "--api-port", "0",
               "--config", str(config)) as served:
        base = served.caldav_url
        assert caldav_status(base, user.name, user.password) == 207
        assert caldav_status(base, user.name, "wrong-password") == 401
        mkcalendar(base, user.name, user.password, "merged")
        small = event("small")
        assert len(small.encode()) < 2000
        assert put_event(base, user.name, user.password, "merged", "small", small).status_code == 201
        large = event("large", summary="x" * 3000)
        refused = put_event(base, user.name, user.password, "merged", "large", large)
        assert refused.status_code == 413
        assert requests.get(f"{base}/{user.name}/merged/large.ics", auth=(user.name, user.password),
                            timeout=30).status_code == 404


def test_config_file_can_switch_auth_to_htpasswd(tmp_path, engine, database_url):
    planerix_user = new_user(engine, "unused")
    (tmp_path / "users").write_text("hilda:hilda-secret-pw\n")
    config = tmp_path / "radicale.conf"
    config.write_text(f"[auth]\ntype = htpasswd\nhtpasswd_filename = {tmp_path / 'users'}\n"
                      "htpasswd_encryption = plain\ndelay = 0\n")
    with Serve("--database-url", database_url, "--caldav-port", "0", "--api-port", "0",
               "--config", str(config)) as served:
        assert caldav_status(served.caldav_url, "hilda", "hilda-secret-pw") == 207
        assert caldav_status(served.caldav_url, planerix_user.name, planerix_user.password) == 401


def test_radicale_configuration_refuses_an_unreadable_config_file(tmp_path):
    broken = tmp_path / "broken.conf"
    broken.write_text("max_content_length = 1\n")  # an option outside any section
    with pytest.raises(RuntimeError, match="Failed to load config file"):
        settings.radicale_configuration("postgresql://x@127.0.0.1/x", "127.0.0.1", 0, str(broken))


# -- default ports ------------------------------------------------------------------------

def test_serve_listens_on_the_default_ports(engine, database_url):
    ports = (settings.DEFAULT_CALDAV_PORT, settings.DEFAULT_API_PORT)
    busy = [port for port in ports if port_in_use(port)]
    if busy:
        pytest.fail(f"cannot test the default ports: {busy} already in use on 127.0.0.1 "
                    "(another Planerix or Radicale running?); free them and rerun")
    user = new_user(engine, "unused")
    with Serve("--database-url", database_url) as served:
        assert served.caldav_url == "http://127.0.0.1:5232"
        assert served.api_url == "http://127.0.0.1:5233/api"
        assert caldav_status(served.caldav_url, user.name, user.password) == 207
        health = requests.get("http://127.0.0.1:5233/healthz", auth=(user.name, user.password), timeout=30)
        assert health.status_code == 200 and health.json()["status"] == "ok"


# -- Ctrl-C -----------------------------------------------------------------------------------

@pytest.mark.parametrize("whole_group", [True, False], ids=["ctrl-c-to-the-terminal-group", "kill-int"])
def test_sigint_stops_everything_including_the_embedded_database(tmp_path, embedded_template, whole_group):
    data_dir = copy_data_dir(embedded_template, tmp_path / "data")
    pgdata = data_dir / "postgres"
    served = Serve("--data-dir", str(data_dir), "--caldav-port", "0", "--api-port", "0")
    try:
        assert caldav_status(served.caldav_url, TEMPLATE_USER, TEMPLATE_PASSWORD) == 207
        assert postgres_processes(pgdata), "the embedded PostgreSQL should run while serving"
    finally:
        status = served.stop(signal.SIGINT, whole_group=whole_group)
    assert status == 0, served.text()
    assert "Planerix stopped." in served.text()
    assert not (pgdata / "postmaster.pid").exists()
    assert postgres_processes(pgdata) == []


# -- data directory -------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["PLANERIX_DATA_DIR", "HOME", "XDG_DATA_HOME"])
def test_data_dir_comes_from_the_environment_or_the_per_user_default(tmp_path, embedded_template, where):
    """PLANERIX_DATA_DIR wins; without it, platformdirs' per-user data directory:
    $XDG_DATA_HOME/planerix, else ~/.local/share/planerix."""
    home, xdg, chosen = tmp_path / "home", tmp_path / "xdg", tmp_path / "chosen"
    expected = {"PLANERIX_DATA_DIR": chosen, "XDG_DATA_HOME": xdg / "planerix",
                "HOME": home / ".local" / "share" / "planerix"}[where]
    copy_data_dir(embedded_template, expected)
    env = clean_env(HOME=str(home), XDG_DATA_HOME=str(xdg) if where != "HOME" else None,
                    PLANERIX_DATA_DIR=str(chosen) if where == "PLANERIX_DATA_DIR" else None)
    listed = planerix("user", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == [TEMPLATE_USER]
    created = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.iterdir())
    assert created == [str(expected.relative_to(tmp_path)).split("/")[0]]  # no other data directory


# -- external database from the environment ---------------------------------------------------

def test_database_url_from_the_environment(tmp_path, database_url):
    """PLANERIX_DATABASE_URL, like --database-url: no embedded server, the schema (with btree_gist)
    in that database, user commands and serve on it."""
    with fresh_database(database_url) as url:
        data_dir = tmp_path / "data"
        env = clean_env(PLANERIX_DATABASE_URL=url, PLANERIX_DATA_DIR=str(data_dir),
                        HOME=str(tmp_path / "home"), XDG_DATA_HOME=None)
        added = planerix("user", "add", "ext-user", env=env, stdin="ext-user-password\n")
        assert added.returncode == 0, added.stderr
        with Serve("--caldav-port", "0", "--api-port", "0", env=env) as served:
            mkcalendar(served.caldav_url, "ext-user", "ext-user-password", "external")
            assert put_event(served.caldav_url, "ext-user", "ext-user-password", "external",
                             "ext-1").status_code == 201
        with psycopg.connect(url) as conn:
            assert int(conn.execute("SHOW server_version_num").fetchone()[0]) >= 150000
            assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'btree_gist'"
                                ).fetchone()[0] == 1
            assert conn.execute("SELECT name FROM account").fetchall() == [("ext-user",)]
            assert conn.execute("SELECT uid FROM item").fetchall() == [("ext-1",)]
        assert not (data_dir / "postgres").exists()


# -- user commands --------------------------------------------------------------------------

def test_user_add_and_passwd_read_the_password_from_standard_input(database_url, engine):
    name = f"stdin-{secrets.token_hex(4)}"
    first, second = "a pass phrase with spaces", "second-password"
    added = planerix("user", "add", name, "--database-url", database_url, stdin=first + "\r\n")
    assert added.returncode == 0, added.stderr
    assert accounts.password_matches(accounts.stored_hash(engine, name), first)
    changed = planerix("user", "passwd", name, "--database-url", database_url, stdin=second + "\n")
    assert changed.returncode == 0, changed.stderr
    stored = accounts.stored_hash(engine, name)
    assert accounts.password_matches(stored, second) and not accounts.password_matches(stored, first)


def test_user_commands_work_while_serve_runs_on_the_same_data_dir(tmp_path, embedded_template):
    data_dir = copy_data_dir(embedded_template, tmp_path / "data")
    with Serve("--data-dir", str(data_dir), "--caldav-port", "0", "--api-port", "0") as served:
        added = planerix("user", "add", "live-user", "--data-dir", str(data_dir), stdin="live-password\n")
        assert added.returncode == 0, added.stderr
        assert caldav_status(served.caldav_url, "live-user", "live-password") == 207
        # The command's exit left the server's database running.
        mkcalendar(served.caldav_url, "live-user", "live-password", "live")
        assert put_event(served.caldav_url, "live-user", "live-password", "live", "l1").status_code == 201
    assert served.process.returncode == 0, served.text()
    assert not (data_dir / "postgres" / "postmaster.pid").exists()


# -- db reindex -----------------------------------------------------------------------------

def test_db_reindex_lists_an_unparsable_item_exits_1_and_leaves_it(database_url):
    with fresh_database(database_url) as url:
        engine = database.engine_for(url)
        okr_extension.migrate(engine)
        accounts.add(engine, "rex", "rex-password")
        server = start_caldav_server(url)
        try:
            base = f"http://127.0.0.1:{server.port}"
            mkcalendar(base, "rex", "rex-password", "cal")
            for uid in ("broken", "stale", "fine"):
                assert put_event(base, "rex", "rex-password", "cal", uid).status_code == 201
        finally:
            server.stop()
        garbage = "BEGIN:VCALENDAR\r\nthis is no iCalendar\r\n"
        with engine.begin() as conn:
            conn.execute(text("UPDATE item SET text = :text WHERE href = 'broken.ics'"), {"text": garbage})
            conn.execute(text("UPDATE item SET summary = NULL WHERE href = 'stale.ics'"))
            before = dict(conn.execute(text("SELECT href, etag FROM item")).all())

        result = planerix("db", "reindex", "--database-url", url)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "unreadable, left as it is: /rex/cal/broken.ics" in result.stderr
        assert "stale.ics" not in result.stderr and "fine.ics" not in result.stderr
        assert "1 of 1 stale items reindexed" in result.stdout
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT text FROM item WHERE href = 'broken.ics'")).scalar_one()
            after = dict(conn.execute(text("SELECT href, etag FROM item")).all())
            summary = conn.execute(text("SELECT summary FROM item WHERE href = 'stale.ics'")).scalar_one()
        assert stored == garbage
        assert after == before
        assert summary == "Event"


# -- failed-login delay of planerix serve -----------------------------------------------------

def test_serve_delays_a_failed_login_by_half_to_one_and_a_half_seconds(engine, database_url):
    """Radicale's [auth] delay = 1 (the serve default) sleeps delay * (0.5 + random()) after a
    failed login; only under pytest in its own process does it sleep exactly the delay."""
    user = new_user(engine, "unused")
    env = clean_env(PYTEST_VERSION=None)
    with Serve("--database-url", database_url, "--caldav-port", "0", "--api-port", "0", env=env) as served:
        assert caldav_status(served.caldav_url, user.name, user.password) == 207
        started = time.monotonic()
        assert caldav_status(served.caldav_url, user.name, "wrong-password") == 401
        assert time.monotonic() - started >= 0.5


# -- plain Radicale on the shipped configuration ----------------------------------------------

def test_shipped_config_runs_plain_radicale(tmp_path, database_url):
    """``python -m radicale --config config/radicale.conf`` as shipped, with only the address and
    the database named in a second file (Radicale reads several files, later ones winning)."""
    port = free_port()
    with fresh_database(database_url) as url:
        local = tmp_path / "local.conf"
        local.write_text(f"[server]\nhosts = 127.0.0.1:{port}\n[storage]\ndatabase_url = {url}\n"
                         "[logging]\nlevel = warning\n")
        radicale = subprocess.Popen([sys.executable, "-m", "radicale", "--config",
                                     str(REPO / "config" / "radicale.conf"), str(local)], cwd=REPO,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    env=clean_env())
        base = f"http://127.0.0.1:{port}"
        try:
            def started() -> bool:
                assert radicale.poll() is None, radicale.communicate()[0]
                return listening(base)
            wait_until(started, timeout=60, what="plain Radicale to answer")
            # Radicale migrated the empty database on start: accounts can be added.
            accounts.add(database.engine_for(url), "pia", "pia-password")
            mkcalendar(base, "pia", "pia-password", "plain")
            assert put_event(base, "pia", "pia-password", "plain", "shipped").status_code == 201
            got = requests.get(f"{base}/pia/plain/shipped.ics", auth=("pia", "pia-password"), timeout=30)
            assert got.status_code == 200 and "UID:shipped" in got.text
        finally:
            radicale.terminate()
            radicale.communicate(timeout=20)
