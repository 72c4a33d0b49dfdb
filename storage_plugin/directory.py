"""The directory of calendar users: display names and the mailto: addresses that name an account
in ORGANIZER and ATTENDEE (RFC 6638 calendar-user-address-set).

Addresses are stored normalised (``normalise_address``), so every lookup is an equality on the
primary key and case never matters. Statements are SQLAlchemy Core, shared by the synchronous
plugin and the asynchronous sidecar.
"""
from __future__ import annotations

import re

import sqlalchemy as sa

from .accounts import AccountError, account, metadata

account_address = sa.Table(
    "account_address", metadata,
    sa.Column("address", sa.Text, primary_key=True),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("preferred", sa.Boolean, nullable=False),
)

# Deliberately permissive (RFC 5321 local parts are); it only has to reject what is not an address.
_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")


def check_email(email: str) -> str:
    email = email.strip()
    if not _EMAIL.match(email) or len(email) > 254:
        raise AccountError(f"{email!r} is not an email address (expected name@example.org)")
    return email


def normalise_address(address: str) -> str | None:
    """'MAILTO:Bob@Example.org' -> 'mailto:bob@example.org'; None for what is not a mailto: address."""
    address = address.strip()
    if address[:7].lower() != "mailto:":
        return None
    email = address[7:].strip()
    return "mailto:" + email.lower() if _EMAIL.match(email) else None


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
            raise AccountError(f"the address {email!r} already belongs to another user")
        conn.execute(sa.delete(account_address).where(
            account_address.c.account == name, account_address.c.preferred))
        conn.execute(sa.delete(account_address).where(account_address.c.address == address))
        conn.execute(sa.insert(account_address).values(address=address, account=name, preferred=True))
