"""Calendar objects over HTTP: PUT/GET/DELETE/MOVE, preconditions, whole-calendar PUT, names, rights."""
from __future__ import annotations

import threading
from urllib.parse import quote

import caldav

from davutil import calendar, event, member_etags, multistatus, propfind, todo, vevent

UNICODE_CALENDAR = "Календарь"
UNICODE_HREF = "ünïcødé-ité.ics"


def get(user, path: str):
    return user.request("GET", path)


def summary_of(user, path: str) -> str | None:
    response = get(user, path)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return next(line[len("SUMMARY:"):] for line in response.text.splitlines() if line.startswith("SUMMARY:"))


# -- PUT with preconditions --------------------------------------------------------

def test_if_none_match_creates_and_refuses_an_existing_href(user, cal):
    created = user.put("cal/a.ics", event("a", "first"), If_None_Match="*")
    assert created.status_code == 201, created.text
    assert created.headers["ETag"] == get(user, "cal/a.ics").headers["ETag"]

    refused = user.put("cal/a.ics", event("a", "second"), If_None_Match="*")
    assert refused.status_code == 412
    assert summary_of(user, "cal/a.ics") == "first"
    assert get(user, "cal/a.ics").headers["ETag"] == created.headers["ETag"]


def test_if_match_updates_with_the_current_etag_only(user, cal):
    etag = user.put("cal/a.ics", event("a", "v1")).headers["ETag"]

    updated = user.put("cal/a.ics", event("a", "v2"), If_Match=etag)
    assert updated.status_code == 204, updated.text
    new_etag = updated.headers["ETag"]
    assert new_etag != etag
    fetched = get(user, "cal/a.ics")
    assert fetched.headers["ETag"] == new_etag
    assert "SUMMARY:v2" in fetched.text

    stale = user.put("cal/a.ics", event("a", "v3"), If_Match=etag)
    assert stale.status_code == 412
    assert get(user, "cal/a.ics").headers["ETag"] == new_etag
    assert summary_of(user, "cal/a.ics") == "v2"

    # If-Match on a missing resource fails too: nothing is created.
    assert user.put("cal/missing.ics", event("m"), If_Match=new_etag).status_code == 412
    assert get(user, "cal/missing.ics").status_code == 404


def test_put_get_round_trip_keeps_the_content(user, cal):
    body = event("round", "Round trip", extra="DESCRIPTION:line one\\nline two\r\nLOCATION:Room 1\r\n")
    assert user.put("cal/round.ics", body).status_code == 201
    fetched = get(user, "cal/round.ics")
    assert fetched.headers["Content-Type"].startswith("text/calendar")
    for line in ("UID:round", "SUMMARY:Round trip", "DESCRIPTION:line one\\nline two", "LOCATION:Room 1",
                 "DTSTART:20260102T100000Z"):
        assert line in fetched.text.splitlines()


def test_delete_with_preconditions(user, cal):
    etag = user.put("cal/a.ics", event("a")).headers["ETag"]
    user.put("cal/a.ics", event("a", "changed"))
    current = get(user, "cal/a.ics").headers["ETag"]

    stale = user.request("DELETE", "cal/a.ics", If_Match=etag)
    assert stale.status_code == 412
    assert summary_of(user, "cal/a.ics") == "changed"

    deleted = user.request("DELETE", "cal/a.ics", If_Match=current)
    assert deleted.status_code in (200, 204)
    assert get(user, "cal/a.ics").status_code == 404
    assert user.request("DELETE", "cal/a.ics").status_code == 404
    assert member_etags(user, cal) == {}


def test_same_uid_at_another_href_is_a_conflict(user, cal):
    user.put("cal/a.ics", event("shared-uid", "original"))
    conflict = user.put("cal/b.ics", event("shared-uid", "copy"))
    assert conflict.status_code == 409
    assert "no-uid-conflict" in conflict.text
    assert get(user, "cal/b.ics").status_code == 404
    assert summary_of(user, "cal/a.ics") == "original"
    # Changing the UID of an existing href to one used elsewhere is a conflict too.
    user.put("cal/c.ics", event("c"))
    assert user.put("cal/c.ics", event("shared-uid")).status_code == 409
    assert "UID:c" in get(user, "cal/c.ics").text
    # The same UID in another calendar is fine.
    user.mkcalendar("second")
    assert user.put("second/a.ics", event("shared-uid")).status_code == 201


