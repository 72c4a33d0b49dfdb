"""Bad requests to the sidecar get a 4xx with a reason and change nothing: values the schema's
constraints refuse, database refusals the models miss, deep JSON, non-public feed hosts."""
from __future__ import annotations

import json
import secrets

import pytest
import requests
import sqlalchemy as sa

from conftest import ApiUser
from davutil import event
from feedutil import AppServer, loop_thread  # noqa: F401 (fixture)
from okr_extension import create_app
from okr_extension.feeds.settings import FeedSettings


@pytest.fixture
def objective(alice, org):
    return alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Grow"})


def send(api: ApiUser, method: str, path: str, body: bytes):
    """A JSON body sent as written (requests refuses to encode NaN and Infinity)."""
    return api.session.request(method, api.api_url + path, data=body,
                               headers={"Content-Type": "application/json"})


def assert_422(response, field: str) -> dict:
    assert response.status_code == 422, response.text
    problem = response.json()
    assert field in [e["field"] for e in problem["errors"]], problem
    assert field in problem["detail"]
    return problem


# -- values the database would refuse are refused by the request models --------------

def test_negative_key_result_weight_is_422_and_stores_nothing(alice, objective):
    body = {"objective_id": objective["id"], "title": "KR", "target_value": 10}
    for weight in ("-1", "-0.0001", "Infinity", "NaN"):
        text = json.dumps(body)[:-1] + f', "weight": {weight}}}'
        assert_422(send(alice, "POST", "/api/key-results", text.encode()), "weight")
    assert alice.ok("GET", "/api/key-results", objective_id=objective["id"])["items"] == []

    created = alice.ok("POST", "/api/key-results", {**body, "weight": 0})
    assert_422(alice.call("PATCH", f"/api/key-results/{created['id']}", {"weight": -2}), "weight")
    assert alice.ok("GET", f"/api/key-results/{created['id']}") == created


@pytest.mark.parametrize("path, body, field", [
    ("/api/check-ins", {"value": 1, "confidence": "NaN"}, "confidence"),
    ("/api/check-ins", {"value": 1, "confidence": 1.5}, "confidence"),
    ("/api/organisations", {"name": "x", "at_risk_below": "Infinity"}, "at_risk_below"),
    ("/api/organisations", {"name": "x", "off_track_below": -0.1}, "off_track_below"),
])
def test_out_of_range_fractions_are_422(alice, objective, path, body, field):
    key_result = alice.ok("POST", "/api/key-results",
                          {"objective_id": objective["id"], "title": "KR", "target_value": 10})
    if path == "/api/check-ins":
        body = {**body, "key_result_id": key_result["id"]}
    organisations = alice.ok("GET", "/api/organisations")["items"]
    text = json.dumps(body).replace('"NaN"', "NaN").replace('"Infinity"', "Infinity")
    assert_422(send(alice, "POST", path, text.encode()), field)
    assert alice.ok("GET", "/api/check-ins", key_result_id=key_result["id"])["items"] == []
    assert alice.ok("GET", "/api/organisations")["items"] == organisations


def test_patches_that_would_break_a_table_rule_are_422(alice, org, objective):
    kr = alice.ok("POST", "/api/key-results", {"objective_id": objective["id"], "title": "KR",
                                               "start_value": 0, "target_value": 10})
    assert_422(alice.call("PATCH", f"/api/key-results/{kr['id']}", {"target_value": 0}), "target_value")
    assert_422(alice.call("PATCH", f"/api/organisations/{org['id']}", {"off_track_below": 0.9}),
               "off_track_below")
    dated = alice.ok("PATCH", f"/api/objectives/{objective['id']}", {"due_date": "2027-01-31"})
    assert_422(alice.call("PATCH", f"/api/objectives/{objective['id']}", {"start_date": "2027-02-01"}),
               "due_date")
    assert_422(alice.call("PATCH", f"/api/objectives/{objective['id']}", {"parent_id": objective["id"]}),
               "parent_id")
    assert stored(alice.ok("GET", f"/api/key-results/{kr['id']}")) == stored(kr)
    assert stored(alice.ok("GET", f"/api/objectives/{objective['id']}")) == stored(dated)
    assert alice.ok("GET", f"/api/organisations/{org['id']}") == org


def stored(resource: dict) -> dict:
    """Without the fields computed on read (tracking follows the clock and the dates)."""
    return {k: v for k, v in resource.items() if k not in ("progress", "tracking")}


def test_negative_link_weight_is_422_and_leaves_the_item_alone(user, api_server):
    api = ApiUser(api_server.url, user.name, user.password)
    user.mkcalendar("tasks")
    assert user.put("tasks/t.ics", event("linked-task")).status_code == 201
    before = user.request("GET", "tasks/t.ics")
    response = api.call("POST", "/api/links", {"calendar": f"/{user.name}/tasks/", "uid": "linked-task",
                                               "target_kind": "project", "target_id": "p", "weight": -1})
    assert_422(response, "weight")
    after = user.request("GET", "tasks/t.ics")
    assert (after.headers["ETag"], after.text) == (before.headers["ETag"], before.text)


# -- the safety net: a refusal by the database is a 409/422 naming the rule -----------

