"""Implicit scheduling between Planerix users, driven as clients drive it."""
import re

import pytest

from schedutil import colleagues, copy_of, invitation, items, scheduling_user, share_organisation, unfolded


@pytest.fixture
def trio(engine, base_url):
    return colleagues(engine, base_url, "org", "att", "oth")


def _partstat(text: str, user) -> str:
    line = next(l for l in unfolded(text).splitlines() if l.startswith("ATTENDEE") and user.email in l.lower())
    return re.search(r"PARTSTAT=([A-Z-]+)", line).group(1)


def test_an_invitation_lands_in_the_attendees_calendar_and_inbox(trio):
    alice, bob, carol = trio
    put = alice.put("personal/meet.ics", invitation("meet-1", alice, [bob, carol]))
    assert put.status_code == 201, put.text
    assert "Schedule-Tag" in put.headers and "ETag" not in put.headers
    stored = unfolded(copy_of(alice, "meet-1"))
    assert "SCHEDULE-STATUS=1.2" in stored
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


def _href_of(user, uid: str, collection: str = "personal/") -> str:
    return next(h for h, t in items(user, collection).items() if f"UID:{uid}" in t).rsplit("/", 1)[1]


def test_schedule_agent_client_and_external_attendees_are_left_alone(trio):
    alice, bob, carol = trio
    body = invitation("agent-1", alice, [bob, carol], extra=(
        "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:someone@elsewhere.example\r\n"))
    # Evolution stamps SCHEDULE-AGENT=CLIENT on attendees it emails itself.
    body = body.replace(f"RSVP=TRUE:mailto:{carol.email}", f"RSVP=TRUE;SCHEDULE-AGENT=CLIENT:mailto:{carol.email}")
    body = body.replace(f"RSVP=TRUE:mailto:{bob.email}", f"RSVP=TRUE;SCHEDULE-FORCE-SEND=REQUEST:mailto:{bob.email}")
    assert alice.put("personal/a.ics", body).status_code == 201
    stored = unfolded(copy_of(alice, "agent-1"))
    assert "SCHEDULE-FORCE-SEND" not in stored
    external = next(l for l in stored.splitlines() if "elsewhere.example" in l)
    assert "SCHEDULE-STATUS=3.7" in external
    assert "SCHEDULE-STATUS" not in next(l for l in stored.splitlines() if carol.email in l.lower())
    assert copy_of(bob, "agent-1") is not None
    assert copy_of(carol, "agent-1") is None


def test_an_organizer_marked_client_schedules_nothing(trio):
    alice, bob, _ = trio
    body = invitation("agent-2", alice, [bob]).replace("ORGANIZER;CN=", "ORGANIZER;SCHEDULE-AGENT=CLIENT;CN=")
    assert alice.put("personal/b.ics", body).status_code == 201
    assert copy_of(bob, "agent-2") is None


def test_goal_links_stay_with_their_owner_and_attendees_keep_theirs(trio):
    alice, bob, _ = trio
    link = "X-PLANERIX-KEY-RESULT;X-PLANERIX-WEIGHT=1:00000000-0000-0000-0000-00000000000a\r\n"
    alarm = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Alice's alarm\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n"
    assert alice.put("personal/g.ics", invitation("goal-1", alice, [bob], extra=link + alarm)).status_code == 201
    bob_copy = unfolded(copy_of(bob, "goal-1"))
    assert "X-PLANERIX" not in bob_copy and "Alice's alarm" not in bob_copy
    # Bob links it to his own goal and adds his alarm, then Alice moves the meeting.
    own_link = "X-PLANERIX-OBJECTIVE:00000000-0000-0000-0000-00000000000b\r\n"
    own_alarm = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Bob's alarm\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n"
    mine = bob_copy.replace("END:VEVENT", own_link.rstrip("\r\n") + "\r\n" + own_alarm.rstrip("\r\n") + "\r\nEND:VEVENT")
    assert bob.put(f"personal/{_href_of(bob, 'goal-1')}", mine).status_code in (201, 204)
    moved = invitation("goal-1", alice, [bob], start="20270105T100000Z", end="20270105T110000Z",
                       sequence=1, extra=link + alarm, summary="Planning moved")
    assert alice.put("personal/g.ics", moved).status_code in (201, 204)
    updated = unfolded(copy_of(bob, "goal-1"))
    assert "SUMMARY:Planning moved" in updated
    assert "X-PLANERIX-OBJECTIVE:00000000-0000-0000-0000-00000000000b" in updated
    assert "Bob's alarm" in updated
    assert "X-PLANERIX-KEY-RESULT" not in updated and "Alice's alarm" not in updated


