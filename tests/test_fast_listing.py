"""The fast Depth-1 PROPFIND and sync-collection (server/fast_listing.py) answer
byte for byte what Radicale's generic code answers.

Two servers run on the same database: the usual one and one with
``fast_listings`` off. Every request goes to both; status, DAV and Content-Type
headers and the body must be identical. A counter on ``fast_listing._answer``
shows which requests took the fast path, so the comparison is not vacuous.
"""
from __future__ import annotations

import re
import uuid

import requests

from davutil import XML_HEADER, calendar, event, vtodo
from pairutil import Pair, fast_calls, generic_server, pair  # noqa: F401 (fixtures)

D_C = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/"'


def propfind(props: str) -> str:
    return f'{XML_HEADER}<D:propfind {D_C} xmlns:X="http://example.com/ns/"><D:prop>{props}</D:prop></D:propfind>'


def sync_body(token: str | None, props: str = "<D:getetag/>", limit: int | None = None) -> str:
    tok = f"<D:sync-token>{token}</D:sync-token>" if token else "<D:sync-token/>"
    lim = f"<D:limit><D:nresults>{limit}</D:nresults></D:limit>" if limit else ""
    return (f'{XML_HEADER}<D:sync-collection {D_C} xmlns:X="http://example.com/ns/">{tok}'
            f"<D:sync-level>1</D:sync-level>{lim}<D:prop>{props}</D:prop></D:sync-collection>")


def fill(user, cal: str) -> dict[str, str]:
    """Six events with awkward names and a task; returns {name: UID}."""
    names = ["plain.ics", "with space.ics", "ümlaut-ß.ics", "a&b<c>.ics", "percent%41.ics", "at@sign.ics"]
    uids = {}
    for i, name in enumerate(names):
        uids[name] = f"ev-{i}-{uuid.uuid4().hex[:6]}"
        response = user.put(f"{cal}{requests.utils.quote(name)}", event(uids[name]))
        assert response.status_code == 201, (name, response.text)
    todo = calendar(vtodo(f"todo-{uuid.uuid4().hex[:6]}"))
    assert user.put(f"{cal}task.ics", todo).status_code == 201
    return uids


PROP_SETS = [
    "<D:getetag/>",
    "<D:getetag/><D:getcontenttype/><D:getlastmodified/><D:resourcetype/>",
    "<D:resourcetype/><D:getetag/>",
    "<D:displayname/><X:unknown/><D:getetag/><X:other/>",
    "<D:current-user-principal/><D:current-user-privilege-set/><D:owner/>"
    "<D:principal-collection-set/><D:supported-report-set/><C:max-resource-size/>",
    "<CS:getctag/><D:sync-token/><C:supported-calendar-component-set/><C:calendar-description/>",
    "<C:calendar-data/><D:getetag/>",
    "<D:getetag/><D:getetag/>",
    "",
    "<D:getcontentlength/><D:getetag/>",  # needs the texts: Radicale's path
]


def test_propfind_depth_1_equals_radicale(pair, fast_calls):
    cal = pair.user.mkcalendar("fast", displayname="Fast &amp; &lt;co&gt; {x}")
    fill(pair.user, cal)
    for props in PROP_SETS:
        for depth in ("1", "infinity"):
            fast_calls.clear()
            response = pair.same("PROPFIND", cal, propfind(props), Depth=depth)
            assert response.status_code == 207
            assert len(re.findall(r"<response>", response.text)) == 8
            assert len(fast_calls) == (0 if "getcontentlength" in props else 1), props


def test_propfind_edge_cases_equal_radicale(pair, other_user, fast_calls):
    user = pair.user
    cal = user.mkcalendar("edges")
    fill(user, cal)
    empty = user.mkcalendar("empty")
    body = propfind("<D:getetag/><D:displayname/>")
    fast_calls.clear()
    pair.same("PROPFIND", empty, body, Depth="1")
    assert len(fast_calls) == 1
    # Conditional headers do not change a PROPFIND.
    for headers in ({"If-Match": '"nothing"'}, {"If-None-Match": "*"}, {"If": "(<urn:uuid:x>)"}):
        fast_calls.clear()
        pair.same("PROPFIND", cal, body, Depth="1", **headers)
        assert len(fast_calls) == 1
    # Radicale's own path for all of these (and the same answers).
    fast_calls.clear()
    pair.same("PROPFIND", cal, body)  # no Depth: 0
    pair.same("PROPFIND", cal, body, Depth="0")
    pair.same("PROPFIND", cal, None, Depth="1")  # no body: allprop
    pair.same("PROPFIND", cal, f'{XML_HEADER}<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>', Depth="1")
    pair.same("PROPFIND", cal, f'{XML_HEADER}<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>', Depth="1")
    pair.same("PROPFIND", f"{cal}plain.ics", body, Depth="1")  # an item
    pair.same("PROPFIND", "", body, Depth="1")  # the home: a principal collection
    pair.same("PROPFIND", "missing/", body, Depth="1")
    pair.same("PROPFIND", cal, "<not xml", Depth="1")
    pair.same("PROPFIND", cal, f'{XML_HEADER}<D:propfind xmlns:D="DAV:"/>', Depth="1")
    assert fast_calls == []
    # Another user's calendar: refused by Radicale's rights check, the same way.
    foreign = other_user.mkcalendar("private")
    url = f"{other_user.name}/{foreign}"
    fast = user.session.request("PROPFIND", f"{user.base_url}/{url}", data=body, headers={"Depth": "1"})
    generic = pair.generic.request("PROPFIND", f"{pair.generic_base}/{url}", data=body, headers={"Depth": "1"})
    assert fast.status_code == generic.status_code == 403
    assert fast_calls == []


