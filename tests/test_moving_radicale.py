"""Moving from Radicale and back: ``planerix import radicale`` and ``planerix export radicale``.

Stock Radicale 3.9 fills a multifilesystem store for a client that syncs it with the
``caldav`` library; after the import the same client state, pointed at Planerix behind the
same URL, downloads nothing. The export is served by stock Radicale with the same hrefs and
ETags again."""
from __future__ import annotations

import uuid

import caldav
import psycopg
import pytest
from caldav.elements import dav
from caldav.lib import error

from cliutil import planerix
from conftest import start_caldav_server
from radicaleutil import StockRadicale, listing, properties

PASSWORD = "moving-secret-pw"
KEY_RESULT = "3f2c8a4e-1b7d-4c55-9a0e-6d1f2e3a4b5c"
DISPLAYNAME, COLOR, ORDER = "{DAV:}displayname", "{http://apple.com/ns/ical/}calendar-color", \
    "{http://apple.com/ns/ical/}calendar-order"
DESCRIPTION = "{urn:ietf:params:xml:ns:caldav}calendar-description"


def event(uid: str, summary: str, extra: str = "") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Moving test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\n"
            f"DTEND:20260105T100000Z\r\nSUMMARY:{summary}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")


def recurring_with_override(uid: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Moving test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Paris:20260105T090000\r\n"
            "DURATION:PT30M\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\nSUMMARY:Stand-up\r\nEND:VEVENT\r\n"
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
            "RECURRENCE-ID;TZID=Europe/Paris:20260112T090000\r\nDTSTART;TZID=Europe/Paris:20260112T100000\r\n"
            "DURATION:PT30M\r\nSUMMARY:Stand-up (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def todo(uid: str, summary: str, extra: str = "") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Moving test//EN\r\nBEGIN:VTODO\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDUE:20260110T170000Z\r\nSUMMARY:{summary}\r\n"
            f"{extra}END:VTODO\r\nEND:VCALENDAR\r\n")


def card(uid: str, name: str) -> str:
    return f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\nEND:VCARD\r\n"


def request(base_url, name, method, path, body="", **headers):
    import requests
    return requests.request(method, f"{base_url}/{name}/{path}", data=body.encode("utf-8"),
                            auth=(name, PASSWORD), headers=headers)


def mkcalendar(base_url, name, path, displayname, components, color, order, description):
    comps = "".join(f'<C:comp name="{c}"/>' for c in components)
    body = ('<?xml version="1.0" encoding="utf-8"?>'
            '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" '
            'xmlns:A="http://apple.com/ns/ical/"><D:set><D:prop>'
            f"<D:displayname>{displayname}</D:displayname>"
            f"<C:supported-calendar-component-set>{comps}</C:supported-calendar-component-set>"
            f"<C:calendar-description>{description}</C:calendar-description>"
            f"<A:calendar-color>{color}</A:calendar-color><A:calendar-order>{order}</A:calendar-order>"
            "</D:prop></D:set></C:mkcalendar>")
    response = request(base_url, name, "MKCALENDAR", path, body, **{"Content-Type": "application/xml"})
    assert response.status_code == 201, response.text


def make_addressbook(base_url, name, path, displayname):
    body = ('<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" '
            'xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype><D:collection/>'
            f"<CR:addressbook/></D:resourcetype><D:displayname>{displayname}</D:displayname>"
            "</D:prop></D:set></D:mkcol>")
    response = request(base_url, name, "MKCOL", path, body, **{"Content-Type": "application/xml"})
    assert response.status_code == 201, response.text


