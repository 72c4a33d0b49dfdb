"""Calendars as collections: MKCALENDAR properties, PROPFIND/PROPPATCH, listing, DELETE, storage verification."""
from __future__ import annotations

from xml.sax.saxutils import escape

import caldav
from sqlalchemy import text

from davutil import (NS, SYNC_TOKEN_RE, XML_HEADER, clark, event, member_etags, multistatus, propfind,
                     sync_body, todo)

TIMEZONE = ("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Planerix tests//EN\nBEGIN:VTIMEZONE\n"
            "TZID:Europe/Berlin\nBEGIN:STANDARD\nDTSTART:19701025T030000\n"
            "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\n"
            "TZNAME:CET\nEND:STANDARD\nBEGIN:DAYLIGHT\nDTSTART:19700329T020000\n"
            "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200\n"
            "TZNAME:CEST\nEND:DAYLIGHT\nEND:VTIMEZONE\nEND:VCALENDAR\n")
PROPERTIES = {
    "D:displayname": "Team 🚀 Planning",
    "C:calendar-description": "Quarterly <goals> & \"results\" — Ünïcode",
    "A:calendar-color": "#FF5733CC",
    "A:calendar-order": "7",
    "C:calendar-timezone": TIMEZONE,
}
ALL_PROPS = (*PROPERTIES, "C:supported-calendar-component-set", "D:resourcetype")
XMLNS = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NS.items())


def prop_xml(tag: str, value: str) -> str:
    attributes = ' symbolic-color="custom"' if tag == "A:calendar-color" else ""
    return f"<{tag}{attributes}>{escape(value)}</{tag}>"


def mkcalendar(user, name: str, properties: dict, components=("VEVENT", "VTODO")):
    props = "".join(prop_xml(tag, value) for tag, value in properties.items())
    comps = "".join(f'<C:comp name="{c}"/>' for c in components)
    body = (f"{XML_HEADER}<C:mkcalendar {XMLNS}><D:set><D:prop>{props}"
            f"<C:supported-calendar-component-set>{comps}</C:supported-calendar-component-set>"
            f"</D:prop></D:set></C:mkcalendar>")
    return user.request("MKCALENDAR", f"{name}/", body, **{"Content-Type": "application/xml"})


def proppatch(user, path: str, set_props: dict | None = None, remove: tuple = ()):
    sets = "".join(prop_xml(tag, value) for tag, value in (set_props or {}).items())
    removes = "".join(f"<{tag}/>" for tag in remove)
    body = (f"{XML_HEADER}<D:propertyupdate {XMLNS}>"
            + (f"<D:set><D:prop>{sets}</D:prop></D:set>" if sets else "")
            + (f"<D:remove><D:prop>{removes}</D:prop></D:remove>" if removes else "")
            + "</D:propertyupdate>")
    response = user.request("PROPPATCH", path, body, **{"Content-Type": "application/xml"})
    assert response.status_code == 207, response.text
    entry, = multistatus(response.content)[0]
    return entry


def components_of(response) -> set[str]:
    element = response.props[clark("C:supported-calendar-component-set")]
    return {comp.get("name") for comp in element.findall(clark("C:comp"))}


# -- properties ------------------------------------------------------------------------

def test_mkcalendar_properties_round_trip(user):
    response = mkcalendar(user, "team", PROPERTIES)
    assert response.status_code == 201, response.text

    entry, = propfind(user, "team/", *ALL_PROPS)
    for tag, value in PROPERTIES.items():
        assert entry.text(tag) == value, tag
    assert components_of(entry) == {"VEVENT", "VTODO"}
    assert entry.props[clark("D:resourcetype")].find(clark("C:calendar")) is not None
    assert not entry.missing

    # The calendar takes what its component set allows, and nothing else.
    assert user.put("team/e.ics", event("e")).status_code == 201
    assert user.put("team/t.ics", todo("t")).status_code == 201
    journal = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VJOURNAL\r\nUID:j\r\n"
               "DTSTAMP:20260101T000000Z\r\nDTSTART:20260102T100000Z\r\nSUMMARY:j\r\nEND:VJOURNAL\r\n"
               "END:VCALENDAR\r\n")
    assert user.put("team/j.ics", journal).status_code == 403


