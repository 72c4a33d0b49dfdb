"""``planerix import ics FILE|URL --calendar /NAME/CAL/``: split by UID with overrides, idempotent,
URLs fetched through the feeds' guard against private addresses."""
from __future__ import annotations

import uuid

import psycopg

from cliutil import clean_env, planerix
from feedutil import Feed, feed_server, loop_thread  # noqa: F401  (fixtures)
from storage_plugin import accounts, writer

FIRST = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Export one//EN\r\nX-WR-CALNAME:Team, imported\r\n"
         "BEGIN:VEVENT\r\nUID:series\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\n"
         "DURATION:PT1H\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Weekly\r\n"
         "X-PLANERIX-PROJECT:Moving\r\nEND:VEVENT\r\n"
         "BEGIN:VEVENT\r\nUID:single\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260106T090000Z\r\n"
         "SUMMARY:Once\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
SECOND = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Export two//EN\r\n"
          "BEGIN:VEVENT\r\nUID:series\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:20260112T090000Z\r\n"
          "DTSTART:20260112T110000Z\r\nDURATION:PT1H\r\nSUMMARY:Weekly (moved)\r\nEND:VEVENT\r\n"
          "BEGIN:VTODO\r\nUID:task\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Do it\r\nEND:VTODO\r\n"
          # The same UID for an event and a task: not one calendar object, so not storable.
          "BEGIN:VEVENT\r\nUID:twin\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260106T090000Z\r\n"
          "SUMMARY:Event twin\r\nEND:VEVENT\r\n"
          "BEGIN:VTODO\r\nUID:twin\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Task twin\r\nEND:VTODO\r\n"
          "END:VCALENDAR\r\n")


def new_account(engine) -> str:
    name = f"ics-{uuid.uuid4().hex[:8]}"
    accounts.add(engine, name, "ics-secret-pw")
    return name


def stored(database_url: str, path: str) -> dict[str, str]:
    storage = writer.open_storage(database_url)
    with writer.editing(storage, writer.owner_of(path), path) as calendar:
        return {item.uid: item.text for item in calendar.items()}


def test_a_file_of_several_calendars_is_split_by_uid_with_its_overrides(tmp_path, engine, database_url):
    name = new_account(engine)
    source = tmp_path / "export.ics"
    source.write_text(FIRST + SECOND, newline="")
    calendar = f"/{name}/imported/"
    first = planerix("import", "ics", str(source), "--calendar", calendar, "--database-url", database_url)
    assert first.returncode == 1, first.stdout + first.stderr  # one object could not be taken
    assert f"{calendar}: 3 new, 0 changed, 0 unchanged; 1 skipped" in first.stdout
    assert "skipped UID 'twin':" in first.stderr
    items = stored(database_url, f"{name}/imported")
    assert sorted(items) == ["series", "single", "task"]
    assert "SUMMARY:Weekly\r\n" in items["series"] and "SUMMARY:Weekly (moved)" in items["series"]
    with psycopg.connect(database_url) as conn:
        props = conn.execute("SELECT props->>'D:displayname' FROM collection WHERE path = %s",
                             (f"{name}/imported",)).fetchone()
        links = conn.execute("SELECT l.target_kind, l.target_id FROM item_link l JOIN item i ON i.id = l.item_id "
                             "JOIN collection c ON c.id = i.collection_id WHERE c.path = %s",
                             (f"{name}/imported",)).fetchall()
    assert props == ("Team, imported",)
    assert links == [("project", "Moving")]

    # Twice is no change; an object added in Planerix meanwhile stays.
    writer.write_items(writer.open_storage(database_url), name, f"{name}/imported",
                       [writer.Put(FIRST.replace("UID:single", "UID:mine").split("BEGIN:VEVENT\r\nUID:series")[0]
                                   + "BEGIN:VEVENT\r\nUID:mine\r\nDTSTAMP:20260101T000000Z\r\n"
                                   "DTSTART:20260107T090000Z\r\nSUMMARY:Mine\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")])
    again = planerix("import", "ics", str(source), "--calendar", calendar, "--database-url", database_url)
    assert f"{calendar}: 0 new, 0 changed, 3 unchanged; 1 skipped" in again.stdout
    assert stored(database_url, f"{name}/imported").keys() == {"series", "single", "task", "mine"}


def test_a_url_is_fetched_through_the_feed_guard(engine, database_url, feed_server):
    name = new_account(engine)
    feed_server.feeds["/team.ics"] = Feed(FIRST.encode())
    url = feed_server.url("/team.ics")
    refused = planerix("import", "ics", url, "--calendar", f"/{name}/team/", "--database-url", database_url)
    assert refused.returncode == 2
    assert "planerix: refused" in refused.stderr and "127.0.0.1" in refused.stderr
    assert feed_server.hits("/team.ics") == []

    allowed = planerix("import", "ics", url, "--calendar", f"/{name}/team/", "--database-url", database_url,
                       env=clean_env(PLANERIX_ALLOW_PRIVATE_NETWORKS="1"))
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert f"/{name}/team/: 2 new, 0 changed, 0 unchanged; 0 skipped" in allowed.stdout
    assert sorted(stored(database_url, f"{name}/team")) == ["series", "single"]


def test_bad_sources_and_targets_are_refused_with_a_reason(tmp_path, engine, database_url):
    name = new_account(engine)
    source = tmp_path / "export.ics"
    source.write_text(FIRST)
    cases = [
        (str(tmp_path / "missing.ics"), f"/{name}/cal/", "cannot read"),
        (str(source), "/nobody-of-that-name/cal/", "there is no user 'nobody-of-that-name'"),
        (str(source), f"/{name}/", "is a user's home"),
    ]
    (tmp_path / "notes.txt").write_text("just some notes\n")
    (tmp_path / "card.vcf").write_text("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c\r\nFN:C\r\nN:C;;;;\r\nEND:VCARD\r\n")
    cases += [(str(tmp_path / "notes.txt"), f"/{name}/cal/", "not valid iCalendar"),
              (str(tmp_path / "card.vcf"), f"/{name}/cal/", "expected VCALENDARs, found VCARD")]
    for given, calendar, reason in cases:
        result = planerix("import", "ics", given, "--calendar", calendar, "--database-url", database_url)
        assert result.returncode == 2 and reason in result.stderr, (given, calendar, result.stderr)