def fill(base_url: str, name: str) -> dict[str, caldav.DAVClient]:
    """Two calendars, a task list and an address book of ``name``, written as clients do."""
    mkcalendar(base_url, name, "work/", "Work ✓", ["VEVENT"], "#FF2968FF", "1", "Office hours")
    mkcalendar(base_url, name, "tasks/", "Tasks", ["VTODO"], "#1BADF8FF", "2", "To do")
    client = caldav.DAVClient(url=f"{base_url}/{name}/", username=name, password=PASSWORD)
    work = client.calendar(url=f"{base_url}/{name}/work/")
    for n in range(5):
        work.add_event(event(f"ev-{n}-{name}", f"Meeting {n} – Zürich"))
    work.add_event(recurring_with_override(f"series-{name}"))
    work.add_event(event(f"linked-{name}", "Review signups",
                         f"X-PLANERIX-KEY-RESULT;X-WEIGHT=0.5:{KEY_RESULT}\r\n"
                         "DESCRIPTION:" + ("A long description that the serializer folds." * 4) + "\r\n"))
    tasks = client.calendar(url=f"{base_url}/{name}/tasks/")
    tasks.add_todo(todo(f"task-1-{name}", "Write the report", "X-PLANERIX-PROJECT:Moving\r\n"))
    tasks.add_todo(todo(f"task-2-{name}", "Book the room"))
    # A name a client chose itself, not derived from the UID: it must survive as it is.
    assert request(base_url, name, "PUT", "tasks/Zm9vYmFy-custom.ics", todo(f"task-3-{name}", "Custom href"),
                   **{"Content-Type": "text/calendar"}).status_code == 201
    make_addressbook(base_url, name, "contacts/", "Contacts")
    for n in range(2):
        assert request(base_url, name, "PUT", f"contacts/card-{n}.vcf", card(f"card-{n}-{name}", f"Person {n}"),
                       **{"Content-Type": "text/vcard"}).status_code == 201
    return {"work": work, "tasks": tasks}


COLLECTIONS = ("work/", "tasks/", "contacts/")
PROPS = [DISPLAYNAME, COLOR, ORDER, DESCRIPTION]


def snapshot(base_url: str, names: list[str]) -> dict:
    """What clients see: every collection's members with ETags, and its properties."""
    return {(name, path): (listing(base_url, (name, PASSWORD), f"/{name}/{path}"),
                           properties(base_url, (name, PASSWORD), f"/{name}/{path}", PROPS))
            for name in names for path in COLLECTIONS}


@pytest.mark.timeout(600)  # several servers and planerix processes, started one after another
def test_a_client_synced_with_radicale_downloads_nothing_after_the_import(tmp_path, database_url, engine):
    names = [f"ann-{uuid.uuid4().hex[:8]}", f"bob-{uuid.uuid4().hex[:8]}"]
    store = tmp_path / "radicale"
    radicale = StockRadicale(store, {name: PASSWORD for name in names})
    port = radicale.port
    try:
        calendars = {name: fill(radicale.base_url, name) for name in names}
        # The client's state: every item with its ETag, and the sync token.
        synced = {(name, cal): calendar.get_objects_by_sync_token(load_objects=True)
                  for name, cals in calendars.items() for cal, calendar in cals.items()}
        before = snapshot(radicale.base_url, names)
    finally:
        radicale.stop()
    assert all(state.sync_token.startswith("http://radicale.org/ns/sync/") for state in synced.values())
    assert len(before[(names[0], "work/")][0]) == 7 and len(before[(names[0], "tasks/")][0]) == 3
    assert before[(names[0], "tasks/")][0].keys() >= {"Zm9vYmFy-custom.ics"}

    imported = planerix("import", "radicale", str(store), "--database-url", database_url)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert f"/{names[0]}/work/ (calendar): 7 new, 0 changed, 0 unchanged" in imported.stdout
    assert f"/{names[1]}/contacts/ (address book): 2 new, 0 changed, 0 unchanged" in imported.stdout
    assert "imported 6 collection(s): 24 new, 0 changed, 0 unchanged item(s); 0 skipped" in imported.stdout
    for name in names:
        assert f"  {name}: planerix user passwd {name}" in imported.stdout
        # Created without a password: nobody can log in until one is set.
        assert planerix("user", "passwd", name, "--password", PASSWORD,
                        "--database-url", database_url).returncode == 0

    # Goal links of imported items are indexed as for any write.
    with psycopg.connect(database_url) as conn:
        links = conn.execute(
            "SELECT c.path, i.href, l.target_kind, l.target_id, l.weight FROM item_link l "
            "JOIN item i ON i.id = l.item_id JOIN collection c ON c.id = i.collection_id "
            "WHERE c.path LIKE %s ORDER BY c.path", (f"{names[0]}/%",)).fetchall()
    assert links == [(f"{names[0]}/tasks", f"task-1-{names[0]}.ics", "project", "Moving", 1.0),
                     (f"{names[0]}/work", f"linked-{names[0]}.ics", "key_result", KEY_RESULT, 0.5)]

    # Planerix behind the same URL: same hrefs, same ETags, same properties.
    server = start_caldav_server(database_url, port=port)
    try:
        assert snapshot(server_url(port), names) == before

        for (name, cal), state in synced.items():
            calendar = state.calendar
            # The Radicale token is refused once, as RFC 6578 allows ...
            with pytest.raises(error.AuthorizationError) as refused:
                calendar.get_objects_by_sync_token(state.sync_token, disable_fallback=True)
            assert dav.ValidSyncToken.tag in refused.value.preconditions
            # ... the client starts a fresh sync, which lists ETags: nothing to download.
            state.sync_token = None
            known = len(list(state))
            updated, deleted = state.sync()
            assert (updated, deleted) == ([], []), (name, cal)
            assert len(list(state)) == known
            assert state.sync_token.startswith("http://planerix.org/ns/sync/")

        # From here on the client syncs incrementally against Planerix.
        state = synced[(names[0], "work")]
        changed = event(f"ev-1-{names[0]}", "Moved to Planerix")
        assert request(server_url(port), names[0], "PUT", f"work/ev-1-{names[0]}.ics", changed,
                       **{"Content-Type": "text/calendar"}).status_code == 204
        updated, deleted = state.sync()
        assert [o.icalendar_component["SUMMARY"] for o in updated] == ["Moved to Planerix"] and deleted == []

        # Twice is no change: nothing is written, the sync token stays.
        token = state.sync_token
        again = planerix("import", "radicale", str(store / "collection-root"), "--database-url", database_url)
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"/{names[1]}/work/ (calendar): 0 new, 0 changed, 7 unchanged" in again.stdout
        # The item changed in Planerix since differs from the store: the store's version is put back.
        assert "imported 6 collection(s): 0 new, 1 changed, 23 unchanged item(s); 0 skipped" in again.stdout
        assert "without a password" not in again.stdout
        updated, _ = state.sync()
        assert [o.icalendar_component["SUMMARY"] for o in updated] == ["Meeting 1 – Zürich"]
        token = state.sync_token
        third = planerix("import", "radicale", str(store), "--database-url", database_url)
        assert "0 new, 0 changed, 24 unchanged item(s)" in third.stdout
        assert state.sync() == ([], []) and state.sync_token == token

        # Moving out: stock Radicale serves the export with the same hrefs and ETags.
        exported = planerix("export", "radicale", str(tmp_path / "export"), "--database-url", database_url,
                            *[arg for name in names for arg in ("--user", name)])
        assert exported.returncode == 0, exported.stdout + exported.stderr
        assert "exported 6 collection(s) with 24 item(s)" in exported.stdout
        served_by_planerix = snapshot(server_url(port), names)
    finally:
        server.stop()
    assert served_by_planerix == before
    with StockRadicale(tmp_path / "export", {name: PASSWORD for name in names}) as back:
        assert snapshot(back.base_url, names) == before


