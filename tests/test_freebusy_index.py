"""Free-busy from the occurrence index: the type stored per occurrence at write time, the calendars
that count, and ``busy_periods`` (storage_plugin.freebusy), which never parses an item."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from conftest import new_user, private_database
from davutil import calendar, event, vevent
from scheduling import freebusy as logic
from storage_plugin import directory, freebusy, writer


def ts(value: str) -> int:
    return int(datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp())


DAY_START, DAY_END = ts("20260102T000000Z"), ts("20260103T000000Z")


@pytest.fixture
def bob(engine, base_url):
    bob = new_user(engine, base_url, "bob")
    with engine.begin() as conn:
        directory.set_identity(conn, bob.name, email=f"{bob.name}@Example.org")
    bob.mkcalendar("work")
    return bob


def busy(engine, names, start=DAY_START, end=DAY_END, mask_uid=None):
    with engine.connect() as conn:
        return freebusy.busy_periods(conn, names, start, end, mask_uid)


def fbtypes(engine, user, href: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT o.fbtype FROM item_occurrence o JOIN item i ON i.id = o.item_id"
            " JOIN collection c ON c.id = i.collection_id WHERE c.path = :p AND i.href = :h"
            " ORDER BY lower(o.span)"), {"p": f"{user.name}/work", "h": href}).scalars())


def attendee_event(uid: str, email: str, partstat: str, start="20260102T140000Z", end="20260102T150000Z"):
    return event(uid, "Review", start=start, end=end,
                 extra="ORGANIZER:mailto:carol@example.org\r\n"
                       f"ATTENDEE;CN=Bob;PARTSTAT={partstat}:MAILTO:{email.upper()}\r\n"
                       "ATTENDEE;PARTSTAT=ACCEPTED:mailto:carol@example.org\r\n")


@pytest.mark.parametrize("extra, expected", [
    ("", "B"),
    ("TRANSP:OPAQUE\r\n", "B"),
    ("TRANSP:TRANSPARENT\r\n", "F"),
    ("STATUS:CANCELLED\r\n", "F"),
    ("STATUS:TENTATIVE\r\n", "T"),
    ("STATUS:CONFIRMED\r\n", "B"),
])
def test_type_from_transp_and_status(engine, bob, extra, expected):
    assert bob.put("work/e.ics", event("e", extra=extra)).status_code == 201
    assert fbtypes(engine, bob, "e.ics") == [expected]


@pytest.mark.parametrize("partstat, expected", [
    ("DECLINED", "F"), ("TENTATIVE", "T"), ("ACCEPTED", "B"), ("NEEDS-ACTION", "B")])
def test_the_owners_own_answer_counts_matched_case_insensitively(engine, bob, partstat, expected):
    assert bob.put("work/i.ics", attendee_event("i", f"{bob.name}@example.org", partstat)).status_code == 201
    assert fbtypes(engine, bob, "i.ics") == [expected]


def test_someone_elses_decline_does_not_free_the_owner(engine, bob):
    body = event("x", start="20260102T140000Z", end="20260102T150000Z",
                 extra="ATTENDEE;PARTSTAT=DECLINED:mailto:somebody@example.org\r\n")
    assert bob.put("work/x.ics", body).status_code == 201
    assert fbtypes(engine, bob, "x.ics") == ["B"]


def test_overrides_carry_their_own_type(engine, bob):
    body = calendar(
        vevent("weekly", start="20260105T090000Z", end="20260105T100000Z",
               extra="RRULE:FREQ=WEEKLY;COUNT=3\r\n"),
        vevent("weekly", start="20260112T090000Z", end="20260112T100000Z",
               extra="RECURRENCE-ID:20260112T090000Z\r\nSTATUS:CANCELLED\r\n"))
    assert bob.put("work/weekly.ics", body).status_code == 201
    assert sorted(fbtypes(engine, bob, "weekly.ics")) == ["B", "B", "F"]
    periods = busy(engine, [bob.name], ts("20260101T000000Z"), ts("20260201T000000Z"))[bob.name]
    assert [(s, e) for s, e, _ in periods] == [(ts("20260105T090000Z"), ts("20260105T100000Z")),
                                               (ts("20260119T090000Z"), ts("20260119T100000Z"))]


def test_busy_periods_merge_clip_and_reveal_only_times(engine, bob):
    bob.put("work/a.ics", event("a", "Secret salary talk", start="20260101T230000Z", end="20260102T013000Z"))
    bob.put("work/b.ics", event("b", "Overlaps a", start="20260102T010000Z", end="20260102T020000Z"))
    bob.put("work/c.ics", event("c", "Touches b", start="20260102T020000Z", end="20260102T030000Z"))
    bob.put("work/t.ics", event("t", start="20260102T100000Z", end="20260102T120000Z",
                                extra="STATUS:TENTATIVE\r\n"))
    bob.put("work/u.ics", event("u", start="20260102T110000Z", end="20260102T113000Z"))
    bob.put("work/f.ics", event("f", start="20260102T160000Z", end="20260102T170000Z",
                                extra="TRANSP:TRANSPARENT\r\n"))
    result = busy(engine, [bob.name])
    assert result == {bob.name: [
        (DAY_START, ts("20260102T030000Z"), "B"),  # clipped at the window, a+b+c merged
        (ts("20260102T100000Z"), ts("20260102T110000Z"), "T"),
        (ts("20260102T110000Z"), ts("20260102T113000Z"), "B"),  # busy beats tentative
        (ts("20260102T113000Z"), ts("20260102T120000Z"), "T"),
    ]}


def test_transparent_calendars_and_mask_uid_are_left_out(engine, bob):
    bob.put("work/m.ics", event("m", start="20260102T090000Z", end="20260102T100000Z"))
    bob.mkcalendar("holidays")
    bob.put("holidays/h.ics", event("h", start="20260102T120000Z", end="20260102T130000Z"))
    assert len(busy(engine, [bob.name])[bob.name]) == 2
    proppatch = ('<?xml version="1.0" encoding="utf-8"?>'
                 '<D:propertyupdate xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
                 '<C:schedule-calendar-transp><C:transparent/></C:schedule-calendar-transp>'
                 '</D:prop></D:set></D:propertyupdate>')
    response = bob.request("PROPPATCH", "holidays/", proppatch, **{"Content-Type": "application/xml"})
    assert response.status_code == 207, response.text
    assert busy(engine, [bob.name])[bob.name] == [(ts("20260102T090000Z"), ts("20260102T100000Z"), "B")]
    assert busy(engine, [bob.name], mask_uid="m")[bob.name] == []


def test_schedule_calendar_transp_reads_back_as_an_element_and_refuses_nonsense(bob):
    from davutil import multistatus, propfind_body

    found = bob.request("PROPFIND", "work/", propfind_body("C:schedule-calendar-transp"),
                        Depth="0", **{"Content-Type": "application/xml"})
    responses, _ = multistatus(found.content)
    # Unset means opaque (RFC 6638 §9.1), and clients are told so.
    value = responses[0].props["{urn:ietf:params:xml:ns:caldav}schedule-calendar-transp"]
    assert [child.tag for child in value] == ["{urn:ietf:params:xml:ns:caldav}opaque"]
    bad = ('<?xml version="1.0" encoding="utf-8"?>'
           '<D:propertyupdate xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
           '<C:schedule-calendar-transp>maybe</C:schedule-calendar-transp></D:prop></D:set></D:propertyupdate>')
    response = bob.request("PROPPATCH", "work/", bad, **{"Content-Type": "application/xml"})
    assert response.status_code == 400 and "opaque" in response.text
    good = bad.replace("maybe", "<C:transparent/>")
    assert bob.request("PROPPATCH", "work/", good, **{"Content-Type": "application/xml"}).status_code == 207
    found = bob.request("PROPFIND", "", propfind_body("C:schedule-calendar-transp"),
                        Depth="1", **{"Content-Type": "application/xml"})
    work = [r for r in multistatus(found.content)[0] if r.href.rstrip("/").endswith("/work")][0]
    value = work.props["{urn:ietf:params:xml:ns:caldav}schedule-calendar-transp"]
    assert [child.tag for child in value] == ["{urn:ietf:params:xml:ns:caldav}transparent"]


def test_tasks_and_other_peoples_calendars_do_not_count(engine, base_url, bob):
    carol = new_user(engine, base_url, "carol")
    carol.mkcalendar("work")
    carol.put("work/c.ics", event("c", start="20260102T090000Z", end="20260102T100000Z"))
    bob.mkcalendar("tasks", components=("VTODO",))
    bob.put("tasks/t.ics", calendar("BEGIN:VTODO\r\nUID:t\r\nDTSTAMP:20260101T000000Z\r\n"
                                    "DTSTART:20260102T090000Z\r\nDUE:20260102T120000Z\r\nEND:VTODO\r\n"))
    assert busy(engine, [bob.name, carol.name]) == {
        bob.name: [], carol.name: [(ts("20260102T090000Z"), ts("20260102T100000Z"), "B")]}


def test_old_rows_are_detected_and_reindexed(database_server):
    """Rows from before migration 0009 have the default type: verify and reindex put them right.
    On a database of its own: verify and reindex read every stored item."""
    with private_database(database_server) as own:
        owner = own.new_user("bob")
        owner.mkcalendar("work")
        assert owner.put("work/old.ics", event("old", extra="TRANSP:TRANSPARENT\r\n")).status_code == 201
        with own.engine.begin() as conn:
            conn.execute(text("UPDATE item_occurrence SET fbtype = 'B' WHERE item_id IN"
                              " (SELECT i.id FROM item i JOIN collection c ON c.id = i.collection_id"
                              "  WHERE c.path = :p)"), {"p": f"{owner.name}/work"})
        assert busy(own.engine, [owner.name])[owner.name] != []
        storage = writer.open_storage(own.url)
        stale = [row.href for row, _ in storage.check_items() if row.path == f"{owner.name}/work"]
        assert stale == ["old.ics"]
        writer.reindex(storage)
        assert busy(own.engine, [owner.name])[owner.name] == []


def test_the_migration_backfills_what_the_item_columns_tell(engine, bob):
    """Migration 0009's UPDATE, run again over rows reset to the column default."""
    from importlib import resources

    sql = resources.files("storage_plugin.migrations").joinpath("0009_freebusy.sql").read_text()
    backfill = sql[sql.index("UPDATE item_occurrence"):sql.index(";", sql.index("UPDATE item_occurrence"))]
    bob.put("work/cancelled.ics", event("cancelled", extra="STATUS:CANCELLED\r\n"))
    bob.put("work/tentative.ics", event("tentative", extra="STATUS:TENTATIVE\r\n"))
    bob.put("work/plain.ics", event("plain"))
    with engine.begin() as conn:
        ids = {"p": f"{bob.name}/work"}
        conn.execute(text("UPDATE item_occurrence SET fbtype = 'B' WHERE item_id IN (SELECT i.id FROM item i"
                          " JOIN collection c ON c.id = i.collection_id WHERE c.path = :p)"), ids)
        # Only over bob's rows: other tests' transparent events must keep their type.
        conn.execute(text(backfill + " AND o.collection_id IN (SELECT id FROM collection WHERE path = :p)"), ids)
    assert [fbtypes(engine, bob, h) for h in ("cancelled.ics", "tentative.ics", "plain.ics")] == [
        ["F"], ["T"], ["B"]]


