"""Principal search, scoped to people who share an organisation: DAV:principal-property-search
(the caldav library, Evolution, older Apple), DAV:principal-search-property-set and Apple's
CS:calendarserver-principal-search (attendee type-ahead)."""
import secrets

import caldav
import pytest
import sqlalchemy as sa

from conftest import DavUser
from davutil import XML_HEADER, clark, multistatus
from storage_plugin import accounts

NAMESPACES = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/"'


class Team:
    def __init__(self, engine, base_url):
        tag = secrets.token_hex(4)
        self.members = {}
        for key, full_name in (("ann", f"Ann Example {tag}"), ("ben", f"Ben Sample {tag}"),
                               ("cy", f"Cy Other {tag}"), ("out", f"Outsider Sample {tag}")):
            name, password = f"{key}-{tag}", secrets.token_urlsafe(12)
            accounts.add(engine, name, password, email=f"{key}.{tag}@Team.example", display_name=full_name)
            self.members[key] = DavUser(base_url, name, password)
        self.tag = tag
        with engine.begin() as conn:
            organisation = conn.execute(sa.text(
                "INSERT INTO organisation (name) VALUES ('Team') RETURNING id")).scalar()
            for key in ("ann", "ben", "cy"):
                conn.execute(sa.text("INSERT INTO membership (organisation_id, account, role) "
                                     "VALUES (:o, :a, 'member')"), {"o": organisation, "a": self.members[key].name})

    def __getitem__(self, key) -> DavUser:
        return self.members[key]


@pytest.fixture
def team(engine, base_url):
    return Team(engine, base_url)


def _search(user: DavUser, body: str, path: str = "/"):
    response = user.session.request("REPORT", user.base_url + path, data=body.encode(),
                                    headers={"Depth": "0", "Content-Type": "application/xml"})
    return response


def _found(response) -> dict:
    assert response.status_code == 207, response.text
    return {r.href.strip("/"): r for r in multistatus(response.content)[0]}


def property_search(term: str, *props: str, test: str = "allof", wanted=("D:displayname",)) -> str:
    searched = "".join(f"<{p}/>" for p in props)
    return (f'{XML_HEADER}<D:principal-property-search {NAMESPACES} test="{test}">'
            f"<D:property-search><D:prop>{searched}</D:prop><D:match>{term}</D:match></D:property-search>"
            f"<D:prop>{''.join(f'<{w}/>' for w in wanted)}</D:prop></D:principal-property-search>")


def test_search_by_display_name_finds_colleagues_only(team):
    found = _found(_search(team["ann"], property_search("sample", "D:displayname")))
    assert set(found) == {team["ben"].name}  # the outsider's name matches too, but is not shown
    assert found[team["ben"].name].text("D:displayname") == f"Ben Sample {team.tag}"


def test_evolution_finds_a_colleague_by_address_for_free_busy(team):
    # e-cal-backend-caldav.c: principal-property-search calendar-user-address-set = mailto:<email>
    body = property_search(f"mailto:BEN.{team.tag}@team.example", "C:calendar-user-address-set",
                           wanted=("C:calendar-user-address-set", "C:schedule-inbox-URL", "D:displayname"))
    found = _found(_search(team["ann"], body, f"/{team['ann'].name}/"))
    assert list(found) == [team["ben"].name]
    ben = found[team["ben"].name]
    assert [h.text for h in ben.props[clark("C:calendar-user-address-set")]] == [
        f"mailto:ben.{team.tag}@team.example", f"/{team['ben'].name}/"]
    assert [h.text for h in ben.props[clark("C:schedule-inbox-URL")]] == [f"/{team['ben'].name}/schedule-inbox/"]


def test_an_outsider_learns_nothing(team):
    for body in (property_search(team["ann"].name, "D:displayname"),
                 property_search(f"ann.{team.tag}@team.example", "CS:email-address-set")):
        assert _found(_search(team["out"], body)) == {}
    # ...and a colleague cannot find the outsider by exact address either.
    assert _found(_search(team["ann"], property_search(f"out.{team.tag}@team.example",
                                                       "C:calendar-user-address-set"))) == {}


