"""Organisations and their members."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension import access, account_removal
from okr_extension.api import pagination
from okr_extension.api.problems import Problem
from okr_extension.models import organisations as models
from okr_extension.tables import membership, organisation
from storage_plugin.accounts import account

_WITH_ROLE = sa.select(organisation, membership.c.role).join(
    membership, membership.c.organisation_id == organisation.c.id)


async def list_mine(conn: AsyncConnection, user: str, cursor: str | None, limit: int):
    select = _WITH_ROLE.where(access.memberships_of(user))
    select = pagination.page_query(select, organisation.c.created, organisation.c.id, "created", False,
                                   cursor, limit)
    rows = (await conn.execute(select)).all()
    return pagination.split_page(rows, limit, "created", lambda row: row.created)


async def get(conn: AsyncConnection, user: str, organisation_id: uuid.UUID):
    row = (await conn.execute(_WITH_ROLE.where(organisation.c.id == organisation_id,
                                               access.memberships_of(user)))).first()
    if row is None:
        raise Problem(404, f"no such organisation: {organisation_id}")
    return row


async def create(conn: AsyncConnection, user: str, body: models.OrganisationCreate):
    row = (await conn.execute(sa.insert(organisation).values(body.model_dump()).returning(organisation.c.id))).one()
    await conn.execute(sa.insert(membership).values(organisation_id=row.id, account=user, role="owner"))
    return await get(conn, user, row.id)


async def update(conn: AsyncConnection, user: str, organisation_id: uuid.UUID,
                 patch: models.OrganisationPatch):
    current = await get(conn, user, organisation_id)
    access.require_role(current.role, "admin", "organisation")
    changes = patch.changes()
    merged = {**current._mapping, **changes}
    try:
        models.check_thresholds(merged["at_risk_below"], merged["off_track_below"])
    except ValueError as e:
        raise Problem(422, f"invalid body: off_track_below: {e}",
                      errors=[{"field": "off_track_below", "message": str(e)}]) from None
    if changes:
        await conn.execute(sa.update(organisation).where(organisation.c.id == organisation_id)
                           .values(**changes, updated=sa.func.now()))
    return await get(conn, user, organisation_id)


# The accounts an organisation owns beside its members (its team account, its rooms): they and
# their calendars go with it.
_OWNED_ACCOUNTS = sa.text("SELECT account FROM team_account WHERE organisation_id = :organisation"
                          " UNION SELECT account FROM calendar_resource WHERE organisation_id = :organisation")


async def delete(conn: AsyncConnection, user: str, organisation_id: uuid.UUID) -> None:
    current = await get(conn, user, organisation_id)
    access.require_role(current.role, "owner", "organisation")
    for name in (await conn.execute(_OWNED_ACCOUNTS, {"organisation": organisation_id})).scalars().all():
        await conn.run_sync(lambda sync, name=name: account_removal.remove_in(sync, name))
    await conn.execute(sa.delete(organisation).where(organisation.c.id == organisation_id))


async def members(conn: AsyncConnection, user: str, organisation_id: uuid.UUID):
    await access.require_member(conn, user, organisation_id)
    return (await conn.execute(
        sa.select(membership.c.account.label("user"), membership.c.role, membership.c.created)
        .where(membership.c.organisation_id == organisation_id).order_by(membership.c.account))).all()


async def _member(conn, organisation_id, name):
    row = (await conn.execute(sa.select(membership.c.account.label("user"), membership.c.role,
                                        membership.c.created)
                              .where(membership.c.organisation_id == organisation_id,
                                     membership.c.account == name).with_for_update())).first()
    if row is None:
        raise Problem(404, f"{name!r} is not a member of this organisation")
    return row


def _may_grant(own_role: str, old_role: str | None, new_role: str | None) -> None:
    """Admins manage admins, members and viewers; only owners touch owners."""
    if "owner" in (old_role, new_role):
        access.require_role(own_role, "owner", "organisation")
    else:
        access.require_role(own_role, "admin", "organisation")


async def _keep_an_owner(conn, organisation_id) -> None:
    owners = (await conn.execute(sa.select(sa.func.count()).where(
        membership.c.organisation_id == organisation_id, membership.c.role == "owner"))).scalar()
    if owners == 0:
        raise Problem(409, "an organisation needs at least one owner: make someone else owner first")


async def add_member(conn: AsyncConnection, user: str, organisation_id: uuid.UUID, body: models.MemberCreate):
    own_role = await access.require_member(conn, user, organisation_id)
    _may_grant(own_role, None, body.role)
    if (await conn.execute(sa.select(account.c.name).where(account.c.name == body.user))).first() is None:
        raise Problem(422, f"invalid body: user: no Planerix user {body.user!r}",
                      errors=[{"field": "user", "message": "no such user"}])
    if await access.role_of(conn, body.user, organisation_id) is not None:
        raise Problem(409, f"{body.user!r} is already a member; PATCH the membership to change the role")
    await conn.execute(sa.insert(membership).values(organisation_id=organisation_id, account=body.user,
                                                    role=body.role))
    return await _member(conn, organisation_id, body.user)


async def change_member(conn: AsyncConnection, user: str, organisation_id: uuid.UUID, name: str,
                        patch: models.MemberPatch):
    own_role = await access.require_member(conn, user, organisation_id)
    current = await _member(conn, organisation_id, name)
    changes = patch.changes()
    if "role" in changes and changes["role"] != current.role:
        _may_grant(own_role, current.role, changes["role"])
        await conn.execute(sa.update(membership).where(membership.c.organisation_id == organisation_id,
                                                       membership.c.account == name).values(role=changes["role"]))
        await _keep_an_owner(conn, organisation_id)
    return await _member(conn, organisation_id, name)


async def remove_member(conn: AsyncConnection, user: str, organisation_id: uuid.UUID, name: str) -> None:
    own_role = await access.require_member(conn, user, organisation_id)
    current = await _member(conn, organisation_id, name)
    if name != user:  # anyone may leave; removing others needs the right to manage their role
        _may_grant(own_role, current.role, None)
    await conn.execute(sa.delete(membership).where(membership.c.organisation_id == organisation_id,
                                                   membership.c.account == name))
    await _keep_an_owner(conn, organisation_id)
