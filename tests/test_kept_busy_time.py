"""Each calendar's busy occurrences kept per process and brought up to date from its change
history (storage_plugin/busy_time.py): after every kind of change the free-busy answer is the one
a process that kept nothing gives, and after an edit only the edited item is read again."""
from __future__ import annotations

import random
import uuid

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import text

from davutil import event
from storage_plugin import busy_time, freebusy

from test_freebusy_index import DAY_END, DAY_START, bob, busy  # noqa: F401 (fixture)


@pytest.fixture
def occurrence_reads(engine):
    """("whole", calendar ids) for each statement on ``engine`` that read calendars whole, and
    ("changes", calendar ids) for each that read what changed in calendars since kept."""
    reads = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if "WHERE o.collection_id = w.cid" in statement:
            reads.append(("whole", list(parameters["ids"])))
        elif "o.item_id = changed.id" in statement:
            reads.append(("changes", list(parameters["ids"])))

    sa_event.listen(engine, "before_cursor_execute", seen)
    yield reads
    sa_event.remove(engine, "before_cursor_execute", seen)


def forget_everything() -> None:
    busy_time.KEPT.clear()
    freebusy.ANSWERS.clear()


def at(hour: int, minutes: int = 60) -> tuple[str, str]:
    return f"20260102T{hour:02d}0000Z", f"20260102T{hour + minutes // 60:02d}{minutes % 60:02d}00Z"


