"""Team calendars and task lists: owned by an organisation, created by its admins, shown in every
member's (or a squad's) CalDAV home as a shared calendar; outsiders see nothing; they go with the
organisation."""
from __future__ import annotations

import sqlalchemy as sa

from davutil import event
from sharingutil import WRITE_PRIVILEGES, home_listing, people, privileges  # noqa: F401 (fixture)


def organisation_of(admin, *members):
    org = admin.api.ok("POST", "/api/organisations", {"name": "Acme Team"})
    for member in members:
        admin.api.ok("POST", f"/api/organisations/{org['id']}/members", {"user": member.name, "role": "member"})
    return org


def test_members_find_the_team_calendar_in_their_home_and_write_to_it(people, engine):
    alice, bob, mallory = people("alice"), people("bob"), people("mallory")
    org = organisation_of(alice, bob)
    made = alice.api.ok("POST", f"/api/organisations/{org['id']}/calendars", {"name": "Team meetings"})
    assert made["name"] == "Team meetings" and made["access"] == "read-write" and made["tasks"] is False
    mount = made["mount"].replace(f"/{alice.name}/", "")
    listing = home_listing(bob)
    [shown] = [r for href, r in listing.items() if href.endswith(f"/{bob.name}/{mount}")]
    assert WRITE_PRIVILEGES & privileges(shown)
    put = bob.dav.put(f"{mount}standup.ics", event("standup", "Stand-up"))
    assert put.status_code == 201, put.text
    assert alice.dav.request("GET", f"{mount}standup.ics").status_code == 200  # at Alice's own mount
    with engine.connect() as conn:  # stored in the team account's calendar
        stored = conn.execute(sa.text("SELECT count(*) FROM item i JOIN collection c ON c.id = i.collection_id"
                                      " WHERE i.uid = 'standup' AND c.path = :path"),
                              {"path": made["calendar"].strip("/")}).scalar()
    assert stored == 1 and made["calendar"].startswith("/team-")
    # Outsiders: no listing, no calendar in their home, no access by the path.
    assert mallory.api.call("GET", f"/api/organisations/{org['id']}/calendars").status_code == 404
    assert not any(mount in href for href in home_listing(mallory))
    assert mallory.dav.session.get(f"{mallory.dav.base_url}{made['calendar']}standup.ics").status_code in (403, 404)
    # Members may not create or delete them; admins may.
    assert bob.api.call("POST", f"/api/organisations/{org['id']}/calendars", {"name": "x"}).status_code == 403
    assert bob.api.call("DELETE", f"/api/organisations/{org['id']}/calendars/{made['id']}").status_code == 403
    alice.api.ok("DELETE", f"/api/organisations/{org['id']}/calendars/{made['id']}")
    assert alice.api.ok("GET", f"/api/organisations/{org['id']}/calendars")["items"] == []
    assert bob.dav.request("GET", f"{mount}standup.ics").status_code == 404


def test_a_squad_task_list_reaches_the_squad_only_and_read_only_means_read(people):
    alice, bob, carol = people("alice"), people("bob"), people("carol")
    org = organisation_of(alice, bob, carol)
    squad = alice.api.ok("POST", f"/api/organisations/{org['id']}/squads", {"name": "Ops", "members": [bob.name]})
    tasks = alice.api.ok("POST", f"/api/organisations/{org['id']}/calendars",
                         {"name": "Ops tasks", "tasks": True, "squad": squad["id"], "access": "read"})
    assert tasks["tasks"] is True and tasks["squad"] == squad["id"]
    [for_bob] = bob.api.ok("GET", f"/api/organisations/{org['id']}/calendars")["items"]
    [for_carol] = carol.api.ok("GET", f"/api/organisations/{org['id']}/calendars")["items"]
    assert for_bob["mount"] is not None and for_carol["mount"] is None
    mount = for_bob["mount"].replace(f"/{bob.name}/", "")
    refused = bob.dav.put(f"{mount}t.ics", event("t"))
    assert refused.status_code == 403
    assert not any(mount in href for href in home_listing(carol))
    other = alice.api.ok("POST", "/api/organisations", {"name": "Other"})
    foreign = alice.api.ok("POST", f"/api/organisations/{other['id']}/squads", {"name": "Elsewhere"})
    wrong = alice.api.call("POST", f"/api/organisations/{org['id']}/calendars", {"name": "x", "squad": foreign["id"]})
    assert wrong.status_code == 422 and "squad" in wrong.text


