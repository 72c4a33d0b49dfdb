"""Defects schemathesis found (tests/test_api_openapi.py), each answered now with a reason instead of a 500."""
import pytest


@pytest.fixture
def objective(api_user_factory):
    user = api_user_factory()
    org = user.ok("POST", "/api/organisations", {"name": "Weights"})
    objective = user.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Weights"})
    return user, objective


def test_negative_weights_are_refused_and_documented_so(objective):
    user, objective = objective
    created = user.call("POST", "/api/key-results", {"objective_id": objective["id"], "title": "KR",
                                                     "target_value": 5, "weight": -1})
    assert created.status_code == 422 and created.json()["errors"][0]["field"] == "weight", created.text
    kr = user.ok("POST", "/api/key-results", {"objective_id": objective["id"], "title": "KR", "target_value": 5})
    changed = user.call("PATCH", f"/api/key-results/{kr['id']}", {"weight": -317512405532755.0})
    assert changed.status_code == 422 and changed.json()["errors"][0]["field"] == "weight", changed.text
    assert user.ok("GET", f"/api/key-results/{kr['id']}")["weight"] == 1
    schemas = user.ok("GET", "/api/openapi.json")["components"]["schemas"]
    for model in ("KeyResultCreate", "KeyResultPatch", "LinkCreate"):
        assert schemas[model]["properties"]["weight"]["minimum"] == 0, model


@pytest.mark.parametrize("body, field", [
    ({"displayname": "\x00 Holidays"}, "displayname"),
    ({"displayname": "Holi\x07days"}, "displayname"),
    ({"url": "https://feeds.example.invalid/x\x00.ics"}, "url"),
])
def test_control_characters_in_a_subscription_are_refused(api_user_factory, body, field):
    user = api_user_factory()
    sent = {"url": "https://feeds.example.invalid/x.ics", "calendar": "imported", **body}
    refused = user.call("POST", "/api/subscriptions", sent)
    assert refused.status_code == 422, refused.text
    assert [error["field"] for error in refused.json()["errors"]] == [field]
    assert user.ok("GET", "/api/subscriptions") == []
    subscription = user.ok("POST", "/api/subscriptions", {"url": "https://feeds.example.invalid/x.ics",
                                                          "calendar": "imported"})
    changed = user.call("PATCH", f"/api/subscriptions/{subscription['id']}", body)
    assert changed.status_code == 422 and changed.json()["errors"][0]["field"] == field, changed.text


@pytest.mark.parametrize("path", ["/api/feeds", "/api/subscriptions"])
def test_a_lone_surrogate_in_a_feed_body_is_malformed_json(api_user_factory, path):
    user = api_user_factory()
    raw = '{"url": "https://feeds.example.invalid/x.ics", "calendar": "p\\ud800"}'
    if path == "/api/feeds":
        raw = '{"calendar": "p\\ud800"}'
    response = user.session.post(user.api_url + path, data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in response.json()["detail"], response.text
