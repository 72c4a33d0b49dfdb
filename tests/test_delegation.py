"""Delegation (issue #11): read and write proxies as Apple Calendar and DAVx5 use them, and
/api/delegations."""
from __future__ import annotations

import caldav
import pytest

from okr_extension import account_removal

from davutil import calendar, clark, event, multiget_body, multistatus, propfind_body, sync_body, vevent
from sharingutil import (DAVX5_HOME, WRITE_PRIVILEGES, assert_properties_refused,  # noqa: F401
                         assert_writes_reach_the_owner, people, privileges)  # people: a fixture
from test_sharing_api import assert_problem

# Apple Calendar's startup expand-property of its own principal, verbatim (CalendarServer's recorded
# client traffic: contrib/performance/loadtest/request-data/OS_X_10_11/startup_principal_expand.request).
APPLE_EXPAND = """<?xml version="1.0" encoding="UTF-8"?>
<A:expand-property xmlns:A="DAV:">
  <A:property name="calendar-proxy-read-for" namespace="http://calendarserver.org/ns/">
    <A:property name="calendar-user-address-set" namespace="urn:ietf:params:xml:ns:caldav"/>
    <A:property name="email-address-set" namespace="http://calendarserver.org/ns/"/>
    <A:property name="displayname" namespace="DAV:"/>
  </A:property>
  <A:property name="calendar-proxy-write-for" namespace="http://calendarserver.org/ns/">
    <A:property name="calendar-user-address-set" namespace="urn:ietf:params:xml:ns:caldav"/>
    <A:property name="email-address-set" namespace="http://calendarserver.org/ns/"/>
    <A:property name="displayname" namespace="DAV:"/>
  </A:property>
</A:expand-property>
"""
# DAVx5's ServiceRefresher: the principal's home set and the principals it acts for (dav4jvm names).
DAVX5_PRINCIPAL = (
    '<?xml version="1.0" encoding="UTF-8"?><propfind xmlns="DAV:" xmlns:CAL="urn:ietf:params:xml:ns:caldav"'
    ' xmlns:CS="http://calendarserver.org/ns/"><prop><CAL:calendar-home-set/><CS:calendar-proxy-read-for/>'
    "<CS:calendar-proxy-write-for/><group-membership/><displayname/></prop></propfind>")


def members_body(*hrefs: str) -> str:
    """Apple's PROPPATCH of a proxy group's members."""
    members = "".join(f"<D:href>{href}</D:href>" for href in hrefs)
    return ('<?xml version="1.0" encoding="UTF-8"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
            f"<D:group-member-set>{members}</D:group-member-set></D:prop></D:set></D:propertyupdate>")


def other(person, path: str) -> str:
    """A path relative to ``person``'s home reaching another home (``/alice/team/``)."""
    return "../" + path.lstrip("/")


@pytest.fixture
def alice(people):
    alice = people("alice")
    alice.api.ok("PATCH", "/api/account", {"email": f"{alice.name}@example.com", "display_name": "Alice A."})
    alice.dav.mkcalendar("team", displayname="Team")
    alice.dav.mkcalendar("tasks", components=("VTODO",), displayname="Tasks")
    assert alice.dav.put("team/standup.ics", event("standup", "Standup")).status_code == 201
    return alice


def delegate(alice, bob, access: str) -> dict:
    return alice.api.ok("POST", "/api/delegations", {"delegate": bob.name, "access": access})