def test_team_calendars_and_rooms_go_with_their_organisation(people, engine):
    alice, bob = people("alice"), people("bob")
    org = organisation_of(alice, bob)
    # A name with control characters is no display name for the team account; it still works.
    alice.api.ok("PATCH", f"/api/organisations/{org['id']}", {"name": "Acme\u0081 Team"})
    made = alice.api.ok("POST", f"/api/organisations/{org['id']}/calendars", {"name": "Team"})
    team = made["calendar"].strip("/").split("/")[0]
    alice.api.ok("DELETE", f"/api/organisations/{org['id']}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM account WHERE name = :n"), {"n": team}).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM collection WHERE path LIKE :p"),
                            {"p": f"{team}/%"}).scalar() == 0
    assert not any(team in href for href in home_listing(bob))


def assigned_todo(uid: str, summary: str, organizer: str, assignee: str, status: str = "NEEDS-ACTION") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//jtx-like//EN\r\nBEGIN:VTODO\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261201T000000Z\r\nDUE:20270110T120000Z\r\nSUMMARY:{summary}\r\n"
            f"STATUS:{status}\r\nORGANIZER:mailto:{organizer}\r\n"
            f"ATTENDEE;PARTSTAT=NEEDS-ACTION;SCHEDULE-AGENT=CLIENT:mailto:{assignee}\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")


def test_my_tasks_lists_what_is_assigned_to_me_in_lists_i_can_read(people):
    alice, bob, carol = people("alice"), people("bob"), people("carol")
    for person in (alice, bob, carol):
        person.api.ok("PATCH", "/api/account", {"email": f"{person.name}@example.org"}, status=200)
    org = organisation_of(alice, bob)
    team = alice.api.ok("POST", f"/api/organisations/{org['id']}/calendars", {"name": "Backlog", "tasks": True})
    mount = team["mount"].replace(f"/{alice.name}/", "")
    assert alice.dav.put(f"{mount}a.ics", assigned_todo("a", "Write the spec", f"{alice.name}@example.org",
                                                       f"{bob.name}@Example.org")).status_code == 201
    assert alice.dav.put(f"{mount}b.ics", assigned_todo("b", "Done already", f"{alice.name}@example.org",
                                                       f"{bob.name}@example.org", "COMPLETED")).status_code == 201
    # Carol is named but cannot read the list; Bob is only the organizer of another task.
    assert alice.dav.put(f"{mount}c.ics", assigned_todo("c", "Carol's", f"{bob.name}@example.org",
                                                       f"{carol.name}@example.org")).status_code == 201
    mine = bob.api.ok("GET", "/api/my-tasks")
    assert [(t["uid"], t["partstat"], t["title"]) for t in mine["items"]] == [("a", "NEEDS-ACTION", "Write the spec")]
    assert mine["items"][0]["calendar"] == team["calendar"]
    assert {t["uid"] for t in bob.api.ok("GET", "/api/my-tasks", completed="true")["items"]} == {"a", "b"}
    assert carol.api.ok("GET", "/api/my-tasks")["items"] == []


def test_tasks_in_a_team_list_count_toward_a_key_result_in_tasks_mode(people):
    alice, bob = people("alice"), people("bob")
    org = organisation_of(alice, bob)
    objective = alice.api.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Ship"})
    kr = alice.api.ok("POST", "/api/key-results", {"objective_id": objective["id"], "title": "Tasks done",
                                                   "target_value": 1, "progress_mode": "tasks"})
    team = alice.api.ok("POST", f"/api/organisations/{org['id']}/calendars", {"name": "Backlog", "tasks": True})
    [for_bob] = bob.api.ok("GET", f"/api/organisations/{org['id']}/calendars")["items"]
    mount = for_bob["mount"].replace(f"/{bob.name}/", "")

    def task(uid, status):
        return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VTODO\r\n"
                f"UID:{uid}\r\nDTSTAMP:20261201T000000Z\r\nSUMMARY:{uid}\r\nSTATUS:{status}\r\n"
                f"X-PLANERIX-KEY-RESULT:{kr['id']}\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
    assert bob.dav.put(f"{mount}one.ics", task("one", "COMPLETED")).status_code == 201
    assert bob.dav.put(f"{mount}two.ics", task("two", "NEEDS-ACTION")).status_code == 201
    assert alice.api.ok("GET", f"/api/key-results/{kr['id']}")["progress"] == 0.5
    assert team["calendar"].startswith("/team-")
