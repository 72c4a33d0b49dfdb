"""GET /api/free-busy, GET /api/find-time and /api/availability: scoped to users who share an
organisation (or everyone, by setting), unknown and invisible users answered alike, working hours
as BUSY-UNAVAILABLE."""
from __future__ import annotations

import pytest

from conftest import DavUser
from davutil import event
from storage_plugin import directory

DAY = {"start": "2026-03-02T00:00:00Z", "end": "2026-03-03T00:00:00Z"}  # a Monday


@pytest.fixture
def team(api_user_factory, base_url, engine):
    """alice owns an organisation with bob; carol is in no organisation with them."""
    alice, bob, carol = (api_user_factory(p) for p in ("alice", "bob", "carol"))
    org = alice.ok("POST", "/api/organisations", {"name": "Acme"})
    alice.ok("POST", f"/api/organisations/{org['id']}/members", {"user": bob.name, "role": "member"})
    for user in (alice, bob, carol):
        dav = DavUser(base_url, user.name, user.password)
        dav.mkcalendar("work")
        user.dav = dav
    with engine.begin() as conn:
        directory.set_identity(conn, bob.name, email=f"{bob.name}@example.org")
    return alice, bob, carol


def test_free_busy_of_a_colleague_shows_times_and_types_only(team):
    alice, bob, _ = team
    bob.dav.put("work/a.ics", event("a", "Secret 1:1 with HR", start="20260302T090000Z", end="20260302T100000Z"))
    bob.dav.put("work/b.ics", event("b", "Maybe", start="20260302T130000Z", end="20260302T140000Z",
                                    extra="STATUS:TENTATIVE\r\nLOCATION:Room 4\r\n"))
    response = alice.call("GET", "/api/free-busy", users=f"{bob.name},{bob.name}@EXAMPLE.org", **DAY)
    assert response.status_code == 200, response.text
    assert "Secret" not in response.text and "Room 4" not in response.text
    expected = [{"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T10:00:00Z", "type": "BUSY"},
                {"start": "2026-03-02T13:00:00Z", "end": "2026-03-02T14:00:00Z", "type": "BUSY-TENTATIVE"}]
    assert response.json()["users"] == [
        {"user": bob.name, "found": True, "busy": expected},
        {"user": f"{bob.name}@EXAMPLE.org", "found": True, "busy": expected}]


def test_outsiders_look_exactly_like_nobody(team):
    alice, _, carol = team
    carol.dav.put("work/c.ics", event("c", start="20260302T090000Z", end="20260302T100000Z"))
    invisible = alice.ok("GET", "/api/free-busy", users=carol.name, **DAY)["users"][0]
    missing = alice.ok("GET", "/api/free-busy", users="nobody-at-all", **DAY)["users"][0]
    assert {**invisible, "user": "x"} == {**missing, "user": "x"} == {"user": "x", "found": False, "busy": []}
    gone = alice.call("GET", "/api/find-time", users=carol.name, duration="PT1H", **DAY)
    nobody = alice.call("GET", "/api/find-time", users="nobody-at-all", duration="PT1H", **DAY)
    assert gone.status_code == nobody.status_code == 404
    assert gone.json()["detail"].replace(carol.name, "X") == nobody.json()["detail"].replace("nobody-at-all", "X")
    # Carol sees her own time, and nobody else's.
    assert carol.ok("GET", "/api/free-busy", users=f"{carol.name},{alice.name}", **DAY)["users"] == [
        {"user": carol.name, "found": True,
         "busy": [{"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T10:00:00Z", "type": "BUSY"}]},
        {"user": alice.name, "found": False, "busy": []}]


def test_the_everyone_scope_shows_every_local_user(team, monkeypatch):
    alice, _, carol = team
    carol.dav.put("work/c.ics", event("c", start="20260302T090000Z", end="20260302T100000Z"))
    monkeypatch.setenv("PLANERIX_DIRECTORY_SCOPE", "everyone")
    assert alice.ok("GET", "/api/free-busy", users=carol.name, **DAY)["users"][0]["found"] is True


