"""The dashboard over real HTTP (the sidecar's server, requests as the browser): sign-in and
sessions, CSRF, throttling shared with the API, rights, the overview, and its query count.
The browser tests (test_web_browser.py) drive the same pages in Chromium."""
from __future__ import annotations

import asyncio
import hashlib
import html
import re
import uuid
from datetime import timedelta

import psycopg
import pytest
import sqlalchemy as sa

from okr_extension.web import live, overview, week
from okr_extension.web.settings import DashboardSettings
from storage_plugin import clock, database
from tests.conftest import FROZEN_NOW, ApiServer
from tests.webutil import Dashboard, csrf_token


@pytest.fixture
def dashboard(api_server) -> Dashboard:
    return Dashboard(api_server.url)


def signed_in(api_url: str, who) -> Dashboard:
    page = Dashboard(api_url)
    response = page.sign_in(who.name, who.password)
    assert response.status_code == 303, response.text
    return page


def test_sign_in_sets_an_httponly_samesite_cookie_whose_secret_is_not_stored(api_server, alice, database_url):
    page = Dashboard(api_server.url)
    response = page.sign_in(alice.name, alice.password)
    assert response.status_code == 303 and response.headers["Location"] == "/app/"
    cookie = response.headers["Set-Cookie"]
    assert "planerix_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http here; see the secure-cookie test
    secret = page.session.cookies["planerix_session"]
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT id_sha256, expires > now() FROM web_session WHERE account = %s",
                            (alice.name,)).fetchall()
    assert rows == [(hashlib.sha256(secret.encode()).digest(), True)]
    home = page.get("/app/")
    assert home.status_code == 200 and f"Signed in as <strong>{alice.name}</strong>" in home.text
    assert home.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in home.headers["Content-Security-Policy"]


def test_secure_cookies_when_configured(engine, database_url, api_user_factory):
    server = ApiServer(database_url, dashboard_settings=DashboardSettings(secure_cookies=True))
    try:
        who = api_user_factory("secure")
        page = Dashboard(server.url)
        form = page.get("/app/login")
        assert "Secure" in form.headers["Set-Cookie"]
        # (requests, like a browser, keeps Secure cookies off plain http: send it by hand.)
        token = csrf_token(form.text)
        response = page.session.post(page.url("/app/login"), allow_redirects=False,
                                     headers={"Cookie": f"planerix_login_csrf={token}"},
                                     data={"csrf_token": token, "login": who.name, "password": who.password})
        assert response.status_code == 303
        assert "Secure" in response.headers["Set-Cookie"]
    finally:
        server.stop()


def test_secure_cookie_setting_from_the_environment(monkeypatch):
    monkeypatch.setenv("PLANERIX_DASHBOARD_SECURE_COOKIES", "1")
    assert DashboardSettings.from_env().secure_cookies
    monkeypatch.setenv("PLANERIX_DASHBOARD_SECURE_COOKIES", "maybe")
    with pytest.raises(ValueError, match="must be 1 or 0"):
        DashboardSettings.from_env()


def test_pages_need_a_session(dashboard):
    response = dashboard.get("/app/organisations/00000000-0000-0000-0000-000000000001?status=at_risk",
                             allow_redirects=False)
    assert response.status_code == 303
    assert response.headers["Location"] == \
        "/app/login?next=/app/organisations/00000000-0000-0000-0000-000000000001?status=at_risk"
    forged = dashboard.session.post(dashboard.url("/app/logout"), data={"csrf_token": "x"})
    assert forged.status_code == 401 and "not signed in" in forged.text
    # The API's own authentication is untouched: /api/ still asks for credentials.
    assert dashboard.get("/api/organisations").status_code == 401


def test_sign_in_returns_only_to_dashboard_pages(api_server, alice):
    page = Dashboard(api_server.url)
    form = page.get("/app/login", params={"next": "//evil.example/"})
    response = page.session.post(page.url("/app/login"), data={
        "csrf_token": csrf_token(form.text), "login": alice.name, "password": alice.password,
        "next": "https://evil.example/"}, allow_redirects=False)
    assert response.headers["Location"] == "/app/"


