"""The dashboard in headless Chromium, used the way a person does: sign in with the keyboard,
create an objective and a key result, check in and watch the bar and the chart move, sign out,
and a forged form refused. Screenshots of each page are saved (tests/browser.py says where)."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bench.servers import real_clock_environment
from davutil import calendar, vevent
from tests.browser import DESKTOP, PHONE, require_chromium, screenshot_folder
from tests.conftest import FROZEN_NOW, DavUser

from playwright import sync_api as playwright_api  # in the test extra: never skipped

expect = playwright_api.expect


@pytest.fixture(scope="module")
def browser():
    executable = require_chromium()
    with playwright_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start. The browser keeps
        # the real clock when the suite runs ahead (.ci/clock-ahead): Chromium does not survive
        # libfaketime, and only the server's clock is under test.
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"],
                                             env=real_clock_environment())
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return screenshot_folder(tmp_path_factory)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def sign_in(page, api_url: str, who) -> None:
    """With the keyboard only: the user name field has focus, Tab to the password, Enter."""
    page.goto(api_url + "/app/")
    expect(page).to_have_title("Sign in · Planerix")
    expect(page.get_by_label("User name")).to_be_focused()
    page.keyboard.type(who.name)
    page.keyboard.press("Tab")
    page.keyboard.type(who.password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your organisations")


def bar(page, label: str):
    return page.get_by_role("progressbar", name=f"Progress of {label}")


def seed_overview(alice, org, member) -> None:
    """A few objectives in different states, so the overview has something to sort."""
    start = (FROZEN_NOW.date() - timedelta(days=45)).isoformat()
    due = (FROZEN_NOW.date() + timedelta(days=45)).isoformat()
    for title, value, owner in (("Ship the mobile app", 15, member), ("Halve support backlog", 30, alice.name),
                                ("Hire two engineers", 60, member)):
        o = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": title, "owner": owner,
                                                 "start_date": start, "due_date": due})
        kr = alice.ok("POST", "/api/key-results", {"objective_id": o["id"], "title": f"{title}: done",
                                                   "target_value": 100, "unit": "%"})
        alice.ok("POST", "/api/check-ins", {"key_result_id": kr["id"], "value": value, "confidence": 0.6})


def test_objective_key_result_and_check_in(page, api_server, alice, org, api_user_factory, shots, frozen_clock):
    member = api_user_factory("bob")
    alice.ok("POST", f"/api/organisations/{org['id']}/members", {"user": member.name, "role": "member"})
    seed_overview(alice, org, member.name)
    sign_in(page, api_server.url, alice)
    page.screenshot(path=shots / "organisations.png", full_page=True)
    page.get_by_role("link", name="Acme").click()
    expect(page).to_have_title("Acme: objectives · Planerix")

    page.get_by_label("Title").fill("Win the enterprise segment")
    page.get_by_label("Start date").fill((FROZEN_NOW.date() - timedelta(days=30)).isoformat())
    page.get_by_label("Due date").fill((FROZEN_NOW.date() + timedelta(days=30)).isoformat())
    page.get_by_role("button", name="Create objective").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Objective: Win the enterprise segment")

    new_key_result = page.get_by_role("region", name="New key result")
    new_key_result.get_by_label("Title").fill("Signed enterprise customers")
    new_key_result.get_by_label("Target value").fill("40")
    new_key_result.get_by_label("Unit").fill("customers")
    page.get_by_role("button", name="Add key result").click()
    page.get_by_role("link", name="Signed enterprise customers").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Key result: Signed enterprise customers")
    chart = page.locator("#history-chart")
    expect(chart).to_have_attribute("data-check-ins", "0")
    expect(bar(page, "Signed enterprise customers")).to_have_attribute("value", "0")

    page.get_by_label("Value (customers)").fill("10")
    page.get_by_label("Confidence (%)").fill("70")
    page.get_by_label("Note").fill("Two pilots converted")
    page.get_by_role("button", name="Check in").click()
    expect(bar(page, "Signed enterprise customers")).to_have_attribute("value", "25")
    expect(chart).to_have_attribute("data-check-ins", "1")
    drawn = page.evaluate("() => planerixCharts.history.data.datasets.map(d => d.data.length)")
    assert drawn == [1, 2]  # one check-in; the pace line from start to due
    page.get_by_label("Value (customers)").fill("18")
    page.get_by_role("button", name="Check in").click()
    expect(chart).to_have_attribute("data-check-ins", "2")
    expect(page.get_by_role("cell", name="Two pilots converted")).to_be_visible()
    page.screenshot(path=shots / "key-result.png", full_page=True)

    page.get_by_role("link", name="Win the enterprise segment").click()
    expect(bar(page, "Signed enterprise customers")).to_have_attribute("value", "45")
    page.screenshot(path=shots / "objective.png", full_page=True)
    page.get_by_role("link", name="Acme").click()
    rows = page.locator("#objective-tree .name")
    # Off track, at risk, then on track by due date (the new one is due first).
    expect(rows).to_have_text(["Ship the mobile app", "Halve support backlog", "Win the enterprise segment",
                               "Hire two engineers"])
    expect(bar(page, "Win the enterprise segment")).to_have_attribute("value", "45")
    page.screenshot(path=shots / "overview.png", full_page=True)

    page.get_by_label("Owner").select_option(member.name)
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_text(["Ship the mobile app", "Hire two engineers"])


def test_forged_form_refused_and_sign_out(page, api_server, alice, org, shots):
    sign_in(page, api_server.url, alice)
    page.goto(f"{api_server.url}/app/organisations/{org['id']}")
    page.get_by_label("Title").fill("Planted by a forged form")
    # What a page on another site would send: the form without this session's token.
    page.evaluate("() => { document.querySelector('form[action$=\"/objectives\"] input[name=csrf_token]')"
                  ".value = 'forged'; }")
    page.get_by_role("button", name="Create objective").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("403 Forbidden")
    expect(page.get_by_role("alert")).to_contain_text("security token is missing or does not match")
    page.screenshot(path=shots / "forged-form-refused.png")
    titles = [o["title"] for o in alice.ok("GET", "/api/objectives", organisation_id=org["id"])["items"]]
    assert "Planted by a forged form" not in titles

    page.goto(f"{api_server.url}/app/")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_title("Sign in · Planerix")
    page.goto(f"{api_server.url}/app/organisations/{org['id']}")
    expect(page).to_have_title("Sign in · Planerix")  # the session is gone


def test_pages_are_accessible_and_fit_a_phone(browser, api_server, alice, org, shots):
    objective = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Phone-sized goal"})
    kr = alice.ok("POST", "/api/key-results", {"objective_id": objective["id"], "title": "A result with a long "
                                               "title that has to wrap on a narrow screen", "target_value": 5})
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        sign_in(page, api_server.url, alice)
        for path, name in ((f"/app/organisations/{org['id']}", "overview"),
                           (f"/app/objectives/{objective['id']}", "objective"),
                           (f"/app/key-results/{kr['id']}", "key-result")):
            page.goto(api_server.url + path)
            assert page.title().endswith(" · Planerix")
            assert page.locator("h1").count() == 1
            unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
                .filter(e => e.type !== 'hidden' && e.labels.length === 0 && !e.getAttribute('aria-label'))
                .map(e => e.name)""")
            assert unlabelled == [], (path, unlabelled)
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
            page.screenshot(path=shots / f"phone-{name}.png", full_page=True)
        # The skip link is the first stop of the keyboard and leads to the content.
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    finally:
        context.close()


