"""Password logins with throttling, the one code path of CalDAV (storage_plugin.auth) and the API.

Failures are counted in the ``login_failure`` table per account name and per client address in
a fixed window, so every server process sees the same counts. Once an account name has
``account_failures`` failures in the window, or an address ``address_failures``, further
attempts are refused without checking the password until the window has passed: a guesser is
stopped after a handful of tries, a user who mistypes a few times is not. Unknown names count
like known ones (otherwise the refusal would tell which accounts exist). A successful login
clears the account's count.

The attempt is written once, as a generator of steps (statements and the password check), and
run by a synchronous driver (Radicale) and an asynchronous one (aiohttp): the same statements
and decisions in both.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ipaddress
import math
import re
from dataclasses import dataclass
from typing import Callable, Generator

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from storage_plugin import database, pooler, queries, request_state
from storage_plugin.accounts import VerifiedCredentials
from storage_plugin.clock import now as server_now

Clock = Callable[[], dt.datetime]  # storage_plugin.clock.now unless a test injects another


@dataclass(frozen=True)
class LoginPolicy:
    account_failures: int = 5
    address_failures: int = 20
    window: dt.timedelta = dt.timedelta(minutes=15)
    # Loopback clients are not limited as an address: a reverse proxy on the same host speaks
    # for every client, and one guesser would lock everybody out. Their accounts still count.
    limit_loopback: bool = False

    def limits_address(self, address: str | None) -> bool:
        if not address:  # a socket without peer address
            return False
        try:
            return self.limit_loopback or not ipaddress.ip_address(address).is_loopback
        except ValueError:
            return True


@dataclass(frozen=True)
class LoginOutcome:
    user: str | None  # the account, when the password matched
    retry_after: int | None = None  # seconds, when the attempt was refused unchecked (throttled)
    # With ``read_home``: the account's home collection as JSON (None: there is none), read
    # with the login so that the request need not look it up again (storage_plugin.auth).
    home: dict | None = None
    # With a ``lookup``: its rows as JSON (None: none found), read in the same statement.
    looked_up: list | None = None


# Longer keys (a name or address of any length can be sent) are stored as a digest.
_MAX_KEY = 200


def account_key(name: str) -> str:
    return name if len(name) <= _MAX_KEY else "sha256:" + hashlib.sha256(name.encode()).hexdigest()


_TYPES = {"now": sa.DateTime(timezone=True), "since": sa.DateTime(timezone=True),
          "paths": postgresql.ARRAY(sa.Text()), "max_size": sa.BigInteger()}


def _typed(statement: str) -> sa.TextClause:
    # asyncpg needs the parameter types up front (the rest are text).
    names = set(re.findall(r"(?<![:\w]):(\w+)", statement))
    return sa.text(statement).bindparams(*(sa.bindparam(name, type_=_TYPES.get(name, sa.Text()))
                                           for name in names))


# The stored hash and both counters in one round trip (this runs for every request).
_STATE_COLUMNS = """
    SELECT (SELECT password_hash FROM account WHERE name = :login) AS password_hash,
           (SELECT failures FROM login_failure WHERE kind = 'account' AND key = :account
                AND window_start > :since) AS account_failures,
           (SELECT window_start FROM login_failure WHERE kind = 'account' AND key = :account
                AND window_start > :since) AS account_since,
           (SELECT failures FROM login_failure WHERE kind = 'address' AND key = :address
                AND window_start > :since) AS address_failures,
           (SELECT window_start FROM login_failure WHERE kind = 'address' AND key = :address
                AND window_start > :since) AS address_since"""
_STATE = _typed(_STATE_COLUMNS)
_STATE_WITH_HOME = _typed(f"{_STATE_COLUMNS}, {queries.home_as_json(':login')} AS home")
# ... and the lookup of the request's path (``request_state.Lookup``), by whether it has a member.
_STATE_WITH_LOOKUP = {with_member: _typed(f"{_STATE_COLUMNS}, {queries.home_as_json(':login')} AS home, "
                                          f"{queries.lookup_as_json(with_member)} AS looked_up")
                      for with_member in (False, True)}

# A failure opens a new window when the old one has passed.
_COUNT_FAILURE = _typed("""
    INSERT INTO login_failure AS f (kind, key, failures, window_start) VALUES (:kind, :key, 1, :now)
    ON CONFLICT (kind, key) DO UPDATE SET
        failures = CASE WHEN f.window_start > :since THEN f.failures + 1 ELSE 1 END,
        window_start = CASE WHEN f.window_start > :since THEN f.window_start ELSE :now END""")
_FORGET_PASSED = _typed("DELETE FROM login_failure WHERE window_start <= :since")
CLEAR_ACCOUNT = _typed("DELETE FROM login_failure WHERE kind = 'account' AND key = :account")


@dataclass(frozen=True)
class _Statements:
    """Statements run in one transaction; the step's value is the first row of the first one.
    A single read runs on its own (autocommit): one round trip instead of three. Not behind a
    transaction pooler: there the time bounds live in a transaction, and asyncpg's prepare and
    execute of a statement outside one may reach two different server connections."""
    statements: tuple[tuple[sa.TextClause, dict], ...]
    single_read: bool = False


@dataclass(frozen=True)
class _PasswordCheck:
    """The slow part (argon2), run off the event loop by the asynchronous driver."""
    credentials: VerifiedCredentials
    login: str
    password: str
    password_hash: str | None

    def run(self) -> bool:
        return self.credentials.check(self.login, self.password, self.password_hash)


Steps = Generator[object, object, LoginOutcome]


def attempt(credentials: VerifiedCredentials, login: str, password: str, address: str | None,
            policy: LoginPolicy, now: dt.datetime, read_home: bool = False,
            lookup: request_state.Lookup | None = None) -> Steps:
    """With ``read_home``, the outcome has the account's home; with a ``lookup`` too, its rows."""
    address = address if policy.limits_address(address) else ""
    keys = {"account": account_key(login), "address": account_key(address),
            "now": now, "since": now - policy.window}
    if lookup is not None and read_home:
        read = (_STATE_WITH_LOOKUP[lookup.with_member], {**keys, "login": login, **lookup.params})
    else:
        read = ((_STATE_WITH_HOME if read_home else _STATE), {**keys, "login": login})
    state = yield _Statements((read,), single_read=True)
    blocked_since = [since for failures, since, limit in (
        (state.account_failures, state.account_since, policy.account_failures),
        (state.address_failures, state.address_since, policy.address_failures)) if (failures or 0) >= limit]
    if blocked_since:
        wait = (max(blocked_since) + policy.window - now).total_seconds()
        return LoginOutcome(None, max(1, math.ceil(wait)))
    if (yield _PasswordCheck(credentials, login, password, state.password_hash)):
        if state.account_failures:
            yield _Statements(((CLEAR_ACCOUNT, keys),))
        return LoginOutcome(login, home=state.home if read_home else None,
                            looked_up=state.looked_up if lookup is not None and read_home else None)
    counted = [(_COUNT_FAILURE, {**keys, "kind": "account", "key": keys["account"]})]
    if address:
        counted.append((_COUNT_FAILURE, {**keys, "kind": "address", "key": keys["address"]}))
    yield _Statements(((_FORGET_PASSED, keys), *counted))
    return LoginOutcome(None)