def test_wrong_password_then_throttled_like_the_api(api_server, api_user_factory):
    who = api_user_factory("guessed")
    page = Dashboard(api_server.url)
    wrong = page.sign_in(who.name, "not-the-password")
    assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
    assert "planerix_session" not in page.session.cookies
    for _ in range(4):
        assert page.sign_in(who.name, "still-wrong").status_code == 401
    throttled = page.sign_in(who.name, who.password)
    assert throttled.status_code == 429 and "try again in" in throttled.text
    assert int(throttled.headers["Retry-After"]) > 0
    # One count for both doors: the API refuses the right password too.
    assert who.call("GET", "/api/organisations").status_code == 429


def test_the_sign_in_form_refuses_a_forged_post(api_server, alice):
    page = Dashboard(api_server.url)
    response = page.session.post(page.url("/app/login"), data={
        "csrf_token": "forged", "login": alice.name, "password": alice.password}, allow_redirects=False)
    assert response.status_code == 403 and "security token" in response.text
    assert "planerix_session" not in page.session.cookies


def test_forged_form_is_refused_with_403_and_nothing_changes(api_server, alice, org):
    page = signed_in(api_server.url, alice)
    response = page.session.post(page.url(f"/app/organisations/{org['id']}/objectives"),
                                 data={"csrf_token": "not-my-token", "title": "Forged"}, allow_redirects=False)
    assert response.status_code == 403
    assert "security token is missing or does not match your session" in response.text
    missing = page.session.post(page.url(f"/app/organisations/{org['id']}/objectives"), data={"title": "Forged"})
    assert missing.status_code == 403
    titles = [o["title"] for o in alice.ok("GET", "/api/objectives", organisation_id=org["id"])["items"]]
    assert "Forged" not in titles


def test_sign_out_ends_the_session_for_every_copy_of_the_cookie(api_server, alice):
    page = signed_in(api_server.url, alice)
    stolen = page.session.cookies["planerix_session"]
    response = page.post_form("/app/", "/app/logout", {})
    assert response.status_code == 303 and response.headers["Location"] == "/app/login"
    replay = Dashboard(api_server.url)
    replay.session.cookies.set("planerix_session", stolen)
    assert replay.get("/app/", allow_redirects=False).status_code == 303


def test_a_session_works_on_every_server_process(engine, database_url, api_server, alice):
    other = ApiServer(database_url)
    try:
        page = signed_in(api_server.url, alice)
        elsewhere = Dashboard(other.url)
        elsewhere.session.cookies.set("planerix_session", page.session.cookies["planerix_session"])
        assert elsewhere.get("/app/", allow_redirects=False).status_code == 200
    finally:
        other.stop()


def test_sessions_expire(api_server, alice):
    with clock.frozen(FROZEN_NOW):
        page = signed_in(api_server.url, alice)
        assert page.get("/app/", allow_redirects=False).status_code == 200
    with clock.frozen(FROZEN_NOW + DashboardSettings().session_lifetime + timedelta(seconds=1)):
        assert page.get("/app/", allow_redirects=False).status_code == 303


def test_create_objective_and_key_result_and_check_in_through_forms(api_server, alice, org):
    page = signed_in(api_server.url, alice)
    org_page = f"/app/organisations/{org['id']}"
    due = (clock.today() + timedelta(days=60)).isoformat()
    created = page.post_form(org_page, f"{org_page}/objectives", {"title": "Grow revenue", "due_date": due})
    assert created.status_code == 303
    objective_id = created.headers["Location"].rsplit("/", 1)[1]
    assert alice.ok("GET", f"/api/objectives/{objective_id}")["title"] == "Grow revenue"

    bad = page.post_form(f"/app/objectives/{objective_id}", f"/app/objectives/{objective_id}/key-results",
                         {"title": "Bad", "start_value": "10", "target_value": "5"})
    assert bad.status_code == 422 and "increase_to key result needs target_value above start_value" in bad.text

    added = page.post_form(f"/app/objectives/{objective_id}", f"/app/objectives/{objective_id}/key-results",
                           {"title": "MRR", "start_value": "0", "target_value": "200", "unit": "k€"})
    assert added.status_code == 303
    kr = alice.ok("GET", "/api/key-results", objective_id=objective_id)["items"][0]
    checked = page.post_form(f"/app/key-results/{kr['id']}", f"/app/key-results/{kr['id']}/check-ins",
                             {"value": "50", "confidence": "80", "note": "first deals"})
    assert checked.status_code == 303
    check_in = alice.ok("GET", "/api/check-ins", key_result_id=kr["id"])["items"][0]
    assert (check_in["value"], check_in["confidence"], check_in["note"]) == (50, 0.8, "first deals")
    kr_page = page.get(f"/app/key-results/{kr['id']}").text
    assert 'value="25"' in kr_page  # the progress bar: 50 of 200
    assert '"check_ins": [{"t"' in kr_page and '"pace": [' in kr_page
    objective_page = page.get(f"/app/objectives/{objective_id}").text
    assert "MRR" in objective_page and "80%" in objective_page


