"""Claims the README makes about feed subscriptions, checked with real parts: the scheduler's
backoff cap and lease takeover on the real database (its clock moved by passing ``now``,
never by waiting), private addresses refused after a redirect by a real HTTP server, and
every ``PLANERIX_FEEDS_*`` setting read from the environment and acting."""
from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import subprocess
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
import requests
from sqlalchemy import text

from conftest import REPO, free_port, planerix_command
from davutil import calendar, vevent
from feedutil import TEST_SETTINGS, Feed, feed_server, loop_thread, sidecar  # noqa: F401 (fixtures)
from okr_extension.feeds import fetch, subscriptions
from okr_extension.feeds.options import ValidationError
from okr_extension.feeds.scheduler import TASK_NAME, Scheduler, backoff_seconds, run_in_background
from okr_extension.feeds.settings import FeedSettings

DAY = 86400
# A moment no other test's subscription is due at: the rounds below see only their own feed.
LONG_AGO = datetime(2000, 1, 3, tzinfo=timezone.utc)


def ics(*components: str) -> bytes:
    return calendar(*components).encode()


def subscribe(sidecar, user, url: str, name: str, **extra) -> int:
    response = sidecar.api(user).post(f"{sidecar.url}/api/subscriptions",
                                      json={"url": url, "calendar": name, **extra})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def unsubscribe(sidecar, user, subscription_id: int) -> None:
    response = sidecar.api(user).delete(f"{sidecar.url}/api/subscriptions/{subscription_id}")
    assert response.status_code == 204, response.text


def row_of(engine, subscription_id: int):
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT next_run, lease_owner, lease_until, last_attempt, last_success, last_error,"
            " last_error_at, consecutive_failures FROM feed_subscription WHERE id = :id"),
            {"id": subscription_id}).one()


def due_at(engine, subscription_id: int, moment: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE feed_subscription SET next_run = :at WHERE id = :id"),
                     {"at": moment, "id": subscription_id})


@pytest.fixture
def scheduler(sidecar, loop_thread):
    """A scheduler of its own (explicit settings), as another server process would run it."""
    made = []

    def make(**settings) -> Scheduler:
        one = Scheduler(sidecar.feeds.engine, sidecar.feeds.storage, dataclasses.replace(TEST_SETTINGS, **settings))
        made.append(one)
        return one
    yield make
    for one in made:
        loop_thread.run(one.close())


def outcome_of(outcomes, subscription_id: int):
    return next((o for o in outcomes if o.subscription_id == subscription_id), None)


# -- 8. backoff, at most a day -------------------------------------------------------
@pytest.mark.parametrize("refresh", [300, 3600, DAY, 7 * DAY])
def test_backoff_doubles_and_never_exceeds_a_day(refresh):
    delays = [backoff_seconds(refresh, failures, DAY) for failures in range(1, 200)]
    assert delays[0] == min(refresh, DAY)
    assert all(later == min(earlier * 2, DAY) for earlier, later in zip(delays, delays[1:]))
    assert max(delays) == DAY and delays[-1] == DAY


def test_repeated_failures_never_schedule_the_next_fetch_later_than_a_day(sidecar, user, scheduler, engine, loop_thread):
    closed = f"http://127.0.0.1:{free_port()}/gone.ics"
    hourly = subscribe(sidecar, user, closed, "backoff-hourly", refresh_interval=3600)
    weekly = subscribe(sidecar, user, closed, "backoff-weekly", refresh_interval=7 * DAY)
    failing = scheduler()
    try:
        for subscription_id, expected in ((hourly, [3600, 7200, 14400, 28800, 57600, DAY, DAY, DAY]),
                                          (weekly, [DAY, DAY])):
            now = LONG_AGO
            due_at(engine, subscription_id, now)
            for failures, delay in enumerate(expected, 1):
                outcome = outcome_of(loop_thread.run(failing.run_due(now)), subscription_id)
                assert outcome is not None and not outcome.ok and "cannot connect" in outcome.detail["error"]
                row = row_of(engine, subscription_id)
                assert row.consecutive_failures == failures and row.last_error_at == now
                assert row.next_run - now == timedelta(seconds=delay) <= timedelta(days=1)
                assert row.lease_owner is None
                # Not due a moment before the next run; due at it.
                assert outcome_of(loop_thread.run(failing.run_due(row.next_run - timedelta(seconds=1))),
                                  subscription_id) is None
                now = row.next_run
    finally:
        for subscription_id in (hourly, weekly):
            unsubscribe(sidecar, user, subscription_id)


