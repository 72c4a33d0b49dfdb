"""Calendars shared through the API, as CalDAV clients see and use them (issue #11)."""
from __future__ import annotations

import caldav
import pytest

from davutil import calendar, clark, event, multiget_body, multistatus, propfind_body, sync_body, vevent
from sharingutil import (THUNDERBIRD_HOME, WRITE_PRIVILEGES, assert_properties_refused,  # noqa: F401
                         assert_writes_reach_the_owner, home_listing, mount, people, privileges)  # people: a fixture

QUERY_WEEK = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
              '<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
              '<C:time-range start="20260101T000000Z" end="20260108T000000Z"/></C:comp-filter></C:comp-filter>'
              "</C:filter></C:calendar-query>")


@pytest.fixture
def alice(people):
    alice = people("alice")
    alice.dav.mkcalendar("team", displayname="Team")
    assert alice.dav.put("team/standup.ics", event("standup", "Standup")).status_code == 201
    return alice


@pytest.mark.parametrize("body", ["davx5", "thunderbird"])
def test_a_shared_calendar_is_listed_in_the_sharees_home(alice, people, body):
    bob = people("bob")
    alice.dav.mkcalendar("plans", displayname="Plans")
    alice.share("/%s/team/" % alice.name, "read", user=bob.name)
    alice.share("plans", "read-write", user=bob.name)
    listing = home_listing(bob, THUNDERBIRD_HOME) if body == "thunderbird" else home_listing(bob)
    team = listing[f"/{bob.name}/{mount(alice, 'team')}"]
    plans = listing[f"/{bob.name}/{mount(alice, 'plans')}"]
    assert team.text("D:displayname") == "Team" and plans.text("D:displayname") == "Plans"
    assert clark("C:calendar") in {e.tag for e in team.props[clark("D:resourcetype")]}
    # Read-only: no write privilege, so clients grey it out; the sharee may still rename it.
    assert not privileges(team) & WRITE_PRIVILEGES and clark("D:read") in privileges(team)
    assert clark("D:write-content") in privileges(plans)
    if body == "davx5":
        assert team.props[clark("D:owner")].findtext(clark("D:href")) == f"/{alice.name}/"
    # The owner's own listing is unchanged.
    assert f"/{alice.name}/team/" in home_listing(alice)


def test_a_read_share_refuses_writes_with_a_reason(alice, people):
    bob = people("bob")
    alice.share("team", "read", user=bob.name)
    bob.dav.mkcalendar("mine")
    assert bob.dav.put("mine/own.ics", event("own")).status_code == 201
    shared = mount(alice, "team")
    assert "Standup" in bob.dav.request("GET", shared + "standup.ics").text
    refusals = [
        bob.dav.put(shared + "new.ics", event("new")),
        bob.dav.put(shared + "standup.ics", event("standup", "Changed")),
        bob.dav.request("DELETE", shared + "standup.ics"),
        bob.dav.request("MOVE", shared + "standup.ics", Destination=bob.dav.url("mine/stolen.ics")),
        bob.dav.request("MOVE", "mine/own.ics", Destination=bob.dav.url(shared + "own.ics")),
    ]
    for response in refusals:
        assert response.status_code == 403, response.text
        assert "need-privileges" in response.text and "read" in response.text and alice.name in response.text
    assert "Standup" in alice.dav.request("GET", "team/standup.ics").text
    assert alice.dav.request("GET", "team/own.ics").status_code == 404
    assert bob.dav.request("GET", "mine/own.ics").status_code == 200


def test_read_write_changes_land_in_the_owners_calendar_and_sync(alice, people):
    bob = people("bob")
    alice.share("team", "read-write", user=bob.name)
    shared = mount(alice, "team")
    assert_writes_reach_the_owner(alice, bob, shared)
    # The sharee syncs the same calendar at its mount.
    mine, _ = multistatus(bob.dav.report(shared, sync_body(), depth="0").content)
    assert [r.href for r in mine] == [f"/{bob.name}/{shared}review.ics"]
    # Read-write is for the items: the calendar itself cannot be deleted, at the mount or the owner's path.
    for path in (shared, f"../{alice.name}/team/"):
        assert bob.dav.request("DELETE", path).status_code == 403
    assert "Review" in alice.dav.request("GET", "team/review.ics").text