# -- MOVE ----------------------------------------------------------------------------

def move(user, source: str, destination: str, overwrite: str | None = None):
    headers = {"Destination": user.url(destination)}
    if overwrite is not None:
        headers["Overwrite"] = overwrite
    return user.request("MOVE", source, **headers)


def test_move_within_a_calendar(user, cal):
    etag = user.put("cal/a.ics", event("a", "moving")).headers["ETag"]
    response = move(user, "cal/a.ics", "cal/renamed.ics")
    assert response.status_code == 201, response.text
    assert get(user, "cal/a.ics").status_code == 404
    moved = get(user, "cal/renamed.ics")
    assert moved.status_code == 200 and "SUMMARY:moving" in moved.text
    assert moved.headers["ETag"] == etag
    assert set(member_etags(user, cal)) == {f"/{user.name}/cal/renamed.ics"}


def test_move_across_calendars(user, cal):
    user.mkcalendar("other")
    user.put("cal/a.ics", event("a", "travelling"))
    response = move(user, "cal/a.ics", "other/a.ics")
    assert response.status_code == 201, response.text
    assert get(user, "cal/a.ics").status_code == 404
    assert summary_of(user, "other/a.ics") == "travelling"
    assert member_etags(user, cal) == {}
    assert set(member_etags(user, "other/")) == {f"/{user.name}/other/a.ics"}
    # The moved item is found by UID in its new calendar only.
    assert user.put("other/dup.ics", event("a")).status_code == 409
    assert user.put("cal/a.ics", event("a")).status_code == 201


def test_move_onto_an_existing_href_needs_overwrite(user, cal):
    user.mkcalendar("other")
    user.put("cal/a.ics", event("same", "source version"))
    user.put("other/b.ics", event("same", "target version"))

    for overwrite in ("F", None):  # Radicale treats a missing Overwrite header as F
        refused = move(user, "cal/a.ics", "other/b.ics", overwrite)
        assert refused.status_code == 412
        assert summary_of(user, "cal/a.ics") == "source version"
        assert summary_of(user, "other/b.ics") == "target version"

    replaced = move(user, "cal/a.ics", "other/b.ics", "T")
    assert replaced.status_code == 204, replaced.text
    assert get(user, "cal/a.ics").status_code == 404
    assert summary_of(user, "other/b.ics") == "source version"
    assert set(member_etags(user, "other/")) == {f"/{user.name}/other/b.ics"}


def test_move_with_overwrite_onto_a_different_uid_is_a_conflict(user, cal):
    user.put("cal/a.ics", event("a", "source"))
    user.put("cal/b.ics", event("b", "target"))
    response = move(user, "cal/a.ics", "cal/b.ics", "T")
    assert response.status_code == 409 and "no-uid-conflict" in response.text
    assert summary_of(user, "cal/a.ics") == "source"
    assert summary_of(user, "cal/b.ics") == "target"


def test_move_into_a_calendar_that_has_the_uid_is_a_conflict(user, cal):
    user.mkcalendar("other")
    user.put("cal/a.ics", event("dup", "source"))
    user.put("other/existing.ics", event("dup", "already here"))
    response = move(user, "cal/a.ics", "other/new.ics")
    assert response.status_code == 409 and "no-uid-conflict" in response.text
    assert summary_of(user, "cal/a.ics") == "source"
    assert get(user, "other/new.ics").status_code == 404


def test_move_of_a_missing_item_is_404(user, cal):
    assert move(user, "cal/nothing.ics", "cal/x.ics").status_code == 404
    assert member_etags(user, cal) == {}


# -- whole-calendar PUT ---------------------------------------------------------------

def whole_calendar(prefix: str, count: int, name: str | None = None) -> str:
    header = f"X-WR-CALNAME:{name}\r\n" if name else ""
    body = calendar(*(vevent(f"{prefix}{i}", f"{prefix} {i}") for i in range(count)))
    return body.replace("PRODID:-//Planerix tests//EN\r\n", "PRODID:-//Planerix tests//EN\r\n" + header)


