"""Personal token scopes and organisation limits, over real HTTP: an ingest token pushes
measurements and nothing else; a read token cannot change anything; a token limited to one
organisation sees no other and nothing personal; tokens made before scopes keep their power."""
import requests
import sqlalchemy as sa

POINT = {"measurements": [{"measured_at": "2026-03-01T00:00:00Z", "value": 3}]}


def bearer(api_server, token: dict):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token['token']}"
    return lambda method, path, json=None: session.request(method, api_server.url + path, json=json)


def test_ingest_token_pushes_measurements_and_nothing_else(api_server, alice, org):
    kpi = alice.ok("POST", "/api/kpis", {"organisation_id": org["id"], "name": "Signups"})
    token = alice.ok("POST", "/api/tokens", {"name": "n8n", "scopes": ["ingest"]})
    assert token["scopes"] == ["ingest"] and token["organisation_id"] is None
    call = bearer(api_server, token)
    assert call("POST", f"/api/kpis/{kpi['id']}/measurements", POINT).status_code == 200
    refused = call("DELETE", f"/api/organisations/{org['id']}")
    assert refused.status_code == 403 and "needs 'admin'" in refused.json()["detail"]
    assert call("GET", f"/api/kpis/{kpi['id']}").status_code == 403  # not even reading
    assert call("PATCH", f"/api/kpis/{kpi['id']}", {"name": "renamed"}).status_code == 403
    assert call("GET", "/api/agenda").status_code == 403
    # Nothing was changed by the refused calls.
    assert alice.ok("GET", f"/api/kpis/{kpi['id']}")["name"] == "Signups"
    assert alice.ok("GET", f"/api/organisations/{org['id']}")["id"] == org["id"]


def test_read_token_reads_and_changes_nothing(api_server, alice, org):
    objective = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Grow"})
    call = bearer(api_server, alice.ok("POST", "/api/tokens", {"name": "report", "scopes": ["read"]}))
    assert call("GET", f"/api/objectives/{objective['id']}").json()["title"] == "Grow"
    changed = call("PATCH", f"/api/objectives/{objective['id']}", {"title": "Shrink"})
    assert changed.status_code == 403 and "'write'" in changed.json()["detail"]
    assert call("POST", "/api/organisations", {"name": "Other"}).status_code == 403
    assert call("GET", "/api/tokens").status_code == 403  # tokens are an admin's business
    assert alice.ok("GET", f"/api/objectives/{objective['id']}")["title"] == "Grow"


def test_write_token_changes_goals_but_not_members(api_server, alice, org, api_user_factory):
    call = bearer(api_server, alice.ok("POST", "/api/tokens", {"name": "sync", "scopes": ["write"]}))
    created = call("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Via token"})
    assert created.status_code == 201, created.text
    bob = api_user_factory("bob")
    added = call("POST", f"/api/organisations/{org['id']}/members", {"user": bob.name, "role": "member"})
    assert added.status_code == 403
    assert [m["user"] for m in alice.ok("GET", f"/api/organisations/{org['id']}/members")["items"]] == [alice.name]


def test_organisation_limit(api_server, alice, org):
    other = alice.ok("POST", "/api/organisations", {"name": "Elsewhere"})
    secret = alice.ok("POST", "/api/objectives", {"organisation_id": other["id"], "title": "Secret"})
    token = alice.ok("POST", "/api/tokens", {"name": "acme only", "scopes": ["write"],
                                               "organisation_id": org["id"]})
    assert token["organisation_id"] == org["id"]
    call = bearer(api_server, token)
    listed = call("GET", "/api/organisations").json()["items"]
    assert [o["id"] for o in listed] == [org["id"]]
    assert call("GET", f"/api/objectives/{secret['id']}").status_code == 404
    assert call("GET", "/api/objectives").json()["items"] == []
    outside = call("POST", "/api/objectives", {"organisation_id": other["id"], "title": "x"})
    assert outside.status_code == 422 and "of yours" in outside.json()["detail"]  # as for a non-member
    assert call("POST", "/api/objectives", {"organisation_id": org["id"], "title": "ok"}).status_code == 201
    personal = call("GET", "/api/feeds")
    assert personal.status_code == 403 and "limited to organisation" in personal.json()["detail"]
    assert call("GET", "/api/account").status_code == 403


def test_limit_needs_membership(alice, api_user_factory):
    stranger_org = api_user_factory("carol").ok("POST", "/api/organisations", {"name": "Carol's"})
    refused = alice.call("POST", "/api/tokens", {"name": "x", "organisation_id": stranger_org["id"]})
    assert refused.status_code == 404
    assert alice.call("POST", "/api/tokens", {"name": "x", "scopes": ["root"]}).status_code == 422
    assert alice.call("POST", "/api/tokens", {"name": "x", "scopes": []}).status_code == 422


def test_tokens_made_before_scopes_keep_their_power(api_server, engine, alice):
    token = alice.ok("POST", "/api/tokens", {"name": "old"})
    assert token["scopes"] == ["admin"]
    # A row as migration 0014 leaves one written before it: the column's default.
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE api_token SET scopes = DEFAULT WHERE id = :id"), {"id": token["id"]})
    call = bearer(api_server, token)
    org = call("POST", "/api/organisations", {"name": "Made by an old token"})
    assert org.status_code == 201
    assert call("DELETE", f"/api/organisations/{org.json()['id']}").status_code == 204


def test_scopes_are_documented(alice):
    paths = alice.ok("GET", "/api/openapi.json")["paths"]
    assert paths["/api/kpis/{id}/measurements"]["post"]["x-token-scope"] == "ingest"
    assert paths["/api/organisations/{id}"]["delete"]["x-token-scope"] == "admin"
    assert paths["/api/objectives"]["get"]["x-token-scope"] == "read"
    assert paths["/api/objectives"]["post"]["x-token-scope"] == "write"


def test_organisation_limit_holds_for_rooms(api_server, alice, org):
    other = alice.ok("POST", "/api/organisations", {"name": "Elsewhere"})
    for organisation, email in ((org, "room-a"), (other, "room-b")):
        alice.ok("POST", "/api/resources", {"organisation_id": organisation["id"], "name": email,
                                            "email": f"{email}-{organisation['id'][:8]}@rooms.example"})
    call = bearer(api_server, alice.ok("POST", "/api/tokens", {"name": "acme rooms", "scopes": ["read"],
                                                               "organisation_id": org["id"]}))
    rooms = call("GET", "/api/resources").json()["items"]
    assert {room["organisation_id"] for room in rooms} == {org["id"]}
    assert len(alice.ok("GET", "/api/resources")["items"]) == 2  # the password sees both
