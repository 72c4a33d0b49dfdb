"""KPIs over real HTTP: validation, idempotent bulk ingest in one transaction, values per period,
health and trend."""
from datetime import datetime, timedelta, timezone

import pytest


def kpi(user, org, **fields):
    return user.ok("POST", "/api/kpis", {"organisation_id": org["id"], "name": "KPI", **fields})


def ingest(user, kpi_id, points, status=200):
    return user.ok("POST", f"/api/kpis/{kpi_id}/measurements", {"measurements": points}, status=status)


@pytest.mark.parametrize("fields", [
    {"direction": "higher_is_better", "warn_threshold": 10, "alarm_threshold": 20},
    {"direction": "lower_is_better", "warn_threshold": 20, "alarm_threshold": 10},
    {"period": "hourly"}, {"aggregation": "median"}, {"target": "high"}, {"owner": 7},
    {"next_review": "9999-12-31"}, {"next_review": "0001-01-01"},
])
def test_kpi_validation(alice, org, fields):
    response = alice.call("POST", "/api/kpis", {"organisation_id": org["id"], "name": "x", **fields})
    assert response.status_code == 422, response.text


def test_bulk_ingest_is_idempotent_per_timestamp(alice, org):
    indicator = kpi(alice, org, period="daily", aggregation="sum")
    base = datetime(2026, 3, 1, tzinfo=timezone.utc)
    points = [{"measured_at": (base + timedelta(hours=h)).isoformat(), "value": h, "source": "test"} for h in range(2000)]
    assert ingest(alice, indicator["id"], points) == {"inserted": 2000, "updated": 0}
    again = [dict(p, value=p["value"] * 2) for p in points[:10]]
    # The same instant written with another offset is the same timestamp.
    again.append({"measured_at": "2026-03-01T01:00:00+01:00", "value": 99})
    assert ingest(alice, indicator["id"], again) == {"inserted": 0, "updated": 10}
    stored = alice.ok("GET", f"/api/kpis/{indicator['id']}/measurements", limit=3)
    assert [m["value"] for m in stored["items"]] == [99, 2, 4]
    assert stored["items"][0]["author"] == alice.name
    # Every point comes back exactly once across pages.
    total, cursor = 0, None
    while True:
        page = alice.ok("GET", f"/api/kpis/{indicator['id']}/measurements", limit=700, **({"cursor": cursor} if cursor else {}))
        total += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert total == 2000


def test_a_batch_with_one_bad_point_stores_nothing(alice, org):
    indicator = kpi(alice, org)
    points = [{"measured_at": "2026-01-01T00:00:00Z", "value": 1},
              {"measured_at": "2026-01-02T00:00:00", "value": 2}]  # no offset: ambiguous
    response = alice.call("POST", f"/api/kpis/{indicator['id']}/measurements", {"measurements": points})
    assert response.status_code == 422 and "measurements.1.measured_at" in response.json()["detail"]
    assert alice.ok("GET", f"/api/kpis/{indicator['id']}/measurements")["items"] == []
    assert alice.call("POST", f"/api/kpis/{indicator['id']}/measurements", {"measurements": []}).status_code == 422


@pytest.mark.parametrize("aggregation, expected", [("sum", [6, None, 9]), ("avg", [2, None, 9]),
                                                   ("last", [3, None, 9]), ("min", [1, None, 9]),
                                                   ("max", [3, None, 9])])
def test_series_aggregates_per_period(alice, org, aggregation, expected):
    indicator = kpi(alice, org, period="monthly", aggregation=aggregation)
    ingest(alice, indicator["id"], [
        {"measured_at": "2026-01-31T23:00:00Z", "value": 3},
        {"measured_at": "2026-01-05T00:00:00Z", "value": 1},
        {"measured_at": "2026-01-20T00:00:00+05:00", "value": 2},
        {"measured_at": "2026-03-01T00:00:00Z", "value": 9},
        {"measured_at": "2026-04-01T00:00:00Z", "value": 100},  # outside the range
    ])
    series = alice.ok("GET", f"/api/kpis/{indicator['id']}/series", start="2026-01-10T00:00:00Z", end="2026-04-01T00:00:00Z")
    assert [p["period_start"][:10] for p in series["points"]] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert [p["value"] for p in series["points"]] == expected
    assert [p["count"] for p in series["points"]] == [3, 0, 1]


def test_series_by_week_starts_on_monday_and_reports_trend(alice, org):
    indicator = kpi(alice, org, period="monthly", aggregation="sum")
    ingest(alice, indicator["id"], [{"measured_at": f"2026-06-{d:02d}T12:00:00Z", "value": d} for d in (1, 8, 15)])
    series = alice.ok("GET", f"/api/kpis/{indicator['id']}/series", start="2026-06-03T00:00:00Z",
                      end="2026-06-20T00:00:00Z", period="weekly")
    assert series["period"] == "weekly"
    assert [(p["period_start"][:10], p["value"]) for p in series["points"]] == [
        ("2026-06-01", 1), ("2026-06-08", 8), ("2026-06-15", 15)]
    assert series["trend"] == pytest.approx(7)
    bad = alice.call("GET", f"/api/kpis/{indicator['id']}/series", start="2026-06-03T00:00:00Z", end="2026-06-01T00:00:00Z")
    assert bad.status_code == 422