def test_apple_sets_proxies_and_expands_whose_proxy_it_is(alice, people):
    bob, carol = people("bob"), people("carol")
    write_group, read_group = "calendar-proxy-write/", "calendar-proxy-read/"
    for group, member in ((write_group, bob), (read_group, carol)):
        answer = alice.dav.request("PROPPATCH", group, members_body(f"/{member.name}/"),
                                   **{"Content-Type": "application/xml"})
        assert answer.status_code == 207 and "200 OK" in answer.text, answer.text
    [group], _ = multistatus(alice.dav.request("PROPFIND", write_group, propfind_body(
        "D:resourcetype", "D:group-member-set", "D:displayname", "D:current-user-privilege-set"), Depth="0").content)
    assert group.href == f"/{alice.name}/{write_group}"
    assert {e.tag for e in group.props[clark("D:resourcetype")]} == {clark("D:principal"),
                                                                     clark("CS:calendar-proxy-write")}
    assert [h.text for h in group.props[clark("D:group-member-set")]] == [f"/{bob.name}/"]
    assert clark("D:write") in privileges(group)

    expanded, _ = multistatus(bob.dav.report("", APPLE_EXPAND, depth="0").content)
    [me] = expanded
    assert me.href == f"/{bob.name}/" and len(me.props[clark("CS:calendar-proxy-read-for")]) == 0
    [delegator] = me.props[clark("CS:calendar-proxy-write-for")]
    assert delegator.findtext(clark("D:href")) == f"/{alice.name}/"
    prop = delegator.find(f"{clark('D:propstat')}/{clark('D:prop')}")
    assert prop.findtext(clark("D:displayname")) == "Alice A."
    assert [e.text for e in prop.find(clark("CS:email-address-set"))] == [f"{alice.name}@example.com"]
    addresses = [h.text for h in prop.find(clark("C:calendar-user-address-set"))]
    assert f"mailto:{alice.name}@example.com" in addresses and f"/{alice.name}/" in addresses
    [carols], _ = multistatus(carol.dav.report("", APPLE_EXPAND, depth="0").content)
    assert [r.findtext(clark("D:href")) for r in carols.props[clark("CS:calendar-proxy-read-for")]] == [
        f"/{alice.name}/"]
    # The delegator's view of a group: its members, with their names once the directory shows them
    # to her (naming someone a proxy reveals nothing of them).
    expand_members = ('<?xml version="1.0" encoding="UTF-8"?><A:expand-property xmlns:A="DAV:">'
                      '<A:property name="group-member-set" namespace="DAV:">'
                      '<A:property name="displayname" namespace="DAV:"/></A:property></A:expand-property>')
    [members], _ = multistatus(alice.dav.report(write_group, expand_members, depth="0").content)
    [member] = members.props[clark("D:group-member-set")]
    assert member.findtext(clark("D:href")) == f"/{bob.name}/" and member.find(f".//{clark('D:displayname')}") is None
    org = alice.api.ok("POST", "/api/organisations", {"name": "Acme"})
    alice.api.ok("POST", f"/api/organisations/{org['id']}/members", {"user": bob.name, "role": "member"})
    [members], _ = multistatus(alice.dav.report(write_group, expand_members, depth="0").content)
    assert members.props[clark("D:group-member-set")][0].findtext(f".//{clark('D:displayname')}") == bob.name
    # Apple then reads the delegator's principal (startup_delegate_principal_propfind.request).
    [principal], _ = multistatus(bob.dav.request("PROPFIND", other(bob, f"/{alice.name}/"), propfind_body(
        "C:calendar-home-set", "D:displayname", "C:schedule-inbox-URL"), Depth="0").content)
    assert principal.props[clark("C:calendar-home-set")].findtext(clark("D:href")) == f"/{alice.name}/"
    # The same grants, seen by the API; moving bob to the read group makes him a read proxy.
    assert {(d["delegate"], d["access"]) for d in alice.api.ok("GET", "/api/delegations")["delegations"]} == {
        (bob.name, "write"), (carol.name, "read")}
    alice.dav.request("PROPPATCH", read_group, members_body(f"/{carol.name}/", f"/{bob.name}/"))
    assert alice.api.ok("GET", f"/api/delegations/{bob.name}")["access"] == "read"
    alice.dav.request("PROPPATCH", read_group, members_body())
    assert alice.api.ok("GET", "/api/delegations")["delegations"] == []


def test_the_dav_header_and_the_principal_announce_delegation(alice, people):
    bob = people("bob")
    delegate(alice, bob, "write")
    assert "calendar-proxy" in bob.dav.request("OPTIONS", "").headers["DAV"]
    [me], _ = multistatus(bob.dav.request("PROPFIND", "", propfind_body("D:supported-report-set"),
                                          Depth="0").content)
    assert "expand-property" in str([e.tag for e in me.props[clark("D:supported-report-set")].iter()])
    [names], _ = multistatus(bob.dav.request("PROPFIND", "", '<?xml version="1.0"?><D:propfind xmlns:D="DAV:">'
                                             "<D:propname/></D:propfind>", Depth="0").content)
    assert {clark("CS:calendar-proxy-read-for"), clark("CS:calendar-proxy-write-for"),
            clark("D:group-membership"), clark("C:calendar-home-set")} <= set(names.props)


