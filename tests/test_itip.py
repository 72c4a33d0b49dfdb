"""The iTIP logic alone (scheduling.itip): no server, no database."""
from datetime import datetime, timezone

from scheduling import itip

ALICE, BOB, CAROL = "mailto:alice@example.org", "mailto:bob@example.org", "mailto:carol@example.org"


def event(*attendees, extra="", overrides="", uid="u1", organizer=ALICE):
    lines = "".join(f"ATTENDEE;PARTSTAT={p}:{a}\r\n" for a, p in attendees)
    return itip.parse(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261201T000000Z\r\nDTSTART:20270104T100000Z\r\nDTEND:20270104T110000Z\r\n"
        f"SUMMARY:S\r\nORGANIZER:{organizer}\r\n{lines}{extra}END:VEVENT\r\n{overrides}END:VCALENDAR\r\n")


def local(_address):
    return True


def test_an_unchanged_save_sends_nothing_and_a_changed_list_updates_everyone():
    old = event((BOB, "ACCEPTED"))
    assert itip.organizer_changes(old, event((BOB, "ACCEPTED")), {ALICE}, local).messages == []
    added = itip.organizer_changes(old, event((BOB, "ACCEPTED"), (CAROL, "NEEDS-ACTION")), {ALICE}, local)
    # Bob learns who else comes (as Sabre sends it); his answer stays (no change of time).
    assert sorted((m.recipient, m.method) for m in added.messages) == [(BOB, "REQUEST"), (CAROL, "REQUEST")]
    bob = next(a for a in itip.attendees(itip.master(added.calendar)) if str(a) == BOB)
    assert bob.params["PARTSTAT"] == "ACCEPTED" and bob.params["SCHEDULE-STATUS"] == "1.2"
    removed = itip.organizer_changes(old, event((CAROL, "NEEDS-ACTION")), {ALICE}, local)
    assert sorted((m.recipient, m.method) for m in removed.messages) == [(BOB, "CANCEL"), (CAROL, "REQUEST")]


def test_a_party_crashers_reply_changes_nothing():
    organizer_copy = event((BOB, "NEEDS-ACTION"))
    reply = itip.attendee_reply(event((CAROL, "NEEDS-ACTION")), event((CAROL, "ACCEPTED")), {CAROL})
    updated, replier = itip.apply_reply(organizer_copy, reply.calendar)
    assert replier is None and "carol" not in updated.to_ical().decode()


def test_a_new_copy_left_unanswered_sends_no_reply():
    assert itip.attendee_reply(None, event((BOB, "NEEDS-ACTION")), {BOB}) is None
    assert itip.attendee_reply(None, event((BOB, "TENTATIVE")), {BOB}).method == "REPLY"


def test_declining_by_deleting_unless_cancelled_or_declined():
    assert itip.attendee_reply(event((BOB, "ACCEPTED")), None, {BOB}).method == "REPLY"
    assert itip.attendee_reply(event((BOB, "DECLINED")), None, {BOB}) is None
    assert itip.attendee_reply(event((BOB, "ACCEPTED"), extra="STATUS:CANCELLED\r\n"), None, {BOB}) is None