def test_rights_are_the_apis(api_server, alice, org, api_user_factory):
    stranger = signed_in(api_server.url, api_user_factory("stranger"))
    assert stranger.get(f"/app/organisations/{org['id']}").status_code == 404
    objective = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Secret"})
    assert stranger.get(f"/app/objectives/{objective['id']}").status_code == 404

    viewer_user = api_user_factory("viewer")
    alice.ok("POST", f"/api/organisations/{org['id']}/members", {"user": viewer_user.name, "role": "viewer"})
    viewer = signed_in(api_server.url, viewer_user)
    page = viewer.get(f"/app/organisations/{org['id']}").text
    assert "Secret" in page and "New objective" not in page
    refused = viewer.post_form(f"/app/organisations/{org['id']}", f"/app/organisations/{org['id']}/objectives",
                               {"title": "Sneaky"})
    assert refused.status_code == 403 and "your role 'viewer' cannot do this" in html.unescape(refused.text)
    assert "New key result" not in viewer.get(f"/app/objectives/{objective['id']}").text


def test_overview_sorts_by_risk_and_filters(api_server, alice, org, api_user_factory, frozen_clock):
    member = api_user_factory("member")
    alice.ok("POST", f"/api/organisations/{org['id']}/members", {"user": member.name, "role": "member"})
    start, due = (FROZEN_NOW.date() - timedelta(days=50)).isoformat(), (FROZEN_NOW.date() + timedelta(days=50)).isoformat()

    def objective_at(title: str, value: float, owner: str):
        o = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": title, "owner": owner,
                                                 "start_date": start, "due_date": due})
        kr = alice.ok("POST", "/api/key-results", {"objective_id": o["id"], "title": f"{title} KR",
                                                   "target_value": 100})
        alice.ok("POST", "/api/check-ins", {"key_result_id": kr["id"], "value": value, "confidence": 0.4})
        return o

    objective_at("Fine", 60, alice.name)       # half the time gone, 60% done: on track
    objective_at("Lagging", 10, member.name)   # 10% of an expected 50%: off track
    objective_at("Wobbly", 30, alice.name)     # 60% of the pace: at risk
    page = signed_in(api_server.url, alice)
    text = page.get(f"/app/organisations/{org['id']}").text
    order = re.findall(r'class="name" href="/app/objectives/[^"]+">([^<]+)<', text)
    assert order == ["Lagging", "Wobbly", "Fine"]
    assert "40%" in text  # the latest check-in's confidence

    by_owner = page.get(f"/app/organisations/{org['id']}", params={"owner": member.name}).text
    assert "Lagging" in by_owner and "Fine" not in by_owner and "Wobbly" not in by_owner
    at_risk = page.get(f"/app/organisations/{org['id']}", params={"status": "at_risk"}).text
    assert "Wobbly" in at_risk and "Lagging" not in at_risk
    wrong = page.get(f"/app/organisations/{org['id']}", params={"status": "purple"})
    assert wrong.status_code == 422 and "unknown status filter" in wrong.text
    # A squad: the objectives its members own.
    squad = alice.ok("POST", f"/api/organisations/{org['id']}/squads", {"name": "Sales", "members": [member.name]})
    listed = page.get(f"/app/organisations/{org['id']}").text
    assert f'<option value="{squad["id"]}">Sales</option>' in listed
    by_squad = page.get(f"/app/organisations/{org['id']}", params={"squad": squad["id"]}).text
    assert "Lagging" in by_squad and "Fine" not in by_squad and "Wobbly" not in by_squad
    assert page.get(f"/app/organisations/{org['id']}", params={"squad": "x"}).status_code == 422


