"""``planerix db backup FILE`` / ``planerix db restore FILE``: a round trip through pg_dump's
custom format, into an empty external database and into a new embedded data directory."""
from __future__ import annotations

import uuid

import psycopg
import pytest

import okr_extension
from cliutil import planerix
from conftest import fresh_database
from davutil import event
from storage_plugin import accounts, database, writer


def tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]


def contents(url: str) -> dict:
    """Every table's row count, and the accounts, collections and items in full."""
    with psycopg.connect(url) as conn:
        counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables(url)}
        return {"counts": counts,
                "accounts": conn.execute("SELECT name, password_hash FROM account ORDER BY name").fetchall(),
                "collections": conn.execute("SELECT path, props::text, revision FROM collection ORDER BY path").fetchall(),
                "items": conn.execute("SELECT c.path, i.href, i.etag, i.text FROM item i JOIN collection c "
                                      "ON c.id = i.collection_id ORDER BY c.path, i.href").fetchall(),
                "links": conn.execute("SELECT target_kind, target_id, weight FROM item_link ORDER BY target_id").fetchall()}


@pytest.fixture
def filled(database_server):
    """A database of its own with an account, a calendar, items and a goal link."""
    with fresh_database(database_server) as url:
        engine = database.engine_for(url)
        okr_extension.migrate(engine)
        name = f"backup-{uuid.uuid4().hex[:8]}"
        accounts.add(engine, name, "backup-secret-pw")
        storage = writer.open_storage(url)
        writer.create_calendar(storage, name, f"{name}/cal", {"D:displayname": "Backed up"})
        linked = event("linked").replace("END:VEVENT", "X-PLANERIX-PROJECT:Backups\r\nEND:VEVENT")
        writer.write_items(storage, name, f"{name}/cal",
                           [writer.Put(event(f"e{n}")) for n in range(20)] + [writer.Put(linked)])
        yield url


def test_backup_restores_into_an_empty_database(tmp_path, database_server, filled):
    archive = tmp_path / "planerix.dump"
    made = planerix("db", "backup", str(archive), "--database-url", filled)
    assert made.returncode == 0, made.stderr
    assert f"backup written to {archive}" in made.stdout
    assert archive.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
    expected = contents(filled)
    assert len(expected["items"]) == 21 and expected["links"] == [("project", "Backups", 1.0)]

    with fresh_database(database_server) as empty:
        restored = planerix("db", "restore", str(archive), "--database-url", empty)
        assert restored.returncode == 0, restored.stderr
        assert contents(empty) == expected
        assert accounts.password_matches(contents(empty)["accounts"][0][1], "backup-secret-pw")
        # Only into an empty database: nothing is overwritten.
        again = planerix("db", "restore", str(archive), "--database-url", empty)
        assert again.returncode == 2 and "the database is not empty" in again.stderr
        assert contents(empty) == expected
    missing = planerix("db", "restore", str(tmp_path / "nothing.dump"), "--database-url", filled)
    assert missing.returncode == 2 and "is not a file" in missing.stderr


def test_a_restore_is_all_or_nothing(tmp_path, database_server, filled):
    archive = tmp_path / "planerix.dump"
    assert planerix("db", "backup", str(archive), "--database-url", filled).returncode == 0
    broken = tmp_path / "broken.dump"
    data = archive.read_bytes()
    broken.write_bytes(data[: len(data) * 2 // 3])  # cut off: the last tables cannot be read
    with fresh_database(database_server) as empty:
        result = planerix("db", "restore", str(broken), "--database-url", empty)
        assert result.returncode == 2 and "pg_restore failed" in result.stderr
        assert tables(empty) == []  # no table is left behind


@pytest.mark.timeout(600)  # several servers and planerix processes, started one after another
def test_the_embedded_database_is_backed_up_and_restored_with_the_wheels_tools(tmp_path, filled):
    archive, again = tmp_path / "external.dump", tmp_path / "embedded.dump"
    assert planerix("db", "backup", str(archive), "--database-url", filled).returncode == 0
    first, second = tmp_path / "first", tmp_path / "second"
    restored = planerix("db", "restore", str(archive), "--data-dir", str(first), timeout=300)
    assert restored.returncode == 0, restored.stderr
    assert "pg_restore 18" in restored.stdout  # the embedded server is the wheel's PostgreSQL 18
    made = planerix("db", "backup", str(again), "--data-dir", str(first), timeout=300)
    assert made.returncode == 0 and "pg_dump 18" in made.stdout, made.stderr
    assert planerix("db", "restore", str(again), "--data-dir", str(second), timeout=300).returncode == 0
    listed = planerix("user", "list", "--data-dir", str(second), timeout=300)
    assert listed.stdout.split() == [name for name, _ in contents(filled)["accounts"]]
    exported = planerix("export", "radicale", str(tmp_path / "export"), "--data-dir", str(second), timeout=300)
    # The calendar, and the account's default calendar and task list (empty).
    assert "exported 3 collection(s) with 21 item(s)" in exported.stdout, exported.stderr
    assert f"/{contents(filled)['accounts'][0][0]}/cal/: 21 item(s)" in exported.stdout
