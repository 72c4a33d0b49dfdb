"""Key results fed by KPIs, over real HTTP: measurements move the key result (within its
period, by the chosen aggregation), check-ins and hand-set values are refused while it follows,
transitions produce events in the measurement's transaction, and a KPI of another organisation
cannot be followed."""
import sqlalchemy as sa


def setup_goal(user, org, **source):
    objective = user.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Grow",
                                                    "start_date": "2026-01-01", "due_date": "2026-12-31"})
    indicator = user.ok("POST", "/api/kpis", {"organisation_id": org["id"], "name": "Signups",
                                              "aggregation": "last"})
    kr = user.ok("POST", "/api/key-results", {
        "objective_id": objective["id"], "title": "1000 signups", "start_value": 0, "target_value": 1000,
        "source": {"kpi": indicator["id"], **source}})
    return objective, indicator, kr


def ingest(user, indicator, *points):
    user.ok("POST", f"/api/kpis/{indicator['id']}/measurements",
            {"measurements": [{"measured_at": at, "value": value} for at, value in points]}, status=200)


def test_measurements_in_the_period_move_the_key_result(alice, org):
    _, indicator, kr = setup_goal(alice, org, aggregation="sum")
    assert kr["source"] == {"kpi": indicator["id"], "aggregation": "sum"} and kr["current_value"] == 0
    ingest(alice, indicator, ("2025-12-31T23:00:00Z", 500),   # before the objective starts: not counted
           ("2026-03-01T00:00:00Z", 100), ("2026-04-01T00:00:00Z", 150),
           ("2027-01-01T00:00:00Z", 900))                     # after the due day: not counted
    moved = alice.ok("GET", f"/api/key-results/{kr['id']}")
    assert moved["current_value"] == 250 and abs(moved["progress"] - 0.25) < 1e-9
    # A measurement sent again replaces its value, and the key result follows.
    ingest(alice, indicator, ("2026-04-01T00:00:00Z", 400))
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["current_value"] == 500
    alice.ok("DELETE", f"/api/kpis/{indicator['id']}/measurements/2026-03-01T00:00:00Z")
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["current_value"] == 400


def test_default_aggregation_is_the_kpis_and_follows_its_change(alice, org):
    _, indicator, kr = setup_goal(alice, org)
    assert kr["source"]["aggregation"] is None
    ingest(alice, indicator, ("2026-02-01T00:00:00Z", 300), ("2026-02-02T00:00:00Z", 200))
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["current_value"] == 200  # the KPI's 'last'
    alice.ok("PATCH", f"/api/kpis/{indicator['id']}", {"aggregation": "max"})
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["current_value"] == 300


def test_hand_set_values_are_refused_while_following(alice, org):
    _, indicator, kr = setup_goal(alice, org)
    check_in = alice.call("POST", "/api/check-ins", {"key_result_id": kr["id"], "value": 10})
    assert check_in.status_code == 409 and f"/api/kpis/{indicator['id']}/measurements" in check_in.json()["detail"]
    by_hand = alice.call("PATCH", f"/api/key-results/{kr['id']}", {"current_value": 10})
    assert by_hand.status_code == 422 and "follows a KPI" in by_hand.text
    created = alice.call("POST", "/api/key-results", {"objective_id": kr["objective_id"], "title": "x",
                                                      "target_value": 5, "current_value": 3,
                                                      "source": {"kpi": indicator["id"]}})
    assert created.status_code == 422
    # Stop following: the value stays, and check-ins move it again.
    stopped = alice.ok("PATCH", f"/api/key-results/{kr['id']}", {"source": None})
    assert stopped["source"] is None
    alice.ok("POST", "/api/check-ins", {"key_result_id": kr["id"], "value": 10})
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["current_value"] == 10
    ingest(alice, indicator, ("2026-02-01T00:00:00Z", 999))
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["current_value"] == 10


def test_following_a_kpi_later_takes_its_value_at_once(alice, org):
    objective, indicator, kr = setup_goal(alice, org)
    ingest(alice, indicator, ("2026-05-01T00:00:00Z", 42))
    plain = alice.ok("POST", "/api/key-results", {"objective_id": objective["id"], "title": "later",
                                                  "target_value": 100})
    followed = alice.ok("PATCH", f"/api/key-results/{plain['id']}", {"source": {"kpi": indicator["id"]}})
    assert followed["current_value"] == 42


def test_a_kpi_of_another_organisation_cannot_be_followed(alice, org):
    other = alice.ok("POST", "/api/organisations", {"name": "Other"})
    foreign = alice.ok("POST", "/api/kpis", {"organisation_id": other["id"], "name": "Theirs"})
    objective = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Mine"})
    refused = alice.call("POST", "/api/key-results", {"objective_id": objective["id"], "title": "x",
                                                      "target_value": 5, "source": {"kpi": foreign["id"]}})
    assert refused.status_code == 422 and "source" in refused.text


def test_measurement_that_achieves_the_key_result_fires_the_event(alice, org, engine):
    _, indicator, kr = setup_goal(alice, org)
    ingest(alice, indicator, ("2026-06-01T00:00:00Z", 1000))
    with engine.connect() as conn:
        kinds = list(conn.execute(sa.text(
            "SELECT kind FROM automation_event WHERE subject_id = :id ORDER BY seq"), {"id": kr["id"]}).scalars())
    assert kinds.count("key_result.achieved") == 1
    ingest(alice, indicator, ("2026-06-02T00:00:00Z", 1001))  # still achieved: no second event
    with engine.connect() as conn:
        again = list(conn.execute(sa.text(
            "SELECT kind FROM automation_event WHERE subject_id = :id ORDER BY seq"), {"id": kr["id"]}).scalars())
    assert again.count("key_result.achieved") == 1
