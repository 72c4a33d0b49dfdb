"""/api/resources: admins manage rooms, members see them and their bookings, managers answer
requests under the manual policy; rooms are found as Apple finds them and in find-time."""
import requests
import pytest

from davutil import XML_HEADER, multistatus
from roomutil import Team, partstats, room_invitation
from schedutil import copy_of, scheduling_user, unfolded

NAMESPACES = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/"'


@pytest.fixture
def team(engine, base_url, api_server):
    return Team(engine, base_url, api_server.url)


def test_admins_manage_rooms_members_see_them_outsiders_do_not(team, engine, base_url, api_server):
    room = team.room(name="Board room", capacity=12, features=["video", "whiteboard"])
    assert room["type"] == "ROOM" and room["capacity"] == 12 and room["policy"] == "accept-if-free"
    member = team.api(team.members[0])
    assert member.ok("GET", f"/api/resources/{room['id']}")["name"] == "Board room"
    assert room["id"] in [r["id"] for r in member.ok("GET", "/api/resources", organisation_id=team.organisation)["items"]]
    denied = member.call("POST", "/api/resources", {"organisation_id": team.organisation, "name": "Mine",
                                                    "email": "mine@rooms.example"})
    assert denied.status_code == 403 and "admin" in denied.json()["detail"]
    assert member.call("PATCH", f"/api/resources/{room['id']}", {"capacity": 1}).status_code == 403
    outsider = team.api(scheduling_user(engine, base_url, "outsider"))
    assert outsider.call("GET", f"/api/resources/{room['id']}").status_code == 404
    assert outsider.ok("GET", "/api/resources")["items"] == []
    assert requests.get(f"{api_server.url}/api/resources/{room['id']}").status_code == 401
    admin = team.api(team.admin)
    changed = admin.ok("PATCH", f"/api/resources/{room['id']}", {"capacity": 10, "policy": "manual",
                                                                 "managers": [team.members[1].name]})
    assert (changed["capacity"], changed["policy"], changed["managers"]) == (10, "manual", [team.members[1].name])
    # The room cannot log in: it has no password.
    assert requests.get(f"{base_url}/{room['account']}/", auth=(room["account"], "")).status_code == 401


def test_bad_resource_input_is_refused_with_a_reason_and_nothing_is_stored(team):
    admin = team.api(team.admin)
    room = team.room()
    taken = admin.call("POST", "/api/resources", {"organisation_id": team.organisation, "name": "Copy",
                                                  "email": room["email"].upper()})
    assert taken.status_code == 409 and "already belongs" in taken.json()["detail"]
    outsider = admin.call("POST", "/api/resources", {"organisation_id": team.organisation, "name": "X",
                                                     "email": "x-room@rooms.example", "managers": ["nobody-here"]})
    assert outsider.status_code == 422 and "nobody-here" in outsider.json()["detail"]
    for body in ({"organisation_id": team.organisation, "name": "Y", "email": "not an address"},
                 {"organisation_id": team.organisation, "name": "Y", "email": "y@rooms.example", "policy": "maybe"},
                 {"organisation_id": team.organisation, "name": "Y", "email": "y@rooms.example", "capacity": -1}):
        assert admin.call("POST", "/api/resources", body).status_code == 422, body
    names = [r["name"] for r in admin.ok("GET", "/api/resources", organisation_id=team.organisation)["items"]]
    assert names == [room["name"]]
    other = team.room()
    clash = admin.call("PATCH", f"/api/resources/{other['id']}", {"email": room["email"], "capacity": 99})
    assert clash.status_code == 409 and clash.json()["errors"][0]["field"] == "email"
    assert admin.ok("GET", f"/api/resources/{other['id']}")["capacity"] == other["capacity"]  # nothing half-written
    window = admin.call("GET", f"/api/resources/{room['id']}/bookings", start="2027-01-02T00:00:00Z",
                        end="2027-01-01T00:00:00Z")
    assert window.status_code == 422 and "must come after its start" in window.text


def test_deleting_a_room_removes_its_calendar_and_bookings(team, engine):
    import sqlalchemy as sa

    room = team.room()
    alice = team.members[0]
    assert alice.put("personal/del.ics", room_invitation("gone", alice, room, start="20270401T100000",
                                                         end="20270401T110000")).status_code == 201
    team.api(team.admin).ok("DELETE", f"/api/resources/{room['id']}")
    assert team.api(alice).call("GET", f"/api/resources/{room['id']}").status_code == 404
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM resource_booking WHERE account = :a"),
                            {"a": room["account"]}).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM collection WHERE split_part(path, '/', 1) = :a"),
                            {"a": room["account"]}).scalar() == 0


def test_auto_accept_takes_overlapping_requests(team):
    room = team.room(type="RESOURCE", policy="auto-accept", name="Projector pool")
    alice, bob = team.members
    for user, uid in ((alice, "auto-1"), (bob, "auto-2")):
        assert user.put(f"personal/{uid}.ics", room_invitation(uid, user, room, start="20270405T100000",
                                                               end="20270405T110000")).status_code == 201
        assert partstats(copy_of(user, uid), room["address"]) == {"": "ACCEPTED"}


