"""POST of a VFREEBUSY REQUEST to the schedule outbox (RFC 6638 §5), in the shapes Apple Calendar,
Thunderbird and Evolution send (see the design note on scheduling), and through the ``caldav``
library's own request and response code."""
from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import caldav
import icalendar
import pytest
import requests
from sqlalchemy import text

from conftest import new_user
from davutil import event
from storage_plugin import clock, directory

C = "urn:ietf:params:xml:ns:caldav"


@pytest.fixture
def people(engine, base_url):
    """alice and bob share an organisation; carol is outside it. Each has an email and a calendar."""
    alice, bob, carol = (new_user(engine, base_url, p) for p in ("alice", "bob", "carol"))
    with engine.begin() as conn:
        org = conn.execute(text("INSERT INTO organisation (name) VALUES ('Acme') RETURNING id")).scalar()
        for person, role in ((alice, "owner"), (bob, "member")):
            conn.execute(text("INSERT INTO membership (organisation_id, account, role) VALUES (:o, :a, :r)"),
                         {"o": org, "a": person.name, "r": role})
        for person in (alice, bob, carol):
            person.email = f"{person.name}@example.org"
            directory.set_identity(conn, person.name, email=person.email)
    for person in (alice, bob, carol):
        person.mkcalendar("work")
    bob.put("work/standup.ics", event("standup", "Confidential standup", start="20260302T090000Z",
                                      end="20260302T093000Z", extra="LOCATION:Board room\r\n"))
    bob.put("work/maybe.ics", event("maybe", start="20260302T110000Z", end="20260302T120000Z",
                                    extra="STATUS:TENTATIVE\r\n"))
    bob.put("work/declined.ics", event(
        "declined", start="20260302T140000Z", end="20260302T150000Z",
        extra=f"ORGANIZER:mailto:{carol.email}\r\nATTENDEE;PARTSTAT=DECLINED:mailto:{bob.email}\r\n"))
    bob.put("work/edited.ics", event("edited", start="20260302T160000Z", end="20260302T170000Z"))
    carol.put("work/c.ics", event("c", start="20260302T090000Z", end="20260302T100000Z"))
    return alice, bob, carol


def post(user, body: str, auth=True, **headers):
    return requests.post(f"{user.base_url}/{user.name}/schedule-outbox/", data=body.encode(),
                         auth=(user.name, user.password) if auth else None,
                         headers={"Content-Type": "text/calendar; charset=utf-8", **headers})


def responses(answer) -> dict[str, tuple[str, str | None]]:
    root = ET.fromstring(answer.content)
    assert root.tag == f"{{{C}}}schedule-response"
    found = {}
    for response in root.findall(f"{{{C}}}response"):
        href = response.find(f"{{{C}}}recipient/{{DAV:}}href").text
        data = response.find(f"{{{C}}}calendar-data")
        found[href] = (response.find(f"{{{C}}}request-status").text, None if data is None else data.text)
    return found


def periods(ics: str) -> list[tuple[str, str]]:
    vfreebusy = icalendar.Calendar.from_ical(ics).walk("VFREEBUSY")[0]
    lines = vfreebusy.get("FREEBUSY", [])
    lines = lines if isinstance(lines, list) else [lines]
    return [(str(line.params["FBTYPE"]), line.to_ical().decode()) for line in lines]


BOB_BUSY = [("BUSY", "20260302T090000Z/20260302T093000Z"),
            ("BUSY-TENTATIVE", "20260302T110000Z/20260302T120000Z"),
            ("BUSY", "20260302T160000Z/20260302T170000Z")]