def test_read_write_leaves_the_owners_calendar_properties_alone(alice, people):
    bob = people("bob")
    alice.share("team", "read-write", user=bob.name)
    # At the owner's path: refused, with the way to one's own view.
    assert_properties_refused(alice, bob, f"../{alice.name}/team/", f"your own view of it at /{bob.name}/")
    # At the mount: the sharee's own view, still theirs to rename and recolour.
    shared = mount(alice, "team")
    response = bob.dav.request("PROPPATCH", shared, (
        '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:A="http://apple.com/ns/ical/"><D:set><D:prop>'
        "<D:displayname>Alice's team</D:displayname><A:calendar-color>#00FF00FF</A:calendar-color>"
        "</D:prop></D:set></D:propertyupdate>"))
    assert response.status_code == 207 and "200 OK" in response.text, response.text
    bobs = home_listing(bob)[f"/{bob.name}/{shared}"]
    assert bobs.text("D:displayname") == "Alice's team" and bobs.text("A:calendar-color") == "#00FF00FF"
    assert {clark("D:write-content"), clark("D:write-properties")} <= privileges(bobs)
    assert home_listing(alice)[f"/{alice.name}/team/"].text("D:displayname") == "Team"


def test_the_sharee_renames_and_recolours_their_own_view(alice, people):
    bob = people("bob")
    alice.share("team", "read", user=bob.name)
    shared = mount(alice, "team")
    response = bob.dav.request("PROPPATCH", shared, (
        '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:A="http://apple.com/ns/ical/"><D:set><D:prop>'
        "<D:displayname>Alice's team</D:displayname><A:calendar-color>#00FF00FF</A:calendar-color>"
        "</D:prop></D:set></D:propertyupdate>"))
    assert response.status_code == 207 and "200 OK" in response.text
    bobs = home_listing(bob)[f"/{bob.name}/{shared}"]
    assert bobs.text("D:displayname") == "Alice's team" and bobs.text("A:calendar-color") == "#00FF00FF"
    alices = home_listing(alice)[f"/{alice.name}/team/"]
    assert alices.text("D:displayname") == "Team" and clark("A:calendar-color") not in alices.props


def test_revocation_takes_effect_at_once_and_loses_nothing(alice, people):
    bob = people("bob")
    share = alice.share("team", "read-write", user=bob.name)
    shared = mount(alice, "team")
    assert bob.dav.put(shared + "bobs.ics", event("bobs", "Bob's")).status_code == 201
    alice.api.ok("DELETE", f"/api/shares/{share['id']}")
    assert f"/{bob.name}/{shared}" not in home_listing(bob)
    assert bob.dav.request("GET", shared + "standup.ics").status_code == 404
    assert bob.dav.put(shared + "late.ics", event("late")).status_code in (403, 404, 409)
    assert bob.dav.request("GET", f"/{alice.name}/team/standup.ics".lstrip("/")).status_code in (403, 404)
    assert "Bob's" in alice.dav.request("GET", "team/bobs.ics").text
    assert "Standup" in alice.dav.request("GET", "team/standup.ics").text
    # Downgraded instead of revoked: writes stop at once.
    share = alice.share("team", "read-write", user=bob.name)
    alice.api.ok("PATCH", f"/api/shares/{share['id']}", {"access": "read"})
    assert bob.dav.put(shared + "bobs.ics", event("bobs", "Again")).status_code == 403