def test_static_files_are_fingerprinted_and_cached(dashboard):
    page = dashboard.get("/app/login").text
    css = re.search(r'href="(/app/static/app\.[0-9a-f]{10}\.css)"', page).group(1)
    response = dashboard.get(css)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/css")
    assert "immutable" in response.headers["Cache-Control"]
    chart = re.search(r'src="(/app/static/chart\.[0-9a-f]{10}\.umd\.min\.js)"', page).group(1)
    assert "Chart.js v4" in dashboard.get(chart).text
    assert dashboard.get("/app/static/app.0000000000.css").status_code == 404


def _in_process(database_url: str, load) -> tuple:
    """``load(conn)`` on a connection of its own: (its result, how many statements it sent)."""
    async def run() -> tuple:
        engine = database.async_engine_for(database_url, pool_size=1, max_overflow=0)
        count = 0

        def counted(*args):
            nonlocal count
            count += 1
        sa.event.listen(engine.sync_engine, "before_cursor_execute", counted)
        try:
            async with engine.begin() as conn:
                return await load(conn), count
        finally:
            await engine.dispose()
    return asyncio.run(run())


def _statements_for(database_url: str, load) -> int:
    return _in_process(database_url, load)[1]


def test_organisation_pages_queries_do_not_grow_with_objectives(engine, database_url, alice, org,
                                                                api_user_factory):
    def add(n: int, organisation_id):
        for i in range(n):
            o = alice.ok("POST", "/api/objectives", {"organisation_id": organisation_id, "title": f"O{i}"})
            kr = alice.ok("POST", "/api/key-results", {"objective_id": o["id"], "title": "K", "target_value": 10})
            alice.ok("POST", "/api/check-ins", {"key_result_id": kr["id"], "value": 1, "confidence": 0.5})
    small = org
    large = alice.ok("POST", "/api/organisations", {"name": "Large"})
    add(2, small["id"])
    add(25, large["id"])
    pages = {"overview": lambda conn, org_id: overview.load(conn, alice.name, org_id),
             "filtered": lambda conn, org_id: overview.load(conn, alice.name, org_id, tracking="none"),
             "live": lambda conn, org_id: live.organisation_state(conn, alice.name, org_id),
             "heatmap": lambda conn, org_id: week.heatmap(conn, alice.name, org_id)}
    for name, load in pages.items():
        counts = [_statements_for(database_url, lambda conn, org_id=uuid.UUID(o["id"]): load(conn, org_id))
                  for o in (small, large)]
        assert counts[0] == counts[1], (name, counts)


def test_a_password_change_signs_the_user_out_of_the_dashboard(engine, api_server, api_user_factory):
    from okr_extension.password_change import change_password

    who, bystander = api_user_factory("changing"), api_user_factory("bystander")
    page, other = signed_in(api_server.url, who), signed_in(api_server.url, bystander)
    change_password(engine, who.name, "a-new-password", keep_tokens=True)
    assert page.get("/app/", allow_redirects=False).status_code == 303
    assert other.get("/app/", allow_redirects=False).status_code == 200


def kpi_with_measurements(alice, org, frozen_now):
    indicator = alice.ok("POST", "/api/kpis", {
        "organisation_id": org["id"], "name": "Weekly signups", "unit": "signups", "target": 120,
        "warn_threshold": 90, "alarm_threshold": 60, "period": "weekly", "aggregation": "sum"})
    points = [{"measured_at": (frozen_now - timedelta(weeks=w, hours=1)).isoformat(), "value": 30 + 10 * (8 - w),
               "note": "=HYPERLINK(\"x\")" if w == 0 else "", "source": "crm"} for w in range(8)]
    alice.ok("POST", f"/api/kpis/{indicator['id']}/measurements", {"measurements": points}, status=200)
    return indicator


