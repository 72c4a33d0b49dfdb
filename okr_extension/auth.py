"""HTTP Basic authentication with the CalDAV accounts, on every route."""
from __future__ import annotations

import asyncio
import base64
import binascii

from aiohttp import web

from okr_extension.keys import CREDENTIALS, ENGINE, USER
from storage_plugin import accounts

REALM = 'Basic realm="Planerix", charset="UTF-8"'
FAILED_LOGIN_DELAY = 1.0
# The one route served without login: a published feed's secret URL, for calendar apps
# that subscribe without credentials. Its 256-bit secret is the capability. Only GET and
# HEAD of exactly this route are exempt.
PUBLIC_FEED_ROUTE = "/api/ics/{token}.ics"


def _is_public(request: web.Request) -> bool:
    resource = request.match_info.route.resource
    return (request.method in ("GET", "HEAD") and resource is not None
            and resource.canonical == PUBLIC_FEED_ROUTE)


def _unauthorized(reason: str) -> web.Response:
    return web.json_response({"title": "Unauthorized", "status": 401, "detail": reason},
                             status=401, content_type="application/problem+json",
                             headers={"WWW-Authenticate": REALM})


def _parse_basic(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        login, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (login, password) if sep else None


@web.middleware
async def basic_auth_middleware(request: web.Request, handler):
    if _is_public(request):
        return await handler(request)
    credentials = _parse_basic(request.headers.get("Authorization", ""))
    if credentials is None:
        return _unauthorized("send HTTP Basic credentials of a Planerix user")
    login, password = credentials
    async with request.app[ENGINE].connect() as conn:
        password_hash = (await conn.execute(accounts.select_hash(login))).scalar()
    verified = await asyncio.to_thread(request.app[CREDENTIALS].check, login, password, password_hash)
    if not verified:
        await asyncio.sleep(FAILED_LOGIN_DELAY)
        return _unauthorized("wrong user name or password")
    request[USER] = login
    return await handler(request)
