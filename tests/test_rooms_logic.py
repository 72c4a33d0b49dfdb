"""The pure side of a room's answer (scheduling.resources): which occurrences it is invited to,
and its copy once it has answered per occurrence."""
from datetime import datetime, timezone

import pytest
from icalendar import Calendar

from scheduling import itip, resources

ROOM = "mailto:room@rooms.example"
NOW = datetime(2026, 12, 2, 12, tzinfo=timezone.utc)


def event(start: str, rule: str = "", extra: str = "", overrides: str = "") -> Calendar:
    rule = f"RRULE:{rule}\r\n" if rule else ""
    return Calendar.from_ical(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:e\r\n"
        f"DTSTAMP:20261201T000000Z\r\n{start}\r\nDURATION:PT1H\r\n{rule}{extra}SUMMARY:Standup\r\n"
        f"ORGANIZER:mailto:o@x.example\r\nATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:{ROOM.upper()}\r\n"
        f"END:VEVENT\r\n{overrides}END:VCALENDAR\r\n")


def test_a_series_gives_its_instances_with_overrides_and_exdates_in_place():
    override = ("BEGIN:VEVENT\r\nUID:e\r\nDTSTAMP:20261201T000000Z\r\nRECURRENCE-ID:20270102T100000Z\r\n"
                "DTSTART:20270102T150000Z\r\nDURATION:PT1H\r\nORGANIZER:mailto:o@x.example\r\n"
                f"ATTENDEE:{ROOM}\r\nEND:VEVENT\r\n")
    found = resources.occurrences(event("DTSTART:20270101T100000Z", "FREQ=DAILY;COUNT=4",
                                        "EXDATE:20270103T100000Z\r\n", override), {ROOM}, NOW)
    assert sorted((o.key, o.start.hour) for o in found) == [
        ("20270101T100000Z", 10), ("20270102T100000Z", 15), ("20270104T100000Z", 10)]


def test_an_endless_series_is_booked_up_to_the_horizon_and_a_cancelled_one_not_at_all():
    endless = resources.occurrences(event("DTSTART:20270101T100000Z", "FREQ=DAILY"), {ROOM}, NOW)
    assert endless[-1].start < NOW + resources.HORIZON and len(endless) > 300
    assert resources.occurrences(event("DTSTART:20270101T100000Z", extra="STATUS:CANCELLED\r\n"),
                                 {ROOM}, NOW) == []
    assert [o.key for o in resources.occurrences(event("DTSTART:20270101T100000Z"), {ROOM}, NOW)] == [""]


@pytest.mark.parametrize("start, rule", [("DTSTART:20270101T100000", "FREQ=DAILY;UNTIL=20270103T100000Z"),
                                         ("DTSTART:20270101T100000Z", "FREQ=DAILY;UNTIL=20270103T100000"),
                                         ("DTSTART;VALUE=DATE:20270101", "FREQ=DAILY;UNTIL=20270103")])
def test_until_in_the_other_form_than_the_start_is_read_as_clients_mean_it(start, rule):
    assert len(resources.occurrences(event(start, rule), {ROOM}, NOW)) == 3


def test_an_unreadable_rule_is_an_unreadable_event():
    with pytest.raises(resources.UnreadableEvent, match="could not work out"):
        resources.occurrences(event("DTSTART:20270101T100000Z", "FREQ=DAILY;BYSETPOS=0"), {ROOM}, NOW)


def test_declined_occurrences_become_overrides_of_an_accepted_series():
    series = event("DTSTART;TZID=Europe/Berlin:20270101T100000", "FREQ=WEEKLY;COUNT=3")
    keys = [o.key for o in resources.occurrences(series, {ROOM}, NOW)]
    answered = resources.answered(series, {ROOM}, {keys[0]: "ACCEPTED", keys[1]: "DECLINED", keys[2]: "ACCEPTED"})
    instances = itip.by_instance(answered)
    assert set(instances) == {None, keys[1]}
    assert itip.partstat(itip.find_attendee(instances[None], {ROOM})) == "ACCEPTED"
    declined = itip.find_attendee(instances[keys[1]], {ROOM})
    assert itip.partstat(declined) == "DECLINED" and "RSVP" not in declined.params
    assert instances[keys[1]].decoded("DTSTART") == instances[keys[1]].decoded("RECURRENCE-ID")
    reply = itip.attendee_reply(series, answered, {ROOM}, NOW)
    reply = resources.with_reasons(reply, {keys[1]: "The room is already booked"})
    answers = {itip.recurrence_key(c): (itip.partstat(itip.attendees(c)[0]), str(c.get("COMMENT", "")))
               for c in itip.scheduled(reply.calendar)}
    assert answers == {None: ("ACCEPTED", ""), keys[1]: ("DECLINED", "The room is already booked")}