def test_proppatch_changes_and_removes_properties(user):
    assert mkcalendar(user, "team", PROPERTIES).status_code == 201
    changes = {"D:displayname": "Renamed ✨", "A:calendar-color": "#00AA11FF", "A:calendar-order": "2",
               "C:calendar-description": "New description"}
    entry = proppatch(user, "team/", changes)
    assert set(entry.props) == {clark(tag) for tag in changes}
    assert not entry.missing

    current, = propfind(user, "team/", *ALL_PROPS)
    for tag, value in {**PROPERTIES, **changes}.items():
        assert current.text(tag) == value, tag

    entry = proppatch(user, "team/", remove=("C:calendar-description",))
    assert clark("C:calendar-description") in entry.props
    after, = propfind(user, "team/", *ALL_PROPS)
    assert clark("C:calendar-description") not in after.props
    assert clark("C:calendar-description") in after.missing
    for tag, value in {**PROPERTIES, **changes}.items():
        if tag != "C:calendar-description":
            assert after.text(tag) == value, tag
    assert components_of(after) == {"VEVENT", "VTODO"}

    # Set and remove in one request, applied in order.
    proppatch(user, "team/", {"C:calendar-description": "back again"}, remove=("A:calendar-order",))
    final, = propfind(user, "team/", *ALL_PROPS)
    assert final.text("C:calendar-description") == "back again"
    assert clark("A:calendar-order") in final.missing
    assert final.text("D:displayname") == "Renamed ✨"


def test_proppatch_with_the_caldav_library(base_url, user):
    client = caldav.DAVClient(url=base_url + "/", username=user.name, password=user.password)
    principal = client.principal()
    created = principal.make_calendar(name="Library made", cal_id="lib",
                                      supported_calendar_component_set=["VTODO"])
    assert created.get_display_name() == "Library made"
    created.set_properties([caldav.elements.dav.DisplayName("Library renamed")])
    entry, = propfind(user, "lib/", "D:displayname", "C:supported-calendar-component-set")
    assert entry.text("D:displayname") == "Library renamed"
    assert components_of(entry) == {"VTODO"}


def test_mkcalendar_on_an_existing_calendar_is_refused(user):
    assert mkcalendar(user, "team", PROPERTIES).status_code == 201
    user.put("team/e.ics", event("e"))
    again = mkcalendar(user, "team", {"D:displayname": "Overwritten?"})
    assert 400 <= again.status_code < 500
    entry, = propfind(user, "team/", *ALL_PROPS)
    assert entry.text("D:displayname") == PROPERTIES["D:displayname"]
    assert set(member_etags(user, "team/")) == {f"/{user.name}/team/e.ics"}


# -- listing ------------------------------------------------------------------------------

def test_depth_one_propfind_on_the_home_lists_the_calendars(user):
    names = {"work": "Work", "home": "Home 🏠", "tasks": "Tasks"}
    for name, display in names.items():
        assert mkcalendar(user, name, {"D:displayname": display}).status_code == 201
    user.put("work/e.ics", event("e"))  # items are not listed at the home level
    responses = propfind(user, "", "D:displayname", "D:resourcetype", "CS:getctag", depth="1")
    home = f"/{user.name}/"
    assert responses[0].href == home
    calendars = {r.href: r for r in responses if r.href != home}
    # Besides the account's own home collections (default calendar, task list, inbox, outbox).
    assert set(calendars) == {f"{home}{name}/" for name in names} | {
        f"{home}{name}/" for name in ("personal", "personal-tasks", "schedule-inbox", "schedule-outbox")}
    for name, display in names.items():
        entry = calendars[f"{home}{name}/"]
        assert entry.text("D:displayname") == display
        assert entry.props[clark("D:resourcetype")].find(clark("C:calendar")) is not None
        assert entry.text("CS:getctag")
    assert len({entry.text("CS:getctag") for entry in calendars.values()}) == len(calendars)


