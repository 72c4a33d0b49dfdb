"""Objectives, key results and check-ins over real HTTP: CRUD, validation, computed progress and
tracking, pagination, and rights."""
import base64
import json
import uuid
from datetime import timedelta

import pytest


def objective(user, org, **fields):
    return user.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Objective", **fields})


def key_result(user, objective_id, **fields):
    return user.ok("POST", "/api/key-results", {"objective_id": objective_id, "title": "KR", **fields})


def test_objective_crud_round_trip(alice, org):
    created = objective(alice, org, title="Grow", description="d", priority="high", tags=["a", "b"],
                        start_date="2026-01-01", due_date="2026-06-30")
    assert created["owner"] == alice.name and created["progress"] is None and created["tracking"] is None
    fetched = alice.ok("GET", f"/api/objectives/{created['id']}")
    assert fetched == created
    patched = alice.ok("PATCH", f"/api/objectives/{created['id']}", {"status": "completed", "due_date": None})
    assert patched["status"] == "completed" and patched["due_date"] is None and patched["title"] == "Grow"
    assert patched["updated"] > created["updated"]
    alice.ok("DELETE", f"/api/objectives/{created['id']}")
    assert alice.call("GET", f"/api/objectives/{created['id']}").status_code == 404


@pytest.mark.parametrize("body, field", [
    ({"title": ""}, "title"),
    ({"title": "x", "priority": "urgent"}, "priority"),
    ({"title": "x", "tags": "a"}, "tags"),
    ({"title": "x", "start_date": "2026-02-01", "due_date": "2026-01-01"}, "due_date"),
    ({"title": "x", "start_date": "1 Feb"}, "start_date"),
    ({"title": "x", "colour": "red"}, "colour"),
    ({"title": 3}, "title"),
])
def test_objective_validation(alice, org, body, field):
    response = alice.call("POST", "/api/objectives", {"organisation_id": org["id"], **body})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["status"] == 422 and field in problem["detail"]
    assert alice.ok("GET", "/api/objectives", organisation_id=org["id"])["items"] == []


def test_patch_refuses_null_for_required_fields_and_checks_merged_dates(alice, org):
    created = objective(alice, org, start_date="2026-03-01")
    assert alice.call("PATCH", f"/api/objectives/{created['id']}", {"title": None}).status_code == 422
    late = alice.call("PATCH", f"/api/objectives/{created['id']}", {"due_date": "2026-02-01"})
    assert late.status_code == 422 and "after due_date" in late.json()["detail"]
    assert alice.call("PATCH", f"/api/objectives/{created['id']}", {"organisation_id": org["id"]}).status_code == 422


def test_parents_stay_in_the_organisation_and_never_form_a_cycle(alice, org):
    top = objective(alice, org, title="top")
    middle = objective(alice, org, title="middle", parent_id=top["id"])
    bottom = objective(alice, org, title="bottom", parent_id=middle["id"])
    cycle = alice.call("PATCH", f"/api/objectives/{top['id']}", {"parent_id": bottom["id"]})
    assert cycle.status_code == 422 and "cycle" in cycle.json()["detail"]
    itself = alice.call("PATCH", f"/api/objectives/{top['id']}", {"parent_id": top["id"]})
    assert itself.status_code == 422
    other_org = alice.ok("POST", "/api/organisations", {"name": "Other"})
    foreign = alice.call("POST", "/api/objectives", {"organisation_id": other_org["id"], "title": "x",
                                                     "parent_id": top["id"]})
    assert foreign.status_code == 422 and "same organisation" in foreign.json()["detail"]
    assert alice.ok("GET", f"/api/objectives/{top['id']}")["parent_id"] is None
    # Deleting a parent detaches its children.
    alice.ok("DELETE", f"/api/objectives/{middle['id']}")
    assert alice.ok("GET", f"/api/objectives/{bottom['id']}")["parent_id"] is None