@pytest.fixture
def extra_organisation_rules(engine):
    """Rules the request models do not know, as a constraint added later would be."""
    tag = secrets.token_hex(4)
    check, unique = f"test_refuse_{tag}", f"test_unique_{tag}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE organisation ADD CONSTRAINT {check} "
                             f"CHECK (name <> 'refused-{tag}') NOT VALID"))
        conn.execute(sa.text(f"CREATE UNIQUE INDEX {unique} ON organisation (name) "
                             f"WHERE name = 'unique-{tag}'"))
    yield tag
    with engine.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE organisation DROP CONSTRAINT {check}"))
        conn.execute(sa.text(f"DROP INDEX {unique}"))


def test_database_refusals_are_answered_with_the_broken_rule(alice, extra_organisation_rules):
    tag = extra_organisation_rules
    before = alice.ok("GET", "/api/organisations")["items"]
    response = alice.call("POST", "/api/organisations", {"name": f"refused-{tag}"})
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert f"test_refuse_{tag}" in response.json()["detail"] and "rule" in response.json()["detail"]
    assert alice.ok("GET", "/api/organisations")["items"] == before

    first = alice.ok("POST", "/api/organisations", {"name": f"unique-{tag}"})
    response = alice.call("POST", "/api/organisations", {"name": f"unique-{tag}"})
    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert f"test_unique_{tag}" in detail and "already exists" in detail
    assert alice.ok("GET", "/api/organisations")["items"] == before + [first]


# -- deep JSON ------------------------------------------------------------------------

def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def post_raw(api: ApiUser, path: str, body: bytes):
    return send(api, "POST", path, body)


@pytest.mark.parametrize("path", ["/api/organisations", "/api/subscriptions", "/api/feeds"])
def test_deeply_nested_json_is_400_with_the_limit(alice, path):
    for body in (nested(100_000), nested(1_500), b'{"name": ' + nested(40) + b"}"):
        response = post_raw(alice, path, body)
        assert response.status_code == 400, (path, len(body), response.text)
        assert "32 levels deep" in response.json()["detail"]
    assert alice.ok("GET", "/api/organisations")["items"] == []
    assert alice.call("GET", "/api/subscriptions").json() == []


def test_json_within_the_depth_limit_is_read(alice, org):
    kpi = alice.ok("POST", "/api/kpis", {"organisation_id": org["id"], "name": "Signups"})
    body = json.dumps({"measurements": [{"measured_at": "2027-01-05T00:00:00Z", "value": 1}]}).encode()
    assert post_raw(alice, f"/api/kpis/{kpi['id']}/measurements", body).status_code in (200, 201)
    # Wrong shape but shallow: validation names the field, as before.
    assert_422(post_raw(alice, "/api/organisations", b'{"name": ' + nested(30) + b"}"), "name")


# -- subscriptions: one rule for hosts at registration and at fetch --------------------

LOOPBACK_SPELLINGS = ["localhost", "LOCALHOST", "127.1", "0x7f000001", "2130706433", "0177.0.0.1",
                      "[::ffff:127.0.0.1]", "[::1]", "0", "0.0.0.0", "[::]", "10.0.0.1", "0xa000001"]


@pytest.fixture
def strict_sidecar(engine, database_url, loop_thread):
    server = AppServer(loop_thread, create_app(database_url, FeedSettings(scheduler_enabled=False)))
    yield server
    server.stop()


def test_non_public_hosts_are_refused_at_registration(strict_sidecar, user):
    api = requests.Session()
    api.auth = (user.name, user.password)
    url = f"{strict_sidecar.url}/api/subscriptions"
    for host in LOOPBACK_SPELLINGS:
        for scheme in ("http", "webcal"):
            response = api.post(url, json={"url": f"{scheme}://{host}:8080/x.ics", "calendar": "sub"})
            assert response.status_code == 422, (host, response.text)
            reason = response.json()["errors"][0]["reason"]
            assert "non-public" in reason and "public internet" in reason, reason
    assert api.get(url).json() == []
    assert user.request("PROPFIND", "sub/", Depth="0").status_code == 404

    # A public address registers; changing it to a loopback spelling is refused and changes nothing.
    created = api.post(url, json={"url": "http://8.8.8.8/x.ics", "calendar": "sub"})
    assert created.status_code == 201, created.text
    subscription = f"{url}/{created.json()['id']}"
    try:
        for host in LOOPBACK_SPELLINGS:
            response = api.patch(subscription, json={"url": f"http://{host}/x.ics"})
            assert response.status_code == 422, (host, response.text)
        assert api.get(subscription).json()["url"] == "http://8.8.8.8/x.ics"
    finally:  # due at once: no other test's scheduler round may pick it up
        assert api.delete(subscription).status_code == 204


def test_refresh_interval_never_reaches_the_tables_rule(engine, database_url, loop_thread, user):
    settings = FeedSettings(scheduler_enabled=False, allow_private_networks=True, min_refresh_seconds=0)
    server = AppServer(loop_thread, create_app(database_url, settings))
    try:
        api = requests.Session()
        api.auth = (user.name, user.password)
        response = api.post(f"{server.url}/api/subscriptions",
                            json={"url": "http://192.0.2.1/x.ics", "calendar": "sub", "refresh_interval": 0})
        assert_422(response, "refresh_interval")
        assert api.get(f"{server.url}/api/subscriptions").json() == []
    finally:
        server.stop()
