"""User accounts: the CalDAV users, shared by Radicale's auth plugin, the CLI and the sidecar.

Passwords are stored as argon2id hashes. Statements are SQLAlchemy Core, so the
synchronous plugin and the asynchronous sidecar run the very same queries.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
import unicodedata

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

metadata = sa.MetaData()
account = sa.Table(
    "account", metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now()),
    sa.Column("display_name", sa.Text),  # directory.py
    sa.Column("cutype", sa.Text, server_default="INDIVIDUAL"),
)

MIN_PASSWORD_LENGTH = 8
# The stored hash of an account created without a password (by an import): never a valid
# hash, so nobody logs in as it until ``planerix user passwd`` sets one.
NO_PASSWORD = "!no-password"
_hasher = PasswordHasher()
# Each argon2 hash or verification takes its memory cost (64 MiB by default) for its duration:
# 16 clients whose first requests arrive together once took a process to 1.1 GB. At most this
# many run at once in a process; the others wait (the CPU would not run more at once anyway).
ARGON2_AT_ONCE = 2
_argon2_slots = threading.BoundedSemaphore(ARGON2_AT_ONCE)


def _argon2(operation, *args):
    with _argon2_slots:
        return operation(*args)


class AccountError(ValueError):
    pass


def check_name(name: str) -> str:
    if not name or name != name.strip():
        raise AccountError("a user name must be non-empty and must not start or end with spaces")
    if "/" in name or name.startswith(".") or any(unicodedata.category(c)[0] == "C" for c in name):
        raise AccountError(f"invalid user name {name!r}: no '/', no leading '.', no control characters")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    return _argon2(_hasher.hash, check_password(password))


_dummy_hash: str | None = None


def _spend_a_verification(password: str) -> None:
    """As much work as checking a real password, so that an unknown or disabled account
    answers no faster than a wrong password (no timing oracle for which names exist)."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _argon2(_hasher.hash, os.urandom(16).hex())
    try:
        _argon2(_hasher.verify, _dummy_hash, password)
    except VerificationError:
        pass


def password_matches(password_hash: str | None, password: str) -> bool:
    if password_hash is None:
        _spend_a_verification(password)
        return False
    try:
        return _argon2(_hasher.verify, password_hash, password)
    except VerificationError:
        return False
    except InvalidHashError:  # e.g. disabled by archiving (a "!" in front)
        _spend_a_verification(password)
        return False


class VerifiedCredentials:
    """Remembers verified (user, password, stored hash) triples as HMACs for a while.

    Argon2 is deliberately slow (tens of milliseconds) and clients send Basic
    credentials with every request. A changed or removed password changes the
    stored hash, so it misses the cache at once. Requests of one account that
    arrive together (a client's parallel connections) verify its password once:
    the others wait for that and find it remembered.
    """

    STRIPES = 64

    def __init__(self, seconds: float = 300) -> None:
        self._seconds = seconds
        self._key = os.urandom(32)
        self._verified: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()
        # One verification per account at a time (names share a lock by their hash).
        self._stripes = [threading.Lock() for _ in range(self.STRIPES)]

    def check(self, login: str, password: str, password_hash: str | None) -> bool:
        if password_hash is None:
            return password_matches(None, password)
        digest = hmac.new(self._key, "\0".join((login, password, password_hash)).encode(),
                          hashlib.sha256).digest()
        if self._remembered(login, digest):
            return True
        with self._stripes[hash(login) % self.STRIPES]:
            if self._remembered(login, digest):  # verified while this request waited
                return True
            if not password_matches(password_hash, password):
                return False
            with self._lock:
                self._verified[login] = (digest, time.monotonic() + self._seconds)
        return True

    def _remembered(self, login: str, digest: bytes) -> bool:
        with self._lock:
            cached = self._verified.get(login)
        return bool(cached and cached[1] > time.monotonic() and hmac.compare_digest(cached[0], digest))


# -- statements -------------------------------------------------------------
def select_hash(name: str):
    return sa.select(account.c.password_hash).where(account.c.name == name)


def ensure_home(name: str):
    """The account's home with its inbox, outbox, default calendar and task list, created if
    missing (migration 0008's ``planerix_ensure_home``, shared with the upgrade of old accounts)."""
    return sa.select(sa.func.planerix_ensure_home(name))


def select_names():
    return sa.select(account.c.name).order_by(account.c.name)


# -- synchronous operations (CLI, Radicale) ---------------------------------
def add(engine: sa.Engine, name: str, password: str, *, email: str | None = None,
        display_name: str | None = None) -> None:
    """Create an account with its home (default calendar, task list, inbox, outbox) and, if
    given, its email address and display name: all of it or, on an error, nothing."""
    from storage_plugin import directory  # directory builds on this module's table

    values = {"name": check_name(name), "password_hash": hash_password(password)}
    with engine.begin() as conn:
        inserted = conn.execute(
            postgresql.insert(account).values(**values)
            .on_conflict_do_nothing(index_elements=["name"]).returning(account.c.name)).first()
        if inserted is not None:
            conn.execute(ensure_home(name))
            if email is not None or display_name is not None:
                directory.set_identity(conn, name, email=email, display_name=display_name)
    if inserted is None:
        raise AccountError(f"user {name!r} already exists")


def add_without_password(engine: sa.Engine, name: str) -> bool:
    """Create ``name`` unable to log in (see ``NO_PASSWORD``); False if it exists already.
    Its home comes with ``ensure_homes`` once what is imported for it is stored, so that an
    imported calendar, not a new empty one, becomes its default."""
    with engine.begin() as conn:
        return conn.execute(
            postgresql.insert(account).values(name=check_name(name), password_hash=NO_PASSWORD)
            .on_conflict_do_nothing(index_elements=["name"]).returning(account.c.name)).first() is not None


def ensure_homes(engine: sa.Engine, names: list[str]) -> None:
    with engine.begin() as conn:
        for name in names:
            conn.execute(ensure_home(name))


def set_password(engine: sa.Engine, name: str, password: str) -> None:
    with engine.begin() as conn:
        update_password(conn, name, password)


def update_password(conn: sa.Connection, name: str, password: str) -> None:
    updated = conn.execute(sa.update(account).where(account.c.name == name)
                           .values(password_hash=hash_password(password))).rowcount
    if not updated:
        raise AccountError(f"no user {name!r}")


def names(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select_names()).scalars())


def stored_hash(engine: sa.Engine, name: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select_hash(name)).scalar()
