"""The dashboard's middleware: a signed-in session on every page but the sign-in form and the
static files, and errors as HTML pages that say what went wrong."""
from __future__ import annotations

from aiohttp import web

from okr_extension.api.problems import TITLES, Problem
from okr_extension.feeds.options import ValidationError
from okr_extension.keys import CLOCK, DASHBOARD_REQUEST
from okr_extension.transactions import transaction
from okr_extension.web import sessions
from okr_extension.web.assets import PREFIX as STATIC_PREFIX
from okr_extension.web.render import render
from storage_plugin.writer import WriteError

ROOT = "/app"
LOGIN = "/app/login"
# The pages' own policy: scripts and styles only from the static files, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def is_dashboard(path: str) -> bool:
    return path == ROOT or path.startswith(ROOT + "/")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a dashboard path only (never another site)."""
    if target and target.startswith(ROOT + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return ROOT + "/"


async def _session(request: web.Request) -> sessions.Session | None:
    secret = request.cookies.get(sessions.SESSION_COOKIE)
    if not secret:
        return None
    async with transaction(request) as conn:
        return await sessions.find(conn, secret, request.app[CLOCK]())


def _needs_session(request: web.Request) -> bool:
    return not (request.path == LOGIN or request.path.startswith(STATIC_PREFIX))


@web.middleware
async def dashboard_middleware(request: web.Request, handler):
    if not is_dashboard(request.path):
        return await handler(request)
    request[DASHBOARD_REQUEST] = True  # (the API's authentication leaves it to this middleware)
    try:
        if _needs_session(request):
            session = await _session(request)
            if session is None:
                if request.method in ("GET", "HEAD"):
                    raise web.HTTPSeeOther(f"{LOGIN}?next={request.rel_url.path_qs}"
                                           if request.path not in (ROOT, ROOT + "/") else LOGIN)
                raise Problem(401, "you are not signed in (or your session has expired): sign in and try again")
            request[sessions.SESSION] = session
        response = await handler(request)
    except Problem as problem:
        response = error_page(request, problem.status, problem.detail, problem.errors, problem.headers)
    except ValidationError as invalid:  # the feeds' own validation (settings page)
        response = error_page(request, 422, f"invalid input: {invalid}",
                              [{"field": e["field"], "message": e["reason"]} for e in invalid.errors])
    except WriteError as refused:
        response = error_page(request, refused.status, refused.reason)
    except web.HTTPException as http:
        if http.status < 400:
            raise
        detail = {404: f"there is no page at {request.path}",
                  405: f"{request.method} is not allowed on {request.path}"}.get(http.status, http.reason)
        response = error_page(request, http.status, detail)
    if response.prepared:  # a streamed download set its own headers
        return response
    if not request.path.startswith(STATIC_PREFIX):
        response.headers.setdefault("Cache-Control", "no-store")  # (live twins say no-cache: ETags)
    response.headers.update(SECURITY_HEADERS)
    return response


def error_page(request: web.Request, status: int, detail: str, errors: list[dict] | None = None,
               headers: dict | None = None) -> web.Response:
    response = render(request, "error.html", {"title": TITLES.get(status, "Error"), "status": status,
                                              "detail": detail, "errors": errors or []}, status=status)
    response.headers.update(headers or {})
    return response
