"""`--verify-storage` and `planerix db reindex` read every stored item, so this module runs on a
database of its own: items other tests leave stale on purpose cannot change its answers."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

import storage_plugin
from conftest import private_database
from davutil import clark, event, multistatus, sync_body, todo
from server import settings
from storage_plugin import writer
from test_cli import planerix
from test_collections import PROPERTIES, mkcalendar


@pytest.fixture(scope="module")
def own(database_server):
    with private_database(database_server) as db:
        yield db


@pytest.fixture
def user(own):
    return own.new_user()


@pytest.fixture
def storage(own):
    return storage_plugin.Storage(settings.radicale_configuration(own.url, "127.0.0.1", 0))


@pytest.mark.parametrize("column, corrupt", [
    ("etag", "'\"not-the-etag\"'"),
    ("uid", "uid || '-changed'"),
    ("series_start", "series_start + 3600"),
])
def test_verify_storage_detects_a_corrupted_row(user, own, storage, column, corrupt):
    assert mkcalendar(user, "checked", PROPERTIES).status_code == 201
    for i in range(3):
        assert user.put(f"checked/e{i}.ics", event(f"e{i}")).status_code == 201
    assert user.put("checked/t.ics", todo("t")).status_code == 201
    assert storage.verify() is True

    with own.engine.begin() as conn:
        item_id, original = conn.execute(text(
            f"SELECT i.id, i.{column} FROM item i JOIN collection c ON c.id = i.collection_id "
            f"WHERE c.path = :path AND i.href = 'e1.ics'"), {"path": f"{user.name}/checked"}).one()
        conn.execute(text(f"UPDATE item SET {column} = {corrupt} WHERE id = :id"), {"id": item_id})
    try:
        assert storage.verify() is False
        assert [row.href for row, _ in storage.check_items()] == ["e1.ics"]
    finally:
        with own.engine.begin() as conn:
            conn.execute(text(f"UPDATE item SET {column} = :original WHERE id = :id"),
                         {"original": original, "id": item_id})
    assert storage.verify() is True


def test_verify_storage_checks_the_link_index(user, own, storage):
    target = str(uuid.uuid4())
    user.mkcalendar("tasks", ("VTODO",))
    body = todo("v").replace("END:VTODO", f"X-PLANERIX-KEY-RESULT;X-WEIGHT=2:{target}\r\nEND:VTODO")
    assert user.put("tasks/v.ics", body).status_code == 201
    assert storage.verify() is True
    with own.engine.begin() as conn:
        conn.execute(text("UPDATE item_link SET weight = 5 WHERE target_id = :target"), {"target": target})
    try:
        assert storage.verify() is False
    finally:
        with own.engine.begin() as conn:
            conn.execute(text("UPDATE item_link SET weight = 2 WHERE target_id = :target"), {"target": target})
    assert storage.verify() is True


def test_db_reindex_rebuilds_items_indexed_before_a_migration(user, own, storage):
    """An item stored before migration 0004 has no link and no facts in the index: `planerix db
    reindex` stores it again, its ETag unchanged, and clients see one ordinary sync change."""
    assert mkcalendar(user, "old", PROPERTIES).status_code == 201
    kr = str(uuid.uuid4())
    body = todo("old-task", "Migrated task").replace("END:VTODO", f"X-PLANERIX-KEY-RESULT:{kr}\r\nEND:VTODO")
    assert user.put("old/t.ics", body).status_code == 201
    assert user.put("old/fine.ics", todo("fine")).status_code == 201
    etag = user.request("GET", "old/t.ics").headers["ETag"]
    token = multistatus(user.report("old/", sync_body(), depth="0").content)[1].find(clark("D:sync-token")).text
    with own.engine.begin() as conn:  # what migration 0004 left for items written before it
        conn.execute(text("DELETE FROM item_link WHERE target_id = :kr"), {"kr": kr})
        conn.execute(text("UPDATE item i SET summary = NULL, status = NULL FROM collection c"
                          " WHERE c.id = i.collection_id AND c.path = :path"), {"path": f"{user.name}/old"})
    assert storage.verify() is False

    result = planerix("db", "reindex", "--database-url", own.url)
    assert result.returncode == 0, result.stderr
    assert "2 of 2 stale items reindexed" in result.stdout
    assert storage.verify() is True
    with own.engine.begin() as conn:
        summary, = conn.execute(text("SELECT i.summary FROM item i JOIN item_link l ON l.item_id = i.id"
                                     " WHERE l.target_id = :kr"), {"kr": kr}).one()
    assert summary == "Migrated task"
    assert user.request("GET", "old/t.ics").headers["ETag"] == etag
    changed, _ = multistatus(user.report("old/", sync_body(token), depth="0").content)
    assert sorted(r.href.rsplit("/", 1)[1] for r in changed) == ["fine.ics", "t.ics"]
    again = planerix("db", "reindex", "--database-url", own.url)
    assert again.returncode == 0 and "0 of 0 stale items" in again.stdout


def test_an_etag_kept_from_another_server_passes_verify_and_survives_reindex(user, own, storage):
    """An item imported with the source server's ETag (``planerix import caldav``) is checked against
    its text's own digest, and `planerix db reindex` keeps serving the source's ETag."""
    assert mkcalendar(user, "moved", PROPERTIES).status_code == 201
    foreign = '"9f6c1d0e5b2a-xandikos-blob"'
    with writer.editing(storage, user.name, f"{user.name}/moved") as calendar:
        calendar.put(event("moved-1"), "m.ics", etag=foreign)
    assert user.request("GET", "moved/m.ics").headers["ETag"] == foreign
    assert storage.verify() is True
    with own.engine.begin() as conn:  # a stale index, as a migration leaves it
        conn.execute(text("UPDATE item i SET summary = NULL FROM collection c"
                          " WHERE c.id = i.collection_id AND c.path = :path"), {"path": f"{user.name}/moved"})
    assert storage.verify() is False
    result = planerix("db", "reindex", "--database-url", own.url)
    assert result.returncode == 0 and "1 of 1 stale items reindexed" in result.stdout, result.stdout
    assert storage.verify() is True
    assert user.request("GET", "moved/m.ics").headers["ETag"] == foreign
    with own.engine.begin() as conn:  # a text that no longer matches its digest is still found
        conn.execute(text("UPDATE item i SET text = replace(text, 'moved-1', 'moved-2') FROM collection c"
                          " WHERE c.id = i.collection_id AND c.path = :path"), {"path": f"{user.name}/moved"})
    assert storage.verify() is False
    with own.engine.begin() as conn:
        conn.execute(text("DELETE FROM item i USING collection c"
                          " WHERE c.id = i.collection_id AND c.path = :path"), {"path": f"{user.name}/moved"})
    assert storage.verify() is True


@pytest.mark.parametrize("etag", ['W/"weak"', '"two\r\nlines"', '"with space"', "unquoted", '"' + "x" * 300 + '"'])
def test_only_a_strong_printable_etag_is_kept(user, storage, etag):
    """A kept ETag goes into response headers as it is: anything but a strong entity-tag of
    printable ASCII is refused, and nothing is written."""
    assert mkcalendar(user, "refused", PROPERTIES).status_code == 201
    with pytest.raises(ValueError, match="not a strong ETag"):
        with writer.editing(storage, user.name, f"{user.name}/refused") as calendar:
            calendar.put(event("refused-1"), "r.ics", etag=etag)
    assert user.request("GET", "refused/r.ics").status_code == 404
