"""Users who speak both CalDAV and the API, for the sharing tests."""
from __future__ import annotations

import secrets

import pytest

from bench.sharing import DAVX5_HOME  # DAVx5's home-set refresh (dav4jvm property names)
from storage_plugin import accounts
from conftest import ApiUser, DavUser
from davutil import clark, event, multistatus, sync_body

# Thunderbird's "find calendars" on the home.
THUNDERBIRD_HOME = (
    '<?xml version="1.0" encoding="UTF-8"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
    ' xmlns:A="http://apple.com/ns/ical/" xmlns:CS="http://calendarserver.org/ns/"><D:prop>'
    "<D:resourcetype/><D:displayname/><D:current-user-privilege-set/><A:calendar-color/>"
    "<C:supported-calendar-component-set/><CS:getctag/></D:prop></D:propfind>")
WRITE_PRIVILEGES = {clark("D:write"), clark("D:write-content"), clark("D:all")}


class Person:
    """An account with a CalDAV session (``dav``) and an API session (``api``)."""

    def __init__(self, engine, base_url: str, api_url: str, prefix: str) -> None:
        self.name = f"{prefix}-{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(12)
        accounts.add(engine, self.name, password)
        self.dav = DavUser(base_url, self.name, password)
        self.api = ApiUser(api_url, self.name, password)

    def share(self, calendar: str, access: str, **grantee) -> dict:
        return self.api.ok("POST", "/api/shares", {"calendar": calendar, "access": access, **grantee})


@pytest.fixture
def people(engine, base_url, api_server):
    """``people("bob")``: a new Person."""
    def make(prefix: str) -> Person:
        return Person(engine, base_url, api_server.url, prefix)
    return make


def mount(owner: Person, calendar: str) -> str:
    """Where ``owner``'s calendar appears in a sharee's home (relative to it)."""
    return f"{owner.name}~{calendar}/"


def home_listing(person: Person, body: str = DAVX5_HOME) -> dict:
    """href → Response of a Depth-1 PROPFIND of the person's home."""
    response = person.dav.request("PROPFIND", "", body, Depth="1", **{"Content-Type": "application/xml"})
    assert response.status_code == 207, response.text
    return {r.href: r for r in multistatus(response.content)[0]}


def privileges(response) -> set[str]:
    return {p.tag for p in response.props[clark("D:current-user-privilege-set")].iter()} - {
        clark("D:current-user-privilege-set"), clark("D:privilege")}


def assert_writes_reach_the_owner(owner: Person, writer: Person, path: str) -> None:
    """``writer`` adds review.ics to and deletes standup.ics from ``owner``'s calendar "team",
    reached at ``path`` (relative to the writer's home): the owner's sync-collection reports both."""
    sync = owner.dav.report("team/", sync_body(), depth="0")
    token = multistatus(sync.content)[1].findtext(clark("D:sync-token"))
    assert writer.dav.put(path + "review.ics", event("review", "Review")).status_code == 201
    assert writer.dav.request("DELETE", path + "standup.ics").status_code in (200, 204)
    changes, _ = multistatus(owner.dav.report("team/", sync_body(token), depth="0").content)
    assert {r.href: r.status for r in changes} == {
        f"/{owner.name}/team/review.ics": None, f"/{owner.name}/team/standup.ics": 404}
    assert "Review" in owner.dav.request("GET", "team/review.ics").text


# PROPPATCHes that would unmake a calendar: a plain collection, its busy time transparent, no events.
UNMAKE_CALENDAR = [
    '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
    f"{prop}</D:prop></D:set></D:propertyupdate>" for prop in (
        "<D:resourcetype><D:collection/></D:resourcetype>",
        "<C:schedule-calendar-transp><C:transparent/></C:schedule-calendar-transp>",
        '<C:supported-calendar-component-set><C:comp name="VTODO"/></C:supported-calendar-component-set>',
        "<D:displayname>Taken</D:displayname>")]


def _calendar_properties(owner: Person) -> dict:
    answer = owner.dav.request("PROPFIND", "team/", (
        '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>'
        "<D:resourcetype/><D:displayname/><C:schedule-calendar-transp/><C:supported-calendar-component-set/>"
        "</D:prop></D:propfind>"), Depth="0")
    assert answer.status_code == 207, answer.text
    [team], _ = multistatus(answer.content)
    return {tag: (value.text, sorted((e.tag, e.get("name")) for e in value)) for tag, value in team.props.items()}


def assert_properties_refused(owner: Person, writer: Person, path: str, words: str) -> None:
    """``writer``'s PROPPATCH of ``owner``'s calendar "team" at ``path`` (relative to the writer's
    home) is refused with a reason holding ``words``, and the calendar stays as it was."""
    before = _calendar_properties(owner)
    assert before[clark("C:schedule-calendar-transp")][1] == [(clark("C:opaque"), None)]
    for body in UNMAKE_CALENDAR:
        refused = writer.dav.request("PROPPATCH", path, body, **{"Content-Type": "application/xml"})
        assert _calendar_properties(owner) == before, body
        assert refused.status_code == 403 and "need-privileges" in refused.text and words in refused.text, refused.text
    # Nor do the privileges offer it.
    [seen], _ = multistatus(writer.dav.request("PROPFIND", path, (
        '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:current-user-privilege-set/></D:prop>'
        "</D:propfind>"), Depth="0").content)
    assert clark("D:write-content") in privileges(seen) and clark("D:write-properties") not in privileges(seen)
