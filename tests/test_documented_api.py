"""Claims the README makes about the goals API, each checked over real HTTP against a real
PostgreSQL: stored secrets are hashes, the 50,000-point ingest, range boundaries, paging,
links on overrides, time invested and the agenda's limit."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

API_INGEST_POINTS = 50_000


@pytest.fixture
def alice(api_user_factory):
    return api_user_factory("alice")


@pytest.fixture
def org(alice):
    return alice.ok("POST", "/api/organisations", {"name": "Claims"})


def new_kpi(user, org, **fields) -> dict:
    return user.ok("POST", "/api/kpis", {"organisation_id": org["id"], "name": "KPI", **fields})


def points(count: int, start: datetime, step: timedelta = timedelta(minutes=1)) -> list[dict]:
    return [{"measured_at": (start + i * step).isoformat(), "value": i} for i in range(count)]


def post_json(user, path: str, body: bytes, **headers) -> requests.Response:
    return user.session.post(user.api_url + path, data=body,
                             headers={"Content-Type": "application/json", **headers})


def assert_problem(response: requests.Response, status: int, *phrases: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    for phrase in phrases:
        assert phrase in problem["detail"], problem
    return problem


# -- 2. the 50,000-point ingest --------------------------------------------------------
def test_50000_points_are_ingested_in_one_request_and_one_transaction(alice, org):
    indicator = new_kpi(alice, org, period="daily", aggregation="sum")
    path = f"/api/kpis/{indicator['id']}/measurements"
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    body = json.dumps({"measurements": points(API_INGEST_POINTS, start)}).encode()
    assert len(body) > 1024 * 1024  # above aiohttp's default body limit
    started = time.monotonic()
    response = post_json(alice, path, body)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text[:500]
    assert response.json() == {"inserted": API_INGEST_POINTS, "updated": 0}
    print(f"\n50,000-point ingest: {elapsed:.2f} s for {len(body)} bytes")
    # Every point arrived: 1,440 a day, values 0..49,999.
    series = alice.ok("GET", f"/api/kpis/{indicator['id']}/series", start=start.isoformat(),
                      end=(start + timedelta(days=35)).isoformat())
    assert sum(p["count"] for p in series["points"]) == API_INGEST_POINTS
    assert sum(p["value"] or 0 for p in series["points"]) == sum(range(API_INGEST_POINTS))
    # Sent again with one bad point: refused as a whole, nothing changed (one transaction).
    again = points(API_INGEST_POINTS, start)
    for point in again:
        point["value"] = -1
    again[-1]["measured_at"] = "9999-12-31T23:00:00Z"
    refused = post_json(alice, path, json.dumps({"measurements": again}).encode())
    assert_problem(refused, 422, f"measurements.{API_INGEST_POINTS - 1}.measured_at")
    first = alice.ok("GET", path, limit=1)["items"][0]
    assert first["value"] == 0
    # A re-send of every point updates them all at once.
    assert post_json(alice, path, json.dumps({"measurements": again[:-1]}).encode()).json() == {
        "inserted": 0, "updated": API_INGEST_POINTS - 1}


def test_more_than_50000_points_is_a_clear_422(alice, org):
    indicator = new_kpi(alice, org)
    body = json.dumps({"measurements": points(API_INGEST_POINTS + 1, datetime(2025, 1, 1, tzinfo=timezone.utc))})
    response = post_json(alice, f"/api/kpis/{indicator['id']}/measurements", body.encode())
    assert_problem(response, 422, "measurements", "at most 50000")
    assert alice.ok("GET", f"/api/kpis/{indicator['id']}/measurements")["items"] == []


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_is_a_clear_413(alice, org, chunked):
    from okr_extension.api.limits import MAX_BODY

    indicator = new_kpi(alice, org)
    path = f"/api/kpis/{indicator['id']}/measurements"
    note = "x" * 10_000
    many = [{"measured_at": f"2025-01-01T00:{m:02d}:{s:02d}Z", "value": 1, "note": note}
            for m in range(60) for s in range(60)][:900]
    body = json.dumps({"measurements": many}).encode()
    assert MAX_BODY < len(body) < 2 * MAX_BODY

    def pieces():
        for offset in range(0, len(body), 65536):
            yield body[offset:offset + 65536]
    response = post_json(alice, path, pieces() if chunked else body)
    assert_problem(response, 413, f"larger than {MAX_BODY} bytes", "send less per request")
    assert alice.ok("GET", path)["items"] == []
    # Just under the limit is read (and judged on its content).
    fits = json.dumps({"measurements": many[:800]}).encode()
    assert len(fits) < MAX_BODY
    assert post_json(alice, path, fits).json() == {"inserted": 800, "updated": 0}
