"""The caldav library's scheduling calls against Planerix: invite with save_with_invites, find
the invitation in the inbox, accept it; the organizer sees the answer."""
import caldav

from schedutil import colleagues, copy_of, unfolded


def _client(user):
    return caldav.DAVClient(url=user.base_url + "/", username=user.name, password=user.password)


def test_invite_and_accept_with_the_caldav_library(engine, base_url):
    alice, bob = colleagues(engine, base_url, "lib", "lib")
    organizer = _client(alice).principal()
    assert str(organizer.calendar_user_address_set()[0]).lower() == f"mailto:{alice.email}"
    calendar = organizer.calendar(cal_id="personal")
    uid = f"lib-invite-{alice.name}"
    ical = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//caldav library//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261201T000000Z\r\nDTSTART:20270301T090000Z\r\nDTEND:20270301T100000Z\r\n"
            "SUMMARY:Library meeting\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    attendee = _client(bob).principal()
    calendar.save_with_invites(ical, [organizer, attendee])
    inbox = attendee.schedule_inbox()
    invites = [item for item in inbox.get_items() if uid in item.data]
    assert len(invites) == 1 and invites[0].is_invite_request()
    invites[0].accept_invite(calendar=attendee.calendar(cal_id="personal"))
    line = next(l for l in unfolded(copy_of(alice, uid)).splitlines() if bob.email in l.lower())
    assert "PARTSTAT=ACCEPTED" in line