def test_davx5_follows_proxy_for_into_the_delegators_home(alice, people):
    bob = people("bob")
    delegate(alice, bob, "write")
    alice.dav.request("MKCOL", "contacts/", (
        '<?xml version="1.0"?><D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>'
        "<D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>"))
    [me], _ = multistatus(bob.dav.request("PROPFIND", "", DAVX5_PRINCIPAL, Depth="0").content)
    assert [h.text for h in me.props[clark("CS:calendar-proxy-write-for")]] == [f"/{alice.name}/"]
    assert [h.text for h in me.props[clark("D:group-membership")]] == [f"/{alice.name}/calendar-proxy-write/"]
    assert len(me.props[clark("CS:calendar-proxy-read-for")]) == 0
    # The group it is a member of answers, with no home set of its own (DAVx5 moves on).
    [group], _ = multistatus(bob.dav.request("PROPFIND", other(bob, f"/{alice.name}/calendar-proxy-write/"),
                                             DAVX5_PRINCIPAL, Depth="0").content)
    assert clark("C:calendar-home-set") in group.missing and group.text("D:displayname") == "calendar-proxy-write"
    # Into the delegator's principal (up to two levels), then its home set.
    [theirs], _ = multistatus(bob.dav.request("PROPFIND", other(bob, f"/{alice.name}/"), DAVX5_PRINCIPAL,
                                              Depth="0").content)
    home = theirs.props[clark("C:calendar-home-set")].findtext(clark("D:href"))
    assert home == f"/{alice.name}/"
    listing = bob.dav.request("PROPFIND", other(bob, home), DAVX5_HOME, Depth="1",
                              **{"Content-Type": "application/xml"})
    assert listing.status_code == 207, listing.text
    found = {r.href: r for r in multistatus(listing.content)[0]}
    assert {f"/{alice.name}/team/", f"/{alice.name}/tasks/"} <= set(found)
    # Neither the scheduling inbox and outbox nor the address book reach a proxy.
    assert not any(name in href for href in found for name in ("schedule-inbox", "schedule-outbox", "contacts"))
    team = found[f"/{alice.name}/team/"]
    assert team.text("D:displayname") == "Team" and WRITE_PRIVILEGES <= privileges(team)
    assert clark("C:calendar") in {e.tag for e in team.props[clark("D:resourcetype")]}
    assert bob.dav.request("PROPFIND", other(bob, f"/{alice.name}/schedule-inbox/"), propfind_body("D:getetag"),
                           Depth="1").status_code == 403