def test_whole_calendar_put_replaces_the_collection(user, cal):
    user.put("cal/old1.ics", event("old1"))
    user.put("cal/old2.ics", event("old2"))
    recurring = ("BEGIN:VEVENT\r\nUID:series\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\n"
                 "RRULE:FREQ=DAILY;COUNT=3\r\nSUMMARY:series\r\nEND:VEVENT\r\n"
                 "BEGIN:VEVENT\r\nUID:series\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:20260106T090000Z\r\n"
                 "DTSTART:20260106T100000Z\r\nSUMMARY:moved occurrence\r\nEND:VEVENT\r\n")
    body = whole_calendar("new", 3, name="Imported").replace("END:VCALENDAR", recurring + "END:VCALENDAR")
    response = user.put(cal, body)
    assert response.status_code == 201, response.text

    members = member_etags(user, cal)
    assert len(members) == 4
    uids = set()
    for href, etag in members.items():
        fetched = user.session.get(user.base_url + quote(href))
        assert fetched.status_code == 200 and fetched.headers["ETag"] == etag
        uid_lines = {line for line in fetched.text.splitlines() if line.startswith("UID:")}
        assert len(uid_lines) == 1
        uids |= uid_lines
        if "UID:series" in uid_lines:
            assert "SUMMARY:moved occurrence" in fetched.text and "RRULE:FREQ=DAILY;COUNT=3" in fetched.text
    assert uids == {"UID:new0", "UID:new1", "UID:new2", "UID:series"}
    assert get(user, "cal/old1.ics").status_code == 404
    name, = propfind(user, cal, "D:displayname", "D:resourcetype")
    assert name.text("D:displayname") == "Imported"
    # Still a calendar that takes single objects.
    assert user.put("cal/later.ics", event("later")).status_code == 201


def test_failed_whole_calendar_put_leaves_the_collection_alone(user, cal):
    user.put("cal/keep.ics", event("keep"))
    before = member_etags(user, cal)
    bad = whole_calendar("n", 3).replace("DTSTART:20260102T100000Z", "DTSTART:not-a-date", 1)
    assert user.put(cal, bad).status_code == 400
    assert member_etags(user, cal) == before


def test_readers_never_see_a_half_replaced_calendar(user, cal):
    bodies = {"A": whole_calendar("a", 4), "B": whole_calendar("b", 5)}
    assert user.put(cal, bodies["A"]).status_code == 201
    snapshots: list[frozenset] = []
    stop = threading.Event()
    failures: list = []

    def reader():
        import requests
        session = requests.Session()
        session.auth = (user.name, user.password)
        try:
            while not stop.is_set():
                response = session.request("PROPFIND", user.url(cal), headers={"Depth": "1"})
                assert response.status_code == 207, response.text
                responses, _ = multistatus(response.content)
                snapshots.append(frozenset(r.href.rsplit("/", 1)[1] for r in responses
                                           if r.href.endswith(".ics")))
        except Exception as e:  # reported by the main thread
            failures.append(e)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(12):
            response = user.put(cal, bodies["B" if i % 2 == 0 else "A"])
            assert response.status_code == 201, response.text
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not failures, failures
    sizes = {len(s) for s in snapshots}
    assert snapshots and sizes <= {4, 5}, sizes
    for snapshot in snapshots:
        assert {name[0] for name in snapshot} in ({"a"}, {"b"}), snapshot


# -- names ---------------------------------------------------------------------------

