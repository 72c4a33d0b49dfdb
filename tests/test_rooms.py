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
