"""Who may do what in an organisation.

viewer: read. member: read, create, and change what they own. admin: everything in the
organisation. owner: as admin, plus deleting the organisation and managing owners.
A user who is not a member gets 404, so ids of other organisations reveal nothing.

Every membership lookup goes through ``memberships_of``, which also applies the organisation limit
of the request's personal token (okr_extension.token_scopes): outside it, the user is no member.
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension.api.problems import Problem
from okr_extension.tables import membership
from okr_extension.token_scopes import ORGANISATION_LIMIT
from storage_plugin import directory

RANK = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}
ADMINISTERING = ("admin", "owner")


def memberships_of(user: str) -> sa.ColumnElement[bool]:
    """The condition on ``membership`` rows that are the user's, within the token's limit if any."""
    limit = ORGANISATION_LIMIT.get()
    mine = membership.c.account == user
    return mine if limit is None else sa.and_(mine, membership.c.organisation_id == limit)


async def role_of(conn: AsyncConnection, user: str, organisation_id: uuid.UUID) -> str | None:
    return (await conn.execute(
        sa.select(membership.c.role).where(membership.c.organisation_id == organisation_id,
                                           memberships_of(user)))).scalar()


def organisations_of(user: str, roles: tuple[str, ...] | None = None) -> sa.Select:
    """The ids of the user's organisations (where they hold one of ``roles``, if given), as a
    subquery for list filters."""
    select = sa.select(membership.c.organisation_id).where(memberships_of(user))
    return select if roles is None else select.where(membership.c.role.in_(roles))


def require_role(role: str | None, needed: str, what: str) -> None:
    if role is None:
        raise Problem(404, f"no such {what}")
    if RANK[role] < RANK[needed]:
        raise Problem(403, f"your role '{role}' cannot do this; it needs '{needed}' or above")


def require_write(role: str | None, user: str, owner: str, what: str) -> None:
    """Admins write everything; members what they own; viewers nothing."""
    require_role(role, "member", what)
    if RANK[role] < RANK["admin"] and owner != user:
        raise Problem(403, f"this {what} belongs to {owner!r}; members change only their own "
                           "(ask an admin of the organisation)")


async def require_member(conn: AsyncConnection, user: str, organisation_id: uuid.UUID,
                         needed: str = "viewer", what: str = "organisation") -> str:
    role = await role_of(conn, user, organisation_id)
    require_role(role, needed, what)
    return role


async def require_assignable(conn: AsyncConnection, role: str, user: str, owner: str | None,
                             organisation_id: uuid.UUID) -> str:
    """The owner of a new or changed goal: yourself by default; another member only for admins."""
    if owner is None or owner == user:
        return user
    if RANK[role] < RANK["admin"]:
        raise Problem(403, "members can only make goals owned by themselves; ask an admin")
    if await role_of(conn, owner, organisation_id) is None:
        raise Problem(422, f"owner {owner!r} is not a member of this organisation",
                      errors=[{"field": "owner", "message": "not a member of the organisation"}])
    return owner


# -- who may see whose free-busy: storage_plugin.directory's rule, one for CalDAV and the API --
def directory_scope() -> str:
    """``PLANERIX_DIRECTORY_SCOPE`` ("organisation" or "everyone"); a wrong value is a SettingError."""
    from okr_extension.feeds.settings import SettingError

    try:
        return directory.scope()
    except ValueError as e:
        raise SettingError(str(e)) from None


def visible_accounts(conn: sa.Connection, viewer: str, names: list[str]) -> set[str]:
    """Which of ``names`` ``viewer`` may see the free-busy of (anyone else is answered exactly
    as an account that does not exist)."""
    return directory.visible_among(conn, viewer, names)