@pytest.mark.parametrize("direction, warn, alarm, value, health", [
    ("higher_is_better", 50, 30, 60, "green"), ("higher_is_better", 50, 30, 40, "yellow"),
    ("higher_is_better", 50, 30, 20, "red"), ("lower_is_better", 5, 10, 4, "green"),
    ("lower_is_better", 5, 10, 7, "yellow"), ("lower_is_better", 5, 10, 11, "red"),
])
def test_current_value_and_health(alice, org, direction, warn, alarm, value, health, frozen_clock):
    indicator = kpi(alice, org, direction=direction, warn_threshold=warn, alarm_threshold=alarm, period="daily")
    now = frozen_clock
    ingest(alice, indicator["id"], [{"measured_at": (now - timedelta(days=2)).isoformat(), "value": 0},
                                    {"measured_at": now.isoformat(), "value": value}])
    fetched = alice.ok("GET", f"/api/kpis/{indicator['id']}")
    assert fetched["current_value"] == value and fetched["health"] == health
    assert fetched["trend"] == pytest.approx(value / 2)


def test_measurement_delete_and_rights(alice, org, api_user_factory):
    viewer = api_user_factory("viewer")
    alice.ok("POST", f"/api/organisations/{org['id']}/members", {"user": viewer.name, "role": "viewer"})
    indicator = kpi(alice, org)
    ingest(alice, indicator["id"], [{"measured_at": "2026-05-01T00:00:00Z", "value": 1}])
    assert viewer.ok("GET", f"/api/kpis/{indicator['id']}/measurements")["items"][0]["value"] == 1
    denied = viewer.call("POST", f"/api/kpis/{indicator['id']}/measurements",
                         {"measurements": [{"measured_at": "2026-05-02T00:00:00Z", "value": 2}]})
    assert denied.status_code == 403
    assert viewer.call("DELETE", f"/api/kpis/{indicator['id']}/measurements/2026-05-01T00:00:00+00:00").status_code == 403
    outsider = api_user_factory("outsider")
    assert outsider.call("GET", f"/api/kpis/{indicator['id']}/series", start="2026-01-01T00:00:00Z",
                         end="2026-02-01T00:00:00Z").status_code == 404
    alice.ok("DELETE", f"/api/kpis/{indicator['id']}/measurements/2026-05-01T00:00:00+00:00")
    assert alice.call("DELETE", f"/api/kpis/{indicator['id']}/measurements/2026-05-01T00:00:00+00:00").status_code == 404
    assert alice.call("DELETE", f"/api/kpis/{indicator['id']}/measurements/yesterday").status_code == 404


def test_kpi_crud(alice, org):
    created = kpi(alice, org, name="Revenue", unit="EUR", tags=["finance"], next_review="2026-12-01")
    assert created["current_value"] is None and created["health"] is None
    assert alice.ok("PATCH", f"/api/kpis/{created['id']}", {"unit": "USD"})["unit"] == "USD"
    threshold_clash = alice.call("PATCH", f"/api/kpis/{created['id']}", {"warn_threshold": 10, "alarm_threshold": 20})
    assert threshold_clash.status_code == 422
    assert [k["name"] for k in alice.ok("GET", "/api/kpis", tag="finance")["items"]] == ["Revenue"]
    alice.ok("DELETE", f"/api/kpis/{created['id']}")
    assert alice.call("GET", f"/api/kpis/{created['id']}").status_code == 404


def test_dates_at_the_ends_of_the_calendar_are_refused(alice, org):
    """Days past 9998 or before 1900 would overflow a deadline's end or a period's next start."""
    made = kpi(alice, org)
    for start, end in (("9999-12-01T00:00:00Z", "9999-12-31T00:00:00Z"), ("0001-01-01T00:00:00+01:00", "2020-01-01T00:00:00Z")):
        answer = alice.call("GET", f"/api/kpis/{made['id']}/series", start=start, end=end, period="monthly")
        assert answer.status_code == 422 and "between 1900-01-01 and 9998-12-31" in answer.text
    late = alice.call("POST", "/api/objectives", {"organisation_id": org["id"], "title": "x", "due_date": "9999-12-31"})
    assert late.status_code == 422 and "due_date" in late.text
    point = alice.call("POST", f"/api/kpis/{made['id']}/measurements",
                       {"measurements": [{"measured_at": "9999-12-31T23:00:00Z", "value": 1}]})
    assert point.status_code == 422
