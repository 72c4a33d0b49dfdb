"""Bad CalDAV requests get a 4xx with a reason and change nothing: request framing (Content-Length,
charset), bodies that are not clean text, items over the size limit, dates the index cannot hold,
and conditional DELETEs that lose."""
from __future__ import annotations

import base64
import http.client
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests

from conftest import start_caldav_server
from davutil import (calendar, event, member_etags, multiget_body, multistatus, propfind,
                     propfind_body, snapshot, sync_body, vevent)


def raw(user, method: str, path: str, body: bytes = b"", **headers) -> SimpleNamespace:
    """A request sent exactly as written: headers such as Content-Length are not corrected."""
    host, port = urlsplit(user.base_url).netloc.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    token = base64.b64encode(f"{user.name}:{user.password}".encode()).decode()
    connection.putrequest(method, f"/{user.name}/{path}", skip_accept_encoding=True)
    connection.putheader("Authorization", f"Basic {token}")
    headers.setdefault("Content_Length", str(len(body)))
    for name, value in headers.items():
        connection.putheader(name.replace("_", "-"), value)
    connection.endheaders(body)
    response = connection.getresponse()
    result = SimpleNamespace(status_code=response.status, text=response.read().decode("utf-8", "replace"),
                             headers=response.headers)
    connection.close()
    return result