def test_cancelling_one_instance_without_an_override_adds_an_exdate():
    copy = event((BOB, "ACCEPTED"), extra="RRULE:FREQ=DAILY;COUNT=3\r\n")
    cancel = itip.parse(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nMETHOD:CANCEL\r\nBEGIN:VEVENT\r\nUID:u1\r\n"
        "DTSTAMP:20261201T000000Z\r\nRECURRENCE-ID:20270105T100000Z\r\nDTSTART:20270105T100000Z\r\n"
        f"ORGANIZER:{ALICE}\r\nATTENDEE:{BOB}\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    text = itip.apply_cancel(copy, cancel).to_ical().decode()
    assert "EXDATE:20270105T100000Z" in text and "STATUS:CANCELLED" not in text


def test_an_attendee_absent_from_an_override_gets_an_exdate_for_it():
    override = ("BEGIN:VEVENT\r\nUID:u1\r\nDTSTAMP:20261201T000000Z\r\nRECURRENCE-ID:20270105T100000Z\r\n"
                f"DTSTART:20270105T120000Z\r\nDTEND:20270105T130000Z\r\nORGANIZER:{ALICE}\r\n"
                f"ATTENDEE:{CAROL}\r\nEND:VEVENT\r\n")
    calendar = event((BOB, "NEEDS-ACTION"), (CAROL, "NEEDS-ACTION"),
                     extra="RRULE:FREQ=DAILY;COUNT=3\r\n", overrides=override)
    text = itip.request_for(calendar, BOB).to_ical().decode()
    assert "EXDATE:20270105T100000Z" in text and "RECURRENCE-ID" not in text
    assert "RECURRENCE-ID" in itip.request_for(calendar, CAROL).to_ical().decode()


def test_the_schedule_signature_ignores_answers_but_not_the_meeting():
    base = itip.schedule_signature(event((BOB, "NEEDS-ACTION")))
    assert itip.schedule_signature(event((BOB, "ACCEPTED"))) == base
    assert itip.schedule_signature(event((BOB, "NEEDS-ACTION"), extra="LOCATION:Room 2\r\n")) != base


def _mailed_reply(*answers):
    """A REPLY as a mail client sends it: (RECURRENCE-ID or None, SEQUENCE, PARTSTAT) per instance."""
    components = "".join(
        "BEGIN:VEVENT\r\nUID:u1\r\nDTSTAMP:20261202T100000Z\r\n"
        + (f"RECURRENCE-ID:{rid}\r\n" if rid else "") + f"SEQUENCE:{sequence}\r\nORGANIZER:{ALICE}\r\n"
        f"ATTENDEE;PARTSTAT={answer}:{BOB}\r\nEND:VEVENT\r\n" for rid, sequence, answer in answers)
    return itip.parse("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nMETHOD:REPLY\r\n"
                      f"{components}END:VCALENDAR\r\n")


def _answers(message):
    return {itip.recurrence_key(c): (itip.partstat(itip.attendees(c)[0]), int(c["SEQUENCE"]))
            for c in itip.scheduled(message.calendar)}


def test_an_answer_by_mail_to_an_older_sequence_is_left_out_per_instance():
    stamp = datetime(2026, 12, 2, 10, tzinfo=timezone.utc)
    # The organizer moved the meeting (SEQUENCE 1): an Accept pressed in the first invitation is outdated.
    moved = event((BOB, "NEEDS-ACTION"), extra="SEQUENCE:1\r\n")
    message, outdated = itip.reply_from_outside(moved, BOB, _mailed_reply((None, 0, "ACCEPTED")), stamp)
    assert message is None and outdated == ["the series answered at SEQUENCE 0, changed since (SEQUENCE 1)"]
    for sequence in (1, 2):  # the current version, or a client that counts ahead
        message, outdated = itip.reply_from_outside(moved, BOB, _mailed_reply((None, sequence, "ACCEPTED")), stamp)
        assert outdated == [] and _answers(message) == {None: ("ACCEPTED", 1)}

    # A series at SEQUENCE 0 with one moved occurrence (its override at SEQUENCE 2): an occurrence
    # is compared with its override when there is one, else with the series.
    override = ("BEGIN:VEVENT\r\nUID:u1\r\nDTSTAMP:20261201T000000Z\r\nRECURRENCE-ID:20270105T100000Z\r\n"
                f"DTSTART:20270105T150000Z\r\nDTEND:20270105T160000Z\r\nSEQUENCE:2\r\nORGANIZER:{ALICE}\r\n"
                f"ATTENDEE;PARTSTAT=NEEDS-ACTION:{BOB}\r\nEND:VEVENT\r\n")
    series = event((BOB, "NEEDS-ACTION"), extra="RRULE:FREQ=DAILY;COUNT=3\r\nSEQUENCE:0\r\n", overrides=override)
    message, outdated = itip.reply_from_outside(series, BOB, _mailed_reply(
        (None, 0, "ACCEPTED"), ("20270105T100000Z", 1, "DECLINED"), ("20270106T100000Z", 0, "TENTATIVE")), stamp)
    assert outdated == ["the occurrence 20270105T100000Z answered at SEQUENCE 1, changed since (SEQUENCE 2)"]
    assert _answers(message) == {None: ("ACCEPTED", 0), "20270106T100000Z": ("TENTATIVE", 0)}
    message, outdated = itip.reply_from_outside(series, BOB, _mailed_reply(("20270105T100000Z", 2, "DECLINED")),
                                                stamp)
    assert outdated == [] and _answers(message) == {"20270105T100000Z": ("DECLINED", 2)}
