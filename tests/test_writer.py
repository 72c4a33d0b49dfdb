"""storage_plugin.writer: writing items as a user outside CalDAV, through the storage's own path."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from davutil import calendar, event, sync_body, multistatus, todo, vevent
from storage_plugin import writer
from waiting import wait_until


@pytest.fixture(scope="module")
def storage(engine, database_url):
    return writer.open_storage(database_url)


def sync(user, path: str, token: str = "") -> tuple[str, dict[str, int]]:
    response = user.report(path, sync_body(token), depth="0")
    assert response.status_code == 207, response.text
    responses, root = multistatus(response.content)
    return root.find("{DAV:}sync-token").text, {r.href.rsplit("/", 1)[-1]: r.status or 200 for r in responses}


def test_put_and_delete_are_ordinary_changes_for_caldav_clients(storage, user, engine):
    user.mkcalendar("w")
    token, _ = sync(user, "w/")
    written = writer.write_items(storage, user.name, f"/{user.name}/w/",
                                 [writer.Put(event("one", "First")), writer.Put(event("two"), href="named.ics")])
    assert [(w.href, w.created) for w in written] == [("one.ics", True), ("named.ics", True)]
    got = user.request("GET", "w/one.ics")
    assert got.status_code == 200 and got.headers["ETag"] == written[0].etag and "SUMMARY:First" in got.text
    token, changes = sync(user, "w/", token)
    assert changes == {"one.ics": 200, "named.ics": 200}
    with engine.connect() as conn:  # indexed for time-range queries like a PUT
        spans = conn.execute(text(
            "SELECT count(*) FROM item_occurrence o JOIN item i ON i.id = o.item_id "
            "JOIN collection c ON c.id = i.collection_id WHERE c.path = :p"), {"p": f"{user.name}/w"}).scalar()
    assert spans == 2

    # By UID, without an href: the existing item is replaced, honouring If-Match.
    [replaced] = writer.write_items(storage, user.name, f"{user.name}/w",
                                    [writer.Put(event("one", "Second"), if_match=written[0].etag)])
    assert replaced.href == "one.ics" and not replaced.created and replaced.etag != written[0].etag
    [deleted] = writer.write_items(storage, user.name, f"{user.name}/w",
                                   [writer.Delete("named.ics", if_match=written[1].etag)])
    assert deleted.deleted and deleted.etag is None
    assert sync(user, "w/", token)[1] == {"one.ics": 200, "named.ics": 404}
    assert "SUMMARY:Second" in user.request("GET", "w/one.ics").text


@pytest.mark.parametrize("change, error, words", [
    (writer.Put(event("one", "Stale"), if_match='"stale"'), writer.PreconditionFailed, "has changed"),
    (writer.Put(event("one"), href="one.ics", if_none_match=True), writer.PreconditionFailed, "already exists"),
    (writer.Put(event("one"), href="other.ics"), writer.Conflict, "UID"),
    (writer.Put(event("fresh"), href="one.ics"), writer.Conflict, "UID"),
    (writer.Put(todo("task")), writer.Forbidden, "VEVENT"),
    (writer.Put("BEGIN:VCALENDAR\r\nnonsense"), writer.ItemRejected, "not valid iCalendar"),
    (writer.Put(calendar(vevent("a"), vevent("b"))), writer.ItemRejected, "cannot be stored"),
    (writer.Put(event("x"), href="../escape.ics"), writer.ItemRejected, "not a valid resource name"),
    (writer.Delete("missing.ics"), writer.NotFound, "does not exist"),
    (writer.Delete("one.ics", if_match='"stale"'), writer.PreconditionFailed, "has changed"),
])
def test_refused_changes_write_nothing(storage, user, change, error, words):
    user.mkcalendar("strict", components=("VEVENT",))
    assert user.put("strict/one.ics", event("one", "Original")).status_code == 201
    token, _ = sync(user, "strict/")
    with pytest.raises(error, match=words) as raised:
        # A good change first: it is undone with the refused one.
        writer.write_items(storage, user.name, f"{user.name}/strict",
                           [writer.Put(event("before", "Undone")), change])
    assert raised.value.status in (403, 404, 409, 412, 422)
    assert sync(user, "strict/", token) == (token, {})
    assert user.request("GET", "strict/before.ics").status_code == 404


def test_rights_and_missing_calendars(storage, user, other_user):
    user.mkcalendar("mine")
    with pytest.raises(writer.Forbidden, match="belongs to another user"):
        writer.write_items(storage, other_user.name, f"{user.name}/mine", [writer.Put(event("x"))])
    with pytest.raises(writer.NotFound):
        writer.write_items(storage, user.name, f"{user.name}/absent", [writer.Put(event("x"))])
    with pytest.raises(writer.Conflict, match="not a calendar"):
        writer.write_items(storage, user.name, user.name, [writer.Put(event("x"))])
    assert user.request("GET", "mine/x.ics").status_code == 404


def test_read_only_calendars_are_written_only_by_their_importer(storage, user):
    writer.create_calendar(storage, user.name, f"{user.name}/ro", {"D:displayname": "Read only"},
                           read_only=True)
    with pytest.raises(writer.Forbidden, match="read-only") as refused:
        writer.write_items(storage, user.name, f"{user.name}/ro", [writer.Put(event("x"))])
    assert refused.value.precondition == "D:need-privileges"
    writer.write_items(storage, user.name, f"{user.name}/ro", [writer.Put(event("x"))], allow_read_only=True)
    assert user.request("GET", "ro/x.ics").status_code == 200
    assert user.put("ro/y.ics", event("y")).status_code == 403
    with pytest.raises(writer.Conflict, match="already exists"):
        writer.create_calendar(storage, user.name, f"{user.name}/ro", {})
    with pytest.raises(writer.Forbidden):
        writer.delete_calendar(storage, user.name, f"{user.name}/ro")
    writer.delete_calendar(storage, user.name, f"{user.name}/ro", allow_read_only=True)
    assert user.request("GET", "ro/x.ics").status_code == 404


def _advisory_lock_waiters(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND wait_event = 'advisory'")).scalar_one()


def test_a_write_holds_the_owner_lock_so_caldav_preconditions_stay_atomic(storage, user, engine):
    user.mkcalendar("locked")
    answers = []
    with writer.editing(storage, user.name, f"{user.name}/locked") as cal:
        cal.put(event("race", "From the writer"), href="race.ics")
        client = threading.Thread(target=lambda: answers.append(
            user.put("locked/race.ics", event("race", "From a client"), If_None_Match="*")))
        client.start()
        # The CalDAV PUT waits for the writer's transaction: its backend queues on the owner's lock.
        wait_until(lambda: _advisory_lock_waiters(engine), what="the client's PUT to wait for the owner lock")
        assert client.is_alive() and not answers
    client.join(10)
    assert answers[0].status_code == 412  # it then sees the committed item
    assert "From the writer" in user.request("GET", "locked/race.ics").text