@pytest.mark.parametrize("kind, start, target, current, expected", [
    ("increase_to", 0, 100, 40, 0.4),
    ("increase_to", 10, 20, 25, 1.5),          # overshoot stays above 1
    ("increase_to", 10, 20, 5, 0.0),           # below the start is no progress, not negative
    ("decrease_to", 100, 60, 90, 0.25),
    ("decrease_to", 100, 60, 40, 1.5),
    ("stay_above", 0, 99.5, 99.9, 1.0),
    ("stay_above", 0, 99.5, 99.0, 0.0),
    ("stay_below", 0, 200, 250, 0.0),
    ("stay_below", 0, 200, 200, 1.0),
    ("milestone", 0, 1, 0, 0.0),
    ("milestone", 0, 1, 1, 1.0),
])
def test_key_result_progress_by_kind(alice, org, kind, start, target, current, expected):
    parent = objective(alice, org)
    kr = key_result(alice, parent["id"], kind=kind, start_value=start, target_value=target, current_value=current)
    assert kr["progress"] == pytest.approx(expected)


@pytest.mark.parametrize("kind, start, target, message", [
    ("increase_to", 5, 5, "equals start_value"),
    ("decrease_to", 5, 5, "equals start_value"),
    ("increase_to", 10, 5, "above start_value"),
    ("decrease_to", 5, 10, "below start_value"),
])
def test_key_result_values_that_make_no_sense_are_refused(alice, org, kind, start, target, message):
    parent = objective(alice, org)
    response = alice.call("POST", "/api/key-results", {"objective_id": parent["id"], "title": "x", "kind": kind,
                                                       "start_value": start, "target_value": target})
    assert response.status_code == 422 and message in response.json()["detail"]


def test_key_result_patch_is_checked_against_the_stored_values(alice, org):
    kr = key_result(alice, objective(alice, org)["id"], start_value=0, target_value=10)
    response = alice.call("PATCH", f"/api/key-results/{kr['id']}", {"target_value": 0})
    assert response.status_code == 422
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["target_value"] == 10


def test_objective_progress_is_the_weighted_mean_of_key_results_and_children(alice, org):
    parent = objective(alice, org, title="parent")
    empty = alice.ok("GET", f"/api/objectives/{parent['id']}")
    assert empty["progress"] is None  # nothing to measure yet
    key_result(alice, parent["id"], target_value=100, current_value=50, weight=3)     # 0.5 x3
    key_result(alice, parent["id"], kind="milestone", target_value=1, current_value=1)  # 1.0 x1
    key_result(alice, parent["id"], target_value=10, current_value=10, weight=0)     # weight 0: ignored
    assert alice.ok("GET", f"/api/objectives/{parent['id']}")["progress"] == pytest.approx((1.5 + 1) / 4)
    child = objective(alice, org, title="child", parent_id=parent["id"])
    key_result(alice, child["id"], target_value=4, current_value=1)                  # child at 0.25
    # The child counts with weight 1 beside the parent's own results.
    assert alice.ok("GET", f"/api/objectives/{parent['id']}")["progress"] == pytest.approx((1.5 + 1 + 0.25) / 5)
    objective(alice, org, title="empty child", parent_id=parent["id"])  # unmeasurable: ignored
    assert alice.ok("GET", f"/api/objectives/{parent['id']}")["progress"] == pytest.approx((1.5 + 1 + 0.25) / 5)


@pytest.mark.parametrize("current, tracking", [(40, "on_track"), (30, "at_risk"), (20, "off_track"),
                                               (100, "achieved")])
def test_tracking_compares_progress_with_time_elapsed(alice, org, current, tracking, frozen_clock):
    today = frozen_clock.date()
    parent = objective(alice, org, start_date=str(today - timedelta(days=50)),
                       due_date=str(today + timedelta(days=49)))
    kr = key_result(alice, parent["id"], target_value=100, current_value=current)
    assert kr["tracking"] == tracking
    assert alice.ok("GET", f"/api/objectives/{parent['id']}")["tracking"] == tracking


def test_tracking_thresholds_are_per_organisation(alice, frozen_clock):
    strict = alice.ok("POST", "/api/organisations", {"name": "Strict", "at_risk_below": 0.95, "off_track_below": 0.9})
    today = frozen_clock.date()
    parent = objective(alice, strict, start_date=str(today - timedelta(days=50)), due_date=str(today + timedelta(days=49)))
    assert key_result(alice, parent["id"], target_value=100, current_value=40)["tracking"] == "off_track"


