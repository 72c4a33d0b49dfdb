"""Implicit scheduling between Planerix users, driven as clients drive it."""
import re

import pytest

from schedutil import copy_of, invitation, items, scheduling_user, unfolded


@pytest.fixture
def trio(engine, base_url):
    return [scheduling_user(engine, base_url, prefix) for prefix in ("org", "att", "oth")]


def _partstat(text: str, user) -> str:
    line = next(l for l in unfolded(text).splitlines() if l.startswith("ATTENDEE") and user.email in l.lower())
    return re.search(r"PARTSTAT=([A-Z-]+)", line).group(1)


def test_an_invitation_lands_in_the_attendees_calendar_and_inbox(trio):
    alice, bob, carol = trio
    put = alice.put("personal/meet.ics", invitation("meet-1", alice, [bob, carol]))
    assert put.status_code == 201, put.text
    assert "Schedule-Tag" in put.headers and "ETag" not in put.headers
    stored = unfolded(copy_of(alice, "meet-1"))
    assert f"SCHEDULE-STATUS=1.2" in stored
    for attendee in (bob, carol):
        text = copy_of(attendee, "meet-1")
        assert text is not None and "SUMMARY:Planning" in text
        assert "METHOD" not in text
        inbox = items(attendee, "schedule-inbox/")
        assert any("METHOD:REQUEST" in t and "meet-1" in t for t in inbox.values())


def test_an_answer_flows_back_and_refreshes_the_others(trio):
    alice, bob, carol = trio
    assert alice.put("personal/m.ics", invitation("meet-2", alice, [bob, carol])).status_code == 201
    bob_copy = copy_of(bob, "meet-2")
    href = next(h for h, t in items(bob, "personal/").items() if "meet-2" in t).rsplit("/", 1)[1]
    accepted = bob_copy.replace(f"PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{bob.email}",
                                f"PARTSTAT=ACCEPTED:mailto:{bob.email}")
    accepted = unfolded(bob_copy)
    accepted = re.sub(rf"(ATTENDEE[^\r\n]*?)PARTSTAT=NEEDS-ACTION([^\r\n]*mailto:{re.escape(bob.email)})",
                      r"\1PARTSTAT=ACCEPTED\2", accepted, flags=re.I)
    put = bob.put(f"personal/{href}", accepted)
    assert put.status_code in (201, 204), put.text
    assert _partstat(copy_of(alice, "meet-2"), bob) == "ACCEPTED"
    assert _partstat(copy_of(carol, "meet-2"), bob) == "ACCEPTED"
    assert _partstat(copy_of(bob, "meet-2"), bob) == "ACCEPTED"


def test_the_organizer_deleting_cancels(trio):
    alice, bob, _ = trio
    assert alice.put("personal/c.ics", invitation("meet-3", alice, [bob])).status_code == 201
    assert alice.request("DELETE", "personal/c.ics").status_code in (200, 204)
    assert "STATUS:CANCELLED" in copy_of(bob, "meet-3")


def test_an_attendee_deleting_declines(trio):
    alice, bob, _ = trio
    assert alice.put("personal/d.ics", invitation("meet-4", alice, [bob])).status_code == 201
    href = next(h for h, t in items(bob, "personal/").items() if "meet-4" in t).rsplit("/", 1)[1]
    assert bob.request("DELETE", f"personal/{href}").status_code in (200, 204)
    assert _partstat(copy_of(alice, "meet-4"), bob) == "DECLINED"
