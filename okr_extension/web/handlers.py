"""Thin handlers of the dashboard's pages: read the request, call the logic, render."""
from __future__ import annotations

import asyncio

from aiohttp import web

from okr_extension import auth
from okr_extension.api.problems import Problem
from okr_extension.api.requests import path_id
from okr_extension.goals import crud, key_results, objectives
from okr_extension.keys import CLOCK
from okr_extension.models import goals as goal_models
from okr_extension.models.tokens import TokenCreate
from okr_extension.transactions import transaction
from okr_extension.web import forms, goal_pages, kpi_pages, live, overview, sessions, settings_page, week
from okr_extension.web.assets import PREFIX as STATIC_PREFIX
from okr_extension.web.guard import LOGIN, ROOT, safe_next
from okr_extension.web.render import ASSETS, render
from okr_extension.web.settings import DashboardSettings

SETTINGS = web.AppKey("dashboard_settings", DashboardSettings)
TRACKING_FILTERS = ("off_track", "at_risk", "on_track", "achieved", "none")


def see_other(location: str) -> web.Response:
    """After a form: the browser loads ``location`` with GET (so a reload does not send the form again)."""
    return web.Response(status=303, headers={"Location": location})


def _session(request: web.Request) -> sessions.Session:
    return request[sessions.SESSION]


def _user(request: web.Request) -> str:
    return _session(request).user


async def _form(request: web.Request) -> dict[str, str]:
    return await forms.read_form(request, _session(request).csrf_token)


def _login_page(request: web.Request, status: int = 200, error: str | None = None,
                login: str = "", next_page: str | None = None) -> web.Response:
    # The sign-in form's CSRF token: a fresh random value in a cookie and in the form (double submit).
    token = request.cookies.get(sessions.LOGIN_CSRF_COOKIE) or sessions.new_token()
    response = render(request, "login.html", {
        "title": "Sign in", "login_csrf": token, "error": error, "login": login,
        "next": safe_next(next_page or request.query.get("next"))}, status=status)
    response.set_cookie(sessions.LOGIN_CSRF_COOKIE, token, path=LOGIN, httponly=True, samesite="Strict",
                        secure=request.app[SETTINGS].secure_cookies)
    return response


async def login_form(request: web.Request) -> web.Response:
    return _login_page(request)


async def login(request: web.Request) -> web.Response:
    fields = await forms.read_form(request, request.cookies.get(sessions.LOGIN_CSRF_COOKIE))
    name, password = fields.get("login", ""), fields.get("password", "")
    app = request.app
    outcome = await auth.check_password(request, name, password)
    if outcome.retry_after is not None:
        response = _login_page(request, 429, f"Too many failed sign-ins for this account or from this address: "
                                             f"try again in {outcome.retry_after} seconds.", name, fields.get("next"))
        response.headers["Retry-After"] = str(outcome.retry_after)
        return response
    if outcome.user is None:
        await asyncio.sleep(auth.FAILED_LOGIN_DELAY)
        return _login_page(request, 401, "Wrong user name or password.", name, fields.get("next"))
    settings = app[SETTINGS]
    async with transaction(request) as conn:
        secret = await sessions.start(conn, outcome.user, app[CLOCK](), settings.session_lifetime)
    response = see_other(safe_next(fields.get("next")))
    response.set_cookie(sessions.SESSION_COOKIE, secret, path=ROOT, httponly=True, samesite="Lax",
                        secure=settings.secure_cookies, max_age=int(settings.session_lifetime.total_seconds()))
    response.del_cookie(sessions.LOGIN_CSRF_COOKIE, path=LOGIN)
    return response


async def logout(request: web.Request) -> web.Response:
    await _form(request)
    async with transaction(request) as conn:
        await sessions.end(conn, request.cookies.get(sessions.SESSION_COOKIE))
    response = see_other(LOGIN)
    response.del_cookie(sessions.SESSION_COOKIE, path=ROOT)
    return response


