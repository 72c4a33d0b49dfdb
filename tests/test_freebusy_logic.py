"""scheduling.freebusy as plain functions: merging, free slots, VAVAILABILITY (RFC 7953) and the
VFREEBUSY request and reply."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from scheduling import freebusy as logic


def ts(value: str) -> int:
    return int(datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp())


def calendar(*components: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n" + "".join(components)
            + "END:VCALENDAR\r\n")


def vavailability(body: str, extra: str = "") -> str:
    return f"BEGIN:VAVAILABILITY\r\nUID:{id(body)}\r\nDTSTAMP:20260101T000000Z\r\n{extra}{body}END:VAVAILABILITY\r\n"


def available(start: str, end: str, extra: str = "") -> str:
    return (f"BEGIN:AVAILABLE\r\nUID:a{start}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\n"
            f"DTEND:{end}\r\n{extra}END:AVAILABLE\r\n")


MONDAY = (ts("20260302T000000Z"), ts("20260303T000000Z"))


def test_merge_and_free_slots():
    assert logic.merge([(0, 10, "T"), (5, 15, "B"), (15, 20, "B"), (30, 40, "U")], 2, 35) == [
        (2, 5, "T"), (5, 20, "B"), (30, 35, "U")]
    assert logic.free_slots([(10, 20, "B"), (25, 30, "T")], 0, 60, 5) == [(0, 10), (20, 25), (30, 60)]
    assert logic.free_slots([(10, 20, "B")], 0, 60, 15, step=15) == [(30, 60)]


def _merged_by_unit(periods, start, end):
    """What ``merge`` must answer, one second at a time: the strongest type covering each
    second, runs of one type made one period."""
    strength = {"B": 3, "U": 2, "T": 1}
    runs = []
    for x in range(start, end):
        covering = [t for s, e, t in periods if s <= x < e and t in strength]
        strongest = max(covering, key=strength.get, default=None)
        if strongest is None:
            continue
        if runs and runs[-1][1] == x and runs[-1][2] == strongest:
            runs[-1] = (runs[-1][0], x + 1, strongest)
        else:
            runs.append((x, x + 1, strongest))
    return runs


def test_merge_matches_a_second_by_second_reading():
    """Random overlapping, touching, empty and out-of-window periods of every type."""
    import random

    rng = random.Random(7)
    for _ in range(2000):
        periods = []
        for _ in range(rng.randrange(0, 12)):
            s = rng.randrange(-5, 60)
            periods.append((s, s + rng.randrange(0, 15), rng.choice("BBUTTF")))
        start, end = sorted(rng.sample(range(-2, 62), 2))
        assert logic.merge(periods, start, end) == _merged_by_unit(periods, start, end), (periods, start, end)


def test_merge_changed_is_merge_of_the_periods_after_the_change():
    """Random calendars of overlapping, touching and out-of-window periods; random periods taken
    out and put in: merged again only where the change touched, the answer is the whole merge's."""
    import random

    rng = random.Random(3)

    def period():
        s = rng.randrange(-10, 200)
        return (s, s + rng.randrange(0, 25), rng.choice("BBBUTF"))

    for _ in range(3000):
        periods = sorted(period() for _ in range(rng.randrange(0, 30)))
        start, end = sorted(rng.sample(range(-5, 205), 2))
        removed = rng.sample(periods, rng.randrange(0, min(3, len(periods)) + 1))
        added = [period() for _ in range(rng.randrange(0, 3))]
        merged, ordered = logic.merge_changed(logic.merge(periods, start, end), periods, removed, added, start, end)
        after = list(periods)
        for p in removed:
            after.remove(p)
        assert ordered == sorted(after + added)
        assert merged == logic.merge(ordered, start, end), (periods, removed, added, start, end)


def test_outside_the_available_blocks_is_unavailable_and_exdate_removes_a_day():
    text = calendar(vavailability(available("20260223T090000Z", "20260223T170000Z",
                                            "RRULE:FREQ=DAILY\r\nEXDATE:20260303T090000Z\r\n")))
    assert logic.unavailable_periods(text, *MONDAY) == [
        (MONDAY[0], ts("20260302T090000Z"), "U"), (ts("20260302T170000Z"), MONDAY[1], "U")]
    tuesday = (MONDAY[1], MONDAY[1] + 86400)
    assert logic.unavailable_periods(text, *tuesday) == [(tuesday[0], tuesday[1], "U")]