def test_sync_collection_equals_radicale(pair, fast_calls):
    user = pair.user
    cal = user.mkcalendar("sync")
    uids = fill(user, cal)
    for props in ("<D:getetag/>", "<D:getetag/><D:getcontenttype/>", "<X:unknown/><D:getetag/><D:displayname/>",
                  "", "<D:getcontenttype/><D:getcontenttype/>"):
        for depth in ("0", "1"):
            fast_calls.clear()
            response = pair.same("REPORT", cal, sync_body(None, props), Depth=depth)
            assert response.status_code == 207 and len(fast_calls) == 1
    token = re.search(r"<sync-token>([^<]+)</sync-token>", pair.same("REPORT", cal, sync_body(None)).text)[1]
    # Changes and deletions since the token: 404 entries first, as Radicale writes them.
    assert user.put(f"{cal}plain.ics", event(uids["plain.ics"], "Changed")).status_code in (201, 204)
    assert user.request("DELETE", f"{cal}task.ics").status_code == 200
    assert user.request("DELETE", f"{cal}{requests.utils.quote('a&b<c>.ics')}").status_code == 200
    assert user.put(f"{cal}new.ics", event("new-" + uuid.uuid4().hex[:6])).status_code == 201
    fast_calls.clear()
    for props in ("<D:getetag/>", "<D:getcontenttype/><X:unknown/>", ""):
        response = pair.same("REPORT", cal, sync_body(token, props))
        assert response.text.count("HTTP/1.1 404") >= 2
    # DAV:limit: a 507 entry at the end, and paging continues where it stopped.
    for limit in (1, 2, 3, 50):
        pair.same("REPORT", cal, sync_body(token, limit=limit))
        pair.same("REPORT", cal, sync_body(None, limit=limit))
    assert len(fast_calls) == 11
    # Radicale's own path: texts needed, filters, bad or foreign tokens, not a calendar.
    fast_calls.clear()
    pair.same("REPORT", cal, sync_body(None, "<D:getetag/><C:calendar-data/>"))
    pair.same("REPORT", cal, sync_body("http://planerix.org/ns/sync/1-999999999"))
    pair.same("REPORT", cal, sync_body("garbage"))
    pair.same("REPORT", cal, sync_body(token, limit=5).replace("<D:nresults>5", "<D:nresults>x"))
    pair.same("REPORT", "", sync_body(None))
    pair.same("REPORT", "missing/", sync_body(None))
    pair.same("REPORT", f"{cal}plain.ics", sync_body(None))
    assert fast_calls == []


def test_sync_collection_of_an_address_book_equals_radicale(pair, fast_calls):
    user = pair.user
    mkcol = (f'{XML_HEADER}<D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>'
             "<D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>")
    assert user.request("MKCOL", "contacts/", mkcol).status_code == 201
    card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-1\r\nFN:Card One\r\nN:One;Card;;;\r\nEND:VCARD\r\n"
    assert user.request("PUT", "contacts/card-1.vcf", card, **{"Content-Type": "text/vcard"}).status_code == 201
    fast_calls.clear()
    pair.same("REPORT", "contacts/", sync_body(None, "<D:getetag/><D:getcontenttype/>"))
    pair.same("PROPFIND", "contacts/", propfind("<D:getetag/><D:getcontenttype/><D:resourcetype/>"), Depth="1")
    assert len(fast_calls) == 2


def test_sync_without_changes_declares_no_member_namespace(pair, fast_calls):
    """ElementTree declares the namespaces of the elements present: with nothing to report,
    the properties asked for appear nowhere, as in Radicale's answer."""
    cal = pair.user.mkcalendar("quiet")
    props = "<X:unknown/><D:getetag/><CS:getctag/>"
    fast_calls.clear()
    first = pair.same("REPORT", cal, sync_body(None, props))
    token = re.search(r"<sync-token>([^<]+)</sync-token>", first.text)[1]
    assert "example.com" not in first.text
    fill(pair.user, cal)
    token_after = re.search(r"<sync-token>([^<]+)</sync-token>", pair.same("REPORT", cal, sync_body(token, props)).text)[1]
    assert "example.com" not in pair.same("REPORT", cal, sync_body(token_after, props)).text
    assert len(fast_calls) == 3