def test_kpi_chart_with_bands(page, api_server, alice, org, shots, frozen_clock):
    from tests.test_web_dashboard import kpi_with_measurements

    indicator = kpi_with_measurements(alice, org, FROZEN_NOW)
    sign_in(page, api_server.url, alice)
    page.get_by_role("link", name="Acme").click()
    page.get_by_role("link", name="Weekly signups").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("KPI: Weekly signups")
    chart = page.locator("#kpi-chart")
    expect(chart).to_have_attribute("data-bands", "Alarm,Warn")
    drawn = page.evaluate("() => planerixCharts.kpi.data.datasets.map(d => [d.label, d.data.length])")
    assert drawn == [["Alarm", 2], ["Warn", 2], ["Target", 2], ["Value", 12]]
    expect(page.locator("#kpi-summary [data-field=health]")).to_have_text("Healthy")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download all measurements (CSV)").click()
    assert download.value.suggested_filename == f"kpi-{indicator['id']}.csv"
    page.screenshot(path=shots / "kpi.png", full_page=True)


def vtodo(uid: str, kr_id: str, status: str) -> str:
    return calendar(f"BEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Sign the contract\r\n"
                    f"STATUS:{status}\r\nX-PLANERIX-KEY-RESULT:{kr_id}\r\nEND:VTODO\r\n")