# -- 10. a dead process's lease ----------------------------------------------------------
def test_a_feed_claimed_by_a_process_that_died_is_fetched_by_another_once_the_lease_expires(
        sidecar, user, scheduler, engine, feed_server, loop_thread):
    feed_server.feeds["/leased.ics"] = Feed(ics(vevent("leased", "Leased")))
    subscription_id = subscribe(sidecar, user, feed_server.url("/leased.ics"), "leased", refresh_interval=3600)
    try:
        due_at(engine, subscription_id, LONG_AGO)
        dead = scheduler(lease_seconds=600)
        claimed_at = LONG_AGO + timedelta(seconds=1)
        claimed = loop_thread.run(dead.claim(claimed_at))
        assert subscription_id in [row.id for row in claimed]
        # ... and the process dies before fetching: the lease stays in the database.
        row = row_of(engine, subscription_id)
        assert row.lease_owner == dead.lease_owner and row.lease_until == claimed_at + timedelta(seconds=600)

        survivor = scheduler(lease_seconds=600)
        during_lease = claimed_at + timedelta(seconds=599)
        assert outcome_of(loop_thread.run(survivor.run_due(during_lease)), subscription_id) is None
        assert feed_server.hits("/leased.ics") == []

        expired = claimed_at + timedelta(seconds=601)
        outcome = outcome_of(loop_thread.run(survivor.run_due(expired)), subscription_id)
        assert outcome is not None and outcome.ok and outcome.detail["added"] == 1
        assert len(feed_server.hits("/leased.ics")) == 1
        row = row_of(engine, subscription_id)
        assert row.lease_owner is None and row.lease_until is None
        assert row.last_success == expired and row.next_run == expired + timedelta(seconds=3600)
        body = requests.get(user.url("leased/leased.ics"), auth=(user.name, user.password)).text
        assert "SUMMARY:Leased" in body
        # Once fetched, it is not fetched again within the interval, by either.
        for one in (dead, survivor):
            assert outcome_of(loop_thread.run(one.run_due(expired + timedelta(seconds=3599))),
                              subscription_id) is None
        assert len(feed_server.hits("/leased.ics")) == 1
    finally:
        unsubscribe(sidecar, user, subscription_id)


# -- 9. private addresses, also after a redirect ---------------------------------------------
PUBLIC_NAME = "feeds.example.com"