def test_zero_length_period_is_all_due_at_once(alice, org, frozen_clock):
    yesterday = str(frozen_clock.date() - timedelta(days=1))
    parent = objective(alice, org, start_date=yesterday, due_date=yesterday)
    assert key_result(alice, parent["id"], target_value=10, current_value=9)["tracking"] == "on_track"
    kr = key_result(alice, parent["id"], target_value=10, current_value=4)
    assert kr["tracking"] == "off_track"


def test_check_ins_move_the_current_value_and_keep_history(alice, org):
    kr = key_result(alice, objective(alice, org)["id"], target_value=10)
    first = alice.ok("POST", "/api/check-ins", {"key_result_id": kr["id"], "value": 3, "confidence": 0.9, "note": "ok"})
    alice.ok("POST", "/api/check-ins", {"key_result_id": kr["id"], "value": 6, "confidence": 0.5})
    assert first["author"] == alice.name
    current = alice.ok("GET", f"/api/key-results/{kr['id']}")
    assert current["current_value"] == 6 and current["progress"] == pytest.approx(0.6)
    history = alice.ok("GET", "/api/check-ins", key_result_id=kr["id"])["items"]
    assert [c["value"] for c in history] == [6, 3]  # newest first
    assert alice.call("POST", "/api/check-ins", {"key_result_id": kr["id"], "value": 1, "confidence": 1.5}).status_code == 422
    alice.ok("PATCH", f"/api/check-ins/{first['id']}", {"note": "revised"})
    assert alice.ok("GET", f"/api/check-ins/{first['id']}")["note"] == "revised"
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["current_value"] == 6  # an old check-in edit moves nothing
    # Deleting the newest check-in brings back the one before it; deleting an older one moves nothing;
    # with none left, the key result is back at its start value.
    newest = history[0]
    alice.ok("DELETE", f"/api/check-ins/{newest['id']}")
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["current_value"] == 3
    latest = alice.ok("POST", "/api/check-ins", {"key_result_id": kr["id"], "value": 8})
    alice.ok("DELETE", f"/api/check-ins/{first['id']}")
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["current_value"] == 8
    alice.ok("DELETE", f"/api/check-ins/{latest['id']}")
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["current_value"] == kr["start_value"]


