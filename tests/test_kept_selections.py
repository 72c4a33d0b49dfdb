"""A calendar-query's members kept per process and brought up to date from the calendar's
change history (storage_plugin/selections.py), their responses kept by row version
(storage_plugin/rendered.py): after every kind of change the answer is byte for byte the one a
process that kept nothing gives, and only what changed is read and written again."""
from __future__ import annotations

import random
import uuid

import pytest
from sqlalchemy import text

from davutil import XML_HEADER, event
from server import answer_cache, compression
from storage_plugin import rendered, selections

C_NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
WEEK = (f'{XML_HEADER}<C:calendar-query {C_NS}><D:prop><D:getetag/><C:calendar-data/></D:prop>'
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        '<C:time-range start="20260105T000000Z" end="20260112T000000Z"/>'
        '</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>')
# Names whose order differs between code point and linguistic collations.
NAMES = ["a", "B", "b", "Z", "ä", "_x", "-x", "10", "9", "é", "e"]


@pytest.fixture
def counted(monkeypatch):
    """How often a kept selection was brought up to date, and the items whose responses the
    database wrote."""
    calls = {"brought": 0, "written": []}
    bring, write = selections._brought_up_to_date, rendered._render_ids

    def brought(*args, **kwargs):
        calls["brought"] += 1
        return bring(*args, **kwargs)

    def written(conn, parts, slots, ids):
        calls["written"] += list(ids)
        return write(conn, parts, slots, ids)

    monkeypatch.setattr(selections, "_brought_up_to_date", brought)
    monkeypatch.setattr(rendered, "_render_ids", written)
    return calls


def week(user, cal: str) -> bytes:
    response = user.request("REPORT", cal, WEEK, Depth="1", **{"Content-Type": "application/xml",
                                                               "Accept-Encoding": "identity"})
    assert response.status_code == 207, response.text
    return response.content


def forget_everything() -> None:
    selections.KEPT.clear()
    rendered.RESPONSES.clear()
    rendered.GROUPS.clear()
    compression.DEFLATED.clear()
    answer_cache.ANSWERS.clear()


def in_week(uid: str, day: int, summary: str = "In the week") -> str:
    return event(uid, summary=summary, start=f"202601{day:02d}T100000Z", end=f"202601{day:02d}T110000Z")


def merges(engine) -> int:
    """1 where the database sorts hrefs as Python does (C, C.UTF-8), else 0: there a kept
    selection is never brought up to date, the query is read whole."""
    with engine.connect() as conn:
        return int(selections._sorts_by_code_point(conn))


def test_every_change_brought_up_to_date_answers_as_a_fresh_read(engine, user, counted):
    rng = random.Random(7)
    cal, other = user.mkcalendar("kept"), user.mkcalendar("aside")
    present: dict[str, str] = {}  # name → uid
    for name in NAMES[:6]:
        uid = f"k-{uuid.uuid4().hex[:8]}"
        assert user.put(f"{cal}{name}.ics", in_week(uid, 5 + len(present) % 7)).status_code == 201
        present[name] = uid
    week(user, cal)

    def change(step: int) -> str:
        kind = rng.choice(["new", "edit", "out", "in", "delete", "move", "rename", "escape"])
        name = rng.choice(sorted(present)) if present else None
        if kind == "new" or name is None:
            name = rng.choice([n for n in NAMES if n not in present] or ["extra"]) + f"-{step}"
            present[name] = f"k-{uuid.uuid4().hex[:8]}"
            assert user.put(f"{cal}{name}.ics", in_week(present[name], rng.randrange(5, 12))).status_code == 201
        elif kind == "edit":
            assert user.put(f"{cal}{name}.ics", in_week(present[name], rng.randrange(5, 12), f"Edit {step}")).status_code == 204
        elif kind == "escape":
            assert user.put(f"{cal}{name}.ics", in_week(present[name], 6, f"Fish & <chips> {step}")).status_code == 204
        elif kind == "out":
            moved = event(present[name], summary="Out", start="20260301T100000Z", end="20260301T110000Z")
            assert user.put(f"{cal}{name}.ics", moved).status_code == 204
        elif kind == "in":
            assert user.put(f"{cal}{name}.ics", in_week(present[name], 11, "Back in")).status_code == 204
        elif kind == "delete":
            assert user.request("DELETE", f"{cal}{name}.ics").status_code in (200, 204)
            del present[name]
        elif kind == "move":  # away and back under another name
            aside = f"{other}{name}.ics"
            assert user.request("MOVE", f"{cal}{name}.ics", Destination=user.url(aside)).status_code == 201
            back = f"{name}-back{step}"
            assert user.request("MOVE", aside, Destination=user.url(f"{cal}{back}.ics")).status_code == 201
            present[back] = present.pop(name)
        else:
            renamed = user.request("PROPPATCH", cal, "<D:propertyupdate xmlns:D='DAV:'><D:set><D:prop>"
                                   f"<D:displayname>Kept {step}</D:displayname></D:prop></D:set>"
                                   "</D:propertyupdate>", **{"Content-Type": "application/xml"})
            assert renamed.status_code == 207
        return kind

    kinds = set()
    for step in range(40):
        kinds.add(change(step))
        before = counted["brought"]
        kept = week(user, cal)
        assert counted["brought"] == before + merges(engine)  # the kept selection, brought up to date
        forget_everything()
        assert kept == week(user, cal), f"step {step}"
    assert kinds == {"new", "edit", "out", "in", "delete", "move", "rename", "escape"}


