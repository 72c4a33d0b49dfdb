"""Logins: an unknown name costs what a wrong password costs, and failed logins are throttled
per account and per address in the database, alike for CalDAV and the API."""
from __future__ import annotations

import datetime as dt
import secrets
import statistics
import time

import requests
import sqlalchemy as sa

from conftest import ApiServer, new_user
from storage_plugin import accounts, logins

START = dt.datetime(2031, 3, 1, 12, 0, tzinfo=dt.timezone.utc)


class Clock:
    """An injected clock that tests move forward instead of sleeping."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += dt.timedelta(**delta)


def some_address() -> str:
    return f"198.51.100.{secrets.randbelow(250) + 1}"


def attempt(engine, name: str, password: str, clock: Clock, address: str | None = None,
            policy: logins.LoginPolicy = logins.LoginPolicy()) -> logins.LoginOutcome:
    return logins.check(engine, accounts.VerifiedCredentials(), name, password, address, policy, clock)


def test_an_unknown_name_takes_as_long_as_a_wrong_password(engine, base_url):
    """Constant work (an argon2 verification either way), not a benchmark: a generous bound.
    The two kinds alternate, so that a busy machine slows both alike."""
    user = new_user(engine, base_url, "timed")
    generous = logins.LoginPolicy(account_failures=1000, address_failures=1000)
    clock, unknown_name = Clock(), "nobody-" + secrets.token_hex(4)
    attempt(engine, unknown_name, "x", clock, None, generous)  # the dummy hash is made once
    times: dict[str, list[float]] = {unknown_name: [], user.name: []}
    for _ in range(5):
        for name in times:
            started = time.perf_counter()
            assert attempt(engine, name, "not-the-password", clock, None, generous).user is None
            times[name].append(time.perf_counter() - started)
    unknown, wrong = statistics.median(times[unknown_name]), statistics.median(times[user.name])
    assert 0.5 < unknown / wrong < 2, (unknown, wrong)


# Small limits keep the tests short (each attempt costs an argon2 verification).
SMALL = logins.LoginPolicy(account_failures=3, address_failures=4)


def test_the_default_limits():
    assert logins.LoginPolicy() == logins.LoginPolicy(5, 20, dt.timedelta(minutes=15), limit_loopback=False)


def test_a_few_mistakes_do_not_lock_the_user_out(engine, base_url):
    user, clock = new_user(engine, base_url, "typo"), Clock()
    for _ in range(2):
        for _ in range(SMALL.account_failures - 1):
            assert attempt(engine, user.name, "mistyped", clock, policy=SMALL) == logins.LoginOutcome(None)
        # ... and the count starts again.
        assert attempt(engine, user.name, user.password, clock, policy=SMALL).user == user.name


def test_many_failures_lock_the_account_until_the_window_passes(engine, base_url):
    user, clock = new_user(engine, base_url, "guessed"), Clock()
    for _ in range(SMALL.account_failures):
        assert attempt(engine, user.name, "guess", clock, policy=SMALL).retry_after is None
    clock.advance(minutes=5)
    refused = attempt(engine, user.name, user.password, clock, some_address(), SMALL)  # from anywhere
    assert refused.user is None and refused.retry_after == 10 * 60
    clock.advance(minutes=10)
    assert attempt(engine, user.name, user.password, clock, policy=SMALL).user == user.name
    # Unknown names are counted alike, so the refusal tells nothing about which accounts exist.
    ghost = "ghost-" + secrets.token_hex(4)
    for _ in range(SMALL.account_failures):
        attempt(engine, ghost, "guess", clock, policy=SMALL)
    assert attempt(engine, ghost, "guess", clock, policy=SMALL).retry_after == 15 * 60


def test_many_failures_from_one_address_lock_that_address(engine, base_url):
    user, clock, address = new_user(engine, base_url, "sprayed"), Clock(), some_address()
    for _ in range(SMALL.address_failures):  # one guess for each of many names: no account reaches its limit
        attempt(engine, "spray-" + secrets.token_hex(4), "guess", clock, address, SMALL)
    assert attempt(engine, user.name, user.password, clock, address, SMALL).retry_after == 15 * 60
    assert attempt(engine, user.name, user.password, clock, "192.0.2.1", SMALL).user == user.name
    # The same host behind a local reverse proxy is no address of its own.
    for _ in range(SMALL.address_failures):
        attempt(engine, "spray-" + secrets.token_hex(4), "guess", clock, "::1", SMALL)
    assert attempt(engine, user.name, user.password, clock, "::1", SMALL).user == user.name


def rewind_failures(engine, name: str, minutes: int) -> None:
    """Let the window pass for a server that reads the real clock."""
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE login_failure SET window_start = window_start - make_interval(mins => :m) "
                             "WHERE kind = 'account' AND key = :name"), {"m": minutes, "name": name})


def test_caldav_and_two_api_processes_share_the_count(engine, base_url, api_server, database_url):
    user = new_user(engine, base_url, "shared")
    second_api = ApiServer(database_url)
    try:
        wrong = (user.name, "wrong-password")
        assert requests.get(api_server.url + "/api/tokens", auth=wrong).status_code == 401
        assert requests.get(second_api.url + "/api/tokens", auth=wrong).status_code == 401
        for _ in range(3):
            assert requests.request("PROPFIND", user.url(), auth=wrong, headers={"Depth": "0"}).status_code == 401
        # Five failures in all: the right password is refused everywhere, for a while.
        for server in (api_server, second_api):
            refused = requests.get(server.url + "/api/tokens", auth=(user.name, user.password))
            assert refused.status_code == 429, refused.text
            assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
            assert "too many failed logins" in refused.json()["detail"]
        dav = user.request("PROPFIND", "", Depth="0")
        assert dav.status_code == 429 and 0 < int(dav.headers["Retry-After"]) <= 15 * 60
        assert "WWW-Authenticate" not in dav.headers
        rewind_failures(engine, user.name, 16)
        assert user.request("PROPFIND", "", Depth="0").status_code == 207
        assert requests.get(second_api.url + "/api/tokens", auth=(user.name, user.password)).status_code == 200
    finally:
        second_api.stop()


def test_the_api_reads_the_injected_clock(engine, base_url, database_url):
    from feedutil import TEST_SETTINGS, LoopThread, Sidecar
    from okr_extension import create_app

    user, clock, loop = new_user(engine, base_url, "clocked"), Clock(), LoopThread()
    sidecar = Sidecar(loop, create_app(database_url, TEST_SETTINGS, logins.LoginPolicy(account_failures=2),
                                       clock))
    try:
        url = sidecar.url + "/api/tokens"
        for _ in range(2):
            assert requests.get(url, auth=(user.name, "wrong-password")).status_code == 401
        clock.advance(minutes=14, seconds=30)
        refused = requests.get(url, auth=(user.name, user.password))
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
        clock.advance(seconds=30)
        assert requests.get(url, auth=(user.name, user.password)).status_code == 200
    finally:
        sidecar.stop()
        loop.stop()


def test_a_huge_login_name_is_counted_too(engine):
    name, clock = "x" * 5000 + secrets.token_hex(4), Clock()
    for _ in range(SMALL.account_failures):
        assert attempt(engine, name, "guess", clock, policy=SMALL).retry_after is None
    assert attempt(engine, name, "guess", clock, policy=SMALL).retry_after == 15 * 60