class PublicNameResolver(fetch.PublicOnlyResolver):
    """The production resolver, except that one public-looking name reaches the local test
    server (as a public host would; DNS of the test machine cannot provide one)."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):
        if host == PUBLIC_NAME:
            return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET,
                     "proto": 0, "flags": socket.AI_NUMERICHOST}]
        return await super().resolve(host, port, family)


async def _fetch_via_public_name(port: int, path: str, settings: FeedSettings):
    connector = aiohttp.TCPConnector(resolver=PublicNameResolver(port), use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        return await fetch.fetch(session, f"http://{PUBLIC_NAME}:{port}{path}", settings)


@pytest.mark.parametrize("target", [
    "http://127.0.0.1:{port}/inside.ics", "http://localhost:{port}/inside.ics",
    "http://[::ffff:127.0.0.1]:{port}/inside.ics", "http://10.0.0.1:{port}/inside.ics",
])
def test_a_public_url_that_redirects_to_a_private_address_is_refused(feed_server, loop_thread, target):
    port = feed_server.server.port
    feed_server.feeds["/inside.ics"] = Feed(ics(vevent("secret", "Internal")))
    feed_server.feeds["/public.ics"] = Feed(redirect_to=target.format(port=port))
    strict = FeedSettings(scheduler_enabled=False, fetch_timeout_seconds=5)
    with pytest.raises(fetch.FetchError, match="loopback, private|loopback or private|non-public"):
        loop_thread.run(_fetch_via_public_name(port, "/public.ics", strict))
    assert len(feed_server.hits("/public.ics")) == 1  # the first hop was fetched ...
    assert feed_server.hits("/inside.ics") == []       # ... the redirect's target never


def test_a_redirect_to_a_public_host_is_followed(feed_server, loop_thread):
    port = feed_server.server.port
    feed_server.feeds["/inside.ics"] = Feed(ics(vevent("fine", "Public")))
    feed_server.feeds["/public.ics"] = Feed(redirect_to=f"http://{PUBLIC_NAME}:{port}/inside.ics")
    fetched = loop_thread.run(_fetch_via_public_name(port, "/public.ics", FeedSettings(scheduler_enabled=False)))
    assert b"SUMMARY:Public" in fetched.body
    # Allowed private networks follow the redirect to loopback too.
    feed_server.feeds["/public.ics"] = Feed(redirect_to=f"http://127.0.0.1:{port}/inside.ics")
    allowed = FeedSettings(scheduler_enabled=False, allow_private_networks=True)
    assert b"SUMMARY:Public" in loop_thread.run(_fetch_via_public_name(port, "/public.ics", allowed)).body


# -- 11. every PLANERIX_FEEDS_* setting ---------------------------------------------------
ENVIRONMENT = {
    "PLANERIX_FEEDS_SCHEDULER": ("0", "scheduler_enabled", False),
    "PLANERIX_FEEDS_TICK_SECONDS": ("0.5", "tick_seconds", 0.5),
    "PLANERIX_FEEDS_FETCH_TIMEOUT": ("7.5", "fetch_timeout_seconds", 7.5),
    "PLANERIX_FEEDS_MAX_BYTES": ("4096", "max_feed_bytes", 4096),
    "PLANERIX_FEEDS_MIN_REFRESH_SECONDS": ("60", "min_refresh_seconds", 60),
    "PLANERIX_FEEDS_ALLOW_PRIVATE_NETWORKS": ("1", "allow_private_networks", True),
    "PLANERIX_ALLOW_PRIVATE_NETWORKS": ("1", "allow_private_networks", True),
}


@pytest.fixture
def clean_environment(monkeypatch):
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_from_env_defaults_are_the_documented_ones(clean_environment):
    assert FeedSettings.from_env() == FeedSettings()
    defaults = FeedSettings()
    assert (defaults.scheduler_enabled, defaults.tick_seconds, defaults.fetch_timeout_seconds,
            defaults.max_feed_bytes, defaults.min_refresh_seconds, defaults.allow_private_networks,
            defaults.max_backoff_seconds) == (True, 30, 30, 10485760, 300, False, DAY)


@pytest.mark.parametrize("name", list(ENVIRONMENT))
def test_from_env_reads_each_variable(clean_environment, name):
    value, field, expected = ENVIRONMENT[name]
    clean_environment.setenv(name, value)
    settings = FeedSettings.from_env()
    assert getattr(settings, field) == expected != getattr(FeedSettings(), field)
    # Only that field changed.
    assert settings == FeedSettings(**{field: expected})


def test_serve_refuses_to_start_with_a_wrong_value(tmp_path, database_url):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PLANERIX_")}
    result = subprocess.run(
        planerix_command("serve", "--data-dir", str(tmp_path), "--database-url", database_url,
                         "--caldav-port", "0", "--api-port", "0"),
        cwd=REPO, timeout=60, env={**environment, "PLANERIX_FEEDS_MAX_BYTES": "lots"}, capture_output=True, text=True)
    assert result.returncode == 2
    assert "planerix: PLANERIX_FEEDS_MAX_BYTES must be a positive whole number, not 'lots'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_general_private_networks_switch_wins_over_the_feeds_alias(clean_environment):
    clean_environment.setenv("PLANERIX_FEEDS_ALLOW_PRIVATE_NETWORKS", "1")
    clean_environment.setenv("PLANERIX_ALLOW_PRIVATE_NETWORKS", "0")
    assert FeedSettings.from_env().allow_private_networks is False


@pytest.mark.parametrize("name, value", [
    ("PLANERIX_FEEDS_TICK_SECONDS", "soon"), ("PLANERIX_FEEDS_TICK_SECONDS", "0"),
    ("PLANERIX_FEEDS_FETCH_TIMEOUT", "-1"), ("PLANERIX_FEEDS_FETCH_TIMEOUT", "nan"),
    ("PLANERIX_FEEDS_MAX_BYTES", "10MB"), ("PLANERIX_FEEDS_MIN_REFRESH_SECONDS", "1.5"),
])
def test_a_wrong_value_names_its_variable(clean_environment, name, value):
    clean_environment.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name} must be a positive"):
        FeedSettings.from_env()


def test_scheduler_setting_starts_or_skips_the_background_loop(sidecar, loop_thread):
    async def loop_tasks(enabled: bool) -> int:
        one = Scheduler(sidecar.feeds.engine, sidecar.feeds.storage,
                        FeedSettings(scheduler_enabled=enabled, tick_seconds=3600))
        context = run_in_background(one, one.settings.scheduler_enabled)
        await context.__anext__()  # what the application does at start-up
        running = [t for t in asyncio.all_tasks() if t.get_name() == TASK_NAME and not t.done()]
        await context.aclose()  # ... and at shutdown (the loop is cancelled before its first round)
        assert not [t for t in asyncio.all_tasks() if t.get_name() == TASK_NAME and not t.done()]
        return len(running)
    assert loop_thread.run(loop_tasks(True)) == 1
    assert loop_thread.run(loop_tasks(False)) == 0


def test_tick_seconds_is_how_often_the_loop_looks_for_due_feeds(sidecar, loop_thread):
    class CountingScheduler(Scheduler):
        """The real loop; its rounds counted instead of run, so no other test's feed is touched."""
        rounds = 0

        async def run_due(self, now=None):
            self.rounds += 1
            return []

    async def rounds_until(one: CountingScheduler, count: int) -> int:
        deadline = asyncio.get_running_loop().time() + 10
        while one.rounds < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        return one.rounds

    async def observe():
        short = CountingScheduler(sidecar.feeds.engine, sidecar.feeds.storage, FeedSettings(tick_seconds=0.01))
        long = CountingScheduler(sidecar.feeds.engine, sidecar.feeds.storage, FeedSettings(tick_seconds=3600))
        tasks = [asyncio.create_task(one.run_forever()) for one in (short, long)]
        try:
            # A short tick repeats rounds unprompted; a long one waits after its first round
            # (a spinning loop would have done hundreds meanwhile) until it is woken.
            seen = await rounds_until(short, 5), await rounds_until(long, 1)
            await asyncio.sleep(0.2)
            waited = long.rounds
            long.wake.set()
            return seen, waited, await rounds_until(long, 2)
        finally:
            for task in tasks:
                task.cancel()
    (short_rounds, first), waited, woken = loop_thread.run(observe())
    assert short_rounds >= 5 and first == 1 and waited == 1 and woken == 2