def check(engine: sa.Engine, credentials: VerifiedCredentials, login: str, password: str,
          address: str | None, policy: LoginPolicy = LoginPolicy(), clock: Clock = server_now,
          read_home: bool = False, lookup: request_state.Lookup | None = None) -> LoginOutcome:
    steps = attempt(credentials, login, password, address, policy, clock(), read_home, lookup)
    value = None
    while True:
        try:
            step = steps.send(value)
        except StopIteration as done:
            return done.value
        if isinstance(step, _PasswordCheck):
            value = step.run()
        elif step.single_read and not pooler.transaction_pooling():
            value = database.read_once(engine, *step.statements[0])
        else:
            with engine.begin() as conn:
                value = [conn.execute(statement, params) for statement, params in step.statements][0]
                value = value.first() if value.returns_rows else None


async def check_async(engine: AsyncEngine, credentials: VerifiedCredentials, login: str, password: str,
                      address: str | None, policy: LoginPolicy = LoginPolicy(),
                      clock: Clock = server_now) -> LoginOutcome:
    steps = attempt(credentials, login, password, address, policy, clock())
    value = None
    while True:
        try:
            step = steps.send(value)
        except StopIteration as done:
            return done.value
        if isinstance(step, _PasswordCheck):
            value = await asyncio.to_thread(step.run)
        elif step.single_read and not pooler.transaction_pooling():
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                value = (await conn.execute(*step.statements[0])).first()
        else:
            async with engine.begin() as conn:
                value = [await conn.execute(statement, params) for statement, params in step.statements][0]
                value = value.first() if value.returns_rows else None
