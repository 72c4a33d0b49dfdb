"""The dashboard's week, heatmap and settings pages over real HTTP, with events and tasks written
through the real CalDAV server (the link index feeds them)."""
from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import requests

from davutil import calendar, vevent
from feedutil import Feed, feed_server, loop_thread, sidecar  # noqa: F401 (fixtures)
from tests.conftest import FROZEN_NOW, DavUser
from tests.test_web_dashboard import signed_in
from tests.webutil import csrf_token


@pytest.fixture
def team(api_user_factory, base_url):
    alice = api_user_factory("alice")
    org = alice.ok("POST", "/api/organisations", {"name": "Weekly"})
    objective = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Launch"})
    other = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Hiring"})
    kr = alice.ok("POST", "/api/key-results", {"objective_id": objective["id"], "title": "Beta users",
                                               "target_value": 50})
    dav = DavUser(base_url, alice.name, alice.password)
    dav.mkcalendar("work", ("VEVENT",))
    dav.mkcalendar("tasks", ("VTODO",))
    return {"alice": alice, "org": org, "objective": objective, "other": other, "kr": kr, "dav": dav}


def stamp(day, hour: str) -> str:
    return f"{day.strftime('%Y%m%d')}T{hour}00Z"


def test_my_week_marks_conflicts_and_links_badges_to_goals(api_server, team, frozen_clock):
    alice, dav, kr = team["alice"], team["dav"], team["kr"]
    day = FROZEN_NOW.date() + timedelta(days=1)  # Thursday of the frozen week
    dav.put("work/a.ics", calendar(vevent("a", "Planning", start=stamp(day, "0900"), end=stamp(day, "1000"),
                                          extra=f"X-PLANERIX-KEY-RESULT:{kr['id']}\r\n")))
    dav.put("work/b.ics", calendar(vevent("b", "Dentist", start=stamp(day, "0930"), end=stamp(day, "1030"))))
    dav.put("tasks/t.ics", calendar(f"BEGIN:VTODO\r\nUID:t\r\nDTSTAMP:20260101T000000Z\r\nDUE:{stamp(day, '1700')}\r\n"
                                    "SUMMARY:Write report\r\nEND:VTODO\r\n"))
    alice.ok("PATCH", f"/api/objectives/{team['objective']['id']}", {"due_date": str(day)})
    page = signed_in(api_server.url, alice)
    text = html.unescape(page.get("/app/week").text)
    assert "<h1>My week 2026-W49</h1>" in text
    assert text.count("Conflict with 1 other event") == 2
    assert "Task: Write report" in text and "Due: Launch" in text
    assert f'<a class="badge goal" href="/app/key-results/{kr["id"]}">Beta users</a>' in text
    assert f'<a class="badge goal" href="/app/objectives/{team["objective"]["id"]}">Launch</a>' in text
    assert "Planning" not in html.unescape(page.get("/app/week", params={"week": "2026-W50"}).text)
    wrong = page.get("/app/week", params={"week": "soon"})
    assert wrong.status_code == 422 and "give an ISO week" in wrong.text


def test_heatmap_hours_per_objective_and_iso_week(api_server, team, api_user_factory, frozen_clock):
    alice, dav = team["alice"], team["dav"]
    this_monday = FROZEN_NOW.date() - timedelta(days=FROZEN_NOW.weekday())
    two_weeks_ago = this_monday - timedelta(weeks=2)
    dav.put("work/w1.ics", calendar(vevent("w1", "Build", start=stamp(two_weeks_ago, "0900"),
                                           end=stamp(two_weeks_ago, "1300"),
                                           extra=f"X-PLANERIX-KEY-RESULT:{team['kr']['id']}\r\n")))
    dav.put("work/w2.ics", calendar(vevent("w2", "Review", start=stamp(this_monday, "1000"),
                                           end=stamp(this_monday, "1130"),
                                           extra=f"X-PLANERIX-OBJECTIVE:{team['objective']['id']}\r\n")))
    page = signed_in(api_server.url, alice)
    text = page.get(f"/app/organisations/{team['org']['id']}/heatmap").text
    rows = re.findall(r'<tr><th scope="row"><a href="/app/objectives/[^"]+">([^<]+)</a></th>(.*?)</tr>', text, re.S)
    assert [title for title, _ in rows] == ["Launch", "Hiring"]  # most time first
    launch = dict(re.findall(r'data-week="([^"]+)"[^>]*>([^<]*)<', rows[0][1]))
    assert launch["2026-W47"] == "4.0" and launch["2026-W49"] == "1.5" and launch["2026-W48"] == ""
    assert 'class="heat heat-4" data-week="2026-W47"' in rows[0][1]
    assert "heat-0" in rows[1][1] and "heat-1" not in rows[1][1]
    stranger = signed_in(api_server.url, api_user_factory("stranger"))
    assert stranger.get(f"/app/organisations/{team['org']['id']}/heatmap").status_code == 404


