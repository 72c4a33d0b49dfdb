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


def test_save_event_with_attendees_accept_the_copy_and_ask_free_busy(engine, base_url):
    """The library end to end: the organizer saves an event and adds attendees with the
    library's own calls; the attendee finds the delivered copy in their calendar, accepts it
    with change_attendee_status; Principal.freebusy_request (the outbox POST) then shows the
    meeting as the attendee's busy time, and Calendar.freebusy_request (the free-busy REPORT
    on a calendar) shows it too."""
    from datetime import datetime, timezone

    alice, bob = colleagues(engine, base_url, "libfb", "libfb")
    organizer, attendee = _client(alice).principal(), _client(bob).principal()
    uid = f"lib-fb-{alice.name}"
    start, end = datetime(2027, 3, 2, 9, tzinfo=timezone.utc), datetime(2027, 3, 2, 10, tzinfo=timezone.utc)
    event = organizer.calendar(cal_id="personal").save_event(
        uid=uid, dtstart=start, dtend=end, summary="Quarterly planning")
    event.add_organizer()
    event.add_attendee(attendee)
    event.save()

    copy = attendee.calendar(cal_id="personal").event_by_uid(uid)  # delivered by the server
    assert "Quarterly planning" in copy.data
    copy.change_attendee_status(partstat="ACCEPTED")
    copy.save()
    line = next(l for l in unfolded(copy_of(alice, uid)).splitlines() if bob.email in l.lower())
    assert "PARTSTAT=ACCEPTED" in line

    answers = organizer.freebusy_request(datetime(2027, 3, 2, tzinfo=timezone.utc),
                                         datetime(2027, 3, 3, tzinfo=timezone.utc), [attendee])
    assert answers["errors"] == {}
    [(address, reply)] = [(k, v) for k, v in answers.items() if k != "errors"]
    assert address.lower() == f"mailto:{bob.email}"
    assert "FREEBUSY;FBTYPE=BUSY:20270302T090000Z/20270302T100000Z" in reply.data
    report = attendee.calendar(cal_id="personal").freebusy_request(
        datetime(2027, 3, 2, tzinfo=timezone.utc), datetime(2027, 3, 3, tzinfo=timezone.utc))
    assert "20270302T090000Z/20270302T100000Z" in report.data
