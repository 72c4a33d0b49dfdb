"""RFC 6578 sync-collection over HTTP: tokens, changes, deletions, DAV:limit, ctag."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import caldav
import pytest
from sqlalchemy import text

from davutil import SYNC_TOKEN_RE, calendar, clark, event, multistatus, propfind, sync_body

PREFIX = "http://planerix.org/ns/sync/"


@dataclass
class SyncAnswer:
    token: str
    items: dict  # href → davutil.Response, for member responses
    truncated: object  # the 507 response for the collection, or None


def sync(user, path: str, token: str = "", nresults=None) -> SyncAnswer:
    response = user.report(path, sync_body(token, nresults), depth="0")
    assert response.status_code == 207, response.text
    responses, root = multistatus(response.content)
    token_element = root.find(clark("D:sync-token"))
    assert token_element is not None and token_element.text, response.text
    collection_href = f"/{user.name}/{path}"
    truncated = [r for r in responses if r.status == 507]
    items = [r for r in responses if r.status != 507]
    for r in truncated:
        assert r.href == collection_href
        assert r.element.find(f"{clark('D:error')}/{clark('D:number-of-matches-within-limits')}") is not None
    assert len(truncated) <= 1
    hrefs = [r.href for r in items]
    assert len(hrefs) == len(set(hrefs)), f"an href reported twice in one answer: {hrefs}"
    return SyncAnswer(token_element.text, {r.href: r for r in items}, truncated[0] if truncated else None)


def sync_refused(user, path: str, token: str):
    response = user.report(path, sync_body(token), depth="0")
    assert response.status_code == 403, (token, response.status_code, response.text)
    assert "valid-sync-token" in response.text
    return response


def token_parts(token: str) -> tuple[int, int]:
    match = SYNC_TOKEN_RE.match(token)
    assert match, token
    return int(match.group(1)), int(match.group(2))


def href(user, path: str) -> str:
    return f"/{user.name}/{path}"


def put_ok(user, path: str, body: str):
    response = user.put(path, body)
    assert response.status_code in (201, 204), response.text
    return response


def delete_ok(user, path: str):
    response = user.request("DELETE", path)
    assert response.status_code in (200, 204), response.text


# -- basic sync ----------------------------------------------------------------

def test_initial_sync_lists_every_member_with_a_token(user, cal):
    empty = sync(user, cal)
    token_parts(empty.token)
    assert empty.items == {} and empty.truncated is None

    for name in ("a", "b", "c"):
        put_ok(user, f"cal/{name}.ics", event(name))
    answer = sync(user, cal)
    assert set(answer.items) == {href(user, f"cal/{n}.ics") for n in "abc"}
    for h, response in answer.items.items():
        assert response.status is None  # a propstat, not a 404
        got = user.session.get(user.base_url + h)
        assert response.text("D:getetag") == got.headers["ETag"]
    assert answer.truncated is None
    assert token_parts(answer.token)[0] == token_parts(empty.token)[0]
    assert answer.token != empty.token


def test_incremental_sync_reports_exactly_the_changed_hrefs(user, cal):
    for name in ("keep1", "keep2", "change"):
        put_ok(user, f"cal/{name}.ics", event(name))
    start = sync(user, cal).token

    put_ok(user, "cal/new1.ics", event("new1"))
    put_ok(user, "cal/new2.ics", event("new2"))
    put_ok(user, "cal/change.ics", event("change", "changed summary"))
    answer = sync(user, cal, start)
    assert set(answer.items) == {href(user, "cal/new1.ics"), href(user, "cal/new2.ics"),
                                 href(user, "cal/change.ics")}
    changed = answer.items[href(user, "cal/change.ics")]
    assert changed.text("D:getetag") == user.request("GET", "cal/change.ics").headers["ETag"]

    # The same href changed twice between syncs is reported once.
    put_ok(user, "cal/change.ics", event("change", "again"))
    put_ok(user, "cal/change.ics", event("change", "and again"))
    again = sync(user, cal, answer.token)
    assert set(again.items) == {href(user, "cal/change.ics")}
    assert token_parts(again.token)[1] > token_parts(answer.token)[1]


def test_deletions_are_reported_with_404(user, cal):
    for name in ("a", "b", "c"):
        put_ok(user, f"cal/{name}.ics", event(name))
    start = sync(user, cal).token
    delete_ok(user, "cal/b.ics")
    answer = sync(user, cal, start)
    assert set(answer.items) == {href(user, "cal/b.ics")}
    gone = answer.items[href(user, "cal/b.ics")]
    assert gone.status == 404 and gone.props == {}

    # Re-created at the same href: an addition again, no longer a deletion.
    put_ok(user, "cal/b.ics", event("b", "back"))
    back = sync(user, cal, answer.token)
    assert set(back.items) == {href(user, "cal/b.ics")}
    assert back.items[href(user, "cal/b.ics")].status is None
    # A fresh initial sync never lists removed members.
    delete_ok(user, "cal/a.ics")
    assert set(sync(user, cal).items) == {href(user, "cal/b.ics"), href(user, "cal/c.ics")}


def test_move_out_is_a_deletion_in_the_source_and_an_addition_in_the_target(user, cal):
    target = user.mkcalendar("target")
    put_ok(user, "cal/m.ics", event("m"))
    put_ok(user, "cal/stay.ics", event("stay"))
    source_token, target_token = sync(user, cal).token, sync(user, target).token

    moved = user.request("MOVE", "cal/m.ics", Destination=user.url("target/moved.ics"))
    assert moved.status_code == 201, moved.text

    source = sync(user, cal, source_token)
    assert set(source.items) == {href(user, "cal/m.ics")}
    assert source.items[href(user, "cal/m.ics")].status == 404
    arrived = sync(user, target, target_token)
    assert set(arrived.items) == {href(user, "target/moved.ics")}
    assert arrived.items[href(user, "target/moved.ics")].status is None


def test_move_within_a_collection_reports_both_hrefs(user, cal):
    put_ok(user, "cal/old.ics", event("rename-me"))
    start = sync(user, cal).token
    assert user.request("MOVE", "cal/old.ics", Destination=user.url("cal/new.ics")).status_code == 201
    answer = sync(user, cal, start)
    assert set(answer.items) == {href(user, "cal/old.ics"), href(user, "cal/new.ics")}
    assert answer.items[href(user, "cal/old.ics")].status == 404
    assert answer.items[href(user, "cal/new.ics")].status is None


def test_no_changes_gives_an_empty_answer_and_the_same_token(user, cal):
    put_ok(user, "cal/a.ics", event("a"))
    token = sync(user, cal).token
    for _ in range(2):
        answer = sync(user, cal, token)
        assert answer.items == {} and answer.truncated is None
        assert answer.token == token
    # Reads and refused writes are not changes.
    user.request("GET", "cal/a.ics")
    assert user.put("cal/a.ics", event("a", "x"), If_Match='"stale"').status_code == 412
    assert user.put("cal/other.ics", event("a")).status_code == 409
    assert sync(user, cal, token).token == token


def test_the_caldav_library_syncs_changes_and_deletions(base_url, user, cal):
    for name in ("a", "b"):
        put_ok(user, f"cal/{name}.ics", event(name))
    client = caldav.DAVClient(url=base_url + "/", username=user.name, password=user.password)
    remote = client.calendar(url=user.url(cal))
    local = remote.objects_by_sync_token(load_objects=True)
    assert local.sync_token.startswith(PREFIX)
    assert len(list(local)) == 2

    remote.save_event(event("c", "from the library"))
    put_ok(user, "cal/a.ics", event("a", "modified"))
    delete_ok(user, "cal/b.ics")
    updated, deleted = local.sync()
    assert sorted(o.icalendar_component["UID"] for o in updated) == ["a", "c"]
    assert [str(o.url).rsplit("/", 1)[1] for o in deleted] == ["b.ics"]
    assert sorted(o.icalendar_component["SUMMARY"] for o in local) == ["from the library", "modified"]
    assert local.sync() == ([], [])


# -- invalid tokens --------------------------------------------------------------

@pytest.mark.parametrize("make_token", [
    lambda cid, rev: "garbage",
    lambda cid, rev: "not a token at all",
    lambda cid, rev: "http://radicale.org/ns/sync/0123456789abcdef",
    lambda cid, rev: PREFIX,
    lambda cid, rev: f"{PREFIX}{cid}",
    lambda cid, rev: f"{PREFIX}{cid}-",
    lambda cid, rev: f"{PREFIX}{cid}-{rev}x",
    lambda cid, rev: f"{PREFIX}{cid}-{rev}-1",
    lambda cid, rev: f"{PREFIX}-{cid}-{rev}",
    lambda cid, rev: f"{PREFIX}{cid}-²",
    lambda cid, rev: f"{PREFIX}{cid}-{rev}".upper(),
    lambda cid, rev: f"https://planerix.org/ns/sync/{cid}-{rev}",
], ids=["garbage", "junk", "radicale", "prefix", "no-revision", "empty-revision", "suffix",
        "extra-part", "negative", "superscript", "uppercase", "https"])
def test_malformed_tokens_are_refused(user, cal, make_token):
    put_ok(user, "cal/a.ics", event("a"))
    cid, rev = token_parts(sync(user, cal).token)
    sync_refused(user, cal, make_token(cid, rev))


def test_token_of_another_collection_is_refused(user, other_user, cal):
    user.mkcalendar("second")
    put_ok(user, "second/a.ics", event("a"))
    sync_refused(user, cal, sync(user, "second/").token)
    other_user.mkcalendar("cal")
    sync_refused(user, cal, sync(other_user, "cal/").token)
    sync_refused(other_user, "cal/", sync(user, cal).token)


def test_token_of_a_deleted_and_recreated_collection_is_refused(user, cal):
    put_ok(user, "cal/a.ics", event("a"))
    old = sync(user, cal).token
    assert user.request("DELETE", cal).status_code in (200, 204)
    user.mkcalendar("cal")
    put_ok(user, "cal/a.ics", event("a"))
    put_ok(user, "cal/b.ics", event("b"))
    sync_refused(user, cal, old)
    assert token_parts(sync(user, cal).token)[0] != token_parts(old)[0]


def test_token_from_the_future_is_refused(user, cal):
    put_ok(user, "cal/a.ics", event("a"))
    cid, rev = token_parts(sync(user, cal).token)
    sync_refused(user, cal, f"{PREFIX}{cid}-{rev + 1}")
    sync_refused(user, cal, f"{PREFIX}{cid}-{10 ** 30}")
    assert sync(user, cal, f"{PREFIX}{cid}-{rev}").items == {}


def test_token_older_than_the_retained_history_is_refused(user, cal, engine):
    for name in ("a", "b", "c"):
        put_ok(user, f"cal/{name}.ics", event(name))
    oldest = sync(user, cal).token
    cid, _ = token_parts(oldest)
    delete_ok(user, "cal/a.ics")
    after_first_delete = sync(user, cal).token
    # The deletion of a.ics happened long ago: the next deletion prunes its tombstone.
    with engine.begin() as conn:
        aged = conn.execute(text(
            "UPDATE tombstone SET deleted_at = now() - interval '60 days' WHERE collection_id = :cid"),
            {"cid": cid}).rowcount
        floor_before = conn.execute(text("SELECT history_floor FROM collection WHERE id = :cid"),
                                    {"cid": cid}).scalar_one()
    assert aged == 1
    delete_ok(user, "cal/b.ics")
    with engine.connect() as conn:
        floor = conn.execute(text("SELECT history_floor FROM collection WHERE id = :cid"),
                             {"cid": cid}).scalar_one()
        tombstones = conn.execute(text("SELECT href FROM tombstone WHERE collection_id = :cid"),
                                  {"cid": cid}).scalars().all()
    assert floor > floor_before
    assert tombstones == ["b.ics"]

    # A client holding the oldest token can no longer learn that a.ics went away.
    sync_refused(user, cal, oldest)
    # A token taken after that deletion still works and reports only b.ics.
    answer = sync(user, cal, after_first_delete)
    assert set(answer.items) == {href(user, "cal/b.ics")}
    assert answer.items[href(user, "cal/b.ics")].status == 404
    # The client recovers with an initial sync.
    assert set(sync(user, cal).items) == {href(user, "cal/c.ics")}


# -- DAV:limit -------------------------------------------------------------------

def page_through(user, path: str, token: str, nresults: int, max_pages: int = 50):
    """Follow truncated answers to the end; returns (every response, final token, pages)."""
    seen: list = []
    pages = []
    while True:
        answer = sync(user, path, token, nresults)
        pages.append(answer)
        seen.extend(answer.items.values())
        token_parts(answer.token)
        token = answer.token
        if answer.truncated is None:
            return seen, token, pages
        assert len(answer.items) == nresults, "a truncated answer must be full"
        assert len(pages) < max_pages, "sync never finished"


def test_limit_on_initial_sync(user, cal):
    names = [f"item{i:02d}" for i in range(10)]
    for name in names:
        put_ok(user, f"cal/{name}.ics", event(name))

    first = sync(user, cal, "", 3)
    assert len(first.items) == 3
    assert first.truncated is not None
    token_parts(first.token)

    seen, token, pages = page_through(user, cal, "", 3)
    assert [len(p.items) for p in pages] == [3, 3, 3, 1]
    assert all(p.truncated is not None for p in pages[:-1])
    counts = Counter(r.href for r in seen)
    assert counts == Counter({href(user, f"cal/{n}.ics"): 1 for n in names})
    assert all(r.status is None for r in seen)
    # Done: nothing more, no 507.
    final = sync(user, cal, token, 3)
    assert final.items == {} and final.truncated is None and final.token == token


@pytest.mark.parametrize("nresults", [1, 3, 5])
def test_limit_on_incremental_sync_with_deletions(user, cal, nresults):
    for i in range(8):
        put_ok(user, f"cal/old{i}.ics", event(f"old{i}"))
    start = sync(user, cal).token
    for i in range(4):
        put_ok(user, f"cal/new{i}.ics", event(f"new{i}"))
    for i in range(3):
        put_ok(user, f"cal/old{i}.ics", event(f"old{i}", "changed"))
    for i in range(3, 6):
        delete_ok(user, f"cal/old{i}.ics")

    seen, token, pages = page_through(user, cal, start, nresults)
    expected_pages = -(-10 // nresults)
    assert len(pages) == expected_pages
    counts = Counter(r.href for r in seen)
    changed = {f"new{i}" for i in range(4)} | {f"old{i}" for i in range(3)}
    deleted = {f"old{i}" for i in range(3, 6)}
    assert counts == Counter({href(user, f"cal/{n}.ics"): 1 for n in changed | deleted})
    for response in seen:
        name = response.href.rsplit("/", 1)[1][:-len(".ics")]
        assert response.status == (404 if name in deleted else None), response.href
    assert sync(user, cal, token).items == {}


def test_limit_larger_than_the_changes_is_no_truncation(user, cal):
    for i in range(4):
        put_ok(user, f"cal/e{i}.ics", event(f"e{i}"))
    start = sync(user, cal).token
    answer = sync(user, cal, "", 4)
    assert len(answer.items) == 4 and answer.truncated is None
    assert answer.token == start
    put_ok(user, "cal/e0.ics", event("e0", "x"))
    answer = sync(user, cal, start, 100)
    assert set(answer.items) == {href(user, "cal/e0.ics")} and answer.truncated is None


def test_changes_while_paging_are_not_lost(user, cal):
    for i in range(6):
        put_ok(user, f"cal/p{i}.ics", event(f"p{i}"))
    first = sync(user, cal, "", 2)
    assert first.truncated is not None
    # A change to an item already sent and a new item, in the middle of paging.
    sent = sorted(first.items)[0]
    put_ok(user, sent[len(f"/{user.name}/"):], event(sent.rsplit("/", 1)[1][:-4], "changed mid-sync"))
    put_ok(user, "cal/late.ics", event("late"))
    seen, _, _ = page_through(user, cal, first.token, 2)
    seen_hrefs = {r.href for r in seen} | set(first.items)
    assert seen_hrefs == {href(user, f"cal/p{i}.ics") for i in range(6)} | {href(user, "cal/late.ics")}
    assert sent in {r.href for r in seen}


@pytest.mark.parametrize("nresults", ["0", "-1", "abc", "", "1.5"])
def test_invalid_nresults_is_a_bad_request(user, cal, nresults):
    put_ok(user, "cal/a.ics", event("a"))
    response = user.report(cal, sync_body("", nresults), depth="0")
    assert response.status_code == 400, response.text


# -- CS:getctag and DAV:sync-token as properties ----------------------------------

def collection_state(user, path: str) -> tuple[str, str, str]:
    response, = propfind(user, path, "CS:getctag", "D:sync-token", "D:getetag")
    return response.text("CS:getctag"), response.text("D:sync-token"), response.text("D:getetag")


def test_ctag_and_sync_token_change_with_every_write_and_only_then(user, cal):
    states = [collection_state(user, cal)]

    def unchanged():
        assert collection_state(user, cal) == states[-1]

    def changed():
        state = collection_state(user, cal)
        assert all(value for value in state)
        assert all(state[i] != old[i] for old in states for i in range(3)), (state, states)
        token_parts(state[1])
        states.append(state)
        # The property and the REPORT agree on the current token.
        assert sync(user, cal).token == state[1]

    unchanged()
    put_ok(user, "cal/a.ics", event("a"))
    changed()
    user.request("GET", "cal/a.ics")
    user.request("PROPFIND", cal, Depth="1")
    sync(user, cal)
    unchanged()
    put_ok(user, "cal/a.ics", event("a", "modified"))
    changed()
    put_ok(user, "cal/b.ics", event("b"))
    changed()
    assert user.request("MOVE", "cal/b.ics", Destination=user.url("cal/c.ics")).status_code == 201
    changed()
    delete_ok(user, "cal/c.ics")
    changed()
    patch = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
             '<D:displayname>Renamed</D:displayname></D:prop></D:set></D:propertyupdate>')
    assert user.request("PROPPATCH", cal, patch, **{"Content-Type": "application/xml"}).status_code == 207
    changed()
    # Refused writes change nothing.
    assert user.put("cal/a.ics", event("a", "x"), If_Match='"stale"').status_code == 412
    assert user.put("cal/bad.ics", "BEGIN:VCALENDAR\r\nnope\r\n").status_code == 400
    assert user.request("DELETE", "cal/missing.ics").status_code == 404
    unchanged()
    # A write elsewhere does not touch this collection.
    user.mkcalendar("elsewhere")
    put_ok(user, "elsewhere/x.ics", event("x"))
    unchanged()
    # A whole-collection PUT is a change too.
    put_ok(user, cal, calendar("BEGIN:VEVENT\r\nUID:w\r\nDTSTAMP:20260101T000000Z\r\n"
                               "DTSTART:20260102T100000Z\r\nEND:VEVENT\r\n"))
    changed()


def test_etag_only_sync_stays_correct_while_items_change(user, cal):
    """Radicale serializes every reported item even for DAV:getetag; the texts must come from
    the same snapshot as the etags, or a concurrent write turns the answer into a 500."""
    import threading

    hrefs = [f"busy-{i}.ics" for i in range(20)]
    for name in hrefs:
        put_ok(user, f"{cal}{name}", event(name.removesuffix(".ics"), "v0"))
    stop = threading.Event()
    statuses = []

    def keep_writing():
        version = 0
        while not stop.is_set():
            version += 1
            for name in hrefs:
                statuses.append(user.put(f"{cal}{name}", event(name.removesuffix(".ics"), f"v{version}")).status_code)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        for _ in range(25):
            answer = sync(user, cal)
            assert sorted(answer.items) == sorted(href(user, f"{cal}{n}") for n in hrefs)
    finally:
        stop.set()
        writer.join(30)
    assert not writer.is_alive()
    # The writes really ran alongside, and every one of them succeeded.
    assert len(statuses) >= len(hrefs) and set(statuses) == {204}, Counter(statuses)