def test_anyof_and_allof(team):
    anyof = (f'{XML_HEADER}<D:principal-property-search {NAMESPACES} test="anyof">'
             f"<D:property-search><D:prop><D:displayname/></D:prop><D:match>Ann Example</D:match></D:property-search>"
             f"<D:property-search><D:prop><CS:email-address-set/></D:prop><D:match>cy.{team.tag}</D:match>"
             f"</D:property-search><D:prop><D:displayname/></D:prop></D:principal-property-search>")
    assert set(_found(_search(team["ben"], anyof))) == {team["ann"].name, team["cy"].name}
    allof = anyof.replace('test="anyof"', 'test="allof"')
    assert _found(_search(team["ben"], allof)) == {}


def test_apple_type_ahead_with_calendarserver_principal_search(team):
    # report_principal_search.request: tokens, context, limit, and the properties Apple shows.
    body = (f'{XML_HEADER}<CS:calendarserver-principal-search {NAMESPACES} context="attendee">'
            f"<CS:search-token>{team.tag}</CS:search-token><CS:search-token>ex</CS:search-token>"
            "<CS:limit><CS:nresults>50</CS:nresults></CS:limit>"
            "<D:prop><C:calendar-user-type/><CS:email-address-set/><C:calendar-user-address-set/>"
            "<CS:record-type/><D:displayname/><CS:first-name/></D:prop></CS:calendarserver-principal-search>")
    found = _found(_search(team["cy"], body, f"/{team['cy'].name}/"))
    # Every token must match: "ex" is in Ann's name "Example" and in every address "team.example".
    assert set(found) == {team["ann"].name, team["ben"].name, team["cy"].name}
    ann = found[team["ann"].name]
    assert ann.text("C:calendar-user-type") == "INDIVIDUAL"
    assert ann.text("CS:record-type") == "users"
    assert [e.text for e in ann.props[clark("CS:email-address-set")]] == [f"ann.{team.tag}@team.example"]
    assert clark("CS:first-name") in ann.missing
    rooms = body.replace('context="attendee"', 'context="location"')
    assert _found(_search(team["cy"], rooms)) == {}
    bad = _search(team["cy"], body.replace('context="attendee"', 'context="planet"'))
    assert bad.status_code == 400 and "unknown search context" in bad.text


def test_search_property_set_lists_what_can_be_searched(team):
    response = _search(team["ann"], f'{XML_HEADER}<D:principal-search-property-set xmlns:D="DAV:"/>')
    assert response.status_code == 200
    from xml.etree import ElementTree as ET
    root = ET.fromstring(response.content)
    searchable = {prop[0].tag for prop in root.iter(clark("D:prop"))}
    assert {clark("D:displayname"), clark("C:calendar-user-address-set"), clark("CS:email-address-set")} <= searchable


def test_wildcards_in_terms_are_plain_characters(team):
    assert _found(_search(team["ann"], property_search("%", "D:displayname"))) == {}
    assert _found(_search(team["ann"], property_search("_", "D:displayname"))) == {}


def test_the_caldav_library_finds_principals(team):
    ann = team["ann"]
    client = caldav.DAVClient(url=ann.base_url + "/", username=ann.name, password=ann.password)
    found = client.search_principals(name=f"Ben Sample {team.tag}")
    assert [p.url.path for p in found] == [f"/{team['ben'].name}/"]
    assert {p.url.path for p in client.search_principals()} == {
        f"/{team[k].name}/" for k in ("ann", "ben", "cy")}


def test_the_dav_header_announces_principal_search(user):
    header = user.request("OPTIONS", "").headers["DAV"]
    assert "calendarserver-principal-search" in header and "calendar-access" in header
