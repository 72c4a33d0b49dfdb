"""Creating, changing and revoking delegations: what a request may name."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension.api.problems import Problem
from okr_extension.delegation import schemas
from storage_plugin.sharing import delegation


def _unprocessable(field: str, message: str) -> Problem:
    return Problem(422, f"{field}: {message}", errors=[{"field": field, "message": message}])


async def create(conn: AsyncConnection, user: str, body: schemas.DelegationIn):
    try:
        await conn.run_sync(delegation.check_delegates, user, [body.delegate])
    except delegation.BadDelegate as e:
        raise _unprocessable("delegate", str(e)) from None
    row = (await conn.execute(delegation.INSERT, {"owner": user, "delegate": body.delegate,
                                                  "access": body.access})).first()
    if row is None:
        raise Problem(409, f"{body.delegate} is your proxy already: change the access with "
                           f"PATCH /api/delegations/{body.delegate}")
    return row


async def one(conn: AsyncConnection, user: str, delegate: str):
    """``user``'s delegation to ``delegate``; 404 if there is none."""
    row = (await conn.execute(delegation.DELEGATION, {"owner": user, "delegate": delegate})).first()
    if row is None:
        raise Problem(404, f"{delegate!r} is not your proxy")
    return row


async def change(conn: AsyncConnection, user: str, delegate: str, access: str):
    row = (await conn.execute(delegation.UPDATE, {"owner": user, "delegate": delegate, "access": access})).first()
    if row is None:
        raise Problem(404, f"{delegate!r} is not your proxy")
    return row


async def revoke(conn: AsyncConnection, user: str, delegate: str) -> None:
    if (await conn.execute(delegation.DELETE, {"owner": user, "delegate": delegate})).first() is None:
        raise Problem(404, f"{delegate!r} is not your proxy")


async def listing(conn: AsyncConnection, user: str) -> dict:
    mine = (await conn.execute(delegation.DELEGATES, {"owner": user, "access": None})).all()
    received = (await conn.execute(delegation.DELEGATORS, {"user": user})).all()
    return {"delegations": mine, "delegated_to_me": [
        {"delegator": row.delegator, "access": row.access, "home": f"/{row.delegator}/"} for row in received]}
