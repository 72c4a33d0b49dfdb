"""Rooms that book themselves: invited as clients invite them, they accept when free and decline
what overlaps an accepted booking, per occurrence of a series."""
import pytest

from roomutil import Team, partstats, room_invitation
from schedutil import copy_of, items, unfolded


@pytest.fixture
def team(engine, base_url, api_server):
    return Team(engine, base_url, api_server.url)


def test_a_free_room_accepts_and_an_overlapping_request_is_declined_with_a_reason(team):
    room = team.room()
    alice, bob = team.members
    put = alice.put("personal/a.ics", room_invitation("room-a", alice, room, start="20270111T100000",
                                                      end="20270111T110000"))
    assert put.status_code == 201, put.text
    assert partstats(copy_of(alice, "room-a"), room["address"]) == {"": "ACCEPTED"}
    # Bob wants it 10:30-11:30 Berlin time: overlaps Alice's booking.
    put = bob.put("personal/b.ics", room_invitation("room-b", bob, room, start="20270111T103000",
                                                    end="20270111T113000"))
    assert put.status_code == 201, put.text
    assert partstats(copy_of(bob, "room-b"), room["address"]) == {"": "DECLINED"}
    reply = next(t for t in items(bob, "schedule-inbox/").values() if "room-b" in t and "METHOD:REPLY" in t)
    assert "COMMENT:The room is already booked from 2027-01-11 09:00 to 2027-01-11 10:00 UTC" in unfolded(reply)
    listed = team.api(bob).ok("GET", f"/api/resources/{room['id']}/bookings",
                              start="2027-01-11T00:00:00Z", end="2027-01-12T00:00:00Z")["bookings"]
    assert [(b["uid"], b["status"]) for b in listed] == [("room-a", "accepted"), ("room-b", "declined")]
    assert "already booked" in listed[1]["reason"] and listed[0]["reason"] is None
    assert listed[0]["start"].startswith("2027-01-11T09:00:00")


def test_a_weekly_series_declines_only_the_occurrence_that_conflicts(team):
    room = team.room()
    alice, bob = team.members
    # Bob holds the room on Monday 25 January 2027, 10:00-11:00 Berlin time.
    assert bob.put("personal/one.ics", room_invitation("held", bob, room, start="20270125T100000",
                                                       end="20270125T110000")).status_code == 201
    # Alice's weekly meeting, four Mondays from 11 January, 10:30-11:30: the third one overlaps.
    assert alice.put("personal/weekly.ics", room_invitation(
        "weekly", alice, room, start="20270111T103000", end="20270111T113000",
        rrule="FREQ=WEEKLY;COUNT=4")).status_code == 201
    organizer_copy = copy_of(alice, "weekly")
    assert partstats(organizer_copy, room["address"]) == {"": "ACCEPTED", "20270125T103000": "DECLINED"}
    as_room = _as_room(team, room)
    room_copy = next(t for t in items(as_room, "personal/").values() if "UID:weekly" in t)
    assert partstats(room_copy, room["address"]) == {"": "ACCEPTED", "20270125T103000": "DECLINED"}
    assert items(as_room, "schedule-inbox/") == {}  # it answers by itself: nothing piles up unread
    listed = team.api(alice).ok("GET", f"/api/resources/{room['id']}/bookings",
                                start="2027-01-01T00:00:00Z", end="2027-03-01T00:00:00Z")["bookings"]
    assert [(b["uid"], b["instance"], b["status"]) for b in listed] == [
        ("weekly", "20270111T093000Z", "accepted"), ("weekly", "20270118T093000Z", "accepted"),
        ("held", None, "accepted"), ("weekly", "20270125T093000Z", "declined"),
        ("weekly", "20270201T093000Z", "accepted")]
    # Free-busy of the room: the three accepted occurrences and Bob's hour, nothing declined.
    busy = team.api(alice).ok("GET", "/api/free-busy", users=room["email"],
                              start="2027-01-01T00:00:00Z", end="2027-03-01T00:00:00Z")["users"][0]["busy"]
    assert [(b["start"][:16], b["end"][:16]) for b in busy] == [
        ("2027-01-11T09:30", "2027-01-11T10:30"), ("2027-01-18T09:30", "2027-01-18T10:30"),
        ("2027-01-25T09:00", "2027-01-25T10:00"), ("2027-02-01T09:30", "2027-02-01T10:30")]


