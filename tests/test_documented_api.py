"""Claims the README makes about the goals API, each checked over real HTTP against a real
PostgreSQL: stored secrets are hashes, the 50,000-point ingest, range boundaries, paging,
links on overrides, time invested and the agenda's limit."""
from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
import requests
import sqlalchemy as sa

from conftest import DavUser
from davutil import calendar, vevent

API_INGEST_POINTS = 50_000


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
    documented = alice.ok("GET", "/api/openapi.json")["paths"]["/api/kpis/{id}/measurements"]["post"]["responses"]
    assert "413" in documented
    # Just under the limit is read (and judged on its content).
    fits = json.dumps({"measurements": many[:800]}).encode()
    assert len(fits) < MAX_BODY
    assert post_json(alice, path, fits).json() == {"inserted": 800, "updated": 0}


# -- 1. secrets are stored as hashes ----------------------------------------------------------
def tables_holding(engine, needles: list[str]) -> list[str]:
    """The tables of the database with a row whose text holds one of ``needles``."""
    found = []
    with engine.connect() as conn:
        names = conn.execute(sa.text(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")).scalars().all()
        quote = engine.dialect.identifier_preparer.quote
        for name in names:
            hit = conn.execute(sa.text(
                f"SELECT EXISTS (SELECT 1 FROM {quote(name)} t, unnest(CAST(:needles AS text[])) n"
                "                WHERE strpos(CAST(t AS text), n) > 0)"), {"needles": needles}).scalar()
            if hit:
                found.append(name)
    return found


def test_tokens_and_feed_secrets_are_stored_only_as_their_sha256(alice, engine, base_url):
    token = alice.ok("POST", "/api/tokens", {"name": "automation"})
    secret = token["token"]
    DavUser(base_url, alice.name, alice.password).mkcalendar("published")
    feed = alice.ok("POST", "/api/feeds", {"calendar": "published"})
    feed_secret = feed["url"].rsplit("/", 1)[1].removesuffix(".ics")
    rotated = alice.ok("POST", f"/api/feeds/{feed['id']}/rotate", status=200)
    rotated_secret = rotated["url"].rsplit("/", 1)[1].removesuffix(".ics")
    assert len({secret, feed_secret, rotated_secret}) == 3
    with engine.connect() as conn:
        stored_token = conn.execute(sa.text("SELECT secret_sha256 FROM api_token WHERE id = :id"),
                                    {"id": token["id"]}).scalar_one()
        stored_feed = conn.execute(sa.text("SELECT token_hash FROM published_feed WHERE id = :id"),
                                   {"id": feed["id"]}).scalar_one()
    assert bytes(stored_token) == hashlib.sha256(secret.encode()).digest()
    assert bytes(stored_feed) == hashlib.sha256(rotated_secret.encode()).digest()
    # No table holds any of the secrets (nor the replaced one) in plain text.
    assert tables_holding(engine, [secret, feed_secret, rotated_secret]) == []
    # Listings never show them either; the hashes are what is checked.
    assert secret not in alice.call("GET", "/api/tokens").text
    assert rotated_secret not in alice.call("GET", "/api/feeds").text
    by_token = requests.get(alice.api_url + "/api/tokens", headers={"Authorization": f"Bearer {secret}"})
    assert by_token.status_code == 200
    assert requests.get(rotated["url"]).status_code == 200 and requests.get(feed["url"]).status_code == 404


# -- 3. ranges: start inclusive, end exclusive ---------------------------------------------------
def test_measurement_ranges_include_start_and_exclude_end(alice, org):
    indicator = new_kpi(alice, org, period="daily", aggregation="sum")
    path = f"/api/kpis/{indicator['id']}/measurements"
    start = datetime(2026, 2, 1, tzinfo=timezone.utc)
    end = start + timedelta(days=1)
    tick = timedelta(microseconds=1)
    moments = [start - tick, start, start + tick, start + timedelta(hours=12), end - tick, end, end + tick]
    alice.ok("POST", path, {"measurements": [{"measured_at": m.isoformat(), "value": i}
                                             for i, m in enumerate(moments)]}, status=200)

    def listed(**params):
        seen, cursor = [], None
        while True:
            page = alice.ok("GET", path, limit=2, **params, **({"cursor": cursor} if cursor else {}))
            seen += [datetime.fromisoformat(m["measured_at"]) for m in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                return seen
    assert listed(start=start.isoformat(), end=end.isoformat()) == moments[1:5]
    # The same instants written with another offset select the same points.
    assert listed(start="2026-02-01T02:00:00+02:00", end="2026-02-01T19:00:00-05:00") == moments[1:5]
    assert listed(start=start.isoformat()) == moments[1:]
    assert listed(end=end.isoformat()) == moments[:5]


def test_series_cover_the_periods_from_the_one_holding_start_to_end_exclusive(alice, org):
    indicator = new_kpi(alice, org, period="daily", aggregation="sum")
    day1 = datetime(2026, 3, 10, tzinfo=timezone.utc)
    tick = timedelta(microseconds=1)
    values = {day1 - tick: 128,                                      # the day before: out
              day1: 1, day1 + timedelta(hours=5): 2,                 # before start, in its period: in
              day1 + timedelta(days=1) - tick: 4,
              day1 + timedelta(days=1): 8,
              day1 + timedelta(days=2, hours=6) - tick: 16,          # just before end: in
              day1 + timedelta(days=2, hours=6): 32,                 # at end: out
              day1 + timedelta(days=2, hours=7): 64}
    alice.ok("POST", f"/api/kpis/{indicator['id']}/measurements",
             {"measurements": [{"measured_at": m.isoformat(), "value": v} for m, v in values.items()]}, status=200)
    series = alice.ok("GET", f"/api/kpis/{indicator['id']}/series",
                      start=(day1 + timedelta(hours=6)).isoformat(), end=(day1 + timedelta(days=2, hours=6)).isoformat())
    assert [(p["period_start"][:10], p["value"], p["count"]) for p in series["points"]] == [
        ("2026-03-10", 7, 3), ("2026-03-11", 8, 1), ("2026-03-12", 16, 1)]
    # An end on a period boundary leaves that period out.
    whole = alice.ok("GET", f"/api/kpis/{indicator['id']}/series", start=day1.isoformat(),
                     end=(day1 + timedelta(days=2)).isoformat())
    assert [(p["period_start"][:10], p["value"]) for p in whole["points"]] == [("2026-03-10", 7), ("2026-03-11", 8)]


# -- 4. paging: every row once, in sort order --------------------------------------------------
def walk(user, path: str, **params) -> list[dict]:
    rows, cursor = [], None
    while True:
        page = user.ok("GET", path, limit=3, **params, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= 3
        rows += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return rows


def assert_every_sort_pages_completely(user, path: str, sorts: dict, **filters) -> None:
    everything = user.ok("GET", path, limit=500, **filters)["items"]
    assert everything
    for sort, key in sorts.items():
        for descending in (False, True):
            name = ("-" if descending else "") + sort
            expected = sorted(everything, key=lambda row: (key(row), uuid.UUID(row["id"])), reverse=descending)
            walked = walk(user, path, sort=name, **filters)
            assert [r["id"] for r in walked] == [r["id"] for r in expected], name


def moment(field: str):
    return lambda row: datetime.fromisoformat(row[field])


def day_or_last(field: str):
    return lambda row: date.fromisoformat(row[field]) if row[field] else date(9999, 12, 31)


def test_key_results_check_ins_and_kpis_page_completely_in_every_sort(alice, org):
    objective = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Paged"})
    titles = ["b", "a", "b", "c", "a", "b", "c"]  # ties: the id decides
    dues = [None, "2026-05-01", "2026-05-01", None, "2026-04-01", "2026-06-01", "2026-05-01"]
    krs = [alice.ok("POST", "/api/key-results", {"objective_id": objective["id"], "title": t, "target_value": 10,
                                                 **({"due_date": d} if d else {})}) for t, d in zip(titles, dues)]
    alice.ok("PATCH", f"/api/key-results/{krs[0]['id']}", {"title": "a"})  # updated differs from created
    for value in range(7):
        alice.ok("POST", "/api/check-ins", {"key_result_id": krs[1]["id"], "value": value})
    for name, review in zip(titles, dues):
        new_kpi(alice, org, name=name, **({"next_review": review} if review else {}))

    assert_every_sort_pages_completely(
        alice, "/api/key-results", {"created": moment("created"), "updated": moment("updated"),
                                    "title": lambda r: r["title"], "due_date": day_or_last("due_date")},
        objective_id=objective["id"])
    assert_every_sort_pages_completely(alice, "/api/check-ins", {"created": moment("created")},
                                       key_result_id=krs[1]["id"])
    assert_every_sort_pages_completely(
        alice, "/api/kpis", {"created": moment("created"), "updated": moment("updated"),
                             "name": lambda r: r["name"], "next_review": day_or_last("next_review")},
        organisation_id=org["id"])
    assert len(walk(alice, "/api/check-ins", key_result_id=krs[1]["id"])) == 7


def test_undated_objectives_page_completely(alice, org):
    """Several rows without a date: a cursor ending on one of them must not skip the others."""
    for title, due in zip("abcde", [None, "2026-01-01", None, None, "2026-02-01"]):
        alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": title,
                                             **({"due_date": due} if due else {})})
    assert_every_sort_pages_completely(alice, "/api/objectives", {"due_date": day_or_last("due_date")},
                                       organisation_id=org["id"])


# -- 5, 6. links on overrides; time invested counts each event once ---------------------------
@pytest.fixture
def linked(alice, org, base_url):
    objective = alice.ok("POST", "/api/objectives", {"organisation_id": org["id"], "title": "Ship"})
    krs = [alice.ok("POST", "/api/key-results", {"objective_id": objective["id"], "title": f"KR {n}",
                                                 "target_value": 1, "progress_mode": "tasks"}) for n in (1, 2)]
    dav = DavUser(base_url, alice.name, alice.password)
    dav.mkcalendar("work", ("VEVENT",))
    dav.mkcalendar("tasks", ("VTODO",))
    return {"objective": objective, "krs": krs, "dav": dav}


def link_line(kind: str, target: str, weight: float | None = None) -> str:
    name = {"key_result": "X-PLANERIX-KEY-RESULT", "objective": "X-PLANERIX-OBJECTIVE"}[kind]
    return f"{name}{'' if weight is None else f';X-WEIGHT={weight}'}:{target}\r\n"


def hours(alice, kind: str, target: str, start: str = "2026-03-01T00:00:00Z", end: str = "2026-04-01T00:00:00Z"):
    return alice.ok("GET", "/api/time-invested", target_kind=kind, target_id=target, start=start, end=end)


def test_a_link_on_the_master_and_an_override_is_indexed_and_counted_once(alice, linked):
    dav, kr, objective = linked["dav"], linked["krs"][0], linked["objective"]
    link = link_line("key_result", kr["id"])
    series = calendar(
        vevent("weekly", start="20260302T090000Z", end="20260302T100000Z", extra="RRULE:FREQ=WEEKLY;COUNT=3\r\n" + link),
        vevent("weekly", start="20260309T140000Z", end="20260309T160000Z", extra="RECURRENCE-ID:20260309T090000Z\r\n" + link))
    assert dav.put("work/weekly.ics", series).status_code == 201
    item = alice.ok("GET", "/api/item-links", calendar=f"/{alice.name}/work/", uid="weekly")
    assert [(l["target_kind"], l["target_id"]) for l in item["links"]] == [("key_result", kr["id"])]
    listed = alice.ok("GET", "/api/links", target_kind="key_result", target_id=kr["id"])
    assert [i["uid"] for i in listed["items"]] == ["weekly"]
    # Every occurrence once, the override at its own time and length.
    time_kr = hours(alice, "key_result", kr["id"])
    assert [(w["week_start"][:10], w["hours"], w["occurrences"]) for w in time_kr["weeks"]] == [
        ("2026-03-02", 1.0, 1), ("2026-03-09", 2.0, 1), ("2026-03-16", 1.0, 1)]
    # Linked through the API, the item carries the link on the master and on the override.
    answer = alice.ok("POST", "/api/links", {"calendar": f"/{alice.name}/work/", "uid": "weekly",
                                             "target_kind": "objective", "target_id": objective["id"]}, status=200)
    assert len(answer["links"]) == 2
    text = dav.request("GET", "work/weekly.ics").text.replace("\r\n ", "")
    assert text.count(f"X-PLANERIX-OBJECTIVE;X-WEIGHT=1:{objective['id']}") == 2
    assert text.count(f"X-PLANERIX-KEY-RESULT:{kr['id']}") == 2
    # Linked to the objective and to its key result: counted once for the objective.
    assert hours(alice, "objective", objective["id"])["total_hours"] == 4.0


def test_a_recurring_task_with_a_linked_override_counts_once_with_its_weight(alice, linked):
    dav, kr = linked["dav"], linked["krs"][0]
    link = link_line("key_result", kr["id"], 2)
    done = calendar(
        "BEGIN:VTODO\r\nUID:chore\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260302T090000Z\r\nDUE:20260302T100000Z\r\n"
        "RRULE:FREQ=WEEKLY;COUNT=3\r\nSTATUS:COMPLETED\r\nSUMMARY:Chore\r\n" + link + "END:VTODO\r\n",
        "BEGIN:VTODO\r\nUID:chore\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:20260309T090000Z\r\n"
        "DTSTART:20260309T120000Z\r\nDUE:20260309T130000Z\r\nSUMMARY:Chore moved\r\n" + link + "END:VTODO\r\n")
    open_task = calendar("BEGIN:VTODO\r\nUID:open\r\nDTSTAMP:20260101T000000Z\r\nDUE:20260305T100000Z\r\n"
                         "SUMMARY:Open\r\n" + link + "END:VTODO\r\n")
    assert dav.put("tasks/chore.ics", done).status_code == 201
    assert dav.put("tasks/open.ics", open_task).status_code == 201
    # (2 × 1 + 2 × 0) / (2 + 2): the series is one task of weight 2, not two.
    assert alice.ok("GET", f"/api/key-results/{kr['id']}")["progress"] == 0.5


def test_time_invested_counts_an_event_linked_to_an_objective_and_its_key_results_once(alice, linked):
    dav, objective = linked["dav"], linked["objective"]
    kr1, kr2 = (kr["id"] for kr in linked["krs"])
    for uid, start, end, links in (
            ("both", "20260302T090000Z", "20260302T100000Z", link_line("objective", objective["id"]) + link_line("key_result", kr1)),
            ("two-krs", "20260302T110000Z", "20260302T113000Z", link_line("key_result", kr1) + link_line("key_result", kr2)),
            ("kr2", "20260303T130000Z", "20260303T140000Z", link_line("key_result", kr2)),
            ("none", "20260303T150000Z", "20260303T170000Z", "")):
        assert dav.put(f"work/{uid}.ics", calendar(vevent(uid, start=start, end=end, extra=links))).status_code == 201
    by_objective = hours(alice, "objective", objective["id"])
    assert by_objective["total_hours"] == 2.5 and by_objective["weeks"][0]["occurrences"] == 3
    assert hours(alice, "key_result", kr1)["total_hours"] == 1.5
    assert hours(alice, "key_result", kr2)["total_hours"] == 1.5


# -- 7. the agenda's limit --------------------------------------------------------------------
@pytest.mark.parametrize("count, truncated", [(2000, False), (2001, True)])
def test_the_agenda_lists_at_most_2000_event_occurrences_and_says_when_it_cut(api_user_factory, base_url,
                                                                              count, truncated):
    from okr_extension.models.links import AGENDA_LIMIT

    assert AGENDA_LIMIT == 2000
    someone = api_user_factory("agenda")
    dav = DavUser(base_url, someone.name, someone.password)
    dav.mkcalendar("busy", ("VEVENT",))
    hourly = vevent("hourly", start="20260501T000000Z", end="20260501T003000Z", extra=f"RRULE:FREQ=HOURLY;COUNT={count}\r\n")
    assert dav.put("busy/hourly.ics", calendar(hourly)).status_code == 201
    agenda = someone.ok("GET", "/api/agenda", start="2026-05-01T00:00:00Z", end="2026-08-01T00:00:00Z")
    assert agenda["truncated"] is truncated
    events = [e for e in agenda["entries"] if e["kind"] == "event"]
    assert len(events) == AGENDA_LIMIT
    first = datetime(2026, 5, 1, tzinfo=timezone.utc)
    assert [datetime.fromisoformat(e["start"]) for e in events] == [first + timedelta(hours=h) for h in range(AGENDA_LIMIT)]


@pytest.mark.parametrize("count, truncated", [(3, False), (4, True)])
def test_the_agenda_cuts_tasks_at_the_limit_too(api_user_factory, base_url, monkeypatch, count, truncated):
    """The same rule for tasks, with the limit lowered to 3 (2,001 tasks over CalDAV would take
    a minute; the event test above shows the real limit)."""
    from okr_extension.models import links as link_models

    monkeypatch.setattr(link_models, "AGENDA_LIMIT", 3)
    someone = api_user_factory("tasks")
    dav = DavUser(base_url, someone.name, someone.password)
    dav.mkcalendar("todo", ("VTODO",))
    for n in range(count):
        task = (f"BEGIN:VTODO\r\nUID:t{n}\r\nDTSTAMP:20260101T000000Z\r\nDUE:2026050{n + 1}T090000Z\r\n"
                f"SUMMARY:Task {n}\r\nEND:VTODO\r\n")
        assert dav.put(f"todo/t{n}.ics", calendar(task)).status_code == 201
    agenda = someone.ok("GET", "/api/agenda", start="2026-05-01T00:00:00Z", end="2026-06-01T00:00:00Z")
    assert agenda["truncated"] is truncated
    assert [e["title"] for e in agenda["entries"]] == [f"Task {n}" for n in range(3)]
