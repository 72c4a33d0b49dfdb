"""What a CalDAV request costs the database (#17): the login's statement also reads what a read
of one path looks up, so OPTIONS, an item's GET or HEAD and a Depth-0 PROPFIND are one round trip.

Round trips are counted on the server's own engines (the server runs in this process), in its
request threads: each statement, and a BEGIN and a COMMIT around a statement that opens a
transaction (psycopg sends them as round trips of their own)."""
from __future__ import annotations

import contextlib
import threading

import psycopg
import requests
import sqlalchemy as sa

from davutil import SYNC_TOKEN_RE, event, propfind

CTAG = "CS:getctag"


@contextlib.contextmanager
def round_trips(server):
    trips: list[str] = []

    def counted(conn, cursor, statement, parameters, context, executemany):
        if "process_request_thread" not in threading.current_thread().name:
            return  # the scheduling worker's polls
        raw = conn.connection.dbapi_connection
        opens = not raw.autocommit and raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        trips.extend(["BEGIN", statement, "COMMIT"] if opens else [statement])

    application = server.application
    engines = {id(e): e for e in (application._storage.engine, application._auth._engine)}.values()
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", counted)
    try:
        yield trips
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", counted)


def test_reads_of_one_path_cost_the_login_alone(caldav_server, user, other_user):
    cal = user.mkcalendar("cal")
    assert user.put(f"{cal}e.ics", event("e", "Lunch")).status_code == 201
    other_cal = other_user.mkcalendar("cal")
    assert other_user.put(f"{other_cal}secret.ics", event("secret", "Secret meeting")).status_code == 201
    depth0 = {"Depth": "0", "Content-Type": "application/xml"}
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
    }
    for what, (request, status) in asked.items():
        user.request(*request[:3], **(request[3] if len(request) > 3 else {}))  # prepared by psycopg
        with round_trips(caldav_server) as trips:
            response = user.request(*request[:3], **(request[3] if len(request) > 3 else {}))
        assert response.status_code == status, (what, response.text)
        assert len(trips) == 1, "\n".join([what] + [" ".join(t.split())[:150] for t in trips])
    assert "Lunch" in user.request("GET", f"{cal}e.ics").text

    # Read ahead with the login, another account's item is still refused by the rights.
    with round_trips(caldav_server):
        refused = user.session.get(other_user.url(f"{other_cal}secret.ics"))
    assert refused.status_code == 403 and "Secret meeting" not in refused.text
    # ... and nothing is shown for a wrong password.
    wrong = requests.get(user.url(f"{cal}e.ics"), auth=(user.name, user.password + "x"))
    assert wrong.status_code == 401 and "Lunch" not in wrong.text


def test_a_depth0_propfind_shows_the_current_state_in_one_snapshot(user):
    """Its getctag and DAV:sync-token come from one read (the login's): equal revisions, and
    both follow a change made just before."""
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