def test_kpi_page_series_and_csv_export(api_server, alice, org, api_user_factory, frozen_clock):
    indicator = kpi_with_measurements(alice, org, FROZEN_NOW)
    page = signed_in(api_server.url, alice)
    assert f'href="/app/kpis/{indicator["id"]}"' in page.get(f"/app/organisations/{org['id']}").text
    text = html.unescape(page.get(f"/app/kpis/{indicator['id']}").text)
    series = alice.ok("GET", f"/api/kpis/{indicator['id']}/series",
                      start=(FROZEN_NOW - timedelta(weeks=11)).isoformat(), end=FROZEN_NOW.isoformat())
    assert '"warn": 90.0' in text and '"alarm": 60.0' in text and '"target": 120.0' in text
    assert text.count("<td>crm</td>") == 8
    assert "Healthy" in text  # this week's 110 is above the warn threshold
    assert series["points"][-1]["value"] == 110 and "110" in text

    export = page.get(f"/app/kpis/{indicator['id']}/measurements.csv")
    assert export.status_code == 200 and export.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in export.headers["Content-Disposition"]
    lines = export.text.strip().split("\r\n")
    assert lines[0] == "measured_at,value,note,source,author" and len(lines) == 9
    assert lines[-1].split(",")[1] == "110.0" and "'=HYPERLINK" in lines[-1]  # a note is never a formula

    stranger = signed_in(api_server.url, api_user_factory("stranger"))
    assert stranger.get(f"/app/kpis/{indicator['id']}").status_code == 404
    assert stranger.get(f"/app/kpis/{indicator['id']}/measurements.csv").status_code == 404


def test_live_twin_answers_304_until_something_changes(api_server, alice, org):
    objective = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Live"})
    kr = alice.ok("POST", "/api/key-results", {"objective_id": objective["id"], "title": "Count",
                                               "target_value": 10})
    page = signed_in(api_server.url, alice)
    assert f'data-live-url="/app/key-results/{kr["id"]}/live"' in page.get(f"/app/key-results/{kr['id']}").text
    for path in (f"/app/key-results/{kr['id']}/live", f"/app/objectives/{objective['id']}/live",
                 f"/app/organisations/{org['id']}/live"):
        first = page.get(path)
        assert first.status_code == 200 and first.json()["bars"][kr["id"] if "key-results" in path
                                                                  else objective["id"]]["value"] == 0
        etag = first.headers["ETag"]
        assert page.get(path, headers={"If-None-Match": etag}).status_code == 304
    etags = {path: page.get(path).headers["ETag"] for path in (f"/app/key-results/{kr['id']}/live",
                                                                f"/app/organisations/{org['id']}/live")}
    alice.ok("POST", "/api/check-ins", {"key_result_id": kr["id"], "value": 4, "confidence": 0.9})
    for path, etag in etags.items():
        changed = page.get(path, headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["ETag"] != etag
    state = page.get(f"/app/key-results/{kr['id']}/live").json()
    assert state["bars"][kr["id"]]["value"] == 40 and state["fields"]["current"] == "4"
    assert [point["value"] for point in state["chart"]["check_ins"]] == [4]
    assert page.get(f"/app/organisations/{org['id']}/live").json()["fields"][f"confidence:{objective['id']}"] == "90%"
    assert Dashboard(api_server.url).get(f"/app/key-results/{kr['id']}/live", allow_redirects=False).status_code == 303


def test_overview_pages_top_level_objectives_and_counts_what_it_leaves_out(database_url, api_server, alice, org,
                                                                         monkeypatch):
    top = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Top"})
    child = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Child",
                                                 "parent_id": top["id"]})
    alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Grandchild",
                                         "parent_id": child["id"]})
    alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Second child",
                                         "parent_id": top["id"]})
    alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Other"})

    def page(offset: int, **bounds):
        for name, value in bounds.items():
            monkeypatch.setattr(overview, name, value)
        loaded, _ = _in_process(database_url, lambda conn: overview.load(conn, alice.name, uuid.UUID(org["id"]),
                                                                         offset=offset, limit=1))
        return loaded, [(node.objective["title"], depth, node.hidden) for node, depth in loaded.rows]

    first, rows = page(0)
    assert rows == [("Other", 0, 0)]
    assert (first.count, first.matching, first.next_offset, first.previous_offset) == (5, 2, 1, None)
    second, rows = page(1)
    assert rows == [("Top", 0, 0), ("Child", 1, 0), ("Grandchild", 2, 0), ("Second child", 1, 0)]
    assert (second.next_offset, second.previous_offset) == (None, 0)
    # Beyond the shown depth or the shown children, the parent's row counts what is left out.
    assert page(1, SHOWN_DEPTH=1)[1] == [("Top", 0, 0), ("Child", 1, 1), ("Second child", 1, 0)]
    assert page(1, SHOWN_DEPTH=2, SHOWN_CHILDREN=1)[1] == [("Top", 0, 1), ("Child", 1, 0), ("Grandchild", 2, 0)]
    monkeypatch.undo()  # the sidecar below runs in this process: back to the real bounds

    browser = signed_in(api_server.url, alice)
    text = browser.get(f"/app/organisations/{org['id']}").text
    assert 'class="objective depth-2"' in text and "Showing " not in text  # one page: no pager
    assert "Objective tree (5 objectives, 2 top-level)" in text
    assert browser.get(f"/app/organisations/{org['id']}", params={"offset": "-1"}).status_code == 422
    beyond = browser.get(f"/app/organisations/{org['id']}/live", params={"offset": "1"}).json()
    assert len(beyond["bars"]) == 4  # the live twin covers the rows of its page only: Top's subtree
    aligned = browser.post_form(f"/app/objectives/{top['id']}", f"/app/organisations/{org['id']}/objectives",
                                {"title": "Aligned", "parent_id": top["id"]})
    assert aligned.status_code == 303
    made = alice.ok("GET", aligned.headers["Location"].replace("/app/", "/api/"))
    assert made["parent_id"] == top["id"]