def test_cancelling_frees_the_room_for_the_next_request(team):
    room = team.room()
    alice, bob = team.members
    assert alice.put("personal/c.ics", room_invitation("cancel-me", alice, room, start="20270301T100000",
                                                       end="20270301T110000")).status_code == 201
    assert alice.request("DELETE", "personal/c.ics").status_code in (200, 204)
    assert bob.put("personal/d.ics", room_invitation("after-cancel", bob, room, start="20270301T100000",
                                                     end="20270301T110000")).status_code == 201
    assert partstats(copy_of(bob, "after-cancel"), room["address"]) == {"": "ACCEPTED"}


def test_moving_a_declined_meeting_to_a_free_time_books_it(team):
    room = team.room()
    alice, bob = team.members
    assert alice.put("personal/x.ics", room_invitation("first", alice, room, start="20270302T100000",
                                                       end="20270302T110000")).status_code == 201
    assert bob.put("personal/y.ics", room_invitation("moved", bob, room, start="20270302T100000",
                                                     end="20270302T110000")).status_code == 201
    assert partstats(copy_of(bob, "moved"), room["address"]) == {"": "DECLINED"}
    moved = room_invitation("moved", bob, room, start="20270302T110000", end="20270302T120000")
    assert bob.put("personal/y.ics", moved.replace("DTSTAMP:", "SEQUENCE:1\r\nDTSTAMP:")).status_code in (201, 204)
    assert partstats(copy_of(bob, "moved"), room["address"]) == {"": "ACCEPTED"}


def _as_room(team, room):
    """The room's calendar read as its account (tests only: the room has no password to log in with)."""
    from conftest import DavUser
    from storage_plugin import accounts

    password = "room-test-password"
    accounts.set_password(team.engine, room["account"], password)
    return DavUser(team.base_url, room["account"], password)


def test_cancelling_one_occurrence_frees_only_that_occurrence(team):
    room = team.room()
    alice, bob = team.members
    series = room_invitation("two-weeks", alice, room, start="20270503T100000", end="20270503T110000",
                             rrule="FREQ=WEEKLY;COUNT=2")
    assert alice.put("personal/tw.ics", series).status_code == 201
    # Thunderbird cancels one occurrence of a meeting with attendees as an exception with STATUS:CANCELLED.
    stored = copy_of(alice, "two-weeks")
    exception = stored[stored.index("BEGIN:VEVENT"):stored.index("END:VEVENT") + len("END:VEVENT\n")]
    exception = (exception.replace("RRULE:FREQ=WEEKLY;COUNT=2\n", "")
                 .replace("DTSTART;TZID=Europe/Berlin:20270503T100000",
                          "RECURRENCE-ID;TZID=Europe/Berlin:20270510T100000\n"
                          "DTSTART;TZID=Europe/Berlin:20270510T100000\nSTATUS:CANCELLED")
                 .replace("DTEND;TZID=Europe/Berlin:20270503T110000", "DTEND;TZID=Europe/Berlin:20270510T110000"))
    assert "RRULE" not in exception and "STATUS:CANCELLED" in exception
    updated = stored.replace("END:VCALENDAR", exception + "END:VCALENDAR")
    href = next(h for h, t in items(alice, "personal/").items() if "UID:two-weeks" in t).rsplit("/", 1)[1]
    assert alice.put(f"personal/{href}", updated).status_code in (201, 204)
    listed = team.api(alice).ok("GET", f"/api/resources/{room['id']}/bookings",
                                start="2027-05-01T00:00:00Z", end="2027-06-01T00:00:00Z")["bookings"]
    assert [(b["instance"], b["status"]) for b in listed] == [("20270503T080000Z", "accepted")]
    assert bob.put("personal/free.ics", room_invitation("takes-it", bob, room, start="20270510T100000",
                                                        end="20270510T110000")).status_code == 201
    assert partstats(copy_of(bob, "takes-it"), room["address"]) == {"": "ACCEPTED"}