def test_someone_elses_delegations_show_only_whom_the_directory_shows(alice, people):
    bob, carol, erin = people("bob"), people("carol"), people("erin")
    delegate(alice, bob, "read")
    delegate(alice, erin, "read")
    delegate(carol, alice, "write")  # carol and erin: outside bob's directory
    expand = ('<?xml version="1.0" encoding="UTF-8"?><A:expand-property xmlns:A="DAV:" '
              'xmlns:CS="http://calendarserver.org/ns/"><A:property name="calendar-proxy-read-for" '
              'namespace="http://calendarserver.org/ns/"><A:property name="calendar-proxy-write-for" '
              'namespace="http://calendarserver.org/ns/"/><A:property name="group-membership">'
              '<A:property name="group-member-set"/></A:property></A:property></A:expand-property>')

    def alices_delegations() -> tuple[list, list]:
        [me], _ = multistatus(bob.dav.report("", expand, depth="0").content)
        [delegator] = me.props[clark("CS:calendar-proxy-read-for")]
        assert delegator.findtext(clark("D:href")) == f"/{alice.name}/"
        prop = delegator.find(f"{clark('D:propstat')}/{clark('D:prop')}")
        return list(prop.find(clark("CS:calendar-proxy-write-for"))), list(prop.find(clark("D:group-membership")))

    assert alices_delegations() == ([], [])
    [principal], _ = multistatus(bob.dav.request("PROPFIND", other(bob, f"/{alice.name}/"), DAVX5_PRINCIPAL,
                                                 Depth="0").content)
    assert len(principal.props[clark("CS:calendar-proxy-write-for")]) == 0
    assert len(principal.props[clark("D:group-membership")]) == 0
    group = other(bob, f"/{alice.name}/calendar-proxy-read/")
    [members], _ = multistatus(bob.dav.request("PROPFIND", group, propfind_body("D:group-member-set"),
                                               Depth="0").content)
    assert [h.text for h in members.props[clark("D:group-member-set")]] == [f"/{bob.name}/"]
    # The delegator sees all of her own, and whose proxy she is.
    [members], _ = multistatus(alice.dav.request("PROPFIND", "calendar-proxy-read/", propfind_body(
        "D:group-member-set"), Depth="0").content)
    assert {h.text for h in members.props[clark("D:group-member-set")]} == {f"/{bob.name}/", f"/{erin.name}/"}
    [mine], _ = multistatus(alice.dav.request("PROPFIND", "", DAVX5_PRINCIPAL, Depth="0").content)
    assert [h.text for h in mine.props[clark("CS:calendar-proxy-write-for")]] == [f"/{carol.name}/"]
    # Once bob knows of carol, he sees that alice is her proxy, but not carol's proxies: her business.
    org = bob.api.ok("POST", "/api/organisations", {"name": "Acme"})
    bob.api.ok("POST", f"/api/organisations/{org['id']}/members", {"user": carol.name, "role": "member"})
    write_for, groups = alices_delegations()
    assert [h.text for h in write_for] == [f"/{carol.name}/"]
    [carols_group] = groups
    assert carols_group.findtext(clark("D:href")) == f"/{carol.name}/calendar-proxy-write/"
    assert carols_group.findtext(clark("D:status")) == "HTTP/1.1 404 Not Found"
    assert bob.dav.request("PROPFIND", other(bob, f"/{carol.name}/calendar-proxy-write/"),
                           propfind_body("D:group-member-set"), Depth="0").status_code == 403


def test_a_read_proxy_reads_and_is_refused_writes_with_a_reason(alice, people):
    bob = people("bob")
    delegate(alice, bob, "read")
    team = other(bob, f"/{alice.name}/team/")
    assert "Standup" in bob.dav.request("GET", team + "standup.ics").text
    got, _ = multistatus(bob.dav.report(team, multiget_body([f"/{alice.name}/team/standup.ics"])).content)
    assert "Standup" in got[0].text("C:calendar-data")
    listed, _ = multistatus(bob.dav.request("PROPFIND", team, propfind_body(
        "D:getetag", "D:current-user-privilege-set"), Depth="1").content)
    assert {r.href for r in listed} == {f"/{alice.name}/team/", f"/{alice.name}/team/standup.ics"}
    assert not any(privileges(r) & WRITE_PRIVILEGES for r in listed)
    bob.dav.mkcalendar("mine")
    assert bob.dav.put("mine/own.ics", event("own")).status_code == 201
    refusals = [
        bob.dav.put(team + "new.ics", event("new")),
        bob.dav.put(team + "standup.ics", event("standup", "Changed")),
        bob.dav.request("DELETE", team + "standup.ics"),
        bob.dav.request("MOVE", "mine/own.ics", Destination=bob.dav.url(team + "own.ics")),
    ]
    for response in refusals:
        assert response.status_code == 403, response.text
        assert "need-privileges" in response.text and "read proxy" in response.text, response.text
    assert "Standup" in alice.dav.request("GET", "team/standup.ics").text
    assert alice.dav.request("GET", "team/own.ics").status_code == 404


def test_a_write_proxys_writes_land_in_the_delegators_calendar_and_sync(alice, people):
    bob = people("bob")
    delegate(alice, bob, "write")
    team = other(bob, f"/{alice.name}/team/")
    assert_writes_reach_the_owner(alice, bob, team)
    # The proxy syncs the same calendar; the inbox stays the delegator's own.
    theirs, _ = multistatus(bob.dav.report(team, sync_body(), depth="0").content)
    assert [r.href for r in theirs] == [f"/{alice.name}/team/review.ics"]
    assert bob.dav.request("GET", other(bob, f"/{alice.name}/schedule-inbox/")).status_code == 403
    # Items, not the calendars themselves: no deleting or replacing them, nor making new ones.
    deleted = bob.dav.request("DELETE", team)
    assert deleted.status_code == 403 and "write proxy" in deleted.text
    assert bob.dav.put(team, event("whole", "Replaced")).status_code == 403
    assert bob.dav.request("MKCALENDAR", other(bob, f"/{alice.name}/new/")).status_code == 403
    assert "Review" in alice.dav.request("GET", "team/review.ics").text
    # Nor changing their properties (making one a plain collection, its busy time transparent).
    assert_properties_refused(alice, bob, team, "write proxy")
    # The API's reads and writes follow the same rights.
    week = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-08T00:00:00Z"}
    assert "review" in str(bob.api.ok("GET", "/api/agenda", **week))