def test_manual_requests_wait_for_a_manager(team):
    alice, bob = team.members
    room = team.room(policy="manual", managers=[bob.name])
    assert alice.put("personal/m.ics", room_invitation("manual-1", alice, room, start="20270406T100000",
                                                       end="20270406T110000")).status_code == 201
    assert partstats(copy_of(alice, "manual-1"), room["address"]) == {"": "NEEDS-ACTION"}
    path = f"/api/resources/{room['id']}/bookings/manual-1"
    refused = team.api(alice).call("POST", path, {"answer": "accept"})
    assert refused.status_code == 403 and "managers" in refused.json()["detail"]
    assert team.api(bob).call("POST", f"/api/resources/{room['id']}/bookings/no-such", {"answer": "accept"}
                              ).status_code == 404
    answered = team.api(bob).ok("POST", path, {"answer": "accept"}, status=200)
    assert [b["status"] for b in answered["bookings"]] == ["accepted"]
    assert partstats(copy_of(alice, "manual-1"), room["address"]) == {"": "ACCEPTED"}
    # A second request for the same hour: pending, and the manager's accept still declines it.
    assert bob.put("personal/m2.ics", room_invitation("manual-2", bob, room, start="20270406T100000",
                                                      end="20270406T110000")).status_code == 201
    answered = team.api(team.admin).ok("POST", f"/api/resources/{room['id']}/bookings/manual-2",
                                       {"answer": "accept"}, status=200)
    assert [b["status"] for b in answered["bookings"]] == ["declined"]
    assert partstats(copy_of(bob, "manual-2"), room["address"]) == {"": "DECLINED"}


def _principal_search(user, context: str, token: str):
    body = (f'{XML_HEADER}<CS:calendarserver-principal-search {NAMESPACES} context="{context}">'
            f"<CS:search-token>{token}</CS:search-token><CS:limit><CS:nresults>50</CS:nresults></CS:limit>"
            "<D:prop><C:calendar-user-type/><CS:record-type/><D:displayname/>"
            "<C:calendar-user-address-set/></D:prop></CS:calendarserver-principal-search>")
    response = user.report(f"/{user.name}/", body, depth="0")
    assert response.status_code == 207, response.text
    return {r.text("D:displayname"): r for r in multistatus(response.content)[0]}


def test_apple_finds_rooms_with_the_location_context(team, engine, base_url):
    room = team.room(name="Aquarium")
    team.room(name="Aquarium projector", type="RESOURCE")
    found = _principal_search(team.members[0], "location", "aquarium")
    assert list(found) == ["Aquarium"]
    assert found["Aquarium"].text("C:calendar-user-type") == "ROOM"
    assert found["Aquarium"].text("CS:record-type") == "locations"
    assert list(_principal_search(team.members[0], "resource", "aquarium")) == ["Aquarium projector"]
    assert _principal_search(team.members[0], "attendee", "aquarium") == {}
    outsider = scheduling_user(engine, base_url, "outsider")
    assert _principal_search(outsider, "location", "aquarium") == {}
    # An outsider cannot book it either: the address means nothing to them (not delivered).
    assert outsider.put("personal/o.ics", room_invitation("outside", outsider, room, start="20270407T100000",
                                                          end="20270407T110000")).status_code == 201
    assert "SCHEDULE-STATUS=3.7" in unfolded(copy_of(outsider, "outside"))
    assert team.api(team.admin).ok("GET", f"/api/resources/{room['id']}/bookings", start="2027-04-01T00:00:00Z",
                                   end="2027-05-01T00:00:00Z")["bookings"] == []


def test_older_apple_finds_rooms_by_calendar_user_type(team):
    team.room(name="Lagoon")
    team.room(name="Lagoon beamer", type="RESOURCE")
    body = (f'{XML_HEADER}<D:principal-property-search {NAMESPACES} test="allof">'
            "<D:property-search><D:prop><C:calendar-user-type/></D:prop><D:match>ROOM</D:match></D:property-search>"
            "<D:property-search><D:prop><D:displayname/></D:prop><D:match>lagoon</D:match></D:property-search>"
            "<D:prop><D:displayname/><C:calendar-user-type/><CS:record-type/></D:prop>"
            "</D:principal-property-search>")
    member = team.members[0]
    response = member.report(f"/{member.name}/", body, depth="0")
    assert response.status_code == 207, response.text
    found = {r.text("D:displayname"): r.text("CS:record-type") for r in multistatus(response.content)[0]}
    assert found == {"Lagoon": "locations"}


def test_find_time_takes_rooms(team):
    room = team.room()
    alice = team.members[0]
    assert alice.put("personal/ft.ics", room_invitation("ft", alice, room, start="20270408T100000",
                                                        end="20270408T110000")).status_code == 201
    slots = team.api(team.members[1]).ok("GET", "/api/find-time", users=f"{team.members[1].name},{room['email']}",
                                         start="2027-04-08T08:00:00Z", end="2027-04-08T10:00:00Z",
                                         duration="PT1H")["slots"]
    assert [(s["start"][:16], s["end"][:16]) for s in slots] == [("2027-04-08T09:00", "2027-04-08T10:00")]
