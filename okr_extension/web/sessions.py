"""Dashboard sign-ins: a random secret in an HttpOnly cookie, its SHA-256 in ``web_session``.

Sessions live in the database (every server process sees them) and expire; a session carries
its own CSRF token, which every form sends back. The sign-in form, shown before any session
exists, is protected by a double-submit token: a random cookie that the form must repeat
(a forged form from another site can neither read nor set it).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension.tables import web_session

SESSION_COOKIE = "planerix_session"
LOGIN_CSRF_COOKIE = "planerix_login_csrf"
CSRF_FIELD = "csrf_token"

@dataclass(frozen=True)
class Session:
    user: str
    csrf_token: str


SESSION = web.RequestKey("dashboard_session", Session)


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


async def start(conn: AsyncConnection, user: str, now: dt.datetime, lifetime: dt.timedelta) -> str:
    """A new session for ``user``; returns the cookie's secret (shown to nobody else)."""
    secret = new_token()
    # Expired sessions of anyone go at each sign-in: the table stays the size of live ones.
    await conn.execute(sa.delete(web_session).where(web_session.c.expires <= now))
    await conn.execute(sa.insert(web_session).values(
        id_sha256=_digest(secret), account=user, csrf_token=new_token(), created=now, expires=now + lifetime))
    return secret


async def find(conn: AsyncConnection, secret: str | None, now: dt.datetime) -> Session | None:
    if not secret:
        return None
    row = (await conn.execute(sa.select(web_session.c.account, web_session.c.csrf_token)
                              .where(web_session.c.id_sha256 == _digest(secret),
                                     web_session.c.expires > now))).first()
    return Session(row.account, row.csrf_token) if row else None


async def end(conn: AsyncConnection, secret: str | None) -> None:
    if secret:
        await conn.execute(sa.delete(web_session).where(web_session.c.id_sha256 == _digest(secret)))


def same_token(expected: str | None, sent: str | None) -> bool:
    return bool(expected) and bool(sent) and hmac.compare_digest(expected, sent)
