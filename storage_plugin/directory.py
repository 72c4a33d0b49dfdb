"""The directory of calendar users: display names and the mailto: addresses that name an account
in ORGANIZER and ATTENDEE (RFC 6638 calendar-user-address-set).

Addresses are stored normalised (``normalise_address``), so every lookup is an equality on the
primary key and case never matters. Statements are SQLAlchemy Core, shared by the synchronous
plugin and the asynchronous sidecar.
"""
from __future__ import annotations

import os

import sqlalchemy as sa

from scheduling.addresses import EMAIL, normalise_address  # noqa: F401  (part of this module's API)

from .accounts import AccountError, account, metadata
from .sharing import queries as sharing_queries

account_address = sa.Table(
    "account_address", metadata,
    sa.Column("address", sa.Text, primary_key=True),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("preferred", sa.Boolean, nullable=False),
)


class AddressTaken(AccountError):
    """The address already names another account."""


def check_email(email: str) -> str:
    email = email.strip()
    if not EMAIL.match(email) or len(email) > 254:
        raise AccountError(f"{email!r} is not an email address (expected name@example.org)")
    return email


def mailto(email: str) -> str:
    return "mailto:" + check_email(email).lower()


# -- statements -------------------------------------------------------------
def select_account_for_address(address: str):
    """The account an address belongs to (no row when the address is nobody's, or not a mailto:)."""
    return sa.select(account_address.c.account).where(
        account_address.c.address == (normalise_address(address) or ""))


def select_addresses(name: str):
    """An account's addresses, the preferred one (its email) first."""
    return (sa.select(account_address.c.address).where(account_address.c.account == name)
            .order_by(account_address.c.preferred.desc(), account_address.c.address))


def select_identity(name: str):
    return sa.select(account.c.name, account.c.display_name, account.c.cutype).where(
        account.c.name == name)


# -- operations -------------------------------------------------------------
def account_for_address(conn: sa.Connection, address: str) -> str | None:
    return conn.execute(select_account_for_address(address)).scalar()


def addresses_of(conn: sa.Connection, name: str) -> list[str]:
    return list(conn.execute(select_addresses(name)).scalars())


def set_identity(conn: sa.Connection, name: str, *, email: str | None = None,
                 display_name: str | None = None) -> None:
    """Set an account's email (its preferred address, replacing the previous one) and/or display
    name. An email that already belongs to another account is refused with a reason."""
    if conn.execute(sa.select(account.c.name).where(account.c.name == name)).first() is None:
        raise AccountError(f"no user {name!r}")
    if display_name is not None:
        display_name = display_name.strip()
        if len(display_name) > 200 or any(ord(c) < 32 for c in display_name):
            raise AccountError("a display name has at most 200 characters and no control characters")
        conn.execute(sa.update(account).where(account.c.name == name)
                     .values(display_name=display_name or None))
    if email is not None:
        address = mailto(email)
        owner = conn.execute(select_account_for_address(address)).scalar()
        if owner is not None and owner != name:
            raise AddressTaken(f"the address {email!r} already belongs to another user")
        conn.execute(sa.delete(account_address).where(
            account_address.c.account == name, account_address.c.preferred))
        conn.execute(sa.delete(account_address).where(account_address.c.address == address))
        conn.execute(sa.insert(account_address).values(address=address, account=name, preferred=True))


# -- the home: default calendar, inbox, outbox ------------------------------
INBOX, OUTBOX = "schedule-inbox", "schedule-outbox"

# The calendar invitations are delivered into (schedule-default-calendar-URL): the account's
# own writable calendar for events, "<name>/personal" first, else the first by path.
_DEFAULT_CALENDAR = sa.text("""
    SELECT path FROM collection
    WHERE parent_path = :name AND owner = :name AND tag = 'VCALENDAR' AND kind = 'normal' AND NOT read_only
      AND (props->>'C:supported-calendar-component-set' IS NULL
           OR 'VEVENT' = ANY(string_to_array(props->>'C:supported-calendar-component-set', ',')))
    ORDER BY path <> :name || '/personal', path LIMIT 1""")


def default_calendar_path(conn: sa.Connection, name: str) -> str | None:
    return conn.execute(_DEFAULT_CALENDAR, {"name": name}).scalar()


def identity(conn: sa.Connection, name: str):
    """(name, display_name, cutype) of an account, or None."""
    return conn.execute(select_identity(name)).first()


# -- who may find whom ---------------------------------------------------------------------
# The one rule for principal search, invitations and free-busy (CalDAV and the API alike): a
# user may learn that an account exists (find it, invite it, see its free-busy) if it is their
# own, shares an organisation with them (okr_extension's membership table), shares a calendar
# with them (any access: storage_plugin.sharing) or made them their proxy (delegation), or, with
# PLANERIX_DIRECTORY_SCOPE=everyone, if it is any local account. Archived accounts (a leading
# dot) are nobody's business. Anyone else is answered exactly as an account that does not exist.
# A room or resource (okr_extension's calendar_resource) and the members of its organisation
# know of each other: members find and invite it, it answers them.
SCOPE_ENV = "PLANERIX_DIRECTORY_SCOPE"
SCOPES = ("organisation", "everyone")


