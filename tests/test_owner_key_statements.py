"""Every statement on calendar data names its key (issue #17): a distributed PostgreSQL (Citus)
sends a statement to one node only when it fixes the distribution key of each distributed table
it touches (storage_plugin/distribution.py). A small CalDAV session runs against a server of its
own while every statement reaching its database is captured; each one on a table of the calendar
group must compare that table's key (``owner = ...``) or insert it. Today's statements without
it are listed in ``WITHOUT_KEY`` by their name in the code, and the list can only shrink."""
from __future__ import annotations

import re
import sys
import threading

import pytest
import sqlalchemy as sa

from conftest import private_database
from davutil import event, multiget_body, propfind_body, sync_body
from storage_plugin import distribution
from storage_plugin.distribution import Distributed

# The tables distributed with the calendars (colocated with collection), by their key.
CALENDAR_TABLES = {table: placement.key for table, placement in distribution.LAYOUT.items()
                   if isinstance(placement, Distributed) and placement.colocate_with == "collection"}
_TABLE = re.compile(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+(" + "|".join(CALENDAR_TABLES) + r")\b", re.IGNORECASE)

# Statement (its name in the code) → why it does not name the key yet.
WITHOUT_KEY: dict[str, str] = {
    "storage_plugin.sharing.queries.SHARED_WITH": (
        "a sharee's view of other owners' calendars, found through calendar_share (a reference "
        "table): one statement over many owners; one per owner would make it routable"),
    "storage_plugin.queries.HOMES": "the root's members are every account's home (a listing across owners)",
    "server.scheduling.principal._KINDS": "the paths of one multistatus, which may belong to several owners "
                                          "(shared calendars): group them by owner",
}


# The loops that claim due work of every owner (docs/scale-out.md): not a request's statements.
BACKGROUND = {"planerix-scheduling", "planerix-email", "planerix-mail-replies"}


def _normal(sql: str) -> str:
    return " ".join(sql.replace("%%", "%").split())


def _named_statements() -> dict[str, str]:
    """Compiled text → module.NAME of every text statement the server's modules define."""
    names = {}
    for module_name, module in list(sys.modules.items()):
        if module is None or not module_name.startswith(("storage_plugin", "server", "okr_extension", "scheduling")):
            continue
        for attribute, value in list(vars(module).items()):
            if isinstance(value, sa.TextClause):
                compiled = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", value.text)
                names.setdefault(_normal(compiled), f"{module_name}.{attribute}")
    return names


def _without_key(statement: str) -> bool:
    for table in set(_TABLE.findall(statement)):
        key = CALENDAR_TABLES[table.lower()]
        if not re.search(rf"\b{key}\s*(?:=|IN\b)|INSERT INTO {table}\s*\([^)]*\b{key}\b", statement, re.IGNORECASE):
            return True
    return False


@pytest.fixture(scope="module")
def own(database_server):
    with private_database(database_server) as database:
        yield database


def _session(user) -> None:
    """What a client does in a day: create a calendar, write, list, query, sync, move, delete."""
    user.mkcalendar("cal", ("VEVENT",))
    for n in range(3):
        assert user.put(f"cal/e{n}.ics", event(f"e{n}", start=f"2026010{n + 1}T100000Z")).status_code == 201
    assert user.report("cal/", sync_body()).status_code == 207
    assert user.request("PROPFIND", "", propfind_body("D:getetag", "D:displayname"), Depth="1").status_code == 207
    assert user.request("PROPFIND", "cal/", propfind_body("D:getetag"), Depth="1").status_code == 207
    root = user.session.request("PROPFIND", f"{user.base_url}/", data=propfind_body("D:resourcetype"),
                                headers={"Depth": "1"})
    assert root.status_code == 207
    assert user.report("cal/", multiget_body([f"/{user.name}/cal/e0.ics", f"/{user.name}/cal/e1.ics"])).status_code == 207
    week = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:prop><D:getetag/>{data}</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            '<C:time-range start="20260101T000000Z" end="20260108T000000Z"/></C:comp-filter></C:comp-filter>'
            '</C:filter></C:calendar-query>')
    assert user.report("cal/", week.format(data="")).status_code == 207
    assert user.report("cal/", week.format(data="<C:calendar-data/>")).status_code == 207
    assert user.request("GET", "cal/e0.ics").status_code == 200
    assert user.put("cal/e0.ics", event("e0", summary="Changed")).status_code == 204
    assert user.request("MOVE", "cal/e1.ics", Destination=user.url("cal/moved.ics")).status_code == 201
    assert user.request("DELETE", "cal/e2.ics").status_code in (200, 204)
    assert user.report("cal/", sync_body()).status_code == 207
    assert user.request("DELETE", "cal/").status_code in (200, 204)


def test_statements_on_calendar_data_name_their_key(own):
    database = sa.engine.make_url(own.url).database
    seen: list[str] = []
    lock = threading.Lock()

    def capture(conn, cursor, statement, parameters, context, executemany):
        if conn.engine.url.database == database and threading.current_thread().name not in BACKGROUND:
            with lock:
                seen.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", capture)
    try:
        _session(own.new_user("keyed"))
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", capture)
    assert any(_TABLE.search(statement) for statement in seen), "no statement on calendar data was captured"
    names = _named_statements()
    without = {names.get(_normal(s), "unnamed: " + _normal(s)[:200]) for s in seen if _without_key(s)}
    new = without - set(WITHOUT_KEY)
    assert not new, ("statements on calendar data without their table's key (add `owner = :owner`, or list the "
                     f"reason in WITHOUT_KEY): {sorted(new)}")
    fixed = set(WITHOUT_KEY) - without
    assert not fixed, f"these name their key now, or no longer run: remove them from WITHOUT_KEY: {sorted(fixed)}"
