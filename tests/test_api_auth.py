"""Authentication of the sidecar: Basic with the CalDAV account, personal tokens, problem details."""
import requests
import sqlalchemy as sa


def test_every_route_refuses_anonymous_and_wrong_credentials(api_server, api_user_factory):
    import okr_extension.app

    user = api_user_factory()
    for operation in okr_extension.app.ROUTES[:4]:  # the delay makes each refusal cost a second
        path = operation.path.replace("{id}", "00000000-0000-0000-0000-000000000000")
        response = requests.request(operation.method, api_server.url + path)
        assert response.status_code == 401, operation.path
        assert response.headers["WWW-Authenticate"].startswith("Basic")
        body = response.json()
        assert body["status"] == 401 and body["detail"]
    wrong = requests.get(api_server.url + "/api/organisations", auth=(user.name, user.password + "x"))
    assert wrong.status_code == 401 and "wrong user name or password" in wrong.json()["detail"]


def test_every_route_demands_credentials_in_its_code(api_server):
    """Routes are only reachable through the authentication middleware: an unknown path is a 401
    before it is a 404, so the route table cannot hide an unauthenticated endpoint."""
    response = requests.get(api_server.url + "/api/no-such-thing")
    assert response.status_code == 401


def test_personal_tokens_create_use_list_revoke(api_server, api_user_factory):
    user = api_user_factory()
    created = user.ok("POST", "/api/tokens", {"name": "n8n"})
    secret = created["token"]
    assert secret.startswith(created["prefix"]) and len(secret) > 40
    bearer = {"Authorization": f"Bearer {secret}"}
    org = requests.post(api_server.url + "/api/organisations", json={"name": "Via token"}, headers=bearer)
    assert org.status_code == 201, org.text
    # A token cannot mint tokens (a leaked short-lived one would make itself a lasting one).
    minted = requests.post(api_server.url + "/api/tokens", json={"name": "copy"}, headers=bearer)
    assert minted.status_code == 403 and "password" in minted.json()["detail"]
    listed = user.ok("GET", "/api/tokens")["items"]
    assert [t["name"] for t in listed] == ["n8n"] and "token" not in listed[0]
    assert listed[0]["last_used"] is not None
    other = api_user_factory("other")
    assert other.call("DELETE", f"/api/tokens/{created['id']}").status_code == 404  # not theirs
    user.ok("DELETE", f"/api/tokens/{created['id']}")
    refused = requests.get(api_server.url + "/api/organisations", headers=bearer)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_a_token_s_use_is_noted_at_most_once_an_hour(engine, api_server, api_user_factory):
    """Tokens are a reference table (storage_plugin/distribution.py), copied to every node: a
    request reads its token, and writes it only when the last noted use is an hour old."""
    user = api_user_factory()
    created = user.ok("POST", "/api/tokens", {"name": "poller"})
    bearer = {"Authorization": f"Bearer {created['token']}"}

    def use_and_read():
        assert requests.get(api_server.url + "/api/organisations", headers=bearer).status_code == 200
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT last_used, xmin::text FROM api_token WHERE id = :id"),
                                {"id": created["id"]}).one()

    first = use_and_read()
    assert first.last_used is not None
    assert use_and_read() == first  # the same row version: not written again
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE api_token SET last_used = last_used - interval '61 minutes' WHERE id = :id"),
                     {"id": created["id"]})
    assert use_and_read().last_used >= first.last_used  # an hour old: noted again


def test_expired_token_is_refused(api_server, api_user_factory):
    user = api_user_factory()
    created = user.ok("POST", "/api/tokens", {"name": "old", "expires": "2020-01-01T00:00:00Z"})
    response = requests.get(api_server.url + "/api/tokens", headers={"Authorization": f"Bearer {created['token']}"})
    assert response.status_code == 401


def test_bad_bodies_get_problem_details(api_user_factory):
    user = api_user_factory()
    not_json = user.session.post(user.api_url + "/api/organisations", data="name=x",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert not_json.status_code == 415 and not_json.headers["Content-Type"].startswith("application/problem+json")
    broken = user.session.post(user.api_url + "/api/organisations", data="{", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["detail"]
    wrong_type = user.call("POST", "/api/organisations", {"name": 5})
    assert wrong_type.status_code == 422
    assert wrong_type.json()["errors"] == [{"field": "name", "message": "Input should be a valid string"}]
    unknown_query = user.call("GET", "/api/objectives", sortt="title")
    assert unknown_query.status_code == 422 and "sortt" in unknown_query.json()["detail"]
    not_allowed = user.call("PUT", "/api/organisations")
    assert not_allowed.status_code == 405 and "PUT" in not_allowed.json()["detail"]


def test_nul_characters_are_refused_with_a_reason(api_user_factory):
    user = api_user_factory()
    response = user.call("GET", "/api/kpis", owner="a\x00b")
    assert response.status_code == 422 and "NUL" in response.json()["detail"]
    assert user.call("POST", "/api/organisations", {"name": "x\x00"}).status_code == 422
    org = user.ok("POST", "/api/organisations", {"name": "NUL checks"})
    assert user.call("DELETE", f"/api/organisations/{org['id']}/members/a%00b").status_code == 404
    assert user.call("POST", "/api/feeds", {"calendar": "work\x00"}).status_code == 422
    # A login holding NUL is no user: 401, not a failed lookup.
    nul_login = requests.get(user.api_url + "/api/tokens", auth=("a\x00b", "whatever-password"))
    assert nul_login.status_code == 401