def test_a_failed_sign_in_keeps_where_to_go_and_odd_names_are_refused_plainly(api_server, alice):
    page = Dashboard(api_server.url)
    form = page.get("/app/login", params={"next": "/app/week"})
    token = csrf_token(form.text)
    wrong = page.session.post(page.url("/app/login"), data={"csrf_token": token, "login": "nobody\x00",
                                                             "password": "x", "next": "/app/week"})
    assert wrong.status_code == 401 and 'name="next" value="/app/week"' in wrong.text
    right = page.session.post(page.url("/app/login"), allow_redirects=False, data={
        "csrf_token": csrf_token(wrong.text), "login": alice.name, "password": alice.password, "next": "/app/week"})
    assert right.headers["Location"] == "/app/week"


def test_the_overview_follows_every_change_to_what_it_rolls_up(api_server, base_url, alice, org):
    """The sorted roll-up is kept between requests only while the database's fingerprint of its
    inputs is the same: a deletion, a task completed over CalDAV, a check-in and a rename each
    show on the very next request."""
    from tests.conftest import DavUser
    from tests.test_web_browser import vtodo

    kept = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Kept"})
    gone = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Gone"})
    tasks = alice.ok("POST", "/api/key-results", {"objective_id": kept["id"], "title": "Tasks", "target_value": 1,
                                                  "progress_mode": "tasks"})
    counted = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Counted"})
    count = alice.ok("POST", "/api/key-results", {"objective_id": counted["id"], "title": "Count",
                                                  "target_value": 10})
    page = signed_in(api_server.url, alice)

    def bars() -> dict:
        return {key: bar["value"] for key, bar in page.get(f"/app/organisations/{org['id']}/live").json()["bars"].items()}
    assert bars() == {kept["id"]: 0, gone["id"]: 0, counted["id"]: 0}
    alice.ok("DELETE", f"/api/objectives/{gone['id']}")
    assert bars() == {kept["id"]: 0, counted["id"]: 0}

    dav = DavUser(base_url, alice.name, alice.password)
    dav.mkcalendar("tasks", ("VTODO",))
    assert dav.put("tasks/t.ics", vtodo("t", tasks["id"], "NEEDS-ACTION")).status_code == 201
    assert bars()[kept["id"]] == 0
    assert dav.put("tasks/t.ics", vtodo("t", tasks["id"], "COMPLETED")).status_code == 204
    assert bars()[kept["id"]] == 100

    alice.ok("POST", "/api/check-ins", {"key_result_id": count["id"], "value": 5})
    assert bars()[counted["id"]] == 50
    alice.ok("PATCH", f"/api/objectives/{counted['id']}", {"title": "Renamed"})
    text = page.get(f"/app/organisations/{org['id']}").text
    assert ">Renamed</a>" in text and ">Counted</a>" not in text


