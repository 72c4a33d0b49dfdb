"""``planerix import caldav URL --user NAME``: discovery as clients do, properties, hrefs, the
source's strong ETags (served until an item is next written); idempotent; through the
private-address guard."""
from __future__ import annotations

import subprocess
import sys
import uuid

import caldav
import psycopg
import pytest
import requests
from radicale import item as radicale_item

from bench.servers import real_clock_environment
from cliutil import clean_env, planerix
from conftest import REPO, free_port, start_caldav_server
from radicaleutil import StockRadicale, listing, properties
from test_moving_radicale import (COLOR, DISPLAYNAME, KEY_RESULT, PASSWORD, event, fill, mkcalendar,
                                  recurring_with_override, todo)
from server import settings
from storage_plugin.storage import Storage
from waiting import listening, wait_until

ALLOWED = clean_env(PLANERIX_ALLOW_PRIVATE_NETWORKS="1")


@pytest.fixture
def xandikos(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "xandikos", "serve", "--defaults", "-d", str(tmp_path / "xandikos"),
         "-l", "127.0.0.1", "-p", str(port), "--state-dir", str(tmp_path / "xandikos-state")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=real_clock_environment())  # a peer: only Planerix's clock is under test (.ci/clock-ahead)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: listening(base), timeout=60, what="Xandikos to listen")
        yield base
    finally:
        process.terminate()
        process.communicate(timeout=20)


def proppatch(url: str, displayname: str, color: str) -> None:
    body = ('<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" '
            'xmlns:A="http://apple.com/ns/ical/"><D:set><D:prop>'
            f"<D:displayname>{displayname}</D:displayname><A:calendar-color>{color}</A:calendar-color>"
            "</D:prop></D:set></D:propertyupdate>")
    assert requests.request("PROPPATCH", url, data=body.encode(),
                            headers={"Content-Type": "application/xml"}).status_code == 207


@pytest.mark.timeout(600)  # several servers and planerix processes, started one after another
def test_an_account_on_xandikos_is_imported_through_discovery(tmp_path, xandikos, database_url, engine):
    # Xandikos has no authentication without TLS: it ignores the credentials sent.
    client = caldav.DAVClient(url=xandikos + "/", username="user", password="unused-password")
    work = client.calendar(url=f"{xandikos}/user/calendars/calendar/")
    proppatch(work.url, "Work at Xandikos", "#FF2968FF")
    for n in range(3):
        work.add_event(event(f"x-{n}", f"Xandikos {n}"))
    work.add_event(recurring_with_override("x-series"))
    work.add_event(event("x-linked", "Linked", f"X-PLANERIX-KEY-RESULT:{KEY_RESULT}\r\n"))
    mkcalendar(xandikos, "user", "calendars/tasks/", "Tasks", ["VTODO"], "#1BADF8FF", "2", "To do")
    tasks = client.calendar(url=f"{xandikos}/user/calendars/tasks/")
    tasks.add_todo(todo("x-task", "A task"))
    source = {"calendar": listing(xandikos, ("user", "x"), "/user/calendars/calendar/"),
              "tasks": listing(xandikos, ("user", "x"), "/user/calendars/tasks/")}
    assert len(source["calendar"]) == 5 and len(source["tasks"]) == 1

    into = f"xan-{uuid.uuid4().hex[:8]}"
    password_file = tmp_path / "password"
    password_file.write_text("unused-password\n")
    command = ["import", "caldav", xandikos + "/", "--user", "user", "--password-file", str(password_file),
               "--into", into, "--database-url", database_url]
    refused = planerix(*command)
    assert refused.returncode == 2 and "planerix: refused" in refused.stderr, refused.stderr

    imported = planerix(*command, env=ALLOWED)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert f"/{into}/calendar/ (calendar): 5 new, 0 changed, 0 unchanged" in imported.stdout
    assert f"/{into}/tasks/ (calendar): 1 new, 0 changed, 0 unchanged" in imported.stdout
    assert f"  {into}: planerix user passwd {into}" in imported.stdout
    # Xandikos's ETags are git blob ids, not the digest of the text: Planerix serves them as they are.
    assert "ETags kept: 6 of 6" in imported.stdout

    again = planerix(*command, env=ALLOWED)
    assert again.returncode == 0, again.stderr
    assert "imported 2 collection(s): 0 new, 0 changed, 6 unchanged item(s); 0 skipped" in again.stdout

    assert planerix("user", "passwd", into, "--password", PASSWORD, "--database-url", database_url).returncode == 0
    server = start_caldav_server(database_url)
    try:
        base, auth = f"http://127.0.0.1:{server.port}", (into, PASSWORD)
        for name in ("calendar", "tasks"):  # a client that synced with Xandikos downloads nothing
            assert listing(base, auth, f"/{into}/{name}/") == source[name]
        assert not [row for row, _ in Storage(settings.radicale_configuration(database_url, "127.0.0.1", 0))
                    .check_items() if row.path.startswith(into + "/")]  # --verify-storage knows kept ETags
        # The first write replaces Xandikos's ETag by Planerix's own; If-Match takes the kept one.
        href, foreign = next((h, e) for h, e in source["calendar"].items()
                             if "x-0" in requests.get(f"{xandikos}/user/calendars/calendar/{h}").text)
        url = f"{base}/{into}/calendar/{href}"
        changed = requests.get(url, auth=auth).text.replace("Xandikos 0", "Renamed at Planerix")
        put = requests.put(url, data=changed.encode(), auth=auth, headers={
            "If-Match": foreign, "Content-Type": "text/calendar; charset=utf-8"})
        assert put.status_code == 204, put.text
        fetched = requests.get(url, auth=auth)
        assert fetched.headers["ETag"] not in (foreign, None)
        assert fetched.headers["ETag"] == radicale_item.get_etag(fetched.text)
        assert put.headers.get("ETag", fetched.headers["ETag"]) == fetched.headers["ETag"]
        assert listing(base, auth, f"/{into}/calendar/") == {**source["calendar"], href: fetched.headers["ETag"]}
        stale = requests.put(url, data=changed.encode(), auth=auth, headers={
            "If-Match": foreign, "Content-Type": "text/calendar; charset=utf-8"})
        assert stale.status_code == 412
        assert properties(base, auth, f"/{into}/calendar/", [DISPLAYNAME, COLOR]) == {
            DISPLAYNAME: "Work at Xandikos", COLOR: "#FF2968FF"}
        series = requests.get(f"{base}/{into}/calendar/" + next(h for h in source["calendar"]
                              if "x-series" in requests.get(f"{xandikos}/user/calendars/calendar/{h}").text),
                              auth=auth).text
        assert "RECURRENCE-ID" in series and "Stand-up (moved)" in series
    finally:
        server.stop()
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT l.target_id FROM item_link l JOIN item i ON i.id = l.item_id "
                            "JOIN collection c ON c.id = i.collection_id WHERE c.path = %s",
                            (f"{into}/calendar",)).fetchall() == [(KEY_RESULT,)]