def test_unicode_collection_names_and_hrefs_round_trip(base_url, user):
    display = "Работа 🗓️ plans ✨"
    user.mkcalendar(UNICODE_CALENDAR, displayname=display)
    path = f"{UNICODE_CALENDAR}/{UNICODE_HREF}"
    created = user.put(quote(path), event("unicode-uid-ü", "Встреча ☕"))
    assert created.status_code == 201, created.text

    fetched = get(user, quote(path))
    assert fetched.status_code == 200
    assert fetched.headers["ETag"] == created.headers["ETag"]
    assert "SUMMARY:Встреча ☕" in fetched.content.decode("utf-8")

    members = member_etags(user, quote(UNICODE_CALENDAR + "/"))
    assert list(members) == [f"/{user.name}/{path}"]
    response, = propfind(user, quote(UNICODE_CALENDAR + "/"), "D:displayname")
    assert response.href == f"/{user.name}/{UNICODE_CALENDAR}/"
    assert response.text("D:displayname") == display
    home = propfind(user, "", "D:displayname", depth="1")
    assert f"/{user.name}/{UNICODE_CALENDAR}/" in {r.href for r in home}

    moved = user.request("MOVE", quote(path), Destination=user.url(quote(f"{UNICODE_CALENDAR}/ëvent-☃.ics")))
    assert moved.status_code == 201, moved.text
    assert get(user, quote(path)).status_code == 404
    assert "Встреча ☕" in get(user, quote(f"{UNICODE_CALENDAR}/ëvent-☃.ics")).content.decode("utf-8")

    client = caldav.DAVClient(url=base_url + "/", username=user.name, password=user.password)
    calendars = {c.get_display_name(): c for c in client.principal().calendars()}
    # Beside the default calendar and task list every account has.
    assert sorted(calendars) == sorted([display, "Personal", "Personal tasks"])
    events = calendars[display].events()
    assert [str(e.icalendar_component["SUMMARY"]) for e in events] == ["Встреча ☕"]


# -- rights --------------------------------------------------------------------------

def test_other_users_cannot_read_or_write(user, other_user, cal):
    etag = user.put("cal/private.ics", event("private", "secret")).headers["ETag"]
    other_user.mkcalendar("mine")
    other_user.put("mine/x.ics", event("x"))
    theirs = other_user.session

    def as_other(method: str, path: str, body: str | None = None, **headers):
        return theirs.request(method, user.url(path), data=body.encode() if body else None, headers=headers)

    attempts = {
        "GET item": as_other("GET", "cal/private.ics"),
        "GET calendar": as_other("GET", "cal/"),
        "PROPFIND calendar": as_other("PROPFIND", "cal/", Depth="1"),
        "PROPFIND home": as_other("PROPFIND", "", Depth="1"),
        "REPORT": as_other("REPORT", "cal/", '<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:">'
                           '<D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop>'
                           '</D:sync-collection>', Depth="0"),
        "PUT new": as_other("PUT", "cal/intruder.ics", event("intruder"), **{"Content-Type": "text/calendar"}),
        "PUT over": as_other("PUT", "cal/private.ics", event("private", "defaced"),
                             **{"Content-Type": "text/calendar"}),
        "DELETE item": as_other("DELETE", "cal/private.ics"),
        "DELETE calendar": as_other("DELETE", "cal/"),
        "MKCALENDAR": as_other("MKCALENDAR", "planted/"),
        "PROPPATCH": as_other("PROPPATCH", "cal/", '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:">'
                              '<D:set><D:prop><D:displayname>x</D:displayname></D:prop></D:set>'
                              '</D:propertyupdate>'),
        "MOVE out": as_other("MOVE", "cal/private.ics", Destination=other_user.url("mine/stolen.ics")),
    }
    moved_in = theirs.request("MOVE", other_user.url("mine/x.ics"), headers={"Destination": user.url("cal/x.ics")})
    attempts["MOVE in"] = moved_in
    statuses = {name: response.status_code for name, response in attempts.items()}
    assert statuses == {name: 403 for name in attempts}, statuses
    assert all("secret" not in response.text for response in attempts.values())

    assert get(user, "cal/private.ics").headers["ETag"] == etag
    assert set(member_etags(user, cal)) == {f"/{user.name}/cal/private.ics"}
    assert user.request("PROPFIND", "planted/", Depth="0").status_code == 404
    assert other_user.request("GET", "mine/x.ics").status_code == 200
    assert other_user.request("GET", "mine/stolen.ics").status_code == 404


def test_todos_and_events_share_a_default_calendar(user, cal):
    assert user.put("cal/t.ics", todo("t", "a task")).status_code == 201
    assert user.put("cal/e.ics", event("e")).status_code == 201
    assert len(member_etags(user, cal)) == 2