def test_someone_outside_every_share_sees_nothing(alice, people):
    bob, carol = people("bob"), people("carol")
    alice.share("team", "read", user=bob.name)
    carol.dav.mkcalendar("own")
    assert carol.dav.put("own/mine.ics", event("mine")).status_code == 201
    team = f"../{alice.name}/team/"
    answers = [
        carol.dav.request("PROPFIND", team, propfind_body("D:getetag"), Depth="1"),
        carol.dav.request("PROPFIND", team, propfind_body("D:displayname"), Depth="0"),
        carol.dav.report(team, QUERY_WEEK),
        carol.dav.report(team, multiget_body([f"/{alice.name}/team/standup.ics"])),
        carol.dav.report(team, sync_body(), depth="0"),
        carol.dav.request("GET", team + "standup.ics"),
        carol.dav.request("MOVE", team + "standup.ics", Destination=carol.dav.url("own/taken.ics")),
        carol.dav.request("MOVE", "own/mine.ics", Destination=carol.dav.url(team + "mine.ics")),
        carol.dav.put(team + "planted.ics", event("planted")),
        # Bob's mount is Bob's: nobody else may use it.
        carol.dav.request("PROPFIND", f"../{bob.name}/{mount(alice, 'team')}", propfind_body("D:getetag"), Depth="1"),
    ]
    assert [a.status_code for a in answers] == [403] * len(answers), [a.text for a in answers]
    # Her own mount of the calendar does not exist, and guessed hrefs in her own multiget find nothing.
    assert carol.dav.request("PROPFIND", mount(alice, "team"), propfind_body("D:getetag"), Depth="1").status_code == 404
    guessed, _ = multistatus(carol.dav.report("own/", multiget_body([
        f"/{alice.name}/team/standup.ics", f"/{carol.name}/{mount(alice, 'team')}standup.ics"])).content)
    assert all(r.status == 404 and clark("C:calendar-data") not in r.props for r in guessed)
    assert all(f"/{carol.name}/{mount(alice, 'team')}" != href for href in home_listing(carol))
    assert "Standup" in alice.dav.request("GET", "team/standup.ics").text
    assert alice.dav.request("GET", "team/mine.ics").status_code == 404


def test_squad_and_organisation_shares_reach_their_members(alice, people):
    bob, carol, dave = people("bob"), people("carol"), people("dave")
    org = alice.api.ok("POST", "/api/organisations", {"name": "Acme"})
    for member in (bob, carol):
        alice.api.ok("POST", f"/api/organisations/{org['id']}/members", {"user": member.name, "role": "member"})
    squad = alice.api.ok("POST", f"/api/organisations/{org['id']}/squads", {"name": "Design", "members": [bob.name]})
    alice.share("team", "read", squad=squad["id"])
    shared = f"/{{}}/{mount(alice, 'team')}"
    assert shared.format(bob.name) in home_listing(bob)
    assert shared.format(carol.name) not in home_listing(carol)
    alice.dav.mkcalendar("all-hands", displayname="All hands")
    alice.share("all-hands", "read-write", organisation=org["id"])
    assert f"/{carol.name}/{mount(alice, 'all-hands')}" in home_listing(carol)
    assert f"/{dave.name}/{mount(alice, 'all-hands')}" not in home_listing(dave)
    # Leaving the squad ends its shares at once.
    alice.api.ok("PATCH", f"/api/organisations/{org['id']}/squads/{squad['id']}", {"members": []})
    assert shared.format(bob.name) not in home_listing(bob)


def test_a_free_busy_share_shows_busy_time_only(alice, people):
    bob = people("bob")
    alice.share("team", "free-busy", user=bob.name)
    shared = mount(alice, "team")
    assert f"/{bob.name}/{shared}" not in home_listing(bob)
    free_busy = bob.dav.report(shared, (
        '<?xml version="1.0"?><C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
        '<C:time-range start="20260101T000000Z" end="20260108T000000Z"/></C:free-busy-query>'))
    assert free_busy.status_code == 200 and "FREEBUSY" in free_busy.text and "Standup" not in free_busy.text
    assert bob.dav.report(shared, QUERY_WEEK).status_code == 403
    assert bob.dav.request("GET", shared + "standup.ics").status_code == 403