def test_settings_tokens_and_feeds(api_server, team):
    alice = team["alice"]
    page = signed_in(api_server.url, alice)
    made = page.post_form("/app/settings", "/app/settings/tokens", {"name": "n8n"})
    assert made.status_code == 201
    secret = re.search(r'id="new-token" readonly value="([^"]+)"', made.text).group(1)
    bearer = {"Authorization": f"Bearer {secret}"}
    assert requests.get(api_server.url + "/api/tokens", headers=bearer).status_code == 200
    assert secret not in page.get("/app/settings").text  # shown once
    token_id = alice.ok("GET", "/api/tokens")["items"][0]["id"]
    # The page's one choice of power becomes the token's scope.
    reader = page.post_form("/app/settings", "/app/settings/tokens", {"name": "report", "scope": "read"})
    reader_secret = re.search(r'id="new-token" readonly value="([^"]+)"', reader.text).group(1)
    read_only = {"Authorization": f"Bearer {reader_secret}"}
    assert requests.get(api_server.url + "/api/organisations", headers=read_only).status_code == 200
    assert requests.post(api_server.url + "/api/organisations", json={"name": "x"}, headers=read_only).status_code == 403
    assert page.post_form("/app/settings", f"/app/settings/tokens/{token_id}/revoke", {}).status_code == 303
    assert requests.get(api_server.url + "/api/tokens", headers=bearer).status_code == 401

    created = page.post_form("/app/settings", "/app/settings/feeds",
                             {"source": f"calendar:/{alice.name}/work/", "name": "Work"})
    assert created.status_code == 201
    webcal = re.search(r'id="new-feed-url" readonly value="([^"]+)"', created.text).group(1)
    assert webcal.startswith("webcal://127.0.0.1:") and webcal.endswith(".ics")
    feed_url = "http://" + webcal.removeprefix("webcal://")
    assert requests.get(feed_url).status_code == 200
    feed_id = re.search(r'data-feed="(\d+)"', created.text).group(1)
    rotated = page.post_form("/app/settings", f"/app/settings/feeds/{feed_id}/rotate", {})
    new_url = "http://" + re.search(r'id="new-feed-url" readonly value="webcal://([^"]+)"', rotated.text).group(1)
    assert requests.get(feed_url).status_code == 404 and requests.get(new_url).status_code == 200
    assert page.post_form("/app/settings", f"/app/settings/feeds/{feed_id}/revoke", {}).status_code == 303
    assert requests.get(new_url).status_code == 404

    goals = page.post_form("/app/settings", "/app/settings/feeds", {"source": f"organisation:{team['org']['id']}"})
    assert goals.status_code == 201 and "goals of an organisation" in goals.text
    foreign = page.post_form("/app/settings", "/app/settings/feeds", {"source": "calendar:/someone-else/work/"})
    assert foreign.status_code == 403 and "belongs to another user" in foreign.text
    forged = page.session.post(page.url("/app/settings/tokens"), data={"csrf_token": "x", "name": "evil"})
    assert forged.status_code == 403
    assert "evil" not in [t["name"] for t in alice.ok("GET", "/api/tokens")["items"]]
    assert csrf_token(page.get("/app/settings").text)


def test_settings_lists_subscriptions_with_their_status(sidecar, user, feed_server):
    from tests.test_feed_subscribe import refresh, subscribe

    feed_server.feeds["/ok.ics"] = Feed(calendar(vevent("one", "Imported")))
    feed_server.feeds["/broken.ics"] = Feed(b"gone", status=500)
    working = subscribe(sidecar, user, feed_server.url("/ok.ics"), displayname="Team holidays")
    failing = subscribe(sidecar, user, feed_server.url("/broken.ics"), calendar_name="broken")
    assert refresh(sidecar, user, working, now=False).ok and not refresh(sidecar, user, failing, now=False).ok
    page = signed_in(sidecar.url, user)
    text = html.unescape(page.get("/app/settings").text)
    rows = dict(re.findall(r"<tr><td>([^<]+)</td><td>[^<]+</td><td><span class=\"badge state-(\w+)\">", text))
    assert rows == {"Team holidays": "ok", "broken": "failing"}
    assert "500" in text  # the failing one's last error