def test_find_time_inside_everybodys_working_hours(team):
    alice, bob, _ = team
    # Bob works 09:00-17:00 Berlin time (UTC+1 in March), Alice 08:00-12:00 UTC.
    bob_hours = bob.ok("PUT", "/api/availability", {"timezone": "Europe/Berlin", "weekly": [
        {"days": ["MO", "TU", "WE", "TH", "FR"], "start": "09:00", "end": "17:00"}]})
    assert "BEGIN:VAVAILABILITY" in bob_hours["vavailability"]
    alice.ok("PUT", "/api/availability", {"vavailability": (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VAVAILABILITY\r\nUID:a\r\n"
        "DTSTAMP:20260101T000000Z\r\nBEGIN:AVAILABLE\r\nUID:a1\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART:20260105T080000Z\r\nDTEND:20260105T120000Z\r\nRRULE:FREQ=DAILY\r\nEND:AVAILABLE\r\n"
        "END:VAVAILABILITY\r\nEND:VCALENDAR\r\n")})
    bob.dav.put("work/m.ics", event("m", start="20260302T090000Z", end="20260302T093000Z"))
    shown = alice.ok("GET", "/api/free-busy", users=bob.name, **DAY)["users"][0]["busy"]
    assert shown == [
        {"start": "2026-03-02T00:00:00Z", "end": "2026-03-02T08:00:00Z", "type": "BUSY-UNAVAILABLE"},
        {"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T09:30:00Z", "type": "BUSY"},
        {"start": "2026-03-02T16:00:00Z", "end": "2026-03-03T00:00:00Z", "type": "BUSY-UNAVAILABLE"}]
    found = alice.ok("GET", "/api/find-time", users=f"{alice.name},{bob.name}", duration="PT1H", **DAY)
    # Bob from 08:00 UTC, Alice until 12:00 UTC, Bob's meeting 09:00-09:30: 08:00-09:00 is
    # exactly one hour, then 09:30-12:00.
    assert found["slots"] == [{"start": "2026-03-02T08:00:00Z", "end": "2026-03-02T09:00:00Z"},
                              {"start": "2026-03-02T09:30:00Z", "end": "2026-03-02T12:00:00Z"}]
    longer = alice.ok("GET", "/api/find-time", users=f"{alice.name},{bob.name}", duration="PT2H", **DAY)
    assert longer["slots"] == [{"start": "2026-03-02T09:30:00Z", "end": "2026-03-02T12:00:00Z"}]
    alice.ok("DELETE", "/api/availability")
    assert alice.ok("GET", "/api/availability")["vavailability"] is None


@pytest.mark.parametrize("params, words", [
    ({"users": " , ", **DAY}, "at least one user"),
    ({"users": "bob", "start": "2026-03-03T00:00:00Z", "end": "2026-03-02T00:00:00Z"}, "after start"),
    ({"users": "bob", "start": "2026-01-01T00:00:00Z", "end": "2027-06-01T00:00:00Z"}, "400 days"),
    ({"users": ",".join(f"u{i}" for i in range(51)), **DAY}, "at most 50"),
    ({"users": "bob", "start": "2026-03-02T00:00:00", "end": "2026-03-03T00:00:00Z"}, "timezone"),
])
def test_bad_free_busy_questions_get_reasons(team, params, words):
    response = team[0].call("GET", "/api/free-busy", **params)
    assert response.status_code == 422 and words in response.text, response.text


@pytest.mark.parametrize("body, words", [
    ({"timezone": "Mars/Olympus", "weekly": [{"days": ["MO"], "start": "09:00", "end": "17:00"}]}, "time zone"),
    ({"timezone": "UTC", "weekly": [{"days": ["MO"], "start": "17:00", "end": "09:00"}]}, "end after"),
    ({"vavailability": "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"}, "VAVAILABILITY"),
    ({"weekly": [{"days": ["MO"], "start": "09:00", "end": "17:00"}]}, "timezone"),
    ({}, "either"),
])
def test_bad_working_hours_are_refused_and_nothing_is_stored(team, body, words):
    alice = team[0]
    response = alice.call("PUT", "/api/availability", body)
    assert response.status_code == 422 and words in response.text, response.text
    assert alice.ok("GET", "/api/availability")["vavailability"] is None


def test_find_time_needs_a_sane_duration(team):
    alice = team[0]
    for duration in ("1 hour", "PT0S", "P30D"):
        response = alice.call("GET", "/api/find-time", users=alice.name, duration=duration, **DAY)
        assert response.status_code == 422, (duration, response.text)


def test_a_wrong_scope_setting_stops_the_start_with_its_reason(database_url, tmp_path):
    import os
    import subprocess

    from conftest import REPO, planerix_command

    result = subprocess.run(planerix_command("serve", "--database-url", database_url, "--data-dir", str(tmp_path),
                                             "--caldav-port", "0", "--api-port", "0"),
                            cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PLANERIX_DIRECTORY_SCOPE": "the-world"})
    assert result.returncode == 2
    assert "PLANERIX_DIRECTORY_SCOPE must be 'organisation' or 'everyone'" in result.stderr