# -- DELETE -------------------------------------------------------------------------------

def collection_rows(engine, path: str) -> dict:
    with engine.connect() as conn:
        cid = conn.execute(text("SELECT id FROM collection WHERE path = :p"), {"p": path}).scalar()
        counts = {}
        if cid is not None:
            for table in ("item", "item_occurrence", "tombstone"):
                counts[table] = conn.execute(
                    text(f"SELECT count(*) FROM {table} WHERE collection_id = :cid"), {"cid": cid}).scalar()
        return {"id": cid, **counts}


def test_delete_removes_the_calendar_and_everything_in_it(user, engine):
    assert mkcalendar(user, "doomed", PROPERTIES).status_code == 201
    for i in range(5):
        assert user.put(f"doomed/e{i}.ics", event(f"e{i}")).status_code == 201
    user.request("DELETE", "doomed/e0.ics")  # leaves a tombstone
    before = collection_rows(engine, f"{user.name}/doomed")
    assert before["item"] == 4 and before["item_occurrence"] >= 4 and before["tombstone"] == 1
    token = multistatus(user.report("doomed/", sync_body(), depth="0").content)[1].find(
        clark("D:sync-token")).text

    response = user.request("DELETE", "doomed/")
    assert response.status_code in (200, 204), response.text
    assert collection_rows(engine, f"{user.name}/doomed") == {"id": None}
    with engine.connect() as conn:
        for table in ("item", "item_occurrence", "tombstone"):
            orphans = conn.execute(text(f"SELECT count(*) FROM {table} WHERE collection_id = :cid"),
                                   {"cid": before["id"]}).scalar()
            assert orphans == 0, table
    assert user.request("GET", "doomed/e1.ics").status_code == 404
    assert user.request("PROPFIND", "doomed/", Depth="0").status_code == 404
    home = propfind(user, "", "D:resourcetype", depth="1")
    assert f"/{user.name}/doomed/" not in {r.href for r in home}

    # The same path again is a new, empty calendar with its own sync history.
    assert mkcalendar(user, "doomed", {"D:displayname": "Reborn"}).status_code == 201
    assert member_etags(user, "doomed/") == {}
    entry, = propfind(user, "doomed/", *ALL_PROPS)
    assert entry.text("D:displayname") == "Reborn"
    assert clark("C:calendar-description") in entry.missing
    assert user.put("doomed/e1.ics", event("e1")).status_code == 201
    stale = user.report("doomed/", sync_body(token), depth="0")
    assert stale.status_code == 403 and "valid-sync-token" in stale.text
    new_token = multistatus(user.report("doomed/", sync_body(), depth="0").content)[1].find(
        clark("D:sync-token")).text
    assert SYNC_TOKEN_RE.match(new_token).group(1) != SYNC_TOKEN_RE.match(token).group(1)


def test_delete_of_a_calendar_leaves_its_siblings_alone(user):
    for name in ("keep", "keeper", "drop"):
        assert mkcalendar(user, name, {"D:displayname": name}).status_code == 201
        assert user.put(f"{name}/x.ics", event(f"x-{name}")).status_code == 201
    before = {name: member_etags(user, f"{name}/") for name in ("keep", "keeper")}
    assert user.request("DELETE", "drop/").status_code in (200, 204)
    # "keep" is a prefix of "keeper": deleting one must not match the other by prefix.
    assert user.request("DELETE", "keep/").status_code in (200, 204)
    assert user.request("PROPFIND", "keep/", Depth="0").status_code == 404
    assert member_etags(user, "keeper/") == before["keeper"]