def scope() -> str:
    """``PLANERIX_DIRECTORY_SCOPE``: "organisation" (the default) or "everyone"."""
    value = (os.environ.get(SCOPE_ENV) or "organisation").strip().lower()
    if value not in SCOPES:
        raise ValueError(f"{SCOPE_ENV} must be 'organisation' or 'everyone', not {value!r}")
    return value


_IN_SCOPE = f"""left(a.name, 1) <> '.'
          AND (CAST(:everyone AS boolean) OR a.name = :user OR EXISTS (
                SELECT 1 FROM membership mine JOIN membership theirs
                  ON theirs.organisation_id = mine.organisation_id
                WHERE mine.account = :user AND theirs.account = a.name)
            OR EXISTS (
                SELECT 1 FROM calendar_resource r JOIN membership m ON m.organisation_id = r.organisation_id
                WHERE (r.account = a.name AND m.account = :user) OR (r.account = :user AND m.account = a.name))
            OR EXISTS (SELECT 1 FROM calendar_share s WHERE s.owner = a.name AND {sharing_queries.GRANTED})
            OR EXISTS (SELECT 1 FROM calendar_delegation d WHERE d.delegator = a.name AND d.delegate = :user))"""
_VISIBLE_AMONG = sa.text(
    f"SELECT a.name FROM account a WHERE a.name = ANY(CAST(:names AS text[])) AND {_IN_SCOPE}")


def _scope_parameters(user: str) -> dict:
    return {"user": user, "everyone": scope() == "everyone"}


def visible_among(conn: sa.Connection, user: str, names: list[str]) -> set[str]:
    """Which of ``names`` ``user`` may learn about."""
    if not names:
        return set()
    return set(conn.execute(_VISIBLE_AMONG, {**_scope_parameters(user), "names": list(names)}).scalars())


def visible(conn: sa.Connection, user: str, name: str) -> bool:
    return name in visible_among(conn, user, [name])


# -- principal search ----------------------------------------------------------
# Each term must match the display name, the account name or an address, as a case-insensitive
# substring (LIKE wildcards escaped), among the accounts in scope.
# A condition tests one field kind: "name" (display name or account name), "address"
# (an address, mailto: included) or "cutype"; "any" tests name and address. Conditions are ANDed or ORed.
_FIELD_TESTS = {
    "name": "(a.display_name ILIKE :t{n} ESCAPE '\\' OR a.name ILIKE :t{n} ESCAPE '\\')",
    "address": ("EXISTS (SELECT 1 FROM account_address x WHERE x.account = a.name"
                " AND x.address ILIKE :t{n} ESCAPE '\\')"),
}
_FIELD_TESTS["any"] = f"({_FIELD_TESTS['name']} OR {_FIELD_TESTS['address']})"
# The calendar-user type (INDIVIDUAL, ROOM, RESOURCE, GROUP): how older Apple clients ask for rooms.
_FIELD_TESTS["cutype"] = "a.cutype ILIKE :t{n} ESCAPE '\\'"


def search_statement(fields: tuple[str, ...], match_all: bool, with_cutypes: bool) -> sa.TextClause:
    tests = [_FIELD_TESTS[field].format(n=n) for n, field in enumerate(fields)]
    joined = (" AND " if match_all else " OR ").join(tests) or "true"
    cutypes = "AND a.cutype = ANY(:cutypes)" if with_cutypes else ""
    return sa.text(f"""
        SELECT a.name FROM account a
        WHERE {_IN_SCOPE} {cutypes}
          AND ({joined})
        ORDER BY coalesce(a.display_name, a.name), a.name LIMIT :limit""")


def like_escaped(text: str) -> str:
    """``text`` matched literally by LIKE ... ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_pattern(term: str) -> str:
    return f"%{like_escaped(term)}%"


def search(conn: sa.Connection, user: str, conditions: list[tuple[str, str]], *, match_all: bool = True,
           cutypes: tuple[str, ...] | None = None, limit: int = 50) -> list[str]:
    """Names of the accounts ``user`` may see that meet the conditions, each a (field, term)
    pair: field "name", "address" or "any", term a case-insensitive substring. No condition
    lists everyone in scope; ``cutypes`` restricts the calendar-user types."""
    fields = tuple(field for field, _ in conditions)
    params = {**_scope_parameters(user), "limit": limit, "cutypes": list(cutypes or ()),
              **{f"t{n}": _like_pattern(term) for n, (_, term) in enumerate(conditions)}}
    return list(conn.execute(search_statement(fields, match_all, cutypes is not None), params).scalars())


