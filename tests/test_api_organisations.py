"""Organisations, memberships and roles over real HTTP: who may do what, and no leaks."""
import uuid

import pytest


@pytest.fixture
def team(api_user_factory):
    """An organisation with one user of each role, plus an outsider."""
    users = {role: api_user_factory(role) for role in ("owner", "admin", "member", "viewer", "outsider")}
    org = users["owner"].ok("POST", "/api/organisations", {"name": "Acme"})
    for role in ("admin", "member", "viewer"):
        users["owner"].ok("POST", f"/api/organisations/{org['id']}/members", {"user": users[role].name, "role": role})
    return org, users


def test_creator_is_owner_and_lists_show_only_own_organisations(team, api_user_factory):
    org, users = team
    assert org["role"] == "owner"
    assert [o["id"] for o in users["viewer"].ok("GET", "/api/organisations")["items"]] == [org["id"]]
    assert users["viewer"].ok("GET", "/api/organisations")["items"][0]["role"] == "viewer"
    assert users["outsider"].ok("GET", "/api/organisations")["items"] == []
    members = users["member"].ok("GET", f"/api/organisations/{org['id']}/members")["items"]
    assert {m["user"]: m["role"] for m in members} == {users[r].name: r for r in ("owner", "admin", "member", "viewer")}


def test_outsiders_get_404_for_everything_of_the_organisation(team):
    org, users = team
    outsider = users["outsider"]
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/members")):
        response = outsider.call(method, f"/api/organisations/{org['id']}{path}", {} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["Content-Type"].startswith("application/problem+json")


def test_role_rules_for_organisation_and_members(team, api_user_factory):
    org, users = team
    base = f"/api/organisations/{org['id']}"
    assert users["member"].call("PATCH", base, {"name": "Mine"}).status_code == 403
    assert users["admin"].ok("PATCH", base, {"name": "Acme Corp"})["name"] == "Acme Corp"
    assert users["admin"].call("DELETE", base).status_code == 403
    newcomer = api_user_factory("new")
    assert users["member"].call("POST", base + "/members", {"user": newcomer.name}).status_code == 403
    assert users["admin"].call("POST", base + "/members", {"user": newcomer.name, "role": "owner"}).status_code == 403
    assert users["admin"].ok("POST", base + "/members", {"user": newcomer.name})["role"] == "member"
    assert users["admin"].call("POST", base + "/members", {"user": newcomer.name}).status_code == 409
    assert users["admin"].call("PATCH", f"{base}/members/{users['owner'].name}", {"role": "viewer"}).status_code == 403
    assert users["admin"].ok("PATCH", f"{base}/members/{newcomer.name}", {"role": "viewer"})["role"] == "viewer"
    unknown = users["admin"].call("POST", base + "/members", {"user": "nobody-" + uuid.uuid4().hex})
    assert unknown.status_code == 422 and "no Planerix user" in unknown.json()["detail"]
    # Anyone may leave; the last owner may not.
    newcomer.ok("DELETE", f"{base}/members/{newcomer.name}")
    last_owner = users["owner"].call("DELETE", f"{base}/members/{users['owner'].name}")
    assert last_owner.status_code == 409 and "at least one owner" in last_owner.json()["detail"]
    assert users["owner"].call("PATCH", f"{base}/members/{users['owner'].name}", {"role": "admin"}).status_code == 409
    users["owner"].ok("DELETE", base)
    assert users["owner"].call("GET", base).status_code == 404


def test_threshold_validation(api_user_factory):
    owner = api_user_factory()
    bad = owner.call("POST", "/api/organisations", {"name": "X", "at_risk_below": 0.4, "off_track_below": 0.6})
    assert bad.status_code == 422 and "off_track_below" in bad.text
    org = owner.ok("POST", "/api/organisations", {"name": "X", "at_risk_below": 0.8, "off_track_below": 0.6})
    patch = owner.call("PATCH", f"/api/organisations/{org['id']}", {"at_risk_below": 0.5})
    assert patch.status_code == 422
    assert owner.ok("GET", f"/api/organisations/{org['id']}")["at_risk_below"] == 0.8


def test_removing_the_only_member_deletes_the_organisation(engine, api_user_factory):
    import sqlalchemy as sa

    from okr_extension import account_removal

    user = api_user_factory("leaver")
    org = user.ok("POST", "/api/organisations", {"name": "Leaver's"})
    user.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "goes too"})
    account_removal.remove(engine, user.name)  # memberships and tokens go with the account
    assert user.call("GET", "/api/organisations").status_code == 401
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM organisation WHERE id = :id"), {"id": org["id"]}).scalar() == 0
