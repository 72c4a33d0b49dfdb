"""/api/shares and squads (issue #11), and the sidecar's reads through the same rights as CalDAV."""
from __future__ import annotations

import pytest

from davutil import event
from sharingutil import home_listing, mount, people  # noqa: F401  (people: a fixture)

PROBLEM = "application/problem+json"


@pytest.fixture
def world(people):
    """alice owns an organisation with bob (member) and carol (member), and a calendar 'team'."""
    alice, bob, carol = people("alice"), people("bob"), people("carol")
    org = alice.api.ok("POST", "/api/organisations", {"name": "Acme"})
    for member in (bob, carol):
        alice.api.ok("POST", f"/api/organisations/{org['id']}/members", {"user": member.name, "role": "member"})
    alice.dav.mkcalendar("team", displayname="Team")
    return {"alice": alice, "bob": bob, "carol": carol, "org": org}


def assert_problem(response, status: int, words: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(PROBLEM)
    assert words in response.json()["detail"], response.json()


def test_share_lifecycle_and_listing(world):
    alice, bob = world["alice"], world["bob"]
    share = alice.share(f"/{alice.name}/team/", "read", user=bob.name)
    assert share == {"id": share["id"], "calendar": f"/{alice.name}/team/", "owner": alice.name,
                     "user": bob.name, "squad": None, "organisation": None, "access": "read"}
    assert alice.api.ok("GET", "/api/shares")["shares"] == [share]
    assert bob.api.ok("GET", "/api/shares") == {"shares": [], "shared_with_me": [{
        "calendar": f"/{alice.name}/team/", "owner": alice.name, "access": "read",
        "mount": f"/{bob.name}/{mount(alice, 'team')}"}]}
    changed = alice.api.ok("PATCH", f"/api/shares/{share['id']}", {"access": "read-write"})
    assert changed["access"] == "read-write" and alice.api.ok("GET", f"/api/shares/{share['id']}") == changed
    # Nobody but the owner sees or changes the share: it answers as one that does not exist.
    for method, body in (("GET", None), ("PATCH", {"access": "read"}), ("DELETE", None)):
        assert_problem(bob.api.call(method, f"/api/shares/{share['id']}", body), 404, "no share")
    alice.api.ok("DELETE", f"/api/shares/{share['id']}")
    assert_problem(alice.api.call("DELETE", f"/api/shares/{share['id']}"), 404)
    assert bob.api.ok("GET", "/api/shares")["shared_with_me"] == []


def test_bad_shares_are_refused_with_reasons(world, people):
    alice, bob, org = world["alice"], world["bob"], world["org"]
    bob.dav.mkcalendar("bobs")
    outsider_org = people("eve").api.ok("POST", "/api/organisations", {"name": "Elsewhere"})
    cases = [
        ({"calendar": "team", "access": "read"}, 422, "exactly one"),
        ({"calendar": "team", "access": "read", "user": bob.name, "organisation": org["id"]}, 422, "exactly one"),
        ({"calendar": "team", "access": "write", "user": bob.name}, 422, ""),
        ({"calendar": "team", "access": "read", "user": "nobody-at-all"}, 422, "no user"),
        ({"calendar": "team", "access": "read", "user": alice.name}, 422, "own"),
        ({"calendar": f"/{bob.name}/bobs/", "access": "read", "user": bob.name}, 403, "not yours"),
        ({"calendar": "missing", "access": "read", "user": bob.name}, 404, "no calendar"),
        ({"calendar": "schedule-inbox", "access": "read", "user": bob.name}, 422, "not a calendar"),
        ({"calendar": "team", "access": "read", "squad": 999999999}, 422, "no squad"),
        ({"calendar": "team", "access": "read", "organisation": outsider_org["id"]}, 404, "organisation"),
    ]
    for body, status, words in cases:
        assert_problem(alice.api.call("POST", "/api/shares", body), status, words)
    alice.share("team", "read", user=bob.name)
    assert_problem(alice.api.call("POST", "/api/shares", {"calendar": "team", "access": "read-write",
                                                          "user": bob.name}), 409, "already shared")
    assert_problem(alice.api.call("PATCH", "/api/shares/1x", {"access": "read"}), 404)
    assert len(alice.api.ok("GET", "/api/shares")["shares"]) == 1


def test_squads_are_managed_by_admins_from_organisation_members(world, people):
    alice, bob, carol, org = world["alice"], world["bob"], world["carol"], world["org"]
    squads = f"/api/organisations/{org['id']}/squads"
    outsider = people("eve")
    assert_problem(alice.api.call("POST", squads, {"name": "Design", "members": [outsider.name]}), 422,
                   "not members of the organisation")
    assert_problem(bob.api.call("POST", squads, {"name": "Design"}), 403, "admin")
    assert_problem(outsider.api.call("GET", squads), 404)
    squad = alice.api.ok("POST", squads, {"name": "Design", "members": [bob.name]})
    assert squad == {"id": squad["id"], "organisation": org["id"], "name": "Design", "members": [bob.name]}
    assert_problem(alice.api.call("POST", squads, {"name": "Design"}), 409, "Design")
    assert bob.api.ok("GET", squads) == {"squads": [squad]}
    renamed = alice.api.ok("PATCH", f"{squads}/{squad['id']}", {"name": "UX", "members": [bob.name, carol.name]})
    assert renamed["name"] == "UX" and renamed["members"] == sorted([bob.name, carol.name])
    assert_problem(outsider.api.call("GET", f"{squads}/{squad['id']}"), 404)
    alice.share("team", "read", squad=squad["id"])
    assert f"/{carol.name}/{mount(alice, 'team')}" in home_listing(carol)
    # Leaving the organisation leaves its squads.
    alice.api.ok("DELETE", f"/api/organisations/{org['id']}/members/{carol.name}")
    assert alice.api.ok("GET", f"{squads}/{squad['id']}")["members"] == [bob.name]
    assert f"/{carol.name}/{mount(alice, 'team')}" not in home_listing(carol)
    alice.api.ok("DELETE", f"{squads}/{squad['id']}")
    assert alice.api.ok("GET", "/api/shares")["shares"] == []
    assert_problem(alice.api.call("GET", f"{squads}/{squad['id']}"), 404)


def test_the_sidecar_reads_what_caldav_lets_the_user_read(world, people):
    alice, bob, carol, org = world["alice"], world["bob"], world["carol"], world["org"]
    objective = alice.api.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Ship"})
    link = f"X-PLANERIX-OBJECTIVE:{objective['id']}\r\n"
    assert alice.dav.put("team/review.ics", event("review", "Review", extra=link)).status_code == 201
    stranger = people("stranger")  # in no organisation of alice's
    bobs = alice.share("team", "read", user=bob.name)
    alice.share("team", "read", user=stranger.name)
    target = {"target_kind": "objective", "target_id": objective["id"]}
    week = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-08T00:00:00Z"}
    assert [i["uid"] for i in bob.api.ok("GET", "/api/links", **target)["items"]] == ["review"]
    assert bob.api.ok("GET", "/api/time-invested", **target, **week)["total_hours"] == 1
    assert "review" in str(bob.api.ok("GET", "/api/agenda", **week))
    assert bob.api.ok("GET", "/api/item-links", calendar=f"/{alice.name}/team/", uid="review")["links"][0][
        "title"] == "Ship"
    # Carol shares the organisation but not the calendar: nothing of it.
    assert carol.api.ok("GET", "/api/links", **target)["items"] == []
    assert "review" not in str(carol.api.ok("GET", "/api/agenda", **week))
    assert_problem(carol.api.call("GET", "/api/item-links", calendar=f"/{alice.name}/team/", uid="review"), 404)
    # The stranger reads the shared item, but the goal of an organisation they are not in stays hidden.
    seen = stranger.api.ok("GET", "/api/item-links", calendar=f"/{alice.name}/team/", uid="review")["links"]
    assert seen == [{"target_kind": "objective", "target_id": objective["id"], "weight": 1.0,
                     "title": None, "dangling": True}]
    assert stranger.api.ok("GET", "/api/links", **target)["title"] is None
    # Writing links needs read-write, as a CalDAV write does.
    body = {"calendar": f"/{alice.name}/team/", "uid": "review", **target}
    assert_problem(bob.api.call("DELETE", "/api/links", None, **body), 403, "read-write")
    alice.api.ok("PATCH", f"/api/shares/{bobs['id']}", {"access": "read-write"})
    assert bob.api.ok("DELETE", "/api/links", None, status=200, **body)["links"] == []
    assert "PLANERIX" not in alice.dav.request("GET", "team/review.ics").text


def test_radicales_own_sharing_interface_is_closed(world):
    response = world["alice"].dav.session.post(world["alice"].dav.base_url + "/.sharing/v1/map/create",
                                               json={"PathMapped": f"/{world['alice'].name}/team/"})
    assert response.status_code == 403 and "/api/shares" in response.text


def test_the_openapi_document_has_the_sharing_routes(world):
    paths = world["alice"].api.ok("GET", "/api/openapi.json")["paths"]
    for path, methods in {"/api/shares": {"get", "post"}, "/api/shares/{id}": {"get", "patch", "delete"},
                          "/api/organisations/{id}/squads": {"get", "post"},
                          "/api/organisations/{id}/squads/{squad_id}": {"get", "patch", "delete"}}.items():
        assert methods <= set(paths[path]), path
    assert "application/problem+json" in str(paths["/api/shares"]["post"]["responses"]["422"])

