"""Bad requests get a clear 4xx and change nothing: bodies, UIDs, sizes, tokens, paths, hrefs, components."""
from __future__ import annotations

import base64
import http.client
import secrets
from types import SimpleNamespace
from urllib.parse import quote, urlsplit

import pytest
import requests

from conftest import start_caldav_server
from davutil import (calendar, clark, event, member_etags, multiget_body, multistatus, snapshot,
                     sync_body, vevent, vtodo)

MAX_NAME_BYTES = 1024


def raw(user, method: str, path: str, body: bytes | None = None, **headers) -> SimpleNamespace:
    """A request whose path goes out exactly as written (no client-side normalisation)."""
    netloc = urlsplit(user.base_url).netloc
    host, port = netloc.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    token = base64.b64encode(f"{user.name}:{user.password}".encode()).decode()
    connection.request(method, path, body=body,
                       headers={"Authorization": f"Basic {token}", **headers})
    response = connection.getresponse()
    result = SimpleNamespace(status_code=response.status, text=response.read().decode("utf-8", "replace"))
    connection.close()
    return result


# -- bodies ------------------------------------------------------------------------

MALFORMED = {
    "garbage line": ("BEGIN:VCALENDAR\r\nthis is not a content line\r\nEND:VCALENDAR\r\n",
                     "Failed to parse line"),
    "never closed": ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\n", "never closed"),
    "bad date": (event("bad-date", start="2026-13-45"), "DTSTART"),
    "no uid": (calendar("BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260102T100000Z\r\n"
                        "END:VEVENT\r\n"), "without UID"),
    "empty": ("", "0 components"),
    "two calendars": (event("one") + event("two"), "components"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_icalendar_is_a_400_with_the_parsers_reason(user, cal, case):
    body, reason = MALFORMED[case]
    before = snapshot(user)
    response = user.put("cal/bad.ics", body)
    assert response.status_code == 400
    assert response.text.startswith("Bad Request: ") and len(response.text) > len("Bad Request: ") + 5
    assert reason in response.text, response.text
    assert user.request("GET", "cal/bad.ics").status_code == 404
    assert snapshot(user) == before


def test_two_components_with_different_uids_are_refused(user, cal):
    before = snapshot(user)
    response = user.put("cal/two.ics", calendar(vevent("first"), vevent("second")))
    assert response.status_code == 400
    assert "different UIDs" in response.text and "first" in response.text and "second" in response.text
    assert user.request("GET", "cal/two.ics").status_code == 404
    assert snapshot(user) == before


def test_event_and_todo_with_different_uids_are_refused(user, cal):
    response = user.put("cal/mixed.ics", calendar(vevent("ev"), vtodo("td")))
    assert response.status_code == 400
    assert response.text.startswith("Bad Request: ") and response.text != "Bad Request: "
    assert member_etags(user, cal) == {}


def test_uid_already_used_in_the_calendar_is_a_conflict(user, cal):
    user.put("cal/first.ics", event("taken", "original"))
    before = snapshot(user)
    response = user.put("cal/second.ics", event("taken", "impostor"))
    assert response.status_code == 409
    error = response.text
    assert "no-uid-conflict" in error
    assert user.request("GET", "cal/second.ics").status_code == 404
    assert snapshot(user) == before
    assert "SUMMARY:original" in user.request("GET", "cal/first.ics").text


def test_body_over_the_configured_maximum_is_413(engine, database_url, user):
    server = start_caldav_server(database_url, {"server": {"max_content_length": "2000"}})
    try:
        session = requests.Session()
        session.auth = (user.name, user.password)
        base = f"http://127.0.0.1:{server.port}/{user.name}/"
        assert session.request("MKCALENDAR", base + "small/").status_code == 201
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        big = event("big", "x" * 3000)
        assert len(big.encode()) > 2000
        response = session.put(base + "small/big.ics", data=big.encode(), headers=headers)
        assert response.status_code == 413
        assert session.get(base + "small/big.ics").status_code == 404
        # Also when the whole calendar is PUT at once.
        response = session.put(base + "small/", data=big.encode(), headers=headers)
        assert response.status_code == 413
        # A body within the limit is fine on the same server.
        assert session.put(base + "small/ok.ics", data=event("ok").encode(), headers=headers).status_code == 201
        listing = session.request("PROPFIND", base + "small/", headers={"Depth": "1"})
        hrefs = {r.href for r in multistatus(listing.content)[0]}
        assert hrefs == {f"/{user.name}/small/", f"/{user.name}/small/ok.ics"}
    finally:
        server.stop()


def test_component_not_in_the_calendars_set_is_refused_with_a_reason(user):
    user.mkcalendar("tasks", components=("VTODO",))
    assert user.put("tasks/t.ics", calendar(vtodo("task"))).status_code == 201
    before = snapshot(user, "tasks/")

    response = user.put("tasks/e.ics", event("meeting"))
    assert response.status_code == 403
    assert clark("C:supported-calendar-component") in {
        element.tag for element in _error_elements(response.text)}
    reason = _planerix_reason(response.text)
    assert "VTODO" in reason and "VEVENT" in reason
    assert user.request("GET", "tasks/e.ics").status_code == 404
    assert snapshot(user, "tasks/") == before

    # MOVE of an event into it is refused the same way, and the event stays put.
    user.mkcalendar("events")
    user.put("events/e.ics", event("meeting"))
    moved = user.request("MOVE", "events/e.ics", Destination=user.url("tasks/e.ics"))
    assert moved.status_code == 403
    assert "VEVENT" in _planerix_reason(moved.text)
    assert user.request("GET", "events/e.ics").status_code == 200
    assert snapshot(user, "tasks/") == before


def _error_elements(body: str):
    import xml.etree.ElementTree as ET
    root = ET.fromstring(body)
    assert root.tag == clark("D:error")
    return list(root)


def _planerix_reason(body: str) -> str:
    reason = [e for e in _error_elements(body) if e.tag == clark("P:reason")]
    assert reason and reason[0].text, body
    return reason[0].text


# -- sync tokens ---------------------------------------------------------------------

def test_unknown_or_foreign_sync_tokens_are_403(user, other_user, cal):
    user.put("cal/a.ics", event("a"))
    other_user.mkcalendar("theirs")
    foreign = multistatus(other_user.report("theirs/", sync_body(), depth="0").content)[1]
    foreign_token = foreign.find(clark("D:sync-token")).text
    for token in ("http://planerix.org/ns/sync/999999999-1", foreign_token, "data:,anything",
                  "http://radicale.org/ns/sync/" + "0" * 64):
        response = user.report("cal/", sync_body(token), depth="0")
        assert response.status_code == 403, (token, response.text)
        assert "valid-sync-token" in response.text


# -- paths and names ------------------------------------------------------------------

def test_path_traversal_never_reaches_another_account(user, other_user, cal):
    other_user.mkcalendar("cal")
    other_user.put("cal/victim.ics", event("victim", "untouched"))
    assert user.put("cal/movable.ics", event("movable")).status_code == 201  # a real MOVE source
    victim_before = snapshot(other_user)
    mine_before = snapshot(user)
    me, them = user.name, other_user.name
    paths = [
        f"/{me}/cal/../../{them}/cal/victim.ics",
        f"/{me}/cal/%2e%2e/%2e%2e/{them}/cal/victim.ics",
        f"/{me}/cal/%2E%2E/%2E%2E/{them}/cal/victim.ics",
        f"/{me}/cal/..%2f..%2f{them}%2fcal%2fvictim.ics",
        f"/{me}/cal/..%2F..%2F{them}%2Fcal%2Fvictim.ics",
        f"/{me}/cal/a%2Fb.ics",
        f"/{me}/%2e%2e/{them}/cal/victim.ics",
        f"/{me}/cal/%00.ics",
        f"/{me}/cal/a%00b.ics",
        f"//{them}/cal/victim.ics",
    ]
    for path in paths:
        for method in ("GET", "PUT", "DELETE", "PROPFIND", "PROPPATCH"):
            body = event("intruder", "pwned").encode() if method == "PUT" else None
            if method == "PROPPATCH":
                body = (b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
                        b'<D:displayname>pwned</D:displayname></D:prop></D:set></D:propertyupdate>')
            response = raw(user, method, path, body, **{"Content-Type": "text/calendar", "Depth": "0"})
            assert 400 <= response.status_code < 500, (method, path, response.status_code, response.text)
            assert "untouched" not in response.text
        moved = raw(user, "MOVE", f"/{me}/cal/movable.ics", Destination=user.base_url + path)
        assert 400 <= moved.status_code < 500, (path, moved.status_code)
        assert user.request("GET", "cal/movable.ics").status_code == 200, path
    assert snapshot(other_user) == victim_before
    assert "SUMMARY:untouched" in other_user.request("GET", "cal/victim.ics").text
    assert snapshot(user) == mine_before


def test_moving_an_item_to_a_traversal_destination_is_refused(user, other_user, cal):
    other_user.mkcalendar("cal")
    user.put("cal/mine.ics", event("mine"))
    victim_before = snapshot(other_user)
    for destination in (f"/{user.name}/cal/../../{other_user.name}/cal/x.ics",
                        f"/{user.name}/cal/%2e%2e/%2e%2e/{other_user.name}/cal/x.ics",
                        f"/{user.name}/cal/a%2Fb.ics", f"/{user.name}/cal/a%00.ics",
                        f"http://elsewhere.example/{user.name}/cal/x.ics"):
        response = raw(user, "MOVE", f"/{user.name}/cal/mine.ics", Destination=user.base_url + destination
                       if destination.startswith("/") else destination)
        assert 400 <= response.status_code < 500 or response.status_code == 502, (destination, response.status_code)
    assert snapshot(other_user) == victim_before
    assert user.request("GET", "cal/mine.ics").status_code == 200


def long_name(size: int) -> str:
    """``size`` characters that do not compress (like real-world random identifiers)."""
    return secrets.token_hex(size // 2 + 1)[:size]


def test_overlong_names_and_uids_are_refused_cleanly(user, cal):
    before = snapshot(user)
    too_long = long_name(MAX_NAME_BYTES + 500)

    response = user.put(f"cal/{too_long}.ics", event("long-href"))
    assert response.status_code == 400, response.text
    assert "resource name" in response.text and "1024" in response.text

    response = user.put("cal/long-uid.ics", event(too_long))
    assert response.status_code == 400, response.text
    assert "UID" in response.text

    response = user.put("cal/", calendar(vevent("fine"), vevent(too_long)))
    assert response.status_code == 400, response.text
    assert snapshot(user) == before

    response = user.request("MKCALENDAR", f"{too_long}/")
    assert response.status_code == 400, response.text
    assert "collection path" in response.text
    assert user.request("PROPFIND", f"{too_long}/", Depth="0").status_code == 404

    user.put("cal/short.ics", event("short"))
    before = snapshot(user)
    response = user.request("MOVE", "cal/short.ics", Destination=user.url(f"cal/{too_long}.ics"))
    assert response.status_code == 400, response.text
    assert snapshot(user) == before

    # Multi-byte characters count in bytes.
    wide = "й" * (MAX_NAME_BYTES // 2 + 10)
    assert user.put(quote(f"cal/{wide}.ics"), event("wide")).status_code == 400
    assert snapshot(user) == before

    # Names up to the limit are fine.
    at_limit = long_name(MAX_NAME_BYTES - len(".ics")) + ".ics"
    assert user.put(f"cal/{at_limit}", event(long_name(MAX_NAME_BYTES))).status_code == 201
    assert user.request("GET", f"cal/{at_limit}").status_code == 200


def test_very_long_request_lines_are_refused(user, cal):
    response = user.request("GET", "cal/" + "y" * 70000 + ".ics")
    assert response.status_code == 414
    assert member_etags(user, cal) == {}


# -- multiget hrefs ---------------------------------------------------------------

def test_malformed_multiget_hrefs_are_404_entries_or_a_4xx(user, other_user, cal):
    user.put("cal/ok.ics", event("ok"))
    other_user.mkcalendar("cal")
    other_user.put("cal/secret.ics", event("secret", "do not leak"))
    me = user.name
    good = f"/{me}/cal/ok.ics"
    bad_hrefs = [
        "", f"/{me}/cal/%00.ics", f"/{me}/cal/a%00b.ics", "http://[bad", "/../../etc/passwd",
        f"/{other_user.name}/cal/secret.ics", f"/{me}/cal/../../{other_user.name}/cal/secret.ics",
        f"/{me}/cal/%2e%2e/%2e%2e/{other_user.name}/cal/secret.ics", f"/{me}/cal/a%2Fb.ics",
        f"/{me}/cal/..", f"/{me}/cal/%ff%fe.ics", f"/{me}/cal/{long_name(4000)}.ics", "mailto:x",
        f"//{me}/cal/ok.ics", "/", f"/{me}/", f"/{me}/cal/", f"/{me}/cal/nonexistent.ics",
    ]
    for bad in bad_hrefs:
        for hrefs in ([bad], [good, bad]):
            response = user.report("cal/", multiget_body(hrefs))
            assert response.status_code < 500, (bad, response.status_code, response.text)
            assert "do not leak" not in response.text
            if response.status_code != 207:
                assert 400 <= response.status_code < 500
                continue
            responses, _ = multistatus(response.content)
            for entry in responses:
                if entry.status is None:  # found: only this calendar's own item can be
                    assert entry.href == good and "UID:ok" in entry.text("C:calendar-data"), (bad, entry.href)
                else:
                    assert entry.status == 404, (bad, entry.href, entry.status)
            if good in hrefs:
                assert good in {entry.href for entry in responses if entry.status is None}