def test_a_task_completed_in_a_calendar_app_updates_the_open_page(page, api_server, base_url, alice, org):
    objective = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Close deals"})
    kr = alice.ok("POST", "/api/key-results", {"objective_id": objective["id"], "title": "Contracts signed",
                                               "target_value": 1, "progress_mode": "tasks"})
    dav = DavUser(base_url, alice.name, alice.password)
    dav.mkcalendar("tasks", ("VTODO",))
    assert dav.put("tasks/contract.ics", vtodo("contract", kr["id"], "NEEDS-ACTION")).status_code == 201
    sign_in(page, api_server.url, alice)
    page.goto(f"{api_server.url}/app/key-results/{kr['id']}")
    state = page.locator('[data-live-field="state:contract"]')
    expect(state).to_have_text("NEEDS-ACTION")
    expect(bar(page, "Contracts signed")).to_have_attribute("value", "0")

    # Another client (a phone's task app) completes the task with a plain CalDAV PUT.
    etag = dav.request("GET", "tasks/contract.ics").headers["ETag"]
    assert dav.put("tasks/contract.ics", vtodo("contract", kr["id"], "COMPLETED"), If_Match=etag).status_code == 204
    expect(state).to_have_text("COMPLETED")  # no reload: the page polls its live twin
    expect(bar(page, "Contracts signed")).to_have_attribute("value", "100")
    expect(page.locator(f'[data-live-badge="{kr["id"]}"]')).to_have_text("Achieved")


def test_a_check_in_and_a_measurement_sent_elsewhere_update_the_open_pages(page, api_server, alice, org,
                                                                           frozen_clock):
    """A script (the API) checks in and posts a measurement while the pages are open: bars, values,
    tables and charts change with no reload (the window keeps a marker a reload would drop)."""
    from tests.test_web_dashboard import kpi_with_measurements

    objective = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Grow revenue"})
    kr = alice.ok("POST", "/api/key-results", {"objective_id": objective["id"], "title": "New customers",
                                               "target_value": 20})
    indicator = kpi_with_measurements(alice, org, FROZEN_NOW)
    sign_in(page, api_server.url, alice)
    page.goto(f"{api_server.url}/app/organisations/{org['id']}")
    page.evaluate("() => { window.notReloaded = true; }")
    expect(bar(page, "Grow revenue")).to_have_attribute("value", "0")
    alice.ok("POST", "/api/check-ins", {"key_result_id": kr["id"], "value": 5, "confidence": 0.8})
    expect(bar(page, "Grow revenue")).to_have_attribute("value", "25")
    expect(page.locator(f'[data-live-field="confidence:{objective["id"]}"]')).to_have_text("80%")
    assert page.evaluate("() => window.notReloaded") is True

    page.goto(f"{api_server.url}/app/kpis/{indicator['id']}")
    page.evaluate("() => { window.notReloaded = true; }")
    current = page.locator("#kpi-summary [data-field=current]")
    expect(current).to_have_text("110")
    alice.ok("POST", f"/api/kpis/{indicator['id']}/measurements", {"measurements": [
        {"measured_at": (FROZEN_NOW - timedelta(minutes=30)).isoformat(), "value": 20, "source": "import"}]},
        status=200)
    expect(current).to_have_text("130")
    expect(page.locator("#latest tbody tr").first.locator("td").nth(3)).to_have_text("import")
    expect(page.locator("#series tbody tr").first.locator("td").nth(1)).to_have_text("130")
    assert page.evaluate("() => planerixCharts.kpi.data.datasets.at(-1).data.at(-1).y") == 130
    assert page.evaluate("() => window.notReloaded") is True


