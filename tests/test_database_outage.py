"""The database may come and go: 503 with Retry-After while it cannot serve (never 500 and
never a hang), the embedded one restarted when it dies, liveness and readiness without
credentials on both ports."""
from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import psycopg
import pytest
import requests
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import make_url

import okr_extension
from conftest import DavUser, ServeProcess, free_port, start_caldav_server
from davutil import event
from waiting import wait_until
from okr_extension import schema
from storage_plugin import availability, database, readiness, time_bounds
from storage_plugin.time_bounds import Timeouts

# Small bounds, so that an outage is noticed and answered within seconds. psycopg waits
# at least 2 s for a connection; a statement is given 1 s, an answer 2 + 1 s.
BOUNDS = ("--db-connect-timeout", "2", "--db-statement-timeout", "1", "--db-check-interval", "0.2")
DEADLINE = 40.0      # for a restart, a resumption
ANSWER_BOUND = 15.0  # a request to a frozen database answers within this
REQUEST_TIMEOUT = 30.0


class Served:
    """``planerix serve`` on an embedded database in ``data_dir``, its output read as it comes
    (the outage logs a line per failed request: an unread pipe would fill and block the server)."""

    def __init__(self, data_dir: Path, password: str, *options: str) -> None:
        self.data_dir = data_dir
        self.serve = ServeProcess("--data-dir", str(data_dir), *options)
        self.lines = list(self.serve.output)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.dav = DavUser(self.serve.caldav_url, "demo", password)
        self.api = requests.Session()
        self.api.auth = ("demo", password)

    def _read(self) -> None:
        for line in self.serve.process.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, deadline: float = DEADLINE) -> str:
        """The first output line containing ``text``."""
        def found():
            return next((line for line in list(self.lines) if text in line), None)
        try:
            return wait_until(found, timeout=deadline, what=repr(text))
        except AssertionError:
            raise AssertionError(f"no {text!r} in the output:\n{self.output()}") from None

    def postmaster(self) -> psutil.Process:
        pid = int((self.data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
        return psutil.Process(pid)

    def get(self, port_url: str, path: str, **kwargs) -> requests.Response:
        return requests.get(port_url + path, timeout=REQUEST_TIMEOUT, **kwargs)

    def stop(self) -> int:
        process = self.serve.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self._reader.join(10)
        return process.returncode


@pytest.fixture(scope="module")
def pristine_data_dir(tmp_path_factory) -> tuple[Path, str]:
    """A data directory after a first start and a clean stop, and the demo user's password:
    each test gets a copy (initdb takes seconds)."""
    data_dir = tmp_path_factory.mktemp("pristine")
    first = Served(data_dir, "")
    try:
        line = first.wait_for("with password: ")
    finally:
        assert first.stop() == 0
    return data_dir, line.split("with password: ", 1)[1].split()[0]


def copy_owned(source: Path, target: Path) -> None:
    """A copy with the same owners (as root, the embedded server runs as another user)."""
    shutil.copytree(source, target, symlinks=True)
    for path in [source, *source.rglob("*")]:
        stat = path.lstat()
        os.chown(target / path.relative_to(source), stat.st_uid, stat.st_gid, follow_symlinks=False)


@pytest.fixture
def served(tmp_path, pristine_data_dir):
    created = []

    def start(*options: str) -> Served:
        data_dir = tmp_path / f"data{len(created)}"
        copy_owned(pristine_data_dir[0], data_dir)
        created.append(Served(data_dir, pristine_data_dir[1], *BOUNDS, *options))
        return created[-1]
    yield start
    for server in created:
        server.stop()


def assert_unavailable(answer: requests.Response) -> None:
    assert answer.status_code == 503, (answer.status_code, answer.text)
    assert int(answer.headers["Retry-After"]) > 0


def new_organisation(s: Served) -> requests.Response:
    return s.api.post(s.serve.api_url + "/api/organisations", json={"name": f"org-{secrets.token_hex(3)}"},
                      timeout=REQUEST_TIMEOUT)


# -- the embedded database killed -------------------------------------------------------------

def test_killed_database_answers_503_and_is_restarted(served):
    s = served("--db-restart-delay", "1")
    calendar = s.dav.mkcalendar("work")
    assert s.dav.put(calendar + "before.ics", event("before")).status_code == 201
    assert new_organisation(s).status_code == 201
    killed = s.postmaster()
    killed.send_signal(signal.SIGKILL)

    seen: dict[str, set[int]] = {"caldav": set(), "api": set(), "readyz": set(), "livez": set()}

    def back_after_an_outage() -> bool:
        caldav = s.dav.request("GET", calendar + "before.ics")
        api = s.api.get(s.serve.api_url + "/api/version", timeout=REQUEST_TIMEOUT)
        health = s.api.get(s.serve.api_url + "/healthz", timeout=REQUEST_TIMEOUT)
        ready = [s.get(url, "/readyz") for url in (s.serve.caldav_url, s.serve.api_url)]
        live = [s.get(url, "/livez") for url in (s.serve.caldav_url, s.serve.api_url)]
        for name, answers in (("caldav", [caldav]), ("api", [api, health]), ("readyz", ready),
                              ("livez", live)):
            for answer in answers:
                if answer.status_code == 503:
                    assert_unavailable(answer)
                seen[name].add(answer.status_code)
        if api.status_code == 503:
            assert api.headers["Content-Type"].startswith("application/problem+json")
            assert "database is unavailable" in api.json()["detail"]
        return 503 in seen["caldav"] and caldav.status_code == 200 and api.status_code == 200

    wait_until(back_after_an_outage, timeout=DEADLINE, interval=0.05, what="an outage, then service again")
    # Until it was back, the database's absence was a 503: never a 500, never a hang.
    assert seen["caldav"] == {200, 503} and seen["api"] <= {200, 503} and 503 in seen["api"]
    assert seen["readyz"] == {200, 503}
    assert seen["livez"] == {200}

    assert s.dav.put(calendar + "after.ics", event("after")).status_code == 201
    assert s.dav.request("GET", calendar + "before.ics").status_code == 200
    wait_until(lambda: new_organisation(s).status_code == 201, timeout=DEADLINE, what="an API write")
    assert s.postmaster().pid != killed.pid
    s.wait_for(f"(postmaster pid {killed.pid}) is no longer running: it was killed or crashed")
    s.wait_for("the embedded PostgreSQL is running again")
    assert s.stop() == 0
    assert "Planerix stopped." in s.output() and "Traceback" not in s.output()


def test_database_that_cannot_restart_stops_serve_with_status_3(served):
    s = served("--db-restart-delay", "0.2", "--db-restart-attempts", "2")
    # A setting PostgreSQL refuses: it cannot start again.
    (s.data_dir / "postgres" / "planerix.conf").write_text("shared_buffers = 'plenty'\n")
    s.postmaster().send_signal(signal.SIGKILL)
    s.serve.process.wait(timeout=DEADLINE)
    assert s.stop() == 3
    s.wait_for("restart 1 of 2 of the embedded PostgreSQL failed")
    s.wait_for("restart 2 of 2 of the embedded PostgreSQL failed")
    s.wait_for("the embedded PostgreSQL could not be restarted (2 attempts failed")


# -- the embedded database frozen -------------------------------------------------------------

def test_frozen_database_answers_503_within_the_bound(served):
    s = served()
    calendar = s.dav.mkcalendar("work")
    # Both pools hold a connection to the database about to freeze.
    assert s.dav.put(calendar + "before.ics", event("before")).status_code == 201
    assert new_organisation(s).status_code == 201
    postmaster = s.postmaster()
    frozen = [postmaster, *postmaster.children(recursive=True)]

    def timed(call):
        started = time.monotonic()
        answer = call()
        return answer, time.monotonic() - started

    calls = {
        "caldav": lambda: s.dav.request("GET", calendar + "before.ics"),
        "api": lambda: new_organisation(s),
        "caldav readyz": lambda: s.get(s.serve.caldav_url, "/readyz"),
        "api readyz": lambda: s.get(s.serve.api_url, "/readyz"),
        "caldav livez": lambda: s.get(s.serve.caldav_url, "/livez"),
    }
    try:
        for process in frozen:
            process.suspend()
        with ThreadPoolExecutor(len(calls)) as pool:
            answers = {name: pool.submit(timed, call) for name, call in calls.items()}
            answers = {name: future.result(timeout=REQUEST_TIMEOUT + 5) for name, future in answers.items()}
    finally:
        for process in frozen:
            try:
                process.resume()
            except psutil.NoSuchProcess:
                pass
    for name, (answer, seconds) in answers.items():
        assert seconds < ANSWER_BOUND, (name, seconds)
        if name == "caldav livez":
            assert answer.status_code == 200
        else:
            assert_unavailable(answer)

    wait_until(lambda: s.dav.request("GET", calendar + "before.ics").status_code == 200,
               timeout=DEADLINE, what="CalDAV after the thaw")
    assert s.dav.put(calendar + "after.ics", event("after")).status_code == 201
    wait_until(lambda: new_organisation(s).status_code == 201, timeout=DEADLINE, what="the API after the thaw")
    assert s.postmaster().pid == postmaster.pid  # frozen is not dead: no restart
    assert s.stop() == 0
    assert "no longer running" not in s.output() and "Traceback" not in s.output()


# -- liveness and readiness ---------------------------------------------------------------------

def test_health_endpoints_need_no_credentials_and_reveal_nothing(base_url, api_server):
    for url in (base_url, api_server.url):
        for path in ("/livez", "/readyz"):
            answer = requests.get(url + path, timeout=REQUEST_TIMEOUT)
            assert answer.status_code == 200, (url, path, answer.text)
            assert answer.json() == {"status": "ok"}
            assert answer.headers["Cache-Control"] == "no-store"
            assert requests.head(url + path, timeout=REQUEST_TIMEOUT).status_code == 200
    # Nothing else became public: the detailed health check still takes credentials.
    assert requests.get(api_server.url + "/healthz", timeout=REQUEST_TIMEOUT).status_code == 401
    assert requests.post(api_server.url + "/readyz", timeout=REQUEST_TIMEOUT).status_code in (401, 405)
    assert requests.get(base_url + "/livez/", timeout=REQUEST_TIMEOUT).status_code == 401


def test_health_endpoints_are_in_the_api_document(api_user_factory, api_server):
    document = api_user_factory().ok("GET", "/api/openapi.json")
    for path in ("/livez", "/readyz"):
        operation = document["paths"][path]["get"]
        assert operation["security"] == []
        assert "200" in operation["responses"]
    assert "503" in document["paths"]["/readyz"]["get"]["responses"]
    assert "security" not in document["paths"]["/healthz"]["get"]


def test_healthz_with_credentials_gives_the_reason(api_user_factory):
    user = api_user_factory()
    assert user.ok("GET", "/healthz") == {"status": "ok", "database": "reachable"}


@pytest.fixture
def empty_database(database_url):
    admin = make_url(database_url)
    name = f"planerix_outage_{secrets.token_hex(5)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = admin.set(database=name).render_as_string(hide_password=False)
    yield url
    database.engine_for(url).dispose()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_readiness_fails_while_migrations_are_pending(empty_database):
    check = readiness.Readiness(empty_database, schema.PACKAGES)
    assert check.problem() == "migrations pending: the schema is missing"
    server = start_caldav_server(empty_database)  # migrates the storage's schema, not the sidecar's
    try:
        problem = check.problem()
        assert problem.startswith("migrations pending: ") and "0001_goals.sql" in problem
        not_ready = requests.get(f"http://127.0.0.1:{server.port}/readyz", timeout=REQUEST_TIMEOUT)
        assert_unavailable(not_ready)
        assert not_ready.json() == {"status": "unavailable"}
        assert requests.get(f"http://127.0.0.1:{server.port}/livez", timeout=REQUEST_TIMEOUT).status_code == 200

        okr_extension.migrate(database.engine_for(empty_database))
        assert check.problem() is None
        assert requests.get(f"http://127.0.0.1:{server.port}/readyz", timeout=REQUEST_TIMEOUT).status_code == 200
    finally:
        server.stop()


def test_unreachable_database_is_told_apart_from_bad_requests(engine):
    with pytest.raises(sa.exc.ProgrammingError) as undefined:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT * FROM no_such_table"))
    assert not availability.is_database_unavailable(undefined.value)

    with pytest.raises(sa.exc.OperationalError) as timed_out:
        with engine.connect() as conn:
            conn.execute(sa.text("SET statement_timeout = 50"))
            conn.execute(sa.text("SELECT pg_sleep(5)"))
    assert availability.is_database_unavailable(timed_out.value)

    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(nobody, connect_timeout=2)
    assert availability.is_database_unavailable(refused.value)
    assert "refused" in availability.describe(refused.value).lower()


# A statement the server lets run (its statement_timeout switched off) stands for a server that
# does not answer: the client gives up after statement + connect timeout.
SILENT = Timeouts(connect=2, statement=0.5)
SILENT_SQL = "SET statement_timeout = 0; SELECT pg_sleep(6)"


def test_a_silent_database_is_given_up_on_by_psycopg(database_url):
    with time_bounds.connect(database_url, SILENT) as conn:
        started = time.monotonic()
        with pytest.raises(psycopg.OperationalError) as silent:
            conn.execute(SILENT_SQL)
        assert time.monotonic() - started < SILENT.answer + 2
        assert conn.closed  # mid-protocol: never used again
    assert availability.is_database_unavailable(silent.value)
    assert "did not answer within 2.5 s" in availability.describe(silent.value)


def test_a_silent_database_is_given_up_on_by_asyncpg(database_url):
    engine = database.async_engine_for(database_url, pool_size=1, max_overflow=0, timeouts=SILENT)

    async def silent_then_served():
        try:
            started = time.monotonic()
            with pytest.raises(availability.DatabaseUnreachable) as silent:
                async with engine.connect() as conn:
                    await conn.exec_driver_sql("SET statement_timeout = 0")
                    await conn.exec_driver_sql("SELECT pg_sleep(6)")
            assert time.monotonic() - started < SILENT.answer + 2
            # The pool's one connection was replaced, not handed out mid-protocol.
            async with engine.connect() as conn:
                assert (await conn.exec_driver_sql("SELECT 1")).scalar() == 1
            return silent.value
        finally:
            await engine.dispose()

    assert availability.is_database_unavailable(asyncio.run(silent_then_served()))