@pytest.mark.timeout(600)  # several servers and planerix processes, started one after another
def test_etags_of_a_radicale_source_are_kept_and_a_calendar_url_imports_that_calendar(tmp_path, database_url):
    name = f"rad-{uuid.uuid4().hex[:8]}"
    with StockRadicale(tmp_path / "radicale", {name: PASSWORD}) as radicale:
        fill(radicale.base_url, name)
        mkcalendar(radicale.base_url, name, "empty/", "Empty", ["VEVENT"], "#000000FF", "3", "Nothing")
        served = {path: listing(radicale.base_url, (name, PASSWORD), f"/{name}/{path}")
                  for path in ("work/", "tasks/")}
        password_file = tmp_path / "password"
        password_file.write_text(PASSWORD)
        whole = planerix("import", "caldav", radicale.base_url + "/", "--user", name, "--password-file",
                         str(password_file), "--database-url", database_url, env=ALLOWED)
        assert whole.returncode == 0, whole.stdout + whole.stderr
        assert "ETags kept: 10 of 10" in whole.stdout
        assert f"/{name}/empty/ (calendar): 0 new" in whole.stdout
        assert "contacts" not in whole.stdout  # address books are not calendars
        wrong = tmp_path / "wrong"
        wrong.write_text("not the password")
        refused = planerix("import", "caldav", radicale.base_url + f"/{name}/work/", "--user", name,
                           "--password-file", str(wrong), "--into", f"{name}-copy",
                           "--database-url", database_url, env=ALLOWED)
        assert refused.returncode == 2 and "refused the user name or password (401)" in refused.stderr
        one = planerix("import", "caldav", radicale.base_url + f"/{name}/work/", "--user", name,
                       "--into", f"{name}-copy", "--database-url", database_url, env=ALLOWED, stdin=PASSWORD + "\n")
        assert one.returncode == 0, one.stdout + one.stderr
        assert "imported 1 collection(s): 7 new" in one.stdout
    server = start_caldav_server(database_url)
    try:
        assert planerix("user", "passwd", name, "--password", PASSWORD, "--database-url", database_url).returncode == 0
        base = f"http://127.0.0.1:{server.port}"
        for path, members in served.items():
            assert listing(base, (name, PASSWORD), f"/{name}/{path}") == members
    finally:
        server.stop()


def test_the_progress_bar_fills_with_the_items_read():
    from server.moving.cli import PROGRESS_WIDTH, progress_line
    assert progress_line("bob/work", 0, 1000) == f"/bob/work/ [{'.' * PROGRESS_WIDTH}] 0 of 1000 items read"
    half = progress_line("bob/work", 500, 1000)
    assert half.count("#") == PROGRESS_WIDTH // 2 and half.endswith("500 of 1000 items read")
    assert progress_line("bob/empty", 0, 0).count("#") == PROGRESS_WIDTH