def test_the_caldav_library_lists_and_writes_a_shared_calendar(alice, people, base_url):
    bob = people("bob")
    alice.share("team", "read-write", user=bob.name)
    client = caldav.DAVClient(url=f"{base_url}/{bob.name}/", username=bob.name, password=bob.dav.password)
    calendars = {c.get_display_name(): c for c in client.principal().calendars()}
    team = calendars["Team"]
    assert [e.vobject_instance.vevent.summary.value for e in team.events()] == ["Standup"]
    team.save_event(calendar(vevent("from-bob", "From Bob")))
    assert "From Bob" in alice.dav.request("GET", "team/from-bob.ics").text


def test_reads_through_the_mount_name_the_mount(alice, people):
    bob = people("bob")
    alice.share("team", "read", user=bob.name)
    shared = mount(alice, "team")
    own_href = f"/{bob.name}/{shared}standup.ics"
    # calendar-query (the fast path on Alice's calendar), multiget and a Depth-1 listing of items.
    found, _ = multistatus(bob.dav.report(shared, QUERY_WEEK).content)
    assert [r.href for r in found] == [own_href]
    got, _ = multistatus(bob.dav.report(shared, multiget_body([own_href])).content)
    assert [r.href for r in got] == [own_href] and "Standup" in got[0].text("C:calendar-data")
    listed, _ = multistatus(bob.dav.request("PROPFIND", shared, propfind_body(
        "D:getetag", "D:current-user-privilege-set"), Depth="1").content)
    assert {r.href for r in listed} == {f"/{bob.name}/{shared}", own_href}
    assert not any(privileges(r) & WRITE_PRIVILEGES for r in listed)


def test_the_owner_deletes_a_shared_calendar_and_its_shares_go_with_it(alice, people):
    bob = people("bob")
    alice.share("team", "read", user=bob.name)
    assert alice.dav.request("DELETE", "team/").status_code in (200, 204)
    assert alice.api.ok("GET", "/api/shares")["shares"] == []
    assert bob.api.ok("GET", "/api/shares")["shared_with_me"] == []
    assert bob.dav.request("GET", mount(alice, "team") + "standup.ics").status_code == 404


def test_a_free_busy_share_lets_an_outsider_see_busy_time_by_the_api(alice, people):
    stranger = people("stranger")  # in no organisation with alice
    week = {"users": alice.name, "start": "2026-01-01T00:00:00Z", "end": "2026-01-08T00:00:00Z"}
    assert stranger.api.ok("GET", "/api/free-busy", **week)["users"][0]["found"] is False
    alice.share("team", "free-busy", user=stranger.name)
    [answer] = stranger.api.ok("GET", "/api/free-busy", **week)["users"]
    assert answer["found"] is True and [b["type"] for b in answer["busy"]] == ["BUSY"]


QUERY_WEEK_DATA = QUERY_WEEK.replace("<D:getetag/>", "<D:getetag/><C:calendar-data/>")


@pytest.mark.parametrize("encoding", ["gzip", "identity"])
def test_kept_answers_name_each_readers_own_hrefs(alice, people, encoding):
    """A week asked through two mounts and by the owner, in every order: each answer names the
    asker's own hrefs, also when it was kept (gzipped or not) after somebody else asked."""
    for n in range(12):  # over compression.MIN_SIZE, so that gzip answers are compressed
        meeting = event(f"e{n}", f"Meeting number {n} about the roadmap")
        assert alice.dav.put(f"team/e{n}.ics", meeting).status_code == 201
    bob, carol = people("bob"), people("carol")
    alice.share("team", "read", user=bob.name)
    alice.share("team", "read", user=carol.name)
    readers = [(bob, mount(alice, "team")), (alice, "team/"), (carol, mount(alice, "team")),
               (bob, mount(alice, "team")), (alice, "team/"), (carol, mount(alice, "team"))]
    for reader, path in readers:
        response = reader.dav.request("REPORT", path, QUERY_WEEK_DATA, Depth="1", **{
            "Content-Type": "application/xml", "Accept-Encoding": encoding})
        assert response.status_code == 207
        assert (response.headers.get("Content-Encoding") == "gzip") == (encoding == "gzip")
        found, _ = multistatus(response.content)
        assert len(found) == 13
        assert {r.href.rsplit("/", 1)[0] + "/" for r in found} == {f"/{reader.name}/{path}"}, (reader.name, path)