def assert_refused(response, status: int, *words: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    for word in words:
        assert word in response.text, response.text


# -- request framing ------------------------------------------------------------------

@pytest.mark.parametrize("length", ["-1", "-100", "abc", "12abc", "1e3", "0x10", "+5", "1 2"])
def test_invalid_content_length_is_400(user, cal, length):
    before = snapshot(user)
    body = event("framed").encode()
    response = raw(user, "PUT", "cal/framed.ics", body, Content_Type="text/calendar", Content_Length=length)
    assert_refused(response, 400, "Content-Length")
    assert snapshot(user) == before


@pytest.mark.parametrize("method, path, content_type", [
    ("PUT", "cal/charset.ics", "text/calendar; charset=no-such-charset"),
    ("PUT", "cal/charset.ics", "text/calendar; charset=\"x-unknown\""),
    ("PROPFIND", "cal/", "application/xml; charset=bogus"),
    ("PROPPATCH", "cal/", "application/xml; charset=bogus"),
    ("REPORT", "cal/", "application/xml; charset=bogus"),
])
def test_unknown_charset_is_415_with_the_name(user, cal, method, path, content_type):
    before = snapshot(user)
    body = event("charset").encode() if method == "PUT" else (
        b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
        b"<D:displayname>changed</D:displayname></D:prop></D:set></D:propertyupdate>")
    response = raw(user, method, path, body, Content_Type=content_type, Depth="1")
    assert_refused(response, 415, "charset", content_type.split("charset=")[1].strip('"'))
    assert snapshot(user) == before


def test_known_charsets_still_work(user, cal):
    latin = event("latin", "Café").encode("iso-8859-1")
    response = raw(user, "PUT", "cal/latin.ics", latin, Content_Type="text/calendar; charset=ISO-8859-1")
    assert response.status_code == 201, response.text
    assert "SUMMARY:Café" in user.request("GET", "cal/latin.ics").text


# -- bodies that are not clean text ---------------------------------------------------

@pytest.mark.parametrize("name, body, words", [
    ("invalid utf-8", event("bad-bytes", "Caf\udce9").encode("utf-8", "surrogateescape"), ("UTF-8", "0xe9")),
    ("lone continuation byte", event("bad-bytes", "x\udc80y").encode("utf-8", "surrogateescape"), ("UTF-8",)),
    ("NUL byte", event("nul", "a\x00b").encode(), ("NUL",)),
    ("NUL in a property name", event("nul").replace("SUMMARY", "SUM\x00MARY").encode(), ("NUL",)),
])
def test_bodies_that_are_not_clean_text_are_400(user, cal, name, body, words):
    user.put("cal/existing.ics", event("existing", "kept"))
    before = snapshot(user)
    for path in ("cal/new.ics", "cal/existing.ics"):
        response = user.request("PUT", path, body, **{"Content-Type": "text/calendar; charset=utf-8"})
        assert_refused(response, 400, *words)
    # No charset: UTF-8 (the configured request encoding) is required too, not guessed around.
    response = user.request("PUT", "cal/new.ics", body, **{"Content-Type": "text/calendar"})
    assert_refused(response, 400, *words)
    assert snapshot(user) == before
    assert "SUMMARY:kept" in user.request("GET", "cal/existing.ics").text


def test_invalid_utf8_in_a_proppatch_is_400_and_changes_nothing(user, cal):
    before = snapshot(user)
    body = ('<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
            '<D:displayname>Caf\udce9</D:displayname></D:prop></D:set></D:propertyupdate>'
            ).encode("utf-8", "surrogateescape")
    response = user.request("PROPPATCH", "cal/", body, **{"Content-Type": "application/xml; charset=utf-8"})
    assert_refused(response, 400, "UTF-8")
    assert snapshot(user) == before


# -- limits of what can be stored -----------------------------------------------------

FAR_DATES = {
    "year 9999": vevent("far", start="99991231T100000Z", end="99991231T110000Z"),
    "ends after 9999": ("BEGIN:VEVENT\r\nUID:far\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:99991231T230000Z\r\n"
                        "DURATION:P2D\r\nEND:VEVENT\r\n"),
    "yearly into 9999": vevent("far", start="99980101T100000Z", end="99980101T110000Z",
                               extra="RRULE:FREQ=YEARLY\r\n"),
    "all-day on the last day": vevent("far", start="99991231", end="100000101").replace(
        "DTSTART:", "DTSTART;VALUE=DATE:").replace("DTEND:", "DTEND;VALUE=DATE:"),
}


@pytest.mark.parametrize("case", list(FAR_DATES))
def test_dates_the_index_cannot_hold_are_refused_with_a_reason(user, cal, case):
    before = snapshot(user)
    response = user.put("cal/far.ics", calendar(FAR_DATES[case]))
    if response.status_code in (200, 201, 204):  # stored: then it reads back
        assert "UID:far" in user.request("GET", "cal/far.ics").text
        return
    assert 400 <= response.status_code < 500 and response.status_code != 412, response.text
    assert "date" in response.text.lower() or "year" in response.text.lower(), response.text
    assert snapshot(user) == before


@pytest.fixture
def small_items_server(engine, database_url):
    server = start_caldav_server(database_url, {"server": {"max_resource_size": "3000"}})
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def test_item_over_the_size_limit_is_413_with_the_limit(user, small_items_server):
    session = requests.Session()
    session.auth = (user.name, user.password)
    base = f"{small_items_server}/{user.name}/"
    assert session.request("MKCALENDAR", base + "small/").status_code == 201
    headers = {"Content-Type": "text/calendar; charset=utf-8"}
    assert session.put(base + "small/ok.ics", data=event("ok").encode(), headers=headers).status_code == 201
    before = member_etags(user, "small/")
    big = event("big", "x" * 4000).encode()
    for path in ("small/big.ics", "small/ok.ics", "small/"):
        response = session.put(base + path, data=big, headers=headers)
        assert response.status_code == 413, (path, response.status_code, response.text)
        assert "3000" in response.text and "max_resource_size" in response.text, response.text
    assert member_etags(user, "small/") == before


# -- conditional DELETE -----------------------------------------------------------------

def test_delete_with_a_stale_etag_is_412_and_keeps_the_item(user, cal):
    first = user.put("cal/e.ics", event("e", "one")).headers["ETag"]
    assert user.put("cal/e.ics", event("e", "two")).status_code == 204
    before = snapshot(user)
    assert_refused(user.request("DELETE", "cal/e.ics", If_Match=first), 412)
    assert snapshot(user) == before


def test_delete_that_loses_a_race_is_412_not_404(user, cal):
    etag = user.put("cal/e.ics", event("e")).headers["ETag"]
    assert user.request("DELETE", "cal/e.ics", **{"If-Match": etag}).status_code in (200, 204)
    before = snapshot(user)
    # A second client deleting with the ETag it saw: the item it meant is gone.
    response = user.request("DELETE", "cal/e.ics", **{"If-Match": etag})
    assert_refused(response, 412, "If-Match")
    # Without a precondition the answer stays 404.
    assert user.request("DELETE", "cal/e.ics").status_code == 404
    assert snapshot(user) == before


# -- what stock Radicale's file storage does -------------------------------------------

QUERY = ('<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" '
         'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter>'
         '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter></C:filter>'
         '</C:calendar-query>')


def test_items_over_a_lowered_size_limit_are_not_served(user, cal, small_items_server):
    """Written under a larger limit: stock Radicale then serves them nowhere (GET, PROPFIND,
    REPORTs, DELETE see no item); nothing is lost, a server with the old limit still has them."""
    user.put("cal/big.ics", event("big", "x" * 4000))
    user.put("cal/small.ics", event("small"))
    before = snapshot(user)
    small = requests.Session()
    small.auth = (user.name, user.password)
    base = f"{small_items_server}/{user.name}/cal/"
    names = lambda response: {r.href.rsplit("/", 1)[-1] for r in multistatus(response.content)[0]
                              if r.status in (None, 200)}
    xml = {"Content-Type": "application/xml"}

    assert small.get(base + "big.ics").status_code == 404
    assert small.get(base + "small.ics").status_code == 200
    assert small.request("PROPFIND", base + "big.ics", headers={"Depth": "0"}).status_code == 404
    listing = small.request("PROPFIND", base, data=propfind_body("D:getetag"), headers={"Depth": "1", **xml})
    assert names(listing) == {"", "small.ics"}  # the calendar itself and the small item
    query = small.request("REPORT", base, data=QUERY, headers={"Depth": "1", **xml})
    assert names(query) == {"small.ics"}
    sync = small.request("REPORT", base, data=sync_body(), headers={"Depth": "1", **xml})
    assert names(sync) == {"small.ics"}
    multiget = small.request("REPORT", base, data=multiget_body([f"/{user.name}/cal/big.ics"]),
                             headers={"Depth": "1", **xml})
    assert [r.status for r in multistatus(multiget.content)[0]] == [404]
    assert small.delete(base + "big.ics").status_code == 404
    assert "BEGIN:VEVENT" in small.get(base).text and "UID:big" not in small.get(base).text

    assert snapshot(user) == before
    assert "x" * 4000 in user.request("GET", "cal/big.ics").text.replace("\r\n ", "")


def test_deleting_a_home_removes_every_calendar_in_it(user):
    """As in stock Radicale: DELETE /<user>/ removes the calendars under it with their items."""
    for name in ("work", "private"):
        user.mkcalendar(name)
        assert user.put(f"{name}/e.ics", event(f"e-{name}")).status_code == 201
    assert user.request("DELETE", "").status_code == 200
    home = propfind(user, "", "D:resourcetype", depth="1")  # the home is made again on this request
    assert [r.href for r in home] == [f"/{user.name}/"]
    for name in ("work", "private"):
        assert user.request("GET", f"{name}/e.ics").status_code == 404
        assert user.request("PROPFIND", f"{name}/", Depth="0").status_code == 404
    user.mkcalendar("work")
    assert member_etags(user, "work/") == {}