def test_only_the_changed_member_is_written_again(user, counted):
    cal = user.mkcalendar("one-changes")
    uids = [f"o-{i}-{uuid.uuid4().hex[:6]}" for i in range(8)]
    for i, uid in enumerate(uids):
        assert user.put(f"{cal}{uid}.ics", in_week(uid, 5 + i % 7)).status_code == 201
    forget_everything()
    week(user, cal)
    assert len(counted["written"]) == 8
    counted["written"].clear()
    assert user.put(f"{cal}{uids[3]}.ics", in_week(uids[3], 8, "Changed")).status_code == 204
    assert b"Changed" in week(user, cal)
    assert len(counted["written"]) == 1
    # A rename changes no member: nothing is written again.
    counted["written"].clear()
    assert user.request("PROPPATCH", cal, "<D:propertyupdate xmlns:D='DAV:'><D:set><D:prop>"
                        "<D:displayname>Renamed</D:displayname></D:prop></D:set></D:propertyupdate>",
                        **{"Content-Type": "application/xml"}).status_code == 207
    week(user, cal)
    assert counted["written"] == []


def test_after_an_edit_one_group_is_joined_and_deflated_again(user, monkeypatch):
    """Members' responses are kept joined in groups, and each group's deflated form too
    (storage_plugin.rendered.GROUPS, server.compression.DEFLATED): a rename joins and deflates
    nothing again, an edit its member's group only; every gzipped answer inflates to the
    answer a process that kept nothing gives."""
    monkeypatch.setattr(rendered, "GROUP_SPAN", 4)  # about ten groups of forty members
    joined, deflated = [], []
    for kept, into in ((rendered.GROUPS, joined), (compression.DEFLATED, deflated)):
        monkeypatch.setattr(kept, "put", lambda key, value, put=kept.put, into=into: (into.append(key), put(key, value)))
    cal = user.mkcalendar("groups")
    uids = [f"g-{i:02d}-{uuid.uuid4().hex[:6]}" for i in range(40)]
    for i, uid in enumerate(uids):
        assert user.put(f"{cal}{uid}.ics", in_week(uid, 5 + i % 7)).status_code == 201

    def gzipped() -> bytes:
        response = user.request("REPORT", cal, WEEK, Depth="1", **{"Content-Type": "application/xml",
                                                                   "Accept-Encoding": "gzip"})
        assert response.status_code == 207 and response.headers["Content-Encoding"] == "gzip"
        return response.content  # inflated by requests

    def fresh() -> bytes:
        forget_everything()
        return week(user, cal)

    def rename(name: str) -> None:
        assert user.request("PROPPATCH", cal, "<D:propertyupdate xmlns:D='DAV:'><D:set><D:prop>"
                            f"<D:displayname>{name}</D:displayname></D:prop></D:set></D:propertyupdate>",
                            **{"Content-Type": "application/xml"}).status_code == 207

    forget_everything()
    first = gzipped()
    assert len(joined) >= 5 and len(deflated) == len(joined)  # each group once
    assert first == fresh()
    gzipped()  # groups kept (by the identity answer), deflated again after the forgetting
    joined.clear(), deflated.clear()
    rename("Grouped")
    renamed = gzipped()
    assert joined == [] and deflated == [] and renamed == first
    assert user.put(f"{cal}{uids[17]}.ics", in_week(uids[17], 9, "Edited")).status_code == 204
    edited = gzipped()
    assert len(joined) == 1 and len(deflated) == 1
    assert b"Edited" in edited and edited == fresh()


def test_a_history_pruned_past_the_kept_revision_reads_the_query_whole(engine, user, counted):
    cal = user.mkcalendar("pruned")
    uids = [f"p-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    for i, uid in enumerate(uids):
        assert user.put(f"{cal}{uid}.ics", in_week(uid, 6 + i)).status_code == 201
    week(user, cal)
    assert user.request("DELETE", f"{cal}{uids[0]}.ics").status_code in (200, 204)
    # As PRUNE_TOMBSTONES leaves it: the deletion is no longer in the history.
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM tombstone WHERE collection_id = (SELECT id FROM collection WHERE path = :p)"),
                     {"p": f"{user.name}/{cal.strip('/')}"})
        conn.execute(text("UPDATE collection SET history_floor = revision, revision = revision + 1 WHERE path = :p"),
                     {"p": f"{user.name}/{cal.strip('/')}"})
    answer = week(user, cal)
    assert counted["brought"] == 0
    assert uids[0].encode() not in answer and uids[1].encode() in answer


def test_too_many_changes_read_the_query_whole(engine, user, counted, monkeypatch):
    monkeypatch.setattr(selections, "MAX_CHANGES", 2)
    cal = user.mkcalendar("many")
    week(user, cal)
    uids = [f"m-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    for i, uid in enumerate(uids):
        assert user.put(f"{cal}{uid}.ics", in_week(uid, 6 + i)).status_code == 201
    answer = week(user, cal)
    assert counted["brought"] == merges(engine) and all(uid.encode() in answer for uid in uids)