def server_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def make_unreadable(path) -> None:
    """A file the importer cannot read. Permissions do not stop root, so as root the file
    becomes a link to /proc/self/mem, a regular file whose reading fails (EIO)."""
    import os
    if os.geteuid() == 0:
        path.unlink()
        path.symlink_to("/proc/self/mem")
    else:
        path.chmod(0)


def test_bad_items_are_reported_and_skipped_and_the_rest_imported(tmp_path, database_url, engine):
    ann, bob = f"ann-{uuid.uuid4().hex[:8]}", f"bob-{uuid.uuid4().hex[:8]}"
    store = tmp_path / "radicale"
    with StockRadicale(store, {ann: PASSWORD, bob: PASSWORD}) as radicale:
        for name in (ann, bob):
            mkcalendar(radicale.base_url, name, "work/", "Work", ["VEVENT"], "#FF2968FF", "1", "Office")
            for n in range(4):
                assert request(radicale.base_url, name, "PUT", f"work/e{n}.ics", event(f"e{n}-{name}", f"E{n}"),
                               **{"Content-Type": "text/calendar"}).status_code == 201
        served = listing(radicale.base_url, (ann, PASSWORD), f"/{ann}/work/")
    work = store / "collection-root" / ann / "work"
    (work / "broken.ics").write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:no end\r\n")
    (work / "latin1.ics").write_bytes(event(f"l-{ann}", "Caf\xe9").encode("latin-1"))
    (work / "copy-of-e0.ics").write_bytes((work / "e0.ics").read_bytes())  # the UID of e0.ics again
    make_unreadable(work / "e3.ics")
    orphan = store / "collection-root" / ann / "orphan"
    orphan.mkdir()
    (orphan / "lost.ics").write_text(event(f"lost-{ann}", "Lost"))

    unknown = planerix("import", "radicale", str(store), "--user", "nobody-here", "--database-url", database_url)
    assert unknown.returncode == 2 and "has no user 'nobody-here'" in unknown.stderr
    not_a_store = planerix("import", "radicale", str(tmp_path), "--database-url", database_url)
    assert not_a_store.returncode == 2 and "is not a Radicale multifilesystem store" in not_a_store.stderr

    result = planerix("import", "radicale", str(store), "--user", ann, "--database-url", database_url)
    assert result.returncode == 1, result.stdout + result.stderr
    skipped = sorted(line for line in result.stderr.splitlines() if line.startswith("skipped "))
    assert len(skipped) == 5, result.stderr
    assert skipped[0].startswith(f"skipped /{ann}/orphan/: missing .Radicale.props")
    assert "1 file(s) were not imported" in skipped[0]
    assert skipped[1].startswith(f"skipped /{ann}/work/broken.ics: corrupt item:")
    assert skipped[2] == (f"skipped /{ann}/work/copy-of-e0.ics: duplicate UID 'e0-{ann}': "
                          f"/{ann}/work/e0.ics has it too and was imported")
    assert skipped[3].startswith(f"skipped /{ann}/work/e3.ics: unreadable file:")
    assert skipped[4].startswith(f"skipped /{ann}/work/latin1.ics: corrupt item: not UTF-8 text")
    assert f"/{ann}/work/ (calendar): 3 new, 0 changed, 0 unchanged" in result.stdout
    assert bob not in result.stdout  # --user limits the import

    server = start_caldav_server(database_url)
    try:
        assert planerix("user", "passwd", ann, "--password", PASSWORD, "--database-url", database_url).returncode == 0
        imported = listing(server_url(server.port), (ann, PASSWORD), f"/{ann}/work/")
    finally:
        server.stop()
    assert imported == {href: etag for href, etag in served.items() if href != "e3.ics"}
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM collection WHERE path LIKE %s", (f"{bob}%",)).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM collection WHERE path = %s", (f"{ann}/orphan",)).fetchone() == (0,)


