"""What a CalDAV request costs the database (#17): the login's statement also reads what a read
of one path looks up, so OPTIONS, an item's GET or HEAD, a Depth-0 PROPFIND and a REPORT
answered from the kept answers are one round trip.

Round trips are counted on the wire: libpq traces what each of the server's connections sends,
and every round trip ends with a Sync (a statement) or is a Query (BEGIN, COMMIT); libpq
flushes the trace before it sends, so a request's messages are there once it is answered. The server has
a database of its own and no scheduling worker, so that only the requests' statements are there."""
from __future__ import annotations

import contextlib
import tempfile

import pytest
import requests
import sqlalchemy as sa
from psycopg import pq

import okr_extension
from conftest import DavUser, fresh_database, new_user, start_caldav_server
from davutil import SYNC_TOKEN_RE, event, propfind
from storage_plugin import database

CTAG = "CS:getctag"
WEEK = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        "<D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name=\"VCALENDAR\">"
        "<C:comp-filter name=\"VEVENT\"><C:time-range start=\"20200101T000000Z\" end=\"20300101T000000Z\"/>"
        "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>")


class Wire:
    """The messages the server's database connections send, from libpq's trace of each."""

    def __init__(self, server) -> None:
        self._trace = tempfile.TemporaryFile(mode="a+")  # appended to by every connection
        application = server.application
        self._engines = list({id(e): e for e in (application._storage.engine, application._auth._engine)}.values())
        for engine in self._engines:
            sa.event.listen(engine, "connect", self._traced)
            engine.dispose()  # every connection from now on is traced

    def _traced(self, dbapi_connection, record) -> None:
        dbapi_connection.pgconn.trace(self._trace.fileno())
        dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    @contextlib.contextmanager
    def round_trips(self):
        self._trace.seek(0, 2)
        start = self._trace.tell()
        trips: list[str] = []
        yield trips
        self._trace.seek(start)
        for line in self._trace.read().splitlines():
            fields = line.split("\t")
            if len(fields) > 2 and fields[0] == "F" and fields[2] in ("Sync", "Query"):
                trips.append(line)

    def close(self) -> None:
        for engine in self._engines:
            sa.event.remove(engine, "connect", self._traced)
            engine.dispose()
        self._trace.close()


@pytest.fixture(scope="module")
def server(database_server):
    with fresh_database(database_server) as url:
        okr_extension.migrate(database.engine_for(url))
        caldav = start_caldav_server(url, {"scheduling": {"enabled": "False"}})
        wire = Wire(caldav)
        try:
            yield caldav, wire, database.engine_for(url)
        finally:
            wire.close()
            caldav.stop()


def _user(server, prefix: str = "user") -> DavUser:
    caldav, _, engine = server
    return new_user(engine, f"http://127.0.0.1:{caldav.port}", prefix)


def test_reads_of_one_path_cost_the_login_alone(server):
    wire = server[1]
    user, other_user = _user(server), _user(server, "other")
    cal = user.mkcalendar("cal")
    assert user.put(f"{cal}e.ics", event("e", "Lunch")).status_code == 201
    other_cal = other_user.mkcalendar("cal")
    assert other_user.put(f"{other_cal}secret.ics", event("secret", "Secret meeting")).status_code == 201
    depth0 = {"Depth": "0", "Content-Type": "application/xml"}
    depth1 = {"Depth": "1", "Content-Type": "application/xml"}
    body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">'
            "<D:prop><D:resourcetype/><D:getetag/><CS:getctag/><D:sync-token/></D:prop></D:propfind>")
    asked = {
        "OPTIONS": (("OPTIONS", ""), 200),
        "GET of an item": (("GET", f"{cal}e.ics"), 200),
        "HEAD of an item": (("HEAD", f"{cal}e.ics"), 200),
        "GET of a missing item": (("GET", f"{cal}missing.ics"), 404),
        "GET in a missing calendar": (("GET", "nothing/e.ics"), 404),
        "PROPFIND of the calendar": (("PROPFIND", cal, body, depth0), 207),
        "PROPFIND of an item": (("PROPFIND", f"{cal}e.ics", body, depth0), 207),
        # Asked again of an unchanged calendar: the kept answer (server/answer_cache.py).
        "calendar-query of a week": (("REPORT", cal, WEEK, depth1), 207),
    }
    for what, (request, status) in asked.items():
        for _ in range(12):  # psycopg prepares a statement on each pooled connection at its 5th run
            user.request(*request[:3], **(request[3] if len(request) > 3 else {}))
        with wire.round_trips() as trips:
            response = user.request(*request[:3], **(request[3] if len(request) > 3 else {}))
        assert response.status_code == status, (what, response.text)
        assert len(trips) == 1, "\n".join([what, *trips])
    assert "Lunch" in user.request("GET", f"{cal}e.ics").text

    # Read ahead with the login, another account's item is still refused by the rights, which
    # look for a share in one statement of their own: not in a transaction ended by ROLLBACK
    # (psycopg then forgets what it prepared on the connection: DEALLOCATE ALL).
    for _ in range(12):
        with wire.round_trips() as trips:
            refused = user.session.get(other_user.url(f"{other_cal}secret.ics"))
        assert refused.status_code == 403 and "Secret meeting" not in refused.text
    assert len(trips) == 2 and not any("ROLLBACK" in trip or "DEALLOCATE" in trip for trip in trips), trips
    # ... and nothing is shown for a wrong password.
    wrong = requests.get(user.url(f"{cal}e.ics"), auth=(user.name, user.password + "x"))
    assert wrong.status_code == 401 and "Lunch" not in wrong.text


def test_a_depth0_propfind_shows_the_current_state_in_one_snapshot(server):
    """Its getctag and DAV:sync-token come from one read (the login's): equal revisions, and
    both follow a change made just before."""
    user = _user(server)
    cal = user.mkcalendar("cal")
    seen = set()
    for n in range(3):
        assert user.put(f"{cal}e{n}.ics", event(f"e{n}", f"Event {n}")).status_code == 201
        response, = propfind(user, cal, CTAG, "D:sync-token")
        ctag, token = response.text(CTAG), response.text("D:sync-token")
        collection_id, revision = SYNC_TOKEN_RE.match(token).groups()
        assert ctag == f'"{collection_id}-{revision}"'
        seen.add(token)
    assert len(seen) == 3
    # The item's GET right after its change reads the new version.
    assert user.put(f"{cal}e0.ics", event("e0", "Moved")).status_code == 204
    assert "Moved" in user.request("GET", f"{cal}e0.ics").text
