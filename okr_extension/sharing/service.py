"""Creating and changing shares and squads: who may, and what a request may name."""
from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension.access import require_member
from okr_extension.api.problems import Problem
from okr_extension.sharing import queries, schemas
from storage_plugin.sharing.access import mount_name
from storage_plugin.writer import calendar_path


def _unprocessable(field: str, message: str) -> Problem:
    return Problem(422, f"{field}: {message}", errors=[{"field": field, "message": message}])


async def own_shareable_calendar(conn: AsyncConnection, user: str, given: str) -> int:
    """The id of the calendar or task list ``given`` names, if it is ``user``'s own."""
    try:
        path = calendar_path(given if given.startswith("/") else f"/{user}/{given}")
    except ValueError as e:
        raise _unprocessable("calendar", f"not a usable path: {e}") from None
    if path.split("/", 1)[0] != user:
        raise Problem(403, f"/{path}/ is not yours: you share only your own calendars (under /{user}/)")
    row = (await conn.execute(queries.CALENDAR, {"path": path})).first()
    if row is None or path.count("/") != 1:
        raise Problem(404, f"you have no calendar /{path}/")
    if row.tag != "VCALENDAR" or row.kind != "normal":
        raise _unprocessable("calendar", f"/{path}/ is not a calendar or task list")
    return row.id


async def check_grantee(conn: AsyncConnection, user: str, share: schemas.ShareIn) -> None:
    if share.user is not None:
        if share.user == user:
            raise _unprocessable("user", "you own this calendar already")
        if (await conn.execute(queries.ACCOUNT_EXISTS, {"name": share.user})).first() is None:
            raise _unprocessable("user", f"no user {share.user!r}")
    elif share.squad is not None:
        organisation = (await conn.execute(queries.SQUAD_ORGANISATION, {"id": share.squad})).scalar()
        if organisation is None:
            raise _unprocessable("squad", f"no squad {share.squad}")
        await require_member(conn, user, organisation, what="squad")
    else:
        await require_member(conn, user, share.organisation)


async def create_share(conn: AsyncConnection, user: str, share: schemas.ShareIn):
    cid = await own_shareable_calendar(conn, user, share.calendar)
    await check_grantee(conn, user, share)
    try:
        async with conn.begin_nested():
            share_id = (await conn.execute(queries.INSERT_SHARE, {
                "owner": user, "cid": cid, "user": share.user, "squad": share.squad,
                "organisation": share.organisation, "access": share.access})).scalar()
    except IntegrityError:
        raise Problem(409, "this calendar is already shared with them: change that share's access "
                           "(PATCH /api/shares/{id})") from None
    return await share_of(conn, user, share_id)


async def share_of(conn: AsyncConnection, user: str, share_id: int):
    """A share of ``user``'s; 404 for anyone else's (ids reveal nothing)."""
    row = (await conn.execute(queries.SHARE, {"id": share_id, "owner": user})).first()
    if row is None:
        raise Problem(404, f"you have no share {share_id}")
    return row


async def shares(conn: AsyncConnection, user: str) -> dict:
    owned = (await conn.execute(queries.OWN_SHARES, {"owner": user})).all()
    received = (await conn.execute(queries.SHARED_WITH_ME, {"user": user})).all()
    return {"shares": owned, "shared_with_me": [
        {"calendar": row.calendar, "owner": row.owner, "access": row.access,
         "mount": None if row.access == "free-busy" else f"/{user}/{mount_name(row.path)}/"}
        for row in received]}


# -- squads ------------------------------------------------------------------------
async def squads(conn: AsyncConnection, organisation: uuid.UUID, squad_id: int | None = None) -> list:
    return (await conn.execute(queries.SQUADS, {"organisation": organisation, "id": squad_id})).all()


async def squad(conn: AsyncConnection, organisation: uuid.UUID, squad_id: int):
    found = await squads(conn, organisation, squad_id)
    if not found:
        raise Problem(404, f"no squad {squad_id} in this organisation")
    return found[0]


async def set_members(conn: AsyncConnection, organisation: uuid.UUID, squad_id: int, names: list[str]) -> None:
    names = list(dict.fromkeys(names))
    outsiders = (await conn.execute(queries.NON_MEMBERS, {"names": names, "organisation": organisation})).scalars().all()
    if outsiders:
        raise _unprocessable("members", f"not members of the organisation: {', '.join(outsiders)}")
    await conn.execute(queries.CLEAR_MEMBERS, {"id": squad_id})
    if names:
        await conn.execute(queries.ADD_MEMBERS, {"id": squad_id, "organisation": organisation, "names": names})


async def save_squad(conn: AsyncConnection, organisation: uuid.UUID, squad_id: int | None, changes: dict):
    """Create (``squad_id`` None) or change a squad; a name taken in the organisation is a 409."""
    try:
        async with conn.begin_nested():
            if squad_id is None:
                squad_id = (await conn.execute(queries.INSERT_SQUAD, {
                    "organisation": organisation, "name": changes["name"]})).scalar()
            elif changes.get("name") is not None:
                await conn.execute(queries.RENAME_SQUAD, {"id": squad_id, "name": changes["name"]})
    except IntegrityError:
        raise Problem(409, f"the organisation has a squad named {changes['name']!r} already") from None
    if changes.get("members") is not None:
        await set_members(conn, organisation, squad_id, changes["members"])
    return await squad(conn, organisation, squad_id)