def test_heatmap_and_week(page, api_server, base_url, alice, org, shots, frozen_clock):
    objective = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Platform rewrite"})
    kr = alice.ok("POST", "/api/key-results", {"objective_id": objective["id"], "title": "Services migrated",
                                               "target_value": 12})
    alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Customer research"})
    dav = DavUser(base_url, alice.name, alice.password)
    dav.mkcalendar("work", ("VEVENT",))
    monday = FROZEN_NOW.date() - timedelta(days=FROZEN_NOW.weekday())
    for weeks_ago, hours in ((3, 2), (2, 5), (1, 3), (0, 1)):
        day = monday - timedelta(weeks=weeks_ago)
        dav.put(f"work/w{weeks_ago}.ics", calendar(vevent(
            f"w{weeks_ago}", "Migration work", start=f"{day:%Y%m%d}T090000Z", end=f"{day:%Y%m%d}T{9 + hours:02d}0000Z",
            extra=f"X-PLANERIX-KEY-RESULT:{kr['id']}\r\n")))
    day = FROZEN_NOW.date() + timedelta(days=1)
    dav.put("work/clash.ics", calendar(vevent("clash", "Customer call", start=f"{day:%Y%m%d}T093000Z",
                                              end=f"{day:%Y%m%d}T103000Z")))
    dav.put("work/sync.ics", calendar(vevent("sync", "Migration sync", start=f"{day:%Y%m%d}T090000Z",
                                             end=f"{day:%Y%m%d}T100000Z", extra=f"X-PLANERIX-KEY-RESULT:{kr['id']}\r\n")))
    sign_in(page, api_server.url, alice)
    page.get_by_role("link", name="Acme").click()
    page.get_by_role("link", name="Time invested per goal and week").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme: time invested")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="Platform rewrite"))
    week = lambda n: f"{(monday - timedelta(weeks=n)).isocalendar()[0]}-W{(monday - timedelta(weeks=n)).isocalendar()[1]:02d}"
    expect(row.locator(f'td[data-week="{week(2)}"]')).to_have_text("5.0")
    expect(row.locator(f'td[data-week="{week(2)}"]')).to_have_class("heat heat-4")
    expect(row.locator(f'td[data-week="{week(0)}"]')).to_have_text("2.0")  # 1 h Monday + 1 h Thursday
    page.screenshot(path=shots / "heatmap.png", full_page=True)

    page.get_by_role("link", name="My week").click()
    conflicts = page.locator(".entry.conflict")
    expect(conflicts).to_have_count(2)
    page.get_by_role("link", name="Services migrated").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Key result: Services migrated")
    page.go_back()
    page.screenshot(path=shots / "week.png", full_page=True)


def test_feed_creation_and_copy(browser, api_server, base_url, alice, org, shots):
    import requests

    DavUser(base_url, alice.name, alice.password).mkcalendar("work", ("VEVENT",))
    context = browser.new_context(viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    try:
        sign_in(page, api_server.url, alice)
        page.get_by_role("link", name="Settings").click()
        page.get_by_label("Publish").select_option(label=f"Calendar /{alice.name}/work/")
        page.get_by_label("Feed name").fill("Team calendar")
        page.get_by_role("button", name="Create feed").click()
        webcal = page.get_by_label("Webcal address of the feed").input_value()
        assert webcal.startswith("webcal://")
        page.get_by_role("button", name="Copy webcal link").click()
        expect(page.get_by_role("button", name="Copied")).to_be_visible()
        assert page.evaluate("() => navigator.clipboard.readText()") == webcal
        assert requests.get("http://" + webcal.removeprefix("webcal://")).status_code == 200
        page.get_by_label("Token name").fill("n8n")
        page.get_by_role("button", name="Create token").click()
        expect(page.get_by_label("The new token")).to_have_value(re.compile(r"^plx_"))
        page.screenshot(path=shots / "settings.png", full_page=True)
        page.get_by_role("button", name="Revoke feed").first.click()
        assert requests.get("http://" + webcal.removeprefix("webcal://")).status_code == 404
    finally:
        context.close()
