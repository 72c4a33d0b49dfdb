"""The queries behind /api/resources. Synchronous: the routes run them with ``conn.run_sync``
(a resource's account is made with the storage's own helpers, in the request's transaction)."""
from __future__ import annotations

import secrets
import uuid
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from okr_extension import account_removal, token_scopes
from storage_plugin import accounts, directory

_SELECT = """
    SELECT r.id, r.organisation_id, r.account, coalesce(a.display_name, a.name) AS name,
           substr((SELECT x.address FROM account_address x WHERE x.account = r.account
                   ORDER BY x.preferred DESC, x.address LIMIT 1), 8) AS email,
           a.cutype AS type, r.capacity, r.location, r.features, r.policy, r.managers
    FROM calendar_resource r JOIN account a ON a.name = r.account"""
_ONE = sa.text(f"{_SELECT} WHERE r.id = :id")
_VISIBLE = sa.text(f"""{_SELECT}
    WHERE r.organisation_id IN (SELECT organisation_id FROM membership WHERE account = :user)
      AND (CAST(:organisation AS uuid) IS NULL OR r.organisation_id = CAST(:organisation AS uuid))
      AND (CAST(:token_limit AS uuid) IS NULL OR r.organisation_id = CAST(:token_limit AS uuid))
      AND (CAST(:type AS text) IS NULL OR a.cutype = CAST(:type AS text))
    ORDER BY coalesce(a.display_name, a.name), r.id LIMIT 1000""")
_INSERT = sa.text("""
    INSERT INTO calendar_resource (account, organisation_id, capacity, location, features, policy, managers)
    VALUES (:account, :organisation_id, :capacity, :location, :features, :policy, :managers) RETURNING id""")
_NON_MEMBERS = sa.text("""
    SELECT m FROM unnest(CAST(:names AS text[])) AS m
    WHERE NOT EXISTS (SELECT 1 FROM membership WHERE organisation_id = :organisation AND account = m)""")
_COLUMNS = ("capacity", "location", "features", "policy", "managers")


class ResourceRefused(ValueError):
    """A change a person must correct: (field, reason)."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field, self.status = field, status


def load(conn: sa.Connection, resource_id: uuid.UUID):
    return conn.execute(_ONE, {"id": resource_id}).first()


def visible(conn: sa.Connection, user: str, organisation_id: Optional[uuid.UUID], kind: Optional[str]) -> list:
    return list(conn.execute(_VISIBLE, {"user": user, "organisation": organisation_id, "type": kind,
                                        "token_limit": token_scopes.ORGANISATION_LIMIT.get()}))


def _check_managers(conn: sa.Connection, organisation_id: uuid.UUID, managers: list[str]) -> list[str]:
    outsiders = list(conn.execute(_NON_MEMBERS, {"names": managers, "organisation": organisation_id}).scalars())
    if outsiders:
        raise ResourceRefused("managers", f"not members of the organisation: {', '.join(outsiders)}")
    return list(dict.fromkeys(managers))


def _set_identity(conn: sa.Connection, name: str, email: Optional[str], display_name: Optional[str]) -> None:
    try:
        directory.set_identity(conn, name, email=email, display_name=display_name)
    except directory.AddressTaken as e:
        raise ResourceRefused("email", str(e).replace("another user", "another user or resource"), 409) from None
    except accounts.AccountError as e:
        raise ResourceRefused("email" if email is not None else "name", str(e)) from None


def create(conn: sa.Connection, body) -> uuid.UUID:
    """The resource's account (no password: nobody logs in as it), its home with a default
    calendar, its address and display name, and its directory record; all or nothing."""
    managers = _check_managers(conn, body.organisation_id, body.managers)
    name = f"{body.type.lower()}-{secrets.token_hex(6)}"
    conn.execute(postgresql.insert(accounts.account).values(
        name=name, password_hash=accounts.NO_PASSWORD, cutype=body.type))
    conn.execute(accounts.ensure_home(name))
    _set_identity(conn, name, body.email, body.name)
    return conn.execute(_INSERT, {"account": name, "organisation_id": body.organisation_id,
                                  "capacity": body.capacity, "location": body.location,
                                  "features": list(dict.fromkeys(body.features)), "policy": body.policy,
                                  "managers": managers}).scalar()


def update(conn: sa.Connection, row, changes: dict) -> None:
    if changes.get("managers") is not None:
        changes["managers"] = _check_managers(conn, row.organisation_id, changes["managers"])
    for field in ("location", "features", "policy", "managers", "name", "email"):
        if field in changes and changes[field] is None:
            raise ResourceRefused(field, f"{field} cannot be null")
    if "name" in changes or "email" in changes:
        _set_identity(conn, row.account, changes.get("email"), changes.get("name"))
    values = {k: v for k, v in changes.items() if k in _COLUMNS}
    if values:
        sets = ", ".join(f"{k} = :{k}" for k in values)
        conn.execute(sa.text(f"UPDATE calendar_resource SET {sets}, updated = now() WHERE id = :id"),
                     {**values, "id": row.id})


def delete(conn: sa.Connection, account: str) -> None:
    """The account with its calendars (the resource and its bookings cascade)."""
    account_removal.remove_in(conn, account)
