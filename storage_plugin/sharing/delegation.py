"""Delegation (storage migration 0018): who is whose read or write proxy, read and changed here for
CalDAV (the calendar-proxy-read/-write group principals, ``server.delegation``) and the API
(``/api/delegations``). What a delegation lets a proxy do is decided with the shares, in
``access.access_of``."""
from __future__ import annotations

import sqlalchemy as sa

# The access of a delegation, and the name of the group principal holding its delegates.
ACCESSES = ("read", "write")
GROUPS = {"read": "calendar-proxy-read", "write": "calendar-proxy-write"}

DELEGATES = sa.text(
    "SELECT delegate, access, created FROM calendar_delegation WHERE delegator = :owner"
    " AND (CAST(:access AS text) IS NULL OR access = :access) ORDER BY delegate")
DELEGATION = sa.text(
    "SELECT delegate, access, created FROM calendar_delegation WHERE delegator = :owner AND delegate = :delegate")
# (An archived delegator, renamed with a leading dot, is nobody's until restored.)
DELEGATORS = sa.text(
    "SELECT delegator, access, created FROM calendar_delegation WHERE delegate = :user"
    " AND left(delegator, 1) <> '.' ORDER BY delegator")
# A delegate is in one group of a delegator: putting them in the other moves them.
UPSERT = sa.text(
    "INSERT INTO calendar_delegation (delegator, delegate, access) VALUES (:owner, :delegate, :access)"
    " ON CONFLICT (delegator, delegate) DO UPDATE SET access = EXCLUDED.access"
    " RETURNING delegate, access, created")
INSERT = sa.text(
    "INSERT INTO calendar_delegation (delegator, delegate, access) VALUES (:owner, :delegate, :access)"
    " ON CONFLICT (delegator, delegate) DO NOTHING RETURNING delegate, access, created")
UPDATE = sa.text(
    "UPDATE calendar_delegation SET access = :access WHERE delegator = :owner AND delegate = :delegate"
    " RETURNING delegate, access, created")
DELETE = sa.text(
    "DELETE FROM calendar_delegation WHERE delegator = :owner AND delegate = :delegate RETURNING delegate")
DELETE_OTHERS = sa.text(
    "DELETE FROM calendar_delegation WHERE delegator = :owner AND access = :access"
    " AND NOT (delegate = ANY(CAST(:keep AS text[])))")
# Accounts that can be named as delegates (archived and team accounts, with a leading dot, cannot).
DELEGABLE_ACCOUNTS = sa.text(
    "SELECT name FROM account WHERE name = ANY(CAST(:names AS text[])) AND left(name, 1) <> '.'")


class BadDelegate(ValueError):
    """A delegate that cannot be named (the reason says why)."""


def check_delegates(conn: sa.Connection, owner: str, names: list[str]) -> None:
    """BadDelegate unless every name is another existing account than ``owner``."""
    if owner in names:
        raise BadDelegate(f"{owner} cannot be their own proxy")
    found = set(conn.execute(DELEGABLE_ACCOUNTS, {"names": names}).scalars())
    missing = [name for name in names if name not in found]
    if missing:
        raise BadDelegate(f"no user {', '.join(repr(name) for name in missing)}")


def set_group(conn: sa.Connection, owner: str, access: str, names: list[str]) -> None:
    """Make ``names`` exactly ``owner``'s proxies of ``access`` (a PROPPATCH of the group's
    DAV:group-member-set): others of that access stop being proxies; named proxies of the other
    access move here."""
    names = list(dict.fromkeys(names))
    check_delegates(conn, owner, names)
    conn.execute(DELETE_OTHERS, {"owner": owner, "access": access, "keep": names})
    for name in names:
        conn.execute(UPSERT, {"owner": owner, "delegate": name, "access": access})


def delegates_of(conn: sa.Connection, owner: str, access: str | None = None) -> list[str]:
    return [row.delegate for row in conn.execute(DELEGATES, {"owner": owner, "access": access})]


def delegators_of(conn: sa.Connection, user: str) -> list[tuple[str, str]]:
    """(delegator, access) of each user ``user`` is a proxy of."""
    return [(row.delegator, row.access) for row in conn.execute(DELEGATORS, {"user": user})]


def group_path(owner: str, access: str) -> str:
    """The group principal of ``owner``'s proxies of ``access``: ``alice/calendar-proxy-write``."""
    return f"{owner}/{GROUPS[access]}"


def group_of(path: str) -> tuple[str, str] | None:
    """(owner, access) when ``path`` (``/alice/calendar-proxy-write/``) names a proxy group principal."""
    parts = path.strip("/").split("/")
    if len(parts) != 2 or not parts[0]:
        return None
    for access, name in GROUPS.items():
        if parts[1] == name:
            return parts[0], access
    return None