def calendar_id(engine, user, name: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT id FROM collection WHERE path = :p"), {"p": f"{user.name}/{name}"}).scalar()


def test_every_change_brought_up_to_date_answers_as_a_fresh_read(engine, bob, occurrence_reads):  # noqa: F811
    rng = random.Random(11)
    bob.mkcalendar("aside")
    present: dict[str, str] = {}  # href → uid

    def put(href: str, hour: int, extra: str = "") -> int:
        start, end = at(hour, rng.choice((30, 60, 90, 120)))
        return bob.put(f"work/{href}", event(present[href], start=start, end=end, extra=extra)).status_code

    for n in range(5):
        present[f"e{n}.ics"] = f"b-{uuid.uuid4().hex[:8]}"
        assert put(f"e{n}.ics", 8 + 2 * n) == 201
    busy(engine, [bob.name])

    def change(step: int) -> str:
        kind = rng.choice(["new", "edit", "tentative", "free", "out", "delete", "recreate", "move", "rename",
                           "transparent"])
        href = rng.choice(sorted(present)) if present else None
        if kind == "new" or href is None:
            href = f"new{step}.ics"
            present[href] = f"b-{uuid.uuid4().hex[:8]}"
            assert put(href, rng.randrange(0, 22)) == 201
        elif kind == "edit":
            assert put(href, rng.randrange(0, 22)) == 204
        elif kind == "tentative":
            assert put(href, rng.randrange(0, 22), "STATUS:TENTATIVE\r\n") == 204
        elif kind == "free":
            assert put(href, rng.randrange(0, 22), "TRANSP:TRANSPARENT\r\n") == 204
        elif kind == "out":  # to another day: no occurrence left in the window
            moved = event(present[href], start="20260301T100000Z", end="20260301T110000Z")
            assert bob.put(f"work/{href}", moved).status_code == 204
        elif kind == "delete":
            assert bob.request("DELETE", f"work/{href}").status_code in (200, 204)
            del present[href]
        elif kind == "recreate":  # deleted and written again under its href: a new item
            assert bob.request("DELETE", f"work/{href}").status_code in (200, 204)
            assert put(href, rng.randrange(0, 22)) == 201
        elif kind == "move":  # away and back under another name
            assert bob.request("MOVE", f"work/{href}", Destination=bob.url(f"aside/{href}")).status_code == 201
            back = f"back{step}.ics"
            assert bob.request("MOVE", f"aside/{href}", Destination=bob.url(f"work/{back}")).status_code == 201
            present[back] = present.pop(href)
        else:
            value = "transparent" if kind == "transparent" and rng.random() < 0.5 else "opaque"
            prop = (f"<C:schedule-calendar-transp><C:{value}/></C:schedule-calendar-transp>"
                    if kind == "transparent" else f"<D:displayname>Work {step}</D:displayname>")
            patched = bob.request("PROPPATCH", "work/", "<D:propertyupdate xmlns:D='DAV:' "
                                  "xmlns:C='urn:ietf:params:xml:ns:caldav'><D:set><D:prop>"
                                  f"{prop}</D:prop></D:set></D:propertyupdate>",
                                  **{"Content-Type": "application/xml"})
            assert patched.status_code == 207
        return kind

    kinds = set()
    brought = 0
    for step in range(50):
        kinds.add(change(step))
        reads = len(occurrence_reads)
        kept = busy(engine, [bob.name])
        # Only what changed was read, in one statement.
        brought += [kind for kind, _ in occurrence_reads[reads:]] == ["changes"]
        forget_everything()
        assert kept == busy(engine, [bob.name]), f"step {step}"
    assert kinds == {"new", "edit", "tentative", "free", "out", "delete", "recreate", "move", "rename",
                     "transparent"}
    assert brought >= 5


def test_after_an_edit_only_the_edited_item_is_read_again(engine, bob, occurrence_reads):  # noqa: F811
    for n in range(4):
        start, end = at(8 + 2 * n)
        assert bob.put(f"work/e{n}.ics", event(f"edit-{n}-{bob.name}", start=start, end=end)).status_code == 201
    work = calendar_id(engine, bob, "work")
    forget_everything()
    first = busy(engine, [bob.name])[bob.name]
    assert len(first) == 4 and occurrence_reads[-1][0] == "whole" and work in occurrence_reads[-1][1]
    start, end = at(6)
    assert bob.put("work/e0.ics", event(f"edit-0-{bob.name}", start=start, end=end)).status_code == 204
    reads = len(occurrence_reads)
    after = busy(engine, [bob.name])[bob.name]
    assert occurrence_reads[reads:] == [("changes", [work])]  # the edited item, with its occurrences
    assert after[0][0] == DAY_START + 6 * 3600 and len(after) == 4
    # A rename changes no occurrence: nothing is read.
    assert bob.request("PROPPATCH", "work/", "<D:propertyupdate xmlns:D='DAV:'><D:set><D:prop>"
                       "<D:displayname>Renamed</D:displayname></D:prop></D:set></D:propertyupdate>",
                       **{"Content-Type": "application/xml"}).status_code == 207
    reads = len(occurrence_reads)
    assert busy(engine, [bob.name])[bob.name] == after and occurrence_reads[reads:] == [("changes", [work])]
    reads = len(occurrence_reads)
    assert busy(engine, [bob.name])[bob.name] == after and occurrence_reads[reads:] == []  # kept as it is


def test_a_delete_or_a_pruned_history_reads_the_calendar_whole(engine, bob, occurrence_reads):  # noqa: F811
    for n in range(3):
        start, end = at(8 + 2 * n)
        assert bob.put(f"work/p{n}.ics", event(f"prune-{n}-{bob.name}", start=start, end=end)).status_code == 201
    work = calendar_id(engine, bob, "work")
    busy(engine, [bob.name])
    assert bob.request("DELETE", "work/p1.ics").status_code in (200, 204)
    assert len(busy(engine, [bob.name])[bob.name]) == 2
    assert occurrence_reads[-2:] == [("changes", [work]), ("whole", [work])]
    start, end = at(15)
    assert bob.put("work/p0.ics", event(f"prune-0-{bob.name}", start=start, end=end)).status_code == 204
    with engine.begin() as conn:  # the history before now is gone
        conn.execute(text("UPDATE collection SET history_floor = revision WHERE id = :id"), {"id": work})
    assert [p[0] for p in busy(engine, [bob.name])[bob.name]] == [DAY_START + 12 * 3600, DAY_START + 15 * 3600]
    assert occurrence_reads[-1] == ("whole", [work])


def test_a_masked_uid_is_read_whole_and_kept_answers_are_untouched(engine, bob, occurrence_reads):  # noqa: F811
    uid = f"mask-{bob.name}"
    start, end = at(10)
    assert bob.put("work/m.ics", event(uid, start=start, end=end)).status_code == 201
    assert len(busy(engine, [bob.name])[bob.name]) == 1
    assert busy(engine, [bob.name], mask_uid=uid)[bob.name] == []
    assert len(busy(engine, [bob.name])[bob.name]) == 1
    assert busy(engine, [bob.name], DAY_START, DAY_END)[bob.name][0][2] == "B"