def test_kept_answers_follow_every_change_made_anywhere(engine, base_url, bob):
    """``busy_periods`` keeps each account's merged periods per window by a fingerprint of the
    database; writes through the server (another process's work, as far as this one knows), a
    calendar's transparency, a deleted calendar and new working hours each give the fresh answer."""
    def fresh():
        freebusy.ANSWERS.clear()
        return busy(engine, [bob.name])

    def asked_again_is_fresh():
        kept = busy(engine, [bob.name])
        assert kept == fresh()
        return kept[bob.name]

    bob.put("work/a.ics", event("a", start="20260102T090000Z", end="20260102T100000Z"))
    first = busy(engine, [bob.name])[bob.name]
    assert first == [(ts("20260102T090000Z"), ts("20260102T100000Z"), "B")]
    assert busy(engine, [bob.name])[bob.name] == first  # kept
    bob.put("work/b.ics", event("b", start="20260102T120000Z", end="20260102T130000Z"))
    assert len(asked_again_is_fresh()) == 2
    assert bob.request("DELETE", "work/a.ics").status_code in (200, 204)
    assert asked_again_is_fresh() == [(ts("20260102T120000Z"), ts("20260102T130000Z"), "B")]
    bob.mkcalendar("travel")
    bob.put("travel/t.ics", event("t", start="20260102T150000Z", end="20260102T160000Z"))
    assert len(asked_again_is_fresh()) == 2
    assert bob.request("DELETE", "travel/").status_code in (200, 204)
    assert len(asked_again_is_fresh()) == 1
    with engine.begin() as conn:  # working hours 09-17 UTC: the rest of the day is unavailable
        freebusy.set_availability(conn, bob.name, logic.weekly_availability(
            "UTC", [(["MO", "TU", "WE", "TH", "FR", "SA", "SU"], "09:00", "17:00")]))
    assert [p[2] for p in asked_again_is_fresh()] == ["U", "B", "U"]
    # Another window of the same state is its own answer.
    later = busy(engine, [bob.name], DAY_START + 86400, DAY_END + 86400)[bob.name]
    assert all(p[0] >= DAY_START + 86400 for p in later)
