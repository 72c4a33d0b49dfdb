"""Answers written by the database (storage_plugin.rendered) follow every write.

The escaped text and the VEVENT bound a rendered answer reads are generated columns of the
item row (migration 0021): PostgreSQL recomputes them whenever the row's text changes,
whichever code writes it. Each write here is followed by the same queries on the usual
server and on one running Radicale's generic code (tests/pairutil.py), which must answer
byte for byte alike, and the usual one must have answered from the database.
"""
from __future__ import annotations

import uuid

from sqlalchemy import text

from davutil import XML_HEADER, calendar, vevent
from pairutil import Pair, fast_calls, generic_server, pair  # noqa: F401 (fixtures)

C_NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
WEEK = (f"{XML_HEADER}<C:calendar-query {C_NS}><D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter>"
        '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        '<C:time-range start="20260101T000000Z" end="20260108T000000Z"/>'
        "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>")


def _multiget(user, cal: str, names: list[str]) -> str:
    hrefs = "".join(f"<D:href>/{user.name}/{cal}{name}</D:href>" for name in names)
    return (f"{XML_HEADER}<C:calendar-multiget {C_NS}><D:prop><D:getetag/><C:calendar-data/></D:prop>"
            f"{hrefs}</C:calendar-multiget>")


def _answers(pair: Pair, fast_calls: list, cal: str, names: list[str]) -> str:
    """The week query's answer (and the multiget's, which must agree), checked against the
    generic server's; both from the fast path."""
    fast_calls.clear()
    week = pair.same("REPORT", cal, WEEK, Depth="1").text
    pair.same("REPORT", cal, _multiget(pair.user, cal, names), Depth="1")
    assert len(fast_calls) == 2
    return week


def test_every_write_changes_the_rendered_answer(pair, fast_calls, engine):
    user = pair.user
    cal, other = user.mkcalendar("rendered"), user.mkcalendar("elsewhere")
    uid = f"r-{uuid.uuid4().hex[:8]}"
    assert user.put(f"{cal}a.ics", calendar(vevent(uid, "Plain words"))).status_code == 201
    assert "SUMMARY:Plain words" in _answers(pair, fast_calls, cal, ["a.ics"])

    # An update that needs escaping, then one that no longer does.
    assert user.put(f"{cal}a.ics", calendar(vevent(uid, "Fish & <chips>"))).status_code == 204
    week = _answers(pair, fast_calls, cal, ["a.ics"])
    assert "SUMMARY:Fish &amp; &lt;chips&gt;" in week and "Plain words" not in week
    assert user.put(f"{cal}a.ics", calendar(vevent(uid, "Back to plain"))).status_code == 204
    week = _answers(pair, fast_calls, cal, ["a.ics"])
    assert "SUMMARY:Back to plain" in week and "chips" not in week

    # A write that is no HTTP request (an import, a scheduling merge, a sharing write all end in
    # an UPDATE of the row): the escaped text follows the row's text. Like every write of the
    # storage (queries.UPSERT_ITEMS), it bumps its calendar's revision in its transaction and
    # gives the item that revision (sync tokens, the answers kept by revision,
    # server/answer_cache.py, and the selections brought up to date from the history,
    # storage_plugin/selections.py, depend on that).
    with engine.begin() as conn:
        conn.execute(text(
            "WITH bumped AS (UPDATE collection SET revision = revision + 1"
            "  WHERE id = (SELECT collection_id FROM item WHERE uid = :uid) RETURNING revision)"
            " UPDATE item SET text = replace(text, 'Back to plain', 'Salt & <pepper>'),"
            "  revision = (SELECT revision FROM bumped) WHERE uid = :uid"), {"uid": uid})
    week = _answers(pair, fast_calls, cal, ["a.ics"])
    assert "SUMMARY:Salt &amp; &lt;pepper&gt;" in week and "Back to plain" not in week

    # MOVE to another calendar, then DELETE there.
    moved = user.request("MOVE", f"{cal}a.ics", Destination=user.url(f"{other}b.ics"))
    assert moved.status_code == 201, moved.text
    assert "pepper" not in _answers(pair, fast_calls, cal, ["a.ics"])
    assert "SUMMARY:Salt &amp; &lt;pepper&gt;" in _answers(pair, fast_calls, other, ["b.ics"])
    assert user.request("DELETE", f"{other}b.ics").status_code in (200, 204)
    assert "pepper" not in _answers(pair, fast_calls, other, ["b.ics"])


def test_the_stored_bound_counts_vevent_lines_in_any_case(engine, user):
    """What the occurrence limit is checked on, for every text however it was written."""
    cal = user.mkcalendar("bound")
    uid = f"b-{uuid.uuid4().hex[:8]}"
    ics = calendar(vevent(uid, "Series", extra="RRULE:FREQ=DAILY;COUNT=3\r\n"),
                   vevent(uid, "Moved", extra="RECURRENCE-ID:20260103T100000Z\r\n"))
    assert user.put(f"{cal}s.ics", ics).status_code == 201
    bound = text("SELECT vevent_bound, text_xml IS NULL AS plain FROM item WHERE uid = :uid")
    with engine.begin() as conn:
        assert tuple(conn.execute(bound, {"uid": uid}).one()) == (2, True)
        conn.execute(text("UPDATE item SET text = text || E'begin:vevent\\r\\nBegin:VEvent\\r\\n<x>'"
                          " WHERE uid = :uid"), {"uid": uid})
        assert tuple(conn.execute(bound, {"uid": uid}).one()) == (4, False)