def test_a_change_to_key_results_alone_re_rolls_what_it_touches_as_a_fresh_roll_up_would(
        database_url, alice, org, frozen_clock):
    """Within a minute, a change to key results only (check-ins deep in the tree, a key result added)
    brings the kept roll-up up to date rather than making it again, and it equals a roll-up made
    afresh; a key result deleted, or switched to tasks (whose totals were not read), makes it again."""
    from okr_extension.goals import rollup
    start, due = (FROZEN_NOW.date() - timedelta(days=50)).isoformat(), (FROZEN_NOW.date() + timedelta(days=50)).isoformat()
    org_id = uuid.UUID(org["id"])

    def objective(title: str, parent: dict | None = None) -> dict:
        return alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": title, "start_date": start,
                                                    "due_date": due, "parent_id": parent and parent["id"]})

    def key_result(on: dict, target: float = 10) -> dict:
        return alice.ok("POST", "/api/key-results", {"objective_id": on["id"], "title": "KR", "target_value": target})
    top = objective("Top")
    middle = objective("Middle", top)
    leaf = objective("Leaf", middle)
    aside = objective("Aside")
    leaf_kr, middle_kr, aside_kr = key_result(leaf), key_result(middle, 4), key_result(aside)

    def snapshot_and_fresh() -> tuple:
        async def load(conn):
            kept = overview._SNAPSHOTS.get(org_id)
            made = await overview.snapshot(conn, org_id)
            fresh = {item["id"]: item for item in (await rollup.assess_organisation(conn, org_id)).items}
            brought_up_to_date = kept is not None and overview._SNAPSHOTS[org_id][1].rows is kept[1].rows
            return made, fresh, brought_up_to_date
        return _in_process(database_url, load)[0]

    def same_as_fresh() -> bool:
        made, fresh, brought_up_to_date = snapshot_and_fresh()
        assert made.items.keys() == fresh.keys()
        for item_id, item in fresh.items():
            assert made.items[item_id] == {**item, "progress": pytest.approx(item["progress"])}, item["title"]
        resorted = overview._sorted(list(fresh.values()))
        assert (made.ordered, made.roots, made.children, made.descendants) == (
            resorted.ordered, resorted.roots, resorted.children, resorted.descendants)
        return brought_up_to_date, {made.items[uuid.UUID(o["id"])]["tracking"] for o in (top, leaf, aside)}

    assert same_as_fresh()[0] is False  # the first roll-up of the minute
    alice.ok("POST", "/api/check-ins", {"key_result_id": leaf_kr["id"], "value": 5})
    alice.ok("POST", "/api/check-ins", {"key_result_id": aside_kr["id"], "value": 9})
    brought_up_to_date, trackings = same_as_fresh()
    assert brought_up_to_date and len(trackings) > 1
    alice.ok("POST", "/api/check-ins", {"key_result_id": aside_kr["id"], "value": 9.5})  # same status: same order
    assert same_as_fresh()[0]
    alice.ok("POST", "/api/check-ins", {"key_result_id": middle_kr["id"], "value": 1})
    key_result(leaf, 20)
    assert same_as_fresh()[0]
    alice.ok("DELETE", f"/api/key-results/{leaf_kr['id']}")
    key_result(leaf, 30)  # a deletion, even beside an addition, makes it again
    assert same_as_fresh()[0] is False
    alice.ok("POST", "/api/check-ins", {"key_result_id": middle_kr["id"], "value": 3})
    assert same_as_fresh()[0]
    alice.ok("PATCH", f"/api/key-results/{aside_kr['id']}", {"progress_mode": "tasks"})
    assert same_as_fresh()[0] is False
    alice.ok("PATCH", f"/api/objectives/{aside['id']}", {"title": "Renamed"})  # not key results alone
    assert same_as_fresh()[0] is False


def test_heatmap_pages_its_rows_most_time_first_then_by_title(database_url, alice, org):
    for title in ("Beta", "alpha", "Gamma"):
        alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": title})

    def page(offset: int):
        return _in_process(database_url, lambda conn: week.heatmap(conn, alice.name, uuid.UUID(org["id"]),
                                                                    offset=offset, limit=2))[0]
    first, second = page(0), page(2)
    assert [row["objective"]["title"] for row in first.rows + second.rows] == ["alpha", "Beta", "Gamma"]
    assert (first.objectives, first.next_offset, first.previous_offset) == (3, 2, None)
    assert (second.next_offset, second.previous_offset) == (None, 0)
    assert all(len(row["cells"]) == week.HEATMAP_WEEKS for row in first.rows)
    beyond = page(10)
    assert beyond.rows == [] and beyond.objectives == 3