def test_a_collection_that_clashes_with_an_existing_one_is_left_out_whole(tmp_path, database_url, engine):
    name = f"cat-{uuid.uuid4().hex[:8]}"
    store = tmp_path / "radicale"
    with StockRadicale(store, {name: PASSWORD}) as radicale:
        make_addressbook(radicale.base_url, name, "people/", "People")
        mkcalendar(radicale.base_url, name, "work/", "Work", ["VEVENT"], "#FF2968FF", "1", "Office")
        for n in range(2):
            assert request(radicale.base_url, name, "PUT", f"people/c{n}.vcf", card(f"c{n}-{name}", f"P{n}"),
                           **{"Content-Type": "text/vcard"}).status_code == 201
            assert request(radicale.base_url, name, "PUT", f"work/e{n}.ics", event(f"e{n}-{name}", f"E{n}"),
                           **{"Content-Type": "text/calendar"}).status_code == 201
    # In Planerix the same path is already a calendar, with an event of its own.
    from storage_plugin import writer
    storage = writer.open_storage(database_url)
    writer.create_calendar(storage, name, f"{name}/people", {"D:displayname": "Mine"})
    writer.write_items(storage, name, f"{name}/people", [writer.Put(event(f"mine-{name}", "Mine"))])

    result = planerix("import", "radicale", str(store), "--database-url", database_url)
    assert result.returncode == 1
    assert (f"skipped /{name}/people/: /{name}/people/ exists and is a VCALENDAR, not a VADDRESSBOOK; "
            "nothing of it was imported") in result.stderr
    assert f"/{name}/work/ (calendar): 2 new, 0 changed, 0 unchanged" in result.stdout
    with writer.editing(storage, name, f"{name}/people") as calendar:
        assert [item.uid for item in calendar.items()] == [f"mine-{name}"]
    # What was added in Planerix since stays when the store is imported again.
    writer.write_items(storage, name, f"{name}/work", [writer.Put(event(f"later-{name}", "Later"))])
    again = planerix("import", "radicale", str(store), "--database-url", database_url)
    assert f"/{name}/work/ (calendar): 0 new, 0 changed, 2 unchanged" in again.stdout
    with writer.editing(storage, name, f"{name}/work") as calendar:
        assert sorted(item.uid for item in calendar.items()) == [f"e0-{name}", f"e1-{name}", f"later-{name}"]