def test_revoking_takes_effect_at_once(alice, people):
    bob = people("bob")
    delegate(alice, bob, "write")
    team = other(bob, f"/{alice.name}/team/")
    assert bob.dav.put(team + "bobs.ics", event("bobs", "Bob's")).status_code == 201
    alice.api.ok("DELETE", f"/api/delegations/{bob.name}")
    answers = [
        bob.dav.request("GET", team + "standup.ics"),
        bob.dav.put(team + "late.ics", event("late")),
        bob.dav.request("PROPFIND", other(bob, f"/{alice.name}/"), DAVX5_HOME, Depth="1"),
        bob.dav.report(team, sync_body(), depth="0"),
    ]
    assert [a.status_code for a in answers] == [403] * len(answers), [a.text for a in answers]
    [me], _ = multistatus(bob.dav.report("", APPLE_EXPAND, depth="0").content)
    assert len(me.props[clark("CS:calendar-proxy-write-for")]) == 0
    assert "Bob's" in alice.dav.request("GET", "team/bobs.ics").text
    # Downgraded by the API: writes stop at once.
    delegate(alice, bob, "write")
    alice.api.ok("PATCH", f"/api/delegations/{bob.name}", {"access": "read"})
    assert bob.dav.put(team + "bobs.ics", event("bobs", "Again")).status_code == 403
    # Removed from the group by CalDAV: gone at once too.
    alice.dav.request("PROPPATCH", "calendar-proxy-read/", members_body())
    assert bob.dav.request("GET", team + "bobs.ics").status_code == 403


def test_someone_who_is_no_proxy_sees_nothing(alice, people):
    bob, carol = people("bob"), people("carol")
    delegate(alice, bob, "write")
    home = other(carol, f"/{alice.name}/")
    answers = [
        carol.dav.request("PROPFIND", home, DAVX5_HOME, Depth="1"),
        carol.dav.request("PROPFIND", home, DAVX5_PRINCIPAL, Depth="0"),
        carol.dav.request("PROPFIND", home + "calendar-proxy-write/", propfind_body("D:group-member-set"),
                          Depth="0"),
        carol.dav.report(home, APPLE_EXPAND, depth="0"),
        carol.dav.request("GET", home + "team/standup.ics"),
        carol.dav.report(home + "team/", sync_body(), depth="0"),
        carol.dav.put(home + "team/planted.ics", event("planted")),
        carol.dav.request("PROPPATCH", home + "calendar-proxy-write/", members_body(f"/{carol.name}/")),
    ]
    assert [a.status_code for a in answers] == [403] * len(answers), [a.text for a in answers]
    assert [d["delegate"] for d in alice.api.ok("GET", "/api/delegations")["delegations"]] == [bob.name]
    assert carol.api.ok("GET", "/api/delegations") == {"delegations": [], "delegated_to_me": []}
    # A proxy sees the delegator's groups but cannot change them.
    assert bob.dav.request("PROPPATCH", home + "calendar-proxy-write/",
                           members_body(f"/{carol.name}/")).status_code == 403


