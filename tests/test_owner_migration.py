"""Storage migrations 0023 and 0024 on a database with data (issue #17): every calendar row gets
its owner from its collection's path, the keys include it, and a goal link left under another
owner by a move is written again under its item's owner with its totals."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from storage_plugin import database


@pytest.fixture
def server_url(database_server):
    return database_server


_FILL = """
INSERT INTO account (name, password_hash) VALUES ('ann', 'x'), ('bo', 'x');
INSERT INTO collection (path, parent_path, tag, props) VALUES
    ('ann', '', NULL, '{}'), ('ann/cal', 'ann', 'VCALENDAR', '{"tag": "VCALENDAR"}'),
    ('bo', '', NULL, '{}'), ('bo/cal', 'bo', 'VCALENDAR', '{"tag": "VCALENDAR"}');
INSERT INTO item (collection_id, href, uid, component, etag, text, series_start, series_end, revision)
    SELECT c.id, n || '.ics', 'u' || n, 'VTODO', '"e"', 'BEGIN:VCALENDAR', 0, 1, n
    FROM collection c, generate_series(1, 3) n WHERE c.tag = 'VCALENDAR';
INSERT INTO item_occurrence (item_id, collection_id, span)
    SELECT id, collection_id, int8range(0, 1) FROM item;
INSERT INTO tombstone (collection_id, href, revision) SELECT id, 'gone.ics', 9 FROM collection WHERE tag = 'VCALENDAR';
-- ann's first task, moved from bo's calendar: its link still counts for bo
INSERT INTO item_link (item_id, target_kind, target_id, weight, completion, owner)
    SELECT i.id, 'key_result', 'kr', 1, 1, CASE WHEN i.href = '1.ics' AND c.path = 'ann/cal' THEN 'bo'
                                                ELSE split_part(c.path, '/', 1) END
    FROM item i JOIN collection c ON c.id = i.collection_id;
INSERT INTO feed_subscription (owner, collection_id, url, refresh_seconds)
    SELECT 'ann', id, 'https://example.org/a.ics', 3600 FROM collection WHERE path = 'ann/cal';
INSERT INTO schedule_job (sender, recipient, recipient_account, method, uid, itip)
    VALUES ('mailto:ann@example.org', 'mailto:bo@example.org', 'bo', 'REQUEST', 'u1', 'BEGIN:VCALENDAR');
INSERT INTO email_job (organizer_account, organizer, recipient, method, uid, itip, next_run)
    VALUES ('ann', 'mailto:ann@example.org', 'mailto:x@example.com', 'REQUEST', 'u1', 'BEGIN:VCALENDAR', now());
"""


def test_an_existing_database_gets_its_owner_keys(server_url, monkeypatch):
    from conftest import fresh_database

    with fresh_database(server_url) as url:
        engine = database.engine_for(url)
        every = database._migrations
        monkeypatch.setattr(database, "_migrations", lambda package: [
            m for m in every(package) if package != database.STORAGE_MIGRATIONS or m[0] < 23])
        database.upgrade(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql(_FILL)
            before = conn.execute(sa.text("SELECT owner, tasks FROM link_total ORDER BY owner")).all()
        assert before == [("ann", 2), ("bo", 4)]
        monkeypatch.setattr(database, "_migrations", every)
        assert database.upgrade(engine)[:2] == ["0023_calendar_owner_keys.sql", "0024_job_owner_keys.sql"]
        with engine.connect() as conn:
            for table in ("item", "item_occurrence", "tombstone", "feed_subscription"):
                wrong = conn.execute(sa.text(
                    f"SELECT count(*) FROM {table} t JOIN collection c ON c.id = t.collection_id"
                    " WHERE t.owner <> split_part(c.path, '/', 1)")).scalar()
                assert wrong == 0, table
            assert conn.execute(sa.text("SELECT path, owner FROM collection ORDER BY path")).all() == [
                ("ann", "ann"), ("ann/cal", "ann"), ("bo", "bo"), ("bo/cal", "bo")]
            assert conn.execute(sa.text("SELECT count(*) FROM item_occurrence")).scalar() == 6
            assert conn.execute(sa.text("SELECT owner, tasks FROM link_total WHERE tasks > 0 ORDER BY owner")
                                ).all() == [("ann", 3), ("bo", 3)]
            keys = dict(conn.execute(sa.text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype IN ('p', 'u', 'f')"
                " AND conrelid IN ('collection'::regclass, 'item'::regclass, 'tombstone'::regclass,"
                " 'schedule_job'::regclass, 'email_job'::regclass)")).all())
        assert keys["item_pkey"] == "PRIMARY KEY (id, owner)"
        assert keys["tombstone_pkey"] == "PRIMARY KEY (collection_id, href, owner)"
        assert keys["schedule_job_pkey"] == "PRIMARY KEY (id, recipient_account)"
        assert keys["email_job_pkey"] == "PRIMARY KEY (id, organizer_account)"
        assert "ON UPDATE CASCADE ON DELETE CASCADE" in keys["item_collection_fkey"]
        # The composite keys hold: an item cannot claim another owner than its collection's.
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(sa.text("UPDATE item SET owner = 'bo' WHERE href = '2.ics' AND owner = 'ann'"))
        # Deleting a calendar still takes its items, occurrences, links, tombstones and subscription.
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM collection WHERE path = 'ann/cal'"))
            left = [conn.execute(sa.text(f"SELECT count(*) FROM {t} WHERE owner = 'ann'")).scalar()
                    for t in ("item", "item_occurrence", "item_link", "tombstone", "feed_subscription")]
        assert left == [0, 0, 0, 0, 0]
        database.dispose(url)