def apple_request(organizer: str, attendees: list[str], mask_uid: str | None = None) -> str:
    # The shape of CalendarServer's recorded OS X client traffic (post_availability.request).
    lines = ["BEGIN:VCALENDAR", "CALSCALE:GREGORIAN", "METHOD:REQUEST",
             "PRODID:-//Apple Inc.//Mac OS X 10.11//EN", "VERSION:2.0", "BEGIN:VFREEBUSY",
             f"UID:{uuid.uuid4()}", "DTEND:20260303T000000Z",
             *[f"ATTENDEE:{a}" for a in attendees], "DTSTART:20260302T000000Z",
             *([f"X-CALENDARSERVER-MASK-UID:{mask_uid}"] if mask_uid else []),
             "DTSTAMP:20260301T120000Z", f"ORGANIZER:{organizer}", "SUMMARY:Availability for attendees",
             "END:VFREEBUSY", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def test_apple_shaped_request(people):
    alice, bob, carol = people
    attendees = [f"mailto:{alice.email}", f"MAILTO:{bob.email.upper()}", f"mailto:{carol.email}",
                 "mailto:nobody@example.org"]
    answer = post(alice, apple_request(f"mailto:{alice.email}", attendees, mask_uid="edited"),
                  Originator=f"mailto:{alice.email}", Recipient=", ".join(attendees))
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/xml")
    assert "Confidential" not in answer.text and "Board room" not in answer.text
    found = responses(answer)
    assert found[f"mailto:{alice.email}"][0] == "2.0;Success"
    status, ics = found[f"MAILTO:{bob.email.upper()}"]
    assert status == "2.0;Success"
    assert periods(ics) == BOB_BUSY[:2]  # the declined invitation is free; MASK-UID hides "edited"
    reply = icalendar.Calendar.from_ical(ics)
    assert str(reply["METHOD"]) == "REPLY"
    vfreebusy = reply.walk("VFREEBUSY")[0]
    assert str(vfreebusy["ORGANIZER"]) == f"mailto:{alice.email}"
    assert str(vfreebusy["ATTENDEE"]) == f"MAILTO:{bob.email.upper()}"
    assert set(vfreebusy) <= {"UID", "DTSTAMP", "DTSTART", "DTEND", "ORGANIZER", "ATTENDEE", "FREEBUSY"}
    # Carol shares no organisation with alice: answered exactly like an unknown address.
    assert found[f"mailto:{carol.email}"] == found["mailto:nobody@example.org"] == (
        "3.7;Invalid calendar user", None)


def test_thunderbird_shaped_request(people):
    alice, bob, _ = people
    body = ("BEGIN:VCALENDAR\r\nPRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r\n"
            "VERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VFREEBUSY\r\nDTSTAMP:20260301T120000Z\r\n"
            f"ORGANIZER:mailto:{alice.email}\r\nDTSTART:20260302T000000Z\r\nDTEND:20260303T000000Z\r\n"
            f"UID:{uuid.uuid4()}\r\n"
            f"ATTENDEE;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;CUTYPE=INDIVIDUAL:mailto:{bob.email}\r\n"
            "END:VFREEBUSY\r\nEND:VCALENDAR\r\n")
    answer = post(alice, body, Originator=f"mailto:{alice.email}", Recipient=f"mailto:{bob.email}")
    assert answer.status_code == 200, answer.text
    status, ics = responses(answer)[f"mailto:{bob.email}"]
    assert status == "2.0;Success" and periods(ics) == BOB_BUSY


def test_evolution_shaped_request_with_a_time_zone(people):
    alice, bob, _ = people
    body = ("BEGIN:VCALENDAR\r\nPRODID:-//Ximian//NONSGML Evolution Calendar//EN\r\nVERSION:2.0\r\n"
            "METHOD:REQUEST\r\nBEGIN:VFREEBUSY\r\n"
            f"UID:{uuid.uuid4()}\r\nDTSTAMP:20260301T120000Z\r\n"
            "DTSTART;TZID=Europe/Berlin:20260302T110000\r\nDTEND;TZID=Europe/Berlin:20260302T130000\r\n"
            f"ORGANIZER:mailto:{alice.email}\r\nATTENDEE:mailto:{bob.email}\r\n"
            "END:VFREEBUSY\r\nEND:VCALENDAR\r\n")
    answer = post(alice, body)
    assert answer.status_code == 200, answer.text
    status, ics = responses(answer)[f"mailto:{bob.email}"]
    # 10:00-12:00 UTC: clipped to the window.
    assert status == "2.0;Success"
    assert periods(ics) == [("BUSY-TENTATIVE", "20260302T110000Z/20260302T120000Z")]


def test_the_caldav_library_request_and_parser(people):
    """python-caldav's freebusy_request, minus the principal lookups (the outbox URL and the
    user's address come from principal properties that the scheduling branch adds)."""
    alice, bob, _ = people
    with caldav.DAVClient(url=alice.base_url, username=alice.name, password=alice.password) as client:
        calendar = icalendar.Calendar()
        calendar.add("prodid", "-//tobixen/python-caldav//EN")
        calendar.add("version", "2.0")
        calendar.add("method", "REQUEST")
        vfreebusy = icalendar.FreeBusy()
        vfreebusy.add("uid", uuid.uuid4())
        vfreebusy.add("dtstamp", clock.now())
        vfreebusy.add("dtstart", datetime(2026, 3, 2, tzinfo=timezone.utc))
        vfreebusy.add("dtend", datetime(2026, 3, 3, tzinfo=timezone.utc))
        calendar.add_component(vfreebusy)
        principal = caldav.Principal(client=client, url=f"{alice.base_url}/{alice.name}/")
        request = caldav.FreeBusy(parent=principal, data=calendar)
        request.add_attendee(f"mailto:{bob.email}", no_default_parameters=True)
        request.add_organizer(f"mailto:{alice.email}")
        response = client.post(f"{alice.base_url}/{alice.name}/schedule-outbox/", request.data,
                               headers={"Content-Type": "text/calendar; charset=utf-8"})
        parsed = response._parse_scheduling_response_objects(parent=principal)
    assert parsed["errors"] == {}
    [(address, reply)] = [(k, v) for k, v in parsed.items() if k != "errors"]
    assert address == f"mailto:{bob.email}"
    data = reply.data if hasattr(reply, "data") else str(reply)
    assert "FREEBUSY;FBTYPE=BUSY:20260302T090000Z/20260302T093000Z" in data


def test_only_the_owner_may_post_as_themselves(people):
    alice, bob, _ = people
    body = apple_request(f"mailto:{alice.email}", [f"mailto:{bob.email}"])
    assert post(alice, body, auth=False).status_code == 401
    other = requests.post(f"{alice.base_url}/{alice.name}/schedule-outbox/", data=body.encode(),
                          auth=(bob.name, bob.password), headers={"Content-Type": "text/calendar"})
    assert other.status_code == 403
    impostor = post(bob, body)  # bob's outbox, alice's address as ORGANIZER
    assert impostor.status_code == 403 and "organizer-allowed" in impostor.text
    assert "Confidential" not in impostor.text


@pytest.mark.parametrize("body, content_type, status, words", [
    ("not a calendar", "text/calendar", 400, "not valid iCalendar"),
    ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:PUBLISH\r\nBEGIN:VFREEBUSY\r\nUID:x\r\nEND:VFREEBUSY\r\n"
     "END:VCALENDAR\r\n", "text/calendar", 400, "METHOD:REQUEST"),
    ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VFREEBUSY\r\nUID:x\r\n"
     "ORGANIZER:mailto:{email}\r\nATTENDEE:mailto:{email}\r\nDTSTART:20260302T000000Z\r\n"
     "DTEND:20280302T000000Z\r\nEND:VFREEBUSY\r\nEND:VCALENDAR\r\n", "text/calendar", 400, "400 days"),
    ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VFREEBUSY\r\nUID:x\r\n"
     "ORGANIZER:mailto:{email}\r\nDTSTART:20260302T000000Z\r\n"
     "DTEND:20260303T000000Z\r\nEND:VFREEBUSY\r\nEND:VCALENDAR\r\n", "text/calendar", 400, "no ATTENDEE"),
    ("<xml/>", "application/xml", 415, "text/calendar"),
])
def test_bad_requests_get_reasons(people, body, content_type, status, words):
    alice = people[0]
    answer = requests.post(f"{alice.base_url}/{alice.name}/schedule-outbox/",
                           data=body.replace("{email}", alice.email).encode(),
                           auth=(alice.name, alice.password), headers={"Content-Type": content_type})
    assert answer.status_code == status and words in answer.text, answer.text