def test_bad_group_changes_are_refused_with_reasons(alice, people):
    bob = people("bob")
    cases = [
        (members_body("/nobody-at-all/"), "no user"),
        (members_body(f"/{alice.name}/"), "own proxy"),
        (members_body(f"/{alice.name}/team/"), "principal URL"),
        (members_body("http://[x/"), "principal URL"),  # no URL at all
        (members_body("/%00/"), "principal URL"),  # a NUL the database would refuse
    ]
    for body, words in cases:
        answer = alice.dav.request("PROPPATCH", "calendar-proxy-write/", body)
        assert answer.status_code == 207 and "409 Conflict" in answer.text and words in answer.text, answer.text
    protected = alice.dav.request("PROPPATCH", "calendar-proxy-write/", (
        '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>x</D:displayname>'
        f"<D:group-member-set><D:href>/{bob.name}/</D:href></D:group-member-set></D:prop></D:set>"
        "</D:propertyupdate>"))
    assert "403 Forbidden" in protected.text and "424 Failed Dependency" in protected.text
    assert alice.api.ok("GET", "/api/delegations")["delegations"] == []
    refused = alice.dav.request("MKCALENDAR", "calendar-proxy-read/")
    assert refused.status_code == 403 and "proxy group" in refused.text
    assert alice.dav.request("PROPPATCH", "calendar-proxy-read/", "<not-xml").status_code == 400
    bad_expand = '<?xml version="1.0"?><A:expand-property xmlns:A="DAV:"><A:property/></A:expand-property>'
    assert alice.dav.report("", bad_expand, depth="0").status_code == 400
    # An address is as good as the principal URL, for an account the directory shows: of anyone
    # else it is answered as an address nobody has (nor does the group then show who has it).
    bob.api.ok("PATCH", "/api/account", {"email": f"{bob.name}@example.com"})
    by_address = members_body(f"mailto:{bob.name}@example.com")
    answer = alice.dav.request("PROPPATCH", "calendar-proxy-read/", by_address)
    assert "409 Conflict" in answer.text and f"no user has the address mailto:{bob.name}@example.com" in answer.text
    unknown = alice.dav.request("PROPPATCH", "calendar-proxy-read/", members_body("mailto:nobody@example.com"))
    assert answer.text.replace(f"{bob.name}@", "nobody@") == unknown.text
    assert alice.api.ok("GET", "/api/delegations")["delegations"] == []
    org = alice.api.ok("POST", "/api/organisations", {"name": "Acme"})
    alice.api.ok("POST", f"/api/organisations/{org['id']}/members", {"user": bob.name, "role": "member"})
    answer = alice.dav.request("PROPPATCH", "calendar-proxy-read/", by_address)
    assert "200 OK" in answer.text and alice.api.ok("GET", f"/api/delegations/{bob.name}")["access"] == "read"


def test_delegations_by_the_api(alice, people):
    bob, carol = people("bob"), people("carol")
    made = delegate(alice, bob, "read")
    assert made["delegate"] == bob.name and made["access"] == "read" and made["created"]
    assert alice.api.ok("GET", f"/api/delegations/{bob.name}") == made
    assert bob.api.ok("GET", "/api/delegations") == {"delegations": [], "delegated_to_me": [
        {"delegator": alice.name, "access": "read", "home": f"/{alice.name}/"}]}
    changed = alice.api.ok("PATCH", f"/api/delegations/{bob.name}", {"access": "write"})
    assert changed["access"] == "write"
    cases = [
        ("POST", "/api/delegations", {"delegate": bob.name, "access": "read"}, 409, "already"),
        ("POST", "/api/delegations", {"delegate": alice.name, "access": "read"}, 422, "own proxy"),
        ("POST", "/api/delegations", {"delegate": "nobody-at-all", "access": "read"}, 422, "no user"),
        ("POST", "/api/delegations", {"delegate": carol.name, "access": "admin"}, 422, ""),
        ("POST", "/api/delegations", {"delegate": carol.name}, 422, ""),
        ("PATCH", f"/api/delegations/{carol.name}", {"access": "read"}, 404, "not your proxy"),
        ("PATCH", f"/api/delegations/{bob.name}", {"access": "all"}, 422, ""),
        ("GET", f"/api/delegations/{carol.name}", None, 404, "not your proxy"),
        ("DELETE", f"/api/delegations/{carol.name}", None, 404, "not your proxy"),
    ]
    for method, path, body, status, words in cases:
        assert_problem(alice.api.call(method, path, body), status, words)
    # Only the delegator manages a delegation: bob's namespace holds none of alice's.
    assert_problem(bob.api.call("DELETE", f"/api/delegations/{bob.name}"), 404)
    alice.api.ok("DELETE", f"/api/delegations/{bob.name}")
    assert alice.api.ok("GET", "/api/delegations")["delegations"] == []
    paths = alice.api.ok("GET", "/api/openapi.json")["paths"]
    assert {"get", "post"} <= set(paths["/api/delegations"])
    assert {"get", "patch", "delete"} <= set(paths["/api/delegations/{delegate}"])
    assert "application/problem+json" in str(paths["/api/delegations"]["post"]["responses"]["422"])