def test_a_higher_priority_component_wins_and_busytype_is_kept():
    office = vavailability(available("20260302T090000Z", "20260302T170000Z"), "PRIORITY:9\r\n")
    # Priority 1 beats 9: a holiday on Monday afternoon, marked BUSY.
    holiday = vavailability("", "PRIORITY:1\r\nBUSYTYPE:BUSY\r\nDTSTART:20260302T120000Z\r\n"
                                "DTEND:20260303T000000Z\r\n")
    assert logic.unavailable_periods(calendar(office, holiday), *MONDAY) == [
        (MONDAY[0], ts("20260302T090000Z"), "U"), (ts("20260302T120000Z"), MONDAY[1], "B")]
    # A VAVAILABILITY only covers its own range: before it, all time is available.
    later = vavailability("", "DTSTART:20260302T200000Z\r\n")
    assert logic.unavailable_periods(calendar(later), *MONDAY) == [(ts("20260302T200000Z"), MONDAY[1], "U")]


def test_weekly_hours_follow_the_time_zone_across_daylight_saving():
    text = logic.weekly_availability("Europe/Berlin", [(["MO", "TU", "WE", "TH", "FR"], "09:00", "17:00")])
    winter = logic.unavailable_periods(text, *MONDAY)
    assert winter[0][1] == ts("20260302T080000Z") and winter[1][0] == ts("20260302T160000Z")
    summer = logic.unavailable_periods(text, ts("20260706T000000Z"), ts("20260707T000000Z"))
    assert summer[0][1] == ts("20260706T070000Z") and summer[1][0] == ts("20260706T150000Z")
    saturday = (ts("20260307T000000Z"), ts("20260308T000000Z"))
    assert logic.unavailable_periods(text, *saturday) == [(saturday[0], saturday[1], "U")]


def test_availability_that_repeats_without_end_is_refused():
    text = calendar(vavailability(available("20200101T000000Z", "20200101T000001Z", "RRULE:FREQ=SECONDLY\r\n")))
    with pytest.raises(logic.FreeBusyError, match="repeats too often"):
        logic.unavailable_periods(text, *MONDAY)


def test_the_reply_reveals_only_times():
    request = logic.parse_request(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VFREEBUSY\r\nUID:r1\r\n"
        "DTSTART:20260302T000000Z\r\nDTEND:20260303T000000Z\r\nORGANIZER:mailto:a@example.org\r\n"
        "ATTENDEE:mailto:b@example.org\r\nATTENDEE:mailto:b@example.org\r\n"
        "X-CALENDARSERVER-MASK-UID:edited\r\nEND:VFREEBUSY\r\nEND:VCALENDAR\r\n")
    assert request.attendees == ["mailto:b@example.org"] and request.mask_uid == "edited"
    reply = logic.render_reply(request, "mailto:b@example.org",
                               [(ts("20260302T090000Z"), ts("20260302T100000Z"), "B")], MONDAY[0])
    assert "FREEBUSY;FBTYPE=BUSY:20260302T090000Z/20260302T100000Z\r\n" in reply
    assert "METHOD:REPLY" in reply and "UID:r1" in reply


def test_attendees_are_read_with_quoted_colons_folded_lines_and_any_case():
    """Apple quotes display names (which may hold ":"), Evolution folds long lines."""
    request = logic.parse_request(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VFREEBUSY\r\nUID:r2\r\n"
        "DTSTART:20260302T000000Z\r\nDTEND:20260303T000000Z\r\nORGANIZER:mailto:a@example.org\r\n"
        'ATTENDEE;CN="Doe: John";CUTYPE=INDIVIDUAL:mailto:john@example.org\r\n'
        "attendee;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Someone With A Long Na\r\n"
        " me:mailto:someone@example.org\r\n"
        "ATTENDEE:/carol/\r\nEND:VFREEBUSY\r\nEND:VCALENDAR\r\n")
    assert request.attendees == ["mailto:john@example.org", "mailto:someone@example.org", "/carol/"]
    assert request.organizer == "mailto:a@example.org" and request.uid == "r2"
    with pytest.raises(logic.FreeBusyError, match="control characters"):
        logic.parse_request("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VFREEBUSY\r\n"
                            "DTSTART:20260302T000000Z\r\nDTEND:20260303T000000Z\r\nORGANIZER:mailto:a@x.org\r\n"
                            "ATTENDEE:mailto:b@x.org\x07\r\nEND:VFREEBUSY\r\nEND:VCALENDAR\r\n")


def test_availability_mixing_floating_and_zoned_times_is_refused_with_a_reason():
    text = calendar(vavailability(available("20260223T090000", "20260223T170000",
                                            "RRULE:FREQ=DAILY\r\nEXDATE:20260303T090000Z\r\n")))
    with pytest.raises(logic.FreeBusyError, match="cannot be expanded"):
        logic.unavailable_periods(text, *MONDAY)