def test_pagination_filters_and_sorting(alice, org):
    titles = [f"obj {i:02d}" for i in range(7)]
    for i, title in enumerate(titles):
        objective(alice, org, title=title, tags=["even"] if i % 2 == 0 else [],
                  due_date=None if i == 3 else f"2026-01-{10 - i:02d}")
    seen, cursor = [], None
    while True:
        params = {"organisation_id": org["id"], "limit": 3, "sort": "-title"}
        if cursor:
            params["cursor"] = cursor
        page = alice.ok("GET", "/api/objectives", **params)
        seen += [o["title"] for o in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(titles, reverse=True)
    even = alice.ok("GET", "/api/objectives", organisation_id=org["id"], tag="even")["items"]
    assert sorted(o["title"] for o in even) == titles[0::2]
    by_due = [o["title"] for o in alice.ok("GET", "/api/objectives", organisation_id=org["id"], sort="due_date", limit=2)["items"]]
    assert by_due == ["obj 06", "obj 05"]
    last_pages, cursor = [], None
    while True:  # undated objectives sort last and are not lost across pages
        params = {"organisation_id": org["id"], "limit": 2, "sort": "due_date", **({"cursor": cursor} if cursor else {})}
        page = alice.ok("GET", "/api/objectives", **params)
        last_pages += [o["title"] for o in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(last_pages) == 7 and last_pages[-1] == "obj 03"
    bad = alice.call("GET", "/api/objectives", cursor="garbage")
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]
    title_cursor = alice.ok("GET", "/api/objectives", organisation_id=org["id"], limit=1, sort="title")["next_cursor"]
    wrong_sort = alice.call("GET", "/api/objectives", cursor=title_cursor, sort="due_date")
    assert wrong_sort.status_code == 422
    # Forged cursors (a key or id of the wrong type) are refused like garbage, never sent to SQL.
    an_id = str(uuid.uuid4())
    for forged in (["created", "x", an_id], ["title", 1, an_id], ["created", {"t": "2024-01-01T00:00:00+00:00"}, [1]],
                   ["due_date", {"t": "2024-01-01T00:00:00+00:00"}, an_id], ["created", {"t": "2024-01-01T00:00:00+00:00"}, 7]):
        cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()
        answer = alice.call("GET", "/api/objectives", cursor=cursor, sort=forged[0])
        assert answer.status_code == 422 and "cursor" in answer.json()["detail"], (forged, answer.text)


def test_roles_on_goals(api_user_factory):
    owner, member, other, viewer = (api_user_factory(n) for n in ("owner", "member", "other", "viewer"))
    org = owner.ok("POST", "/api/organisations", {"name": "Roles"})
    for user, role in ((member, "member"), (other, "member"), (viewer, "viewer")):
        owner.ok("POST", f"/api/organisations/{org['id']}/members", {"user": user.name, "role": role})
    assert viewer.call("POST", "/api/objectives", {"organisation_id": org["id"], "title": "x"}).status_code == 403
    mine = objective(member, org, title="mine")
    assert viewer.ok("GET", f"/api/objectives/{mine['id']}")["title"] == "mine"
    assert other.call("PATCH", f"/api/objectives/{mine['id']}", {"title": "taken"}).status_code == 403
    assert other.call("DELETE", f"/api/objectives/{mine['id']}").status_code == 403
    assert other.call("POST", "/api/key-results", {"objective_id": mine["id"], "title": "x", "target_value": 1}).status_code == 403
    assert member.call("POST", "/api/objectives", {"organisation_id": org["id"], "title": "x", "owner": other.name}).status_code == 403
    assert owner.ok("PATCH", f"/api/objectives/{mine['id']}", {"owner": other.name})["owner"] == other.name
    assert owner.call("PATCH", f"/api/objectives/{mine['id']}", {"owner": "stranger"}).status_code == 422
    assert other.ok("PATCH", f"/api/objectives/{mine['id']}", {"title": "now mine"})["title"] == "now mine"
    assert member.call("PATCH", f"/api/objectives/{mine['id']}", {"title": "back"}).status_code == 403
    # A child objective counts in its parent's progress: aligning under it takes write rights on it.
    theirs = objective(other, org, title="theirs")
    assert member.call("POST", "/api/objectives", {"organisation_id": org["id"], "title": "child",
                                                   "parent_id": theirs["id"]}).status_code == 403
    own_child = objective(member, org, title="own child")
    assert member.call("PATCH", f"/api/objectives/{own_child['id']}", {"parent_id": theirs["id"]}).status_code == 403
    assert other.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "child",
                                                "parent_id": theirs["id"]})["parent_id"] == theirs["id"]


def test_nothing_leaks_across_organisations(api_user_factory):
    alice, bob = api_user_factory("alice"), api_user_factory("bob")
    secret_org = alice.ok("POST", "/api/organisations", {"name": "Secret"})
    secret = objective(alice, secret_org, title="secret plan")
    kr = key_result(alice, secret["id"], target_value=5)
    checkin = alice.ok("POST", "/api/check-ins", {"key_result_id": kr["id"], "value": 1})
    bob_org = bob.ok("POST", "/api/organisations", {"name": "Bob's"})
    for path in (f"/api/objectives/{secret['id']}", f"/api/key-results/{kr['id']}", f"/api/check-ins/{checkin['id']}"):
        assert bob.call("GET", path).status_code == 404
        assert bob.call("PATCH", path, {}).status_code == 404
        assert bob.call("DELETE", path).status_code == 404
    assert bob.ok("GET", "/api/objectives")["items"] == []
    assert bob.ok("GET", "/api/objectives", organisation_id=secret_org["id"])["items"] == []
    assert bob.ok("GET", "/api/key-results", objective_id=secret["id"])["items"] == []
    assert bob.ok("GET", "/api/check-ins", key_result_id=kr["id"])["items"] == []
    for path, body in (("/api/objectives", {"organisation_id": secret_org["id"], "title": "x"}),
                       ("/api/key-results", {"objective_id": secret["id"], "title": "x", "target_value": 1}),
                       ("/api/check-ins", {"key_result_id": kr["id"], "value": 1}),
                       ("/api/objectives", {"organisation_id": bob_org["id"], "title": "x", "parent_id": secret["id"]})):
        assert bob.call("POST", path, body).status_code == 422, path
    assert alice.ok("GET", f"/api/objectives/{secret['id']}")["title"] == "secret plan"