def test_the_sidecar_reads_and_writes_what_a_proxy_may(alice, people):
    bob = people("bob")
    bob.api.ok("PATCH", "/api/account", {"email": f"{bob.name}@example.com"})
    org = alice.api.ok("POST", "/api/organisations", {"name": "Acme"})
    alice.api.ok("POST", f"/api/organisations/{org['id']}/members", {"user": bob.name, "role": "member"})
    objective = alice.api.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Ship"})
    target = {"target_kind": "objective", "target_id": objective["id"]}
    link = f"X-PLANERIX-OBJECTIVE:{objective['id']}\r\n"
    assert alice.dav.put("team/review.ics", event("review", "Review", extra=link)).status_code == 201
    assigned = calendar(
        "BEGIN:VTODO\r\nUID:prepare\r\nDTSTAMP:20260101T000000Z\r\nDUE:20260105T120000Z\r\nSUMMARY:Prepare\r\n"
        f"ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:{bob.name}@example.com\r\nEND:VTODO\r\n")
    assert alice.dav.put("tasks/prepare.ics", assigned).status_code == 201
    assert bob.api.ok("GET", "/api/links", **target)["items"] == []
    assert bob.api.ok("GET", "/api/my-tasks")["items"] == []
    delegate(alice, bob, "read")
    assert [i["uid"] for i in bob.api.ok("GET", "/api/links", **target)["items"]] == ["review"]
    assert [t["uid"] for t in bob.api.ok("GET", "/api/my-tasks")["items"]] == ["prepare"]
    body = {"calendar": f"/{alice.name}/team/", "uid": "review", **target}
    assert_problem(bob.api.call("DELETE", "/api/links", None, **body), 403, "read-write")
    alice.api.ok("PATCH", f"/api/delegations/{bob.name}", {"access": "write"})
    assert bob.api.ok("DELETE", "/api/links", None, status=200, **body)["links"] == []
    assert "PLANERIX" not in alice.dav.request("GET", "team/review.ics").text
    alice.api.ok("DELETE", f"/api/delegations/{bob.name}")
    assert bob.api.ok("GET", "/api/my-tasks")["items"] == []
    assert_problem(bob.api.call("GET", "/api/item-links", calendar=f"/{alice.name}/team/", uid="review"), 404)


def test_an_archived_delegator_is_out_of_reach_until_restored(alice, people, engine):
    bob = people("bob")
    delegate(alice, bob, "read")
    report = account_removal.remove(engine, alice.name, keep_data=True)
    archived = f"/{report.archived_as}/"
    assert bob.dav.request("GET", other(bob, archived + "team/standup.ics")).status_code == 403
    assert bob.dav.request("PROPFIND", other(bob, archived), DAVX5_HOME, Depth="1").status_code == 403
    assert bob.api.ok("GET", "/api/delegations")["delegated_to_me"] == []
    account_removal.restore(engine, report.archived_as)
    assert "Standup" in bob.dav.request("GET", other(bob, f"/{alice.name}/team/standup.ics")).text


def test_the_caldav_library_uses_a_delegators_calendar_by_url(alice, people, base_url):
    bob = people("bob")
    delegate(alice, bob, "write")
    client = caldav.DAVClient(url=f"{base_url}/{bob.name}/", username=bob.name, password=bob.dav.password)
    team = client.calendar(url=f"{base_url}/{alice.name}/team/")
    assert [e.vobject_instance.vevent.summary.value for e in team.events()] == ["Standup"]
    team.save_event(calendar(vevent("from-bob", "From Bob")))
    assert "From Bob" in alice.dav.request("GET", "team/from-bob.ics").text


def test_a_proxy_sees_the_delegators_busy_time(alice, people):
    stranger = people("stranger")  # in no organisation with alice
    week = {"users": alice.name, "start": "2026-01-01T00:00:00Z", "end": "2026-01-08T00:00:00Z"}
    assert stranger.api.ok("GET", "/api/free-busy", **week)["users"][0]["found"] is False
    delegate(alice, stranger, "read")
    [answer] = stranger.api.ok("GET", "/api/free-busy", **week)["users"]
    assert answer["found"] is True and [b["type"] for b in answer["busy"]] == ["BUSY"]