def test_fetch_timeout_and_max_bytes_settings_act(feed_server, loop_thread):
    feed_server.feeds["/slow.ics"] = Feed(ics(vevent("slow")), delay=0.5)
    body = ics(vevent("sized", "x" * 3000))
    feed_server.feeds["/sized.ics"] = Feed(body)

    async def get(path: str, settings: FeedSettings):
        async with fetch.new_session(settings) as session:
            return await fetch.fetch(session, feed_server.url(path), settings)
    base = {"allow_private_networks": True, "scheduler_enabled": False}
    with pytest.raises(fetch.FetchError, match="no complete answer within 0.1 s"):
        loop_thread.run(get("/slow.ics", FeedSettings(fetch_timeout_seconds=0.1, **base)))
    assert loop_thread.run(get("/slow.ics", FeedSettings(fetch_timeout_seconds=5, **base))).body
    with pytest.raises(fetch.FetchError, match="at most 1024 bytes"):
        loop_thread.run(get("/sized.ics", FeedSettings(max_feed_bytes=1024, **base)))
    assert loop_thread.run(get("/sized.ics", FeedSettings(max_feed_bytes=len(body), **base))).body == body


def test_min_refresh_seconds_setting_acts(sidecar, user, loop_thread):
    async def create(settings: FeedSettings, name: str):
        return await subscriptions.create(sidecar.feeds.engine, await sidecar.feeds.storage(), settings,
                                          user.name, {"url": "https://example.org/x.ics", "calendar": name,
                                                      "refresh_interval": 60})
    with pytest.raises(ValidationError) as refused:
        loop_thread.run(create(FeedSettings(min_refresh_seconds=300), "refresh-refused"))
    assert refused.value.errors == [{"field": "refresh_interval",
                                     "reason": "must be a whole number of seconds from 300 to 604800"}]
    created = loop_thread.run(create(FeedSettings(min_refresh_seconds=60), "refresh-allowed"))
    assert created.refresh_seconds == 60
    unsubscribe(sidecar, user, created.id)


def test_allow_private_networks_setting_acts(feed_server, loop_thread, clean_environment):
    feed_server.feeds["/local.ics"] = Feed(ics(vevent("local")))
    url = feed_server.url("/local.ics")
    with pytest.raises(ValueError, match="non-public"):
        loop_thread.run(fetch.check_host(url, FeedSettings()))
    clean_environment.setenv("PLANERIX_ALLOW_PRIVATE_NETWORKS", "1")
    allowed = FeedSettings.from_env()
    loop_thread.run(fetch.check_host(url, allowed))

    async def get():
        async with fetch.new_session(allowed) as session:
            return await fetch.fetch(session, url, allowed)
    assert b"UID:local" in loop_thread.run(get()).body
