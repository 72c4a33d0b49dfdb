"""Personal API tokens: random secrets, kept only as SHA-256, shown once."""
from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension import access
from okr_extension.api.problems import Problem
from okr_extension.models.tokens import TokenCreate
from okr_extension.tables import api_token
from okr_extension.token_scopes import TokenGrant

PREFIX = "plx_"


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


async def create(conn: AsyncConnection, user: str, body: TokenCreate) -> dict:
    if body.organisation_id is not None:
        await access.require_member(conn, user, body.organisation_id)
    secret = PREFIX + secrets.token_urlsafe(32)
    row = (await conn.execute(sa.insert(api_token).values(
        account=user, name=body.name, prefix=secret[:len(PREFIX) + 6], secret_sha256=digest(secret),
        expires=body.expires, scopes=sorted(set(body.scopes)), organisation_id=body.organisation_id)
        .returning(api_token))).one()
    return {**row._mapping, "token": secret}


async def list_mine(conn: AsyncConnection, user: str):
    return (await conn.execute(sa.select(api_token).where(api_token.c.account == user)
                               .order_by(api_token.c.created, api_token.c.id))).all()


async def revoke(conn: AsyncConnection, user: str, token_id: uuid.UUID) -> None:
    deleted = await conn.execute(sa.delete(api_token).where(api_token.c.id == token_id,
                                                            api_token.c.account == user))
    if deleted.rowcount == 0:
        raise Problem(404, f"no token {token_id} of yours")


# A token's use is noted at most once per this interval (it is shown by the day): every request
# reads the token, few write it, as a reference table (storage_plugin/distribution.py) wants.
LAST_USED_EVERY = timedelta(hours=1)
_GRANT = sa.text(
    "WITH live AS (SELECT id, account, scopes, organisation_id, last_used FROM api_token"
    "   WHERE secret_sha256 = :digest AND (expires IS NULL OR expires > now())),"
    " noted AS (UPDATE api_token t SET last_used = now() FROM live WHERE t.id = live.id"
    "   AND (live.last_used IS NULL OR live.last_used < now() - CAST(:every AS interval)))"
    " SELECT account, scopes, organisation_id FROM live")


async def grant_of(conn: AsyncConnection, secret: str) -> TokenGrant | None:
    """Who a live token acts for and what it may do (and note its use), or None."""
    row = (await conn.execute(_GRANT, {"digest": digest(secret), "every": LAST_USED_EVERY})).first()
    return TokenGrant(row.account, tuple(row.scopes), row.organisation_id) if row else None