def test_answers_survive_small_changes_and_reset_when_the_time_moves(trio):
    alice, bob, _ = trio
    assert alice.put("personal/p.ics", invitation("reset-1", alice, [bob])).status_code == 201
    accepted = re.sub(rf"PARTSTAT=NEEDS-ACTION([^\r\n]*mailto:{re.escape(bob.email)})", r"PARTSTAT=ACCEPTED\1",
                      unfolded(copy_of(bob, "reset-1")), flags=re.I)
    assert bob.put(f"personal/{_href_of(bob, 'reset-1')}", accepted).status_code in (201, 204)
    organizer_copy = unfolded(copy_of(alice, "reset-1"))
    assert _partstat(organizer_copy, bob) == "ACCEPTED"
    # A new description keeps Bob's answer (the organizer's client sends its copy back).
    described = organizer_copy.replace("SUMMARY:Planning", "SUMMARY:Planning\r\nDESCRIPTION:agenda")
    assert alice.put("personal/p.ics", described).status_code in (201, 204)
    assert _partstat(copy_of(bob, "reset-1"), bob) == "ACCEPTED"
    assert "DESCRIPTION:agenda" in copy_of(bob, "reset-1")
    moved = unfolded(copy_of(alice, "reset-1")).replace("DTSTART:20270104T100000Z", "DTSTART:20270104T120000Z") \
        .replace("DTEND:20270104T110000Z", "DTEND:20270104T130000Z")
    assert alice.put("personal/p.ics", moved).status_code in (201, 204)
    assert _partstat(copy_of(alice, "reset-1"), bob) == "NEEDS-ACTION"
    assert _partstat(copy_of(bob, "reset-1"), bob) == "NEEDS-ACTION"


def test_removed_attendees_are_cancelled_and_added_ones_invited(trio):
    alice, bob, carol = trio
    assert alice.put("personal/r.ics", invitation("swap-1", alice, [bob])).status_code == 201
    assert alice.put("personal/r.ics", invitation("swap-1", alice, [carol], sequence=1)).status_code in (201, 204)
    assert "STATUS:CANCELLED" in copy_of(bob, "swap-1")
    assert copy_of(carol, "swap-1") is not None and "STATUS:CANCELLED" not in copy_of(carol, "swap-1")


def test_a_series_with_an_instance_only_invitation(trio):
    alice, bob, carol = trio
    override = ("BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20261201T000000Z\r\n"
                "RECURRENCE-ID:20270111T100000Z\r\nDTSTART:20270111T140000Z\r\nDTEND:20270111T150000Z\r\n"
                f"SUMMARY:Planning with Carol\r\nORGANIZER:mailto:{alice.email}\r\n"
                f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{alice.email}\r\n"
                f"ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:{bob.email}\r\n"
                f"ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:{carol.email}\r\nEND:VEVENT\r\n")
    body = invitation("series-1", alice, [bob], rrule="FREQ=WEEKLY;COUNT=4", overrides=override)
    assert alice.put("personal/s.ics", body).status_code == 201
    bob_copy = unfolded(copy_of(bob, "series-1"))
    assert "RRULE:FREQ=WEEKLY;COUNT=4" in bob_copy and "RECURRENCE-ID:20270111T100000Z" in bob_copy
    carol_copy = unfolded(copy_of(carol, "series-1"))
    assert "RRULE" not in carol_copy and "RECURRENCE-ID:20270111T100000Z" in carol_copy
    # Bob declines only the second week: a REPLY for that instance makes an override at Alice's.
    second = ("\r\nBEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20261201T000000Z\r\nRECURRENCE-ID:20270111T100000Z\r\n"
              "DTSTART:20270111T140000Z\r\nDTEND:20270111T150000Z\r\nSUMMARY:Planning with Carol\r\n"
              f"ORGANIZER:mailto:{alice.email}\r\nATTENDEE;PARTSTAT=DECLINED:mailto:{bob.email}\r\nEND:VEVENT")
    declined = re.sub(r"(BEGIN:VEVENT.*?RECURRENCE-ID:20270111T100000Z.*?END:VEVENT)", second.strip("\r\n"),
                      bob_copy, flags=re.S)
    assert bob.put(f"personal/{_href_of(bob, 'series-1')}", declined).status_code in (201, 204)
    organizer_copy = unfolded(copy_of(alice, "series-1"))
    instance = re.search(r"BEGIN:VEVENT((?:(?!END:VEVENT).)*RECURRENCE-ID:20270111T100000Z.*?)END:VEVENT",
                         organizer_copy, flags=re.S).group(1)
    assert _partstat(instance, bob) == "DECLINED"
    series = re.search(r"BEGIN:VEVENT((?:(?!END:VEVENT).)*RRULE.*?)END:VEVENT", organizer_copy, flags=re.S).group(1)
    assert _partstat(series, bob) == "NEEDS-ACTION"