async def home(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        organisations = await overview.my_organisations(conn, _user(request))
    return render(request, "home.html", {"title": "Your organisations", "organisations": organisations})


def _offset(request: web.Request) -> int:
    try:
        offset = int(request.query.get("offset", "0"))
    except ValueError:
        offset = -1
    if not 0 <= offset <= 10_000_000:
        raise Problem(422, "offset must be a whole number of rows, 0 or more")
    return offset


async def organisation_page(request: web.Request) -> web.Response:
    offset = _offset(request)
    owner = request.query.get("owner") or None
    tracking = request.query.get("status") or None
    if tracking is not None and tracking not in TRACKING_FILTERS:
        raise Problem(422, f"unknown status filter {tracking!r}; use one of {', '.join(TRACKING_FILTERS)}")
    squad_text = request.query.get("squad") or ""
    if squad_text and not (squad_text.isdigit() and 0 < int(squad_text) < 2**62):
        raise Problem(422, f"unknown squad filter {squad_text!r}: pick a squad of the list")
    squad = int(squad_text) if squad_text else None
    async with transaction(request) as conn:
        page = await overview.load(conn, _user(request), path_id(request), owner, tracking, offset, squad=squad)
        indicators = await kpi_pages.kpi_list(conn, _user(request), path_id(request))
    return render(request, "organisation.html", {"kpis": indicators,
                                                 "live_url": f"{request.path}/live?offset={offset}",
        "title": f"{page.organisation.name}: objectives", "page": page, "owner": owner or "",
        "status": tracking or "", "squad": squad, "tracking_labels": overview.TRACKING_LABELS,
        "tracking_filters": TRACKING_FILTERS})


async def create_objective(request: web.Request) -> web.Response:
    organisation_id = path_id(request)
    body = forms.to_model(goal_models.ObjectiveCreate, await _form(request), organisation_id=str(organisation_id))
    async with transaction(request) as conn:
        item = await crud.create(conn, objectives.RESOURCE, _user(request), body)
    return see_other(f"{ROOT}/objectives/{item['id']}")


async def objective_page(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        page = await goal_pages.objective_page(conn, _user(request), path_id(request))
    return render(request, "objective.html", {"title": page["objective"]["title"], **page,
                                              "live_url": f"{request.path}/live",
                                              "tracking_labels": overview.TRACKING_LABELS})


async def create_key_result(request: web.Request) -> web.Response:
    objective_id = path_id(request)
    body = forms.to_model(goal_models.KeyResultCreate, await _form(request), objective_id=str(objective_id))
    async with transaction(request) as conn:
        await crud.create(conn, key_results.RESOURCE, _user(request), body)
    return see_other(f"{ROOT}/objectives/{objective_id}")


async def key_result_page(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        page = await goal_pages.key_result_page(conn, _user(request), path_id(request))
    return render(request, "key_result.html", {"title": page["key_result"]["title"], **page,
                                               "live_url": f"{request.path}/live",
                                               "tracking_labels": overview.TRACKING_LABELS})


async def check_in(request: web.Request) -> web.Response:
    key_result_id = path_id(request)
    fields = await _form(request)
    if fields.get("confidence", "").strip():
        # The form asks for a percentage; the API stores a fraction.
        try:
            fields["confidence"] = str(float(fields["confidence"]) / 100)
        except ValueError:
            raise crud.invalid("confidence", "must be a number from 0 to 100") from None
    body = forms.to_model(goal_models.CheckInCreate, fields, key_result_id=str(key_result_id))
    async with transaction(request) as conn:
        await crud.create(conn, key_results.CHECK_INS, _user(request), body)
    return see_other(f"{ROOT}/key-results/{key_result_id}")


async def kpi_page(request: web.Request) -> web.Response:
    async with transaction(request) as conn:
        page = await kpi_pages.kpi_page(conn, _user(request), path_id(request))
    return render(request, "kpi.html", {"title": f"KPI: {page['kpi']['name']}", **page,
                                        "live_url": f"{request.path}/live"})


async def kpi_csv(request: web.Request) -> web.StreamResponse:
    kpi_id = path_id(request)
    async with transaction(request) as conn:
        chunks = kpi_pages.csv_rows(conn, _user(request), kpi_id)
        first = await anext(chunks)  # the rights are checked before anything is sent
        response = web.StreamResponse(headers={
            "Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="kpi-{kpi_id}.csv"'})
        await response.prepare(request)
        await response.write(first.encode("utf-8"))
        async for chunk in chunks:
            await response.write(chunk.encode("utf-8"))
        await response.write_eof()
    return response


async def my_week(request: web.Request) -> web.Response:
    start = week.parse_week(request.query.get("week"))
    async with transaction(request) as conn:
        page = await week.my_week(conn, _user(request), start)
    return render(request, "week.html", {"title": f"My week {page['week']}", **page})


async def heatmap(request: web.Request) -> web.Response:
    organisation_id = path_id(request)
    offset = _offset(request)
    async with transaction(request) as conn:
        page = await week.heatmap(conn, _user(request), organisation_id, offset=offset)
        name = (await overview.organisation_name(conn, organisation_id))
    return render(request, "heatmap.html", {"title": f"{name}: time invested", "heatmap": page,
                                            "organisation_id": organisation_id, "organisation_name": name})


async def _settings(request: web.Request, created: dict | None = None, status: int = 200) -> web.Response:
    page = await settings_page.load(request, _user(request))
    return render(request, "settings.html", {"title": "Settings", **page, "created": {"token": None, "feed": None, **(created or {})}},
                  status=status)


async def settings(request: web.Request) -> web.Response:
    return await _settings(request)


async def create_token(request: web.Request) -> web.Response:
    fields = await _form(request)
    scope = fields.pop("scope", "").strip()  # one choice on the page; the API takes a list
    body = forms.to_model(TokenCreate, fields, **({"scopes": [scope]} if scope else {}))
    token = await settings_page.create_token(request, _user(request), body)
    # The secret is shown in this answer only (it is stored as a hash): no redirect.
    return await _settings(request, {"token": token}, status=201)


async def revoke_token(request: web.Request) -> web.Response:
    await _form(request)
    await settings_page.revoke_token(request, _user(request), path_id(request))
    return see_other(SETTINGS_PATH)


async def create_feed(request: web.Request) -> web.Response:
    fields = await _form(request)
    feed = await settings_page.create_feed(request, _user(request), fields.get("source", ""),
                                           fields.get("name", "").strip())
    return await _settings(request, {"feed": feed}, status=201)


def _feed_id(request: web.Request) -> int:
    return int(request.match_info["feed"])  # the route takes at most 18 digits


async def rotate_feed(request: web.Request) -> web.Response:
    await _form(request)
    feed = await settings_page.rotate_feed(request, _user(request), _feed_id(request))
    return await _settings(request, {"feed": feed})


async def revoke_feed(request: web.Request) -> web.Response:
    await _form(request)
    await settings_page.revoke_feed(request, _user(request), _feed_id(request))
    return see_other(SETTINGS_PATH)


def _live(load):
    async def handler(request: web.Request) -> web.Response:
        async with transaction(request) as conn:
            state = await load(conn, _user(request), path_id(request))
        return live.respond(request, state)
    handler.__name__ = f"live_{load.__name__}"
    return handler


async def live_organisation(request: web.Request) -> web.Response:
    offset = _offset(request)
    async with transaction(request) as conn:
        state = await live.organisation_state(conn, _user(request), path_id(request), offset)
    return live.respond(request, state)


async def static_file(request: web.Request) -> web.Response:
    return request.app[ASSETS].response(request.match_info["name"])


def _id_path(path: str) -> str:
    return path.replace("{id}", "{id:[0-9a-fA-F-]{36}}")


async def root(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently(ROOT + "/")


SETTINGS_PATH = ROOT + "/settings"
FEED_PATH = SETTINGS_PATH + "/feeds/{feed:[0-9]{1,18}}"

ROUTES = [
    web.get(ROOT, root),
    web.get(ROOT + "/", home),
    web.get(LOGIN, login_form),
    web.post(LOGIN, login),
    web.post(ROOT + "/logout", logout),
    web.get(_id_path(ROOT + "/organisations/{id}"), organisation_page),
    web.post(_id_path(ROOT + "/organisations/{id}/objectives"), create_objective),
    web.get(_id_path(ROOT + "/objectives/{id}"), objective_page),
    web.post(_id_path(ROOT + "/objectives/{id}/key-results"), create_key_result),
    web.get(_id_path(ROOT + "/key-results/{id}"), key_result_page),
    web.post(_id_path(ROOT + "/key-results/{id}/check-ins"), check_in),
    web.get(_id_path(ROOT + "/kpis/{id}"), kpi_page),
    web.get(_id_path(ROOT + "/kpis/{id}/measurements.csv"), kpi_csv),
    web.get(_id_path(ROOT + "/organisations/{id}/live"), live_organisation),
    web.get(_id_path(ROOT + "/objectives/{id}/live"), _live(live.objective_state)),
    web.get(_id_path(ROOT + "/key-results/{id}/live"), _live(live.key_result_state)),
    web.get(_id_path(ROOT + "/kpis/{id}/live"), _live(live.kpi_state)),
    web.get(ROOT + "/week", my_week),
    web.get(_id_path(ROOT + "/organisations/{id}/heatmap"), heatmap),
    web.get(SETTINGS_PATH, settings),
    web.post(SETTINGS_PATH + "/tokens", create_token),
    web.post(_id_path(SETTINGS_PATH + "/tokens/{id}/revoke"), revoke_token),
    web.post(SETTINGS_PATH + "/feeds", create_feed),
    web.post(FEED_PATH + "/rotate", rotate_feed),
    web.post(FEED_PATH + "/revoke", revoke_feed),
    web.get(STATIC_PREFIX + "{name}", static_file),
]
