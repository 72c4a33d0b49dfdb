"""calendar-multiget over real HTTP: found hrefs carry what was PUT, missing ones are 404 inside the 207."""
from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from urllib.parse import quote, unquote

import caldav
import pytest

from davutil import BERLIN

DAV = "{DAV:}"
CAL = "{urn:ietf:params:xml:ns:caldav}"


def crlf(text: str) -> str:
    return "\r\n".join(text.strip("\n").splitlines()) + "\r\n"


def new_uid(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def simple_event(uid: str, start: str = "20261203T100000Z", summary: str = "plain") -> str:
    return crlf(f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Planerix tests//multiget//EN
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20261101T000000Z
DTSTART:{start}
DTEND:20261203T110000Z
SUMMARY:{summary}
END:VEVENT
END:VCALENDAR""")


def recurring_event(uid: str) -> str:
    long_description = "Agenda: " + " / ".join(f"point {n} — Überprüfung" for n in range(12))
    folded = "\n ".join(long_description[i:i + 60] for i in range(0, len(long_description), 60))
    return crlf(f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Planerix tests//multiget//EN
{BERLIN}
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20261101T000000Z
DTSTART;TZID=Europe/Berlin:20261201T090000
DTEND;TZID=Europe/Berlin:20261201T100000
RRULE:FREQ=WEEKLY;COUNT=10
EXDATE;TZID=Europe/Berlin:20261215T090000
SUMMARY:Weekly sync ☕
DESCRIPTION:{folded}
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:Reminder
TRIGGER:-PT15M
END:VALARM
END:VEVENT
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20261101T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20261208T090000
DTSTART;TZID=Europe/Berlin:20261209T140000
DTEND;TZID=Europe/Berlin:20261209T150000
SUMMARY:Weekly sync (moved)
END:VEVENT
END:VCALENDAR""")


def task(uid: str) -> str:
    return crlf(f"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Planerix tests//multiget//EN
BEGIN:VTODO
UID:{uid}
DTSTAMP:20261101T000000Z
DUE;VALUE=DATE:20261215
PRIORITY:1
STATUS:NEEDS-ACTION
SUMMARY:File the report
END:VTODO
END:VCALENDAR""")


def content(ics: str):
    """An iCalendar text as nested (name, sorted properties, sorted children):
    the same for texts that differ only in line folding, line endings and
    the order of properties or sibling components."""
    lines = ics.replace("\r\n", "\n").replace("\n ", "").replace("\n\t", "").strip("\n").split("\n")

    def parse(index: int):
        name = lines[index].split(":", 1)[1]
        props, children = [], []
        index += 1
        while not lines[index].startswith("END:"):
            if lines[index].startswith("BEGIN:"):
                child, index = parse(index)
                children.append(child)
            else:
                props.append(lines[index])
                index += 1
        assert lines[index] == f"END:{name}"
        return (name, tuple(sorted(props)), tuple(sorted(children))), index + 1

    tree, end = parse(0)
    assert end == len(lines)
    return tree


def multiget_body(hrefs: list[str], calendar_data: bool = True) -> str:
    prop = "<D:getetag/>" + ("<C:calendar-data/>" if calendar_data else "")
    refs = "".join(f"<D:href>{href}</D:href>" for href in hrefs)
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            f"<D:prop>{prop}</D:prop>{refs}</C:calendar-multiget>")


def multiget(client, cal: str, hrefs: list[str], calendar_data: bool = True) -> dict[str, dict]:
    """{href path: {"status", "etag", "data"}} for each response of the multistatus."""
    response = client.report(cal, multiget_body(hrefs, calendar_data))
    assert response.status_code == 207, (response.status_code, response.text[:2000])
    root = ET.fromstring(response.content)
    assert root.tag == DAV + "multistatus"
    found = {}
    for resp in root.findall(DAV + "response"):
        href = unquote(resp.find(DAV + "href").text)
        assert href not in found, f"{href} reported twice"
        status = resp.find(DAV + "status")
        if status is not None:  # no propstat: the resource itself has this status
            found[href] = {"status": int(status.text.split()[1]), "etag": None, "data": None}
            continue
        statuses = [int(s.text.split()[1]) for s in resp.iter(DAV + "status")]
        etag = resp.find(f".//{DAV}getetag")
        data = resp.find(f".//{CAL}calendar-data")
        found[href] = {"status": max(statuses), "etag": etag.text if etag is not None else None,
                       "data": data.text if data is not None else None}
    return found


def path_of(user, cal: str, name: str = "") -> str:
    return f"/{user.name}/{cal}{name}"


def put_ok(user, path: str, ics: str) -> str:
    response = user.put(path, ics)
    assert response.status_code in (201, 204), (response.status_code, response.text)
    return response.headers["ETag"]


def test_multiget_returns_what_was_put_and_404_for_missing_hrefs(user):
    cal = user.mkcalendar("multiget")
    bodies = {
        "meeting.ics": simple_event(new_uid("meeting")),
        "series.ics": recurring_event(new_uid("series")),
        "task.ics": task(new_uid("task")),
    }
    etags = {name: put_ok(user, f"{cal}{name}", ics) for name, ics in bodies.items()}
    wanted = ["meeting.ics", "missing-1.ics", "series.ics", "task.ics", "missing-2.ics"]
    found = multiget(user, cal, [path_of(user, cal, name) for name in wanted])

    assert set(found) == {path_of(user, cal, name) for name in wanted}
    for name in ("missing-1.ics", "missing-2.ics"):
        assert found[path_of(user, cal, name)] == {"status": 404, "etag": None, "data": None}
    for name, ics in bodies.items():
        got = found[path_of(user, cal, name)]
        assert got["status"] == 200
        assert got["etag"] == etags[name]
        assert content(got["data"]) == content(ics), name
        # The same text GET serves (XML turns its CRLFs into LFs).
        get = user.request("GET", f"{cal}{name}")
        assert get.status_code == 200 and get.headers["ETag"] == etags[name]
        assert got["data"] == get.text.replace("\r\n", "\n")


def test_multiget_of_etags_only(user):
    cal = user.mkcalendar("etags")
    names = [f"item-{n}.ics" for n in range(25)]
    etags = {name: put_ok(user, f"{cal}{name}", simple_event(new_uid(f"e{n}"), summary=f"n{n}"))
             for n, name in enumerate(names)}
    asked = names[::2] + ["gone.ics"]
    found = multiget(user, cal, [path_of(user, cal, name) for name in asked], calendar_data=False)
    assert {href: got["etag"] for href, got in found.items()} == {
        **{path_of(user, cal, name): etags[name] for name in names[::2]},
        path_of(user, cal, "gone.ics"): None}
    assert found[path_of(user, cal, "gone.ics")]["status"] == 404
    assert all(got["data"] is None for got in found.values())


def test_multiget_follows_updates_and_deletes(user):
    cal = user.mkcalendar("changes")
    uid = new_uid("changing")
    first_etag = put_ok(user, f"{cal}changing.ics", simple_event(uid, summary="first"))
    put_ok(user, f"{cal}kept.ics", task(new_uid("kept")))
    updated = simple_event(uid, start="20261203T103000Z", summary="second")
    second_etag = put_ok(user, f"{cal}changing.ics", updated)
    assert second_etag != first_etag
    found = multiget(user, cal, [path_of(user, cal, "changing.ics")])
    got = found[path_of(user, cal, "changing.ics")]
    assert (got["status"], got["etag"]) == (200, second_etag)
    assert content(got["data"]) == content(updated)

    assert user.request("DELETE", f"{cal}changing.ics").status_code in (200, 204)
    found = multiget(user, cal, [path_of(user, cal, "changing.ics"), path_of(user, cal, "kept.ics")])
    assert found[path_of(user, cal, "changing.ics")]["status"] == 404
    assert found[path_of(user, cal, "kept.ics")]["status"] == 200


def test_multiget_of_hrefs_outside_the_collection_is_404_without_data(user, other_user):
    cal = user.mkcalendar("mine")
    sibling = user.mkcalendar("sibling")
    foreign = other_user.mkcalendar("theirs")
    put_ok(user, f"{cal}here.ics", simple_event(new_uid("here")))
    put_ok(user, f"{sibling}there.ics", simple_event(new_uid("there"), summary="sibling secret"))
    put_ok(other_user, f"{foreign}private.ics", simple_event(new_uid("private"), summary="their secret"))
    hrefs = [path_of(user, cal, "here.ics"), path_of(user, sibling, "there.ics"),
             path_of(other_user, foreign, "private.ics")]
    response = user.report(cal, multiget_body(hrefs))
    assert response.status_code == 207
    assert "secret" not in response.text
    found = multiget(user, cal, hrefs)
    assert found[hrefs[0]]["status"] == 200
    assert found[hrefs[1]]["status"] == 404
    assert found[hrefs[2]]["status"] == 404


def test_multiget_with_percent_encoded_hrefs(user):
    cal = user.mkcalendar("encoded")
    name = "team meeting+1 (ü).ics"
    ics = simple_event(new_uid("encoded"))
    etag = put_ok(user, f"{cal}{quote(name)}", ics)
    found = multiget(user, cal, [quote(path_of(user, cal, name)), quote(path_of(user, cal, "nö such.ics"))])
    assert found[path_of(user, cal, name)]["status"] == 200
    assert found[path_of(user, cal, name)]["etag"] == etag
    assert content(found[path_of(user, cal, name)]["data"]) == content(ics)
    assert found[path_of(user, cal, "nö such.ics")]["status"] == 404


def test_multiget_on_a_vtodo_only_list(user):
    cal = user.mkcalendar("tasks", components=("VTODO",))
    ics = task(new_uid("listed"))
    etag = put_ok(user, f"{cal}listed.ics", ics)
    refused = user.put(f"{cal}event.ics", simple_event(new_uid("refused")))
    assert refused.status_code == 403
    found = multiget(user, cal, [path_of(user, cal, "listed.ics"), path_of(user, cal, "event.ics")])
    assert found[path_of(user, cal, "listed.ics")]["etag"] == etag
    assert content(found[path_of(user, cal, "listed.ics")]["data"]) == content(ics)
    assert found[path_of(user, cal, "event.ics")]["status"] == 404


def test_multiget_with_the_caldav_library(user):
    cal = user.mkcalendar("library")
    bodies = {"a.ics": recurring_event(new_uid("lib-a")), "b.ics": task(new_uid("lib-b"))}
    for name, ics in bodies.items():
        put_ok(user, f"{cal}{name}", ics)
    def url(name: str):
        return caldav.lib.url.URL.objectify(user.url(f"{cal}{name}"))

    with caldav.DAVClient(url=user.url(), username=user.name, password=user.password) as client:
        calendar = client.calendar(url=user.url(cal))
        objects = calendar.multiget([url(name) for name in bodies])
        got = {str(o.url).rsplit("/", 1)[-1]: o.data for o in objects}
        assert set(got) == set(bodies)
        for name, ics in bodies.items():
            assert content(got[name]) == content(ics)
        with pytest.raises(caldav.lib.error.NotFoundError):
            calendar.multiget([url("a.ics"), url("nothing.ics")], raise_notfound=True)
