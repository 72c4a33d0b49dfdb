"""Authentication on every route: HTTP Basic with the CalDAV accounts, or a personal token."""
from __future__ import annotations

import asyncio
import base64
import binascii

from aiohttp import web

from okr_extension import token_scopes, tokens
from okr_extension.api.problems import Problem
from okr_extension.keys import (AUTH_SCHEME, CLOCK, CREDENTIALS, DASHBOARD_REQUEST, ENGINE, LOGIN_POLICY,
                               ROUTE_OPERATIONS, USER)
from okr_extension.rsvp import PAGE_ROUTE as RSVP_PAGE_ROUTE
from storage_plugin import logins, readiness

CHALLENGE = {"WWW-Authenticate": 'Basic realm="Planerix", charset="UTF-8"'}
FAILED_LOGIN_DELAY = 1.0
# The routes served without login: a published feed's secret URL, for calendar apps
# that subscribe without credentials (its 256-bit secret is the capability), and the
# liveness and readiness checks, for load balancers (they reveal nothing else). Only GET
# and HEAD of exactly these routes are exempt.
PUBLIC_FEED_ROUTE = "/api/ics/{token}.ics"
PUBLIC_ROUTES = frozenset({PUBLIC_FEED_ROUTE, *readiness.PATHS})


def _is_public(request: web.Request) -> bool:
    if request.get(DASHBOARD_REQUEST):
        return True  # the dashboard signs in with its own session (okr_extension.web.guard)
    resource = request.match_info.route.resource
    if resource is not None and resource.canonical == RSVP_PAGE_ROUTE and request.method in ("GET", "HEAD", "POST"):
        return True  # an invitee outside Planerix: the signed token in the path is the capability
    return (request.method in ("GET", "HEAD") and resource is not None
            and resource.canonical in PUBLIC_ROUTES)


def _parse_basic(encoded: str) -> tuple[str, str] | None:
    try:
        login, sep, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    # PostgreSQL text holds no NUL: such a login cannot exist (and would fail the lookup).
    return (login, password) if sep and "\x00" not in login else None


async def check_password(request: web.Request, login: str, password: str) -> logins.LoginOutcome:
    """A password sign-in from this request's client, throttled like CalDAV's (HTTP Basic and the
    dashboard's sign-in form both come here)."""
    if "\x00" in login:  # PostgreSQL text holds no NUL: no such account can exist
        return logins.LoginOutcome(None)
    app = request.app
    return await logins.check_async(app[ENGINE], app[CREDENTIALS], login, password, request.remote,
                                    app[LOGIN_POLICY], app[CLOCK])


async def _basic_user(request: web.Request, encoded: str) -> str | None:
    credentials = _parse_basic(encoded)
    if credentials is None:
        return None
    outcome = await check_password(request, *credentials)
    if outcome.retry_after is not None:
        raise Problem(429, "too many failed logins for this account or from this address: "
                           f"try again in {outcome.retry_after} seconds",
                      headers={"Retry-After": str(outcome.retry_after)})
    return outcome.user


async def _token_grant(request: web.Request, secret: str) -> token_scopes.TokenGrant | None:
    async with request.app[ENGINE].begin() as conn:
        return await tokens.grant_of(conn, secret.strip())


def _operation(request: web.Request):
    resource = request.match_info.route.resource
    if resource is None:
        return None
    method = "GET" if request.method == "HEAD" else request.method
    return request.app[ROUTE_OPERATIONS].get((method, resource.canonical))


@web.middleware
async def authentication_middleware(request: web.Request, handler):
    if _is_public(request):
        return await handler(request)
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    scheme = scheme.lower()
    if scheme not in ("basic", "bearer"):
        raise Problem(401, "send HTTP Basic credentials of a Planerix user, or 'Authorization: Bearer <token>'",
                      headers=CHALLENGE)
    grant = None
    if scheme == "basic":
        user = await _basic_user(request, value)
    else:
        grant = await _token_grant(request, value)
        user = grant.user if grant else None
    if user is None:
        await asyncio.sleep(FAILED_LOGIN_DELAY)
        raise Problem(401, "wrong user name or password" if scheme == "basic"
                      else "unknown, revoked or expired token", headers=CHALLENGE)
    request[USER] = user
    request[AUTH_SCHEME] = scheme
    if grant is None:
        return await handler(request)
    token_scopes.check(grant, _operation(request))
    limit = token_scopes.ORGANISATION_LIMIT.set(grant.organisation_id)
    try:
        return await handler(request)
    finally:
        token_scopes.ORGANISATION_LIMIT.reset(limit)