def test_if_schedule_tag_match_is_enforced_and_the_tag_survives_answers(trio):
    alice, bob, _ = trio
    first = alice.put("personal/t.ics", invitation("tag-1", alice, [bob]))
    tag = first.headers["Schedule-Tag"]
    assert alice.request("GET", "personal/t.ics").headers["Schedule-Tag"] == tag
    accepted = re.sub(rf"PARTSTAT=NEEDS-ACTION([^\r\n]*mailto:{re.escape(bob.email)})", r"PARTSTAT=ACCEPTED\1",
                      unfolded(copy_of(bob, "tag-1")), flags=re.I)
    assert bob.put(f"personal/{_href_of(bob, 'tag-1')}", accepted).status_code in (201, 204)
    after_reply = alice.request("GET", "personal/t.ics")
    assert after_reply.headers["Schedule-Tag"] == tag and "PARTSTAT=ACCEPTED" in unfolded(after_reply.text)
    # DAVx5 sends If-Schedule-Tag-Match instead of If-Match once it has seen a tag.
    edited = unfolded(after_reply.text).replace("SUMMARY:Planning", "SUMMARY:Planning v2")
    stale = alice.put("personal/t.ics", edited, If_Schedule_Tag_Match='"not-the-tag"')
    assert stale.status_code == 412 and "Schedule-Tag" in stale.text
    fresh = alice.put("personal/t.ics", edited, If_Schedule_Tag_Match=tag)
    assert fresh.status_code == 204 and fresh.headers["Schedule-Tag"] != tag
    assert alice.request("DELETE", "personal/t.ics", **{"If-Schedule-Tag-Match": tag}).status_code == 412


def test_scheduling_can_be_switched_off(engine, database_url):
    from conftest import start_caldav_server
    server = start_caldav_server(database_url, {"scheduling": {"enabled": "false"}})
    try:
        base = f"http://127.0.0.1:{server.port}"
        alice, bob = colleagues(engine, base, "off", "off")
        assert "calendar-auto-schedule" not in alice.request("OPTIONS", "").headers["DAV"]
        assert alice.put("personal/o.ics", invitation("off-1", alice, [bob])).status_code == 201
        assert copy_of(bob, "off-1") is None
        assert "SCHEDULE-STATUS" not in copy_of(alice, "off-1")
    finally:
        server.stop()


def test_the_dav_header_announces_auto_scheduling(user):
    assert "calendar-auto-schedule" in user.request("OPTIONS", "").headers["DAV"]


def test_a_cancelled_status_cancels_for_everyone(trio):
    alice, bob, carol = trio
    assert alice.put("personal/x.ics", invitation("cancel-1", alice, [bob, carol])).status_code == 201
    cancelled = invitation("cancel-1", alice, [bob, carol], sequence=1, extra="STATUS:CANCELLED\r\n")
    assert alice.put("personal/x.ics", cancelled).status_code in (201, 204)
    for attendee in (bob, carol):
        assert "STATUS:CANCELLED" in copy_of(attendee, "cancel-1")
        assert any("METHOD:CANCEL" in t for t in items(attendee, "schedule-inbox/").values())


def test_users_outside_the_organisers_organisations_are_treated_as_external(trio, engine, base_url):
    alice, bob, _ = trio
    stranger = scheduling_user(engine, base_url, "stranger")
    assert alice.put("personal/e.ics", invitation("outside-1", alice, [bob, stranger])).status_code == 201
    stored = unfolded(copy_of(alice, "outside-1"))
    assert "SCHEDULE-STATUS=3.7" in next(l for l in stored.splitlines() if stranger.email in l.lower())
    assert copy_of(stranger, "outside-1") is None and copy_of(bob, "outside-1") is not None
    share_organisation(engine, [alice, stranger])  # once they share one, invitations reach them
    assert alice.put("personal/e.ics", invitation("outside-1", alice, [bob, stranger], sequence=1,
                                                  summary="Again")).status_code in (201, 204)
    assert copy_of(stranger, "outside-1") is not None