# -- working hours as the inbox's calendar-availability (RFC 7953 §7.2.4) -----------------------
CS = "http://calendarserver.org/ns/"
# Apple Calendar's working hours: weekdays 9 to 5 in its own zone, with the VTIMEZONE it sends.
APPLE_HOURS = "\r\n".join([
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Apple Inc.//Mac OS X 10.11//EN", "CALSCALE:GREGORIAN",
    "BEGIN:VTIMEZONE", "TZID:America/Los_Angeles",
    "BEGIN:DAYLIGHT", "TZOFFSETFROM:-0800", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU",
    "DTSTART:20070311T020000", "TZNAME:PDT", "TZOFFSETTO:-0700", "END:DAYLIGHT",
    "BEGIN:STANDARD", "TZOFFSETFROM:-0700", "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU",
    "DTSTART:20071104T020000", "TZNAME:PST", "TZOFFSETTO:-0800", "END:STANDARD", "END:VTIMEZONE",
    "BEGIN:VAVAILABILITY", "UID:9BADC5B4-6B0A-4C36-8A7E-7E5C3D4C9E11", "DTSTAMP:20260301T120000Z",
    "BEGIN:AVAILABLE", "UID:1F3CB2E0-0C1B-4E5A-9B35-8E0B8B1B7C2D", "DTSTAMP:20260301T120000Z",
    "SUMMARY:Monday to Friday from 9:00 to 17:00",
    "DTSTART;TZID=America/Los_Angeles:20060102T090000", "DTEND;TZID=America/Los_Angeles:20060102T170000",
    "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "END:AVAILABLE", "END:VAVAILABILITY", "END:VCALENDAR"]) + "\r\n"


def proppatch_availability(user, text: str | None, namespace: str = C):
    """Apple's PROPPATCH of the inbox: the VCALENDAR as CDATA, the namespace declared on the
    property (``CS:`` is what CalendarServer-era Apple clients write); None removes it."""
    prop = f'<B:calendar-availability xmlns:B="{namespace}"'
    change = ("<A:remove><A:prop>" + prop + "/></A:prop></A:remove>" if text is None else
              "<A:set><A:prop>" + prop + f"><![CDATA[{text}]]></B:calendar-availability></A:prop></A:set>")
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<A:propertyupdate xmlns:A="DAV:">{change}</A:propertyupdate>'
    return requests.request("PROPPATCH", f"{user.base_url}/{user.name}/schedule-inbox/", data=body.encode(),
                            auth=(user.name, user.password),
                            headers={"Content-Type": "text/xml", "User-Agent": "Mac OS X/10.11 (15A284) CalendarAgent/361"})


def inbox_availability(user, namespace: str = C) -> str | None:
    answer = requests.request(
        "PROPFIND", f"{user.base_url}/{user.name}/schedule-inbox/", auth=(user.name, user.password),
        headers={"Depth": "0", "Content-Type": "text/xml"},
        data=f'<A:propfind xmlns:A="DAV:"><A:prop><B:calendar-availability xmlns:B="{namespace}"/>'
             "</A:prop></A:propfind>".encode())
    assert answer.status_code == 207, answer.text
    for propstat in ET.fromstring(answer.content).iter("{DAV:}propstat"):
        if "200" in propstat.findtext("{DAV:}status"):
            return propstat.find(f"{{DAV:}}prop/{{{namespace}}}calendar-availability").text
    return None


BOB_IN_LOS_ANGELES = [  # his working day is 17:00-01:00 UTC: the morning is outside it
    ("BUSY-UNAVAILABLE", "20260302T000000Z/20260302T090000Z"), ("BUSY", "20260302T090000Z/20260302T093000Z"),
    ("BUSY-UNAVAILABLE", "20260302T093000Z/20260302T160000Z"), ("BUSY", "20260302T160000Z/20260302T170000Z")]


@pytest.mark.parametrize("namespace", [C, CS])
def test_working_hours_set_on_the_inbox_shape_free_busy(people, engine, namespace):
    from storage_plugin import freebusy

    alice, bob, _ = people
    dav = requests.options(f"{bob.base_url}/{bob.name}/schedule-inbox/", auth=(bob.name, bob.password)).headers["DAV"]
    assert {"calendar-availability", "inbox-availability"} <= {part.strip() for part in dav.split(",")}
    answer = proppatch_availability(bob, APPLE_HOURS, namespace)
    assert answer.status_code == 207 and "200 OK" in answer.text, answer.text
    assert "BEGIN:VAVAILABILITY" in inbox_availability(bob, C) and "BEGIN:VAVAILABILITY" in inbox_availability(bob, CS)
    with engine.connect() as conn:  # the very row /api/availability reads and writes
        assert "America/Los_Angeles:20060102T090000" in freebusy.availability_of(conn, bob.name)
    found = responses(post(alice, apple_request(f"mailto:{alice.email}", [f"mailto:{bob.email}"])))
    assert periods(found[f"mailto:{bob.email}"][1]) == BOB_IN_LOS_ANGELES
    # Removed: all of his time counts as available again.
    answer = proppatch_availability(bob, None, namespace)
    assert answer.status_code == 207 and "200 OK" in answer.text, answer.text
    assert inbox_availability(bob) is None
    found = responses(post(alice, apple_request(f"mailto:{alice.email}", [f"mailto:{bob.email}"])))
    assert periods(found[f"mailto:{bob.email}"][1]) == BOB_BUSY


def test_unusable_working_hours_are_refused_and_nothing_changes(people):
    alice, bob, _ = people
    assert proppatch_availability(bob, APPLE_HOURS).status_code == 207
    answer = proppatch_availability(bob, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n")
    assert answer.status_code == 400, answer.text
    assert "calendar-availability" in answer.text and "VAVAILABILITY" in answer.text
    assert "America/Los_Angeles" in inbox_availability(bob)
    # Only the inbox's owner may change it.
    intruder = requests.request("PROPPATCH", f"{bob.base_url}/{bob.name}/schedule-inbox/",
                                auth=(alice.name, alice.password), data=b"<A:propertyupdate xmlns:A='DAV:'/>",
                                headers={"Content-Type": "text/xml"})
    assert intruder.status_code in (403, 404)
