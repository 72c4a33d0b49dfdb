"""Dashboard page server time as the organisation grows (Planerix only: the peers have no dashboard).

    python -m bench.dashboard                    # 10, 100 and 1,000 objectives → bench/results/dashboard.*
    python -m bench.dashboard --sizes 10,100 --reps 5 --out /tmp/dashboard

One `planerix serve` on a fresh embedded database; an organisation gets N objectives, each with a
key result and a check-in, and one KPI with a few measurements (through the API). Signed in through
the dashboard's form like a browser, it times (median of repeated requests, after one warm-up; every
size and page in turn on each round, so load from elsewhere falls on all alike) every page: the organisation overview, one objective, one key result, the KPI, the heatmap, my
week, settings, and the live JSON twins the open pages poll; and the overview right after a
check-in, which makes it compute the organisation's roll-up again (its cache is keyed by what the
roll-up reads). Every page shows a bounded part
(the overview a page of top-level objectives, the heatmap a page of rows), so bytes stay level;
the last column is the ratio of the largest N to the smallest (flat: about 1). My week and settings
belong to the user, not to an organisation: the same request at every size, so their ratio shows
the run's noise. The query count
of each page is a test (tests/test_web_dashboard.py).
"""
from __future__ import annotations

import os
import re
import statistics
import time
from pathlib import Path

import requests

from . import growth

USER = "dashbench"


def get(session: requests.Session, url: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    response = session.get(url, allow_redirects=False)
    elapsed = time.perf_counter() - t0
    assert response.status_code == 200, (url, response.status_code)
    return elapsed, len(response.content)


def timed_together(session: requests.Session, urls: dict, reps: int, before: dict | None = None) -> dict:
    """Median time of each URL, the URLs taken in turn on every round (after one warm-up round), so
    a burst of load from elsewhere on the machine falls on every size and page alike. ``before``:
    what to do (untimed) before each request of a URL."""
    before = before or {}
    for url in urls.values():
        get(session, url)  # warm-up: caches, prepared statements
    samples: dict = {key: [] for key in urls}
    sizes: dict = {}
    for _ in range(reps):
        for key, url in urls.items():
            if key in before:
                before[key]()
            elapsed, sizes[key] = get(session, url)
            samples[key].append(elapsed)
    return {key: {"median_s": statistics.median(samples[key]), "runs": reps, "bytes": sizes[key]} for key in urls}


def sign_in(base: str, password: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(base + "/app/login")
    token = re.search(r'name="csrf_token" value="([^"]*)"', form.text).group(1)
    signed = browser.post(base + "/app/login", data={"csrf_token": token, "login": USER, "password": password},
                          allow_redirects=False)
    assert signed.status_code == 303, signed.text
    return browser


def run(sizes: list[int], reps: int, workdir: Path) -> dict:
    with growth.planerix_with_user(workdir, USER) as (server, base, api, password):
        browser = sign_in(base, password)
        results, urls, before = {}, {}, {}
        for size in sorted(sizes):
            org = api.post(base + "/api/organisations", json={"name": f"Bench {size}"}).json()
            first = None
            indicator = api.post(base + "/api/kpis", json={
                "organisation_id": org["id"], "name": f"Signups {size}", "unit": "signups", "target": 120,
                "warn_threshold": 90, "alarm_threshold": 60, "period": "weekly", "aggregation": "sum"}).json()
            api.post(base + f"/api/kpis/{indicator['id']}/measurements", json={"measurements": [
                {"measured_at": f"2026-11-{day:02d}T12:00:00Z", "value": 10 + day} for day in range(1, 29)]}
                     ).raise_for_status()
            for n in range(size):
                objective = api.post(base + "/api/objectives", json={
                    "organisation_id": org["id"], "title": f"Objective {n}",
                    "due_date": "2027-12-31", "start_date": "2026-01-01"}).json()
                kr = api.post(base + "/api/key-results", json={"objective_id": objective["id"], "title": f"KR {n}",
                                                               "target_value": 100}).json()
                api.post(base + "/api/check-ins", json={"key_result_id": kr["id"], "value": n % 100,
                                                        "confidence": 0.5}).raise_for_status()
                first = first or (objective, kr)
            objective, kr = first
            pages = {
                "overview": f"/app/organisations/{org['id']}",
                "overview_live_json": f"/app/organisations/{org['id']}/live",
                "overview_filtered": f"/app/organisations/{org['id']}?status=on_track",
                "objective_page": f"/app/objectives/{objective['id']}",
                "objective_live_json": f"/app/objectives/{objective['id']}/live",
                "key_result_page": f"/app/key-results/{kr['id']}",
                "key_result_live_json": f"/app/key-results/{kr['id']}/live",
                "kpi_page": f"/app/kpis/{indicator['id']}",
                "kpi_live_json": f"/app/kpis/{indicator['id']}/live",
                "heatmap": f"/app/organisations/{org['id']}/heatmap",
                "my_week": "/app/week",
                "settings": "/app/settings",
            }
            urls.update({(size, name): base + path for name, path in pages.items()})
            # The overview keeps an organisation's roll-up while nothing it reads has changed: a
            # check-in before each request makes every one of them compute it again.
            urls[(size, "overview_after_a_check_in")] = base + pages["overview"]
            before[(size, "overview_after_a_check_in")] = _check_in(api, base, kr["id"])
        timings = timed_together(browser, urls, reps, before)
        for size in sorted(sizes):
            workloads = {name: timing for (at, name), timing in timings.items() if at == size}
            results[str(size)] = {"workloads": workloads}
            print(f"N={size}: " + ", ".join(f"{k} {v['median_s'] * 1000:.1f} ms ({v['bytes']:,} B)"
                                            for k, v in workloads.items()), flush=True)
        return results


def _check_in(api: requests.Session, base: str, key_result_id: str):
    values = iter(range(10**6))

    def check_in() -> None:
        api.post(base + "/api/check-ins", json={"key_result_id": key_result_id, "value": next(values) % 100,
                                                "confidence": 0.5}).raise_for_status()
    return check_in


def report(results: dict, sizes: list[int]) -> str:
    low, high = str(min(sizes)), str(max(sizes))
    lines = ["# Dashboard page server time against the number of objectives (Planerix)", "",
             "Median time to the last byte in ms over repeated requests (answer size in brackets); "
             f"`python -m bench.dashboard`. Load average at the end of the run: {os.getloadavg()[0]:.1f} "
             f"on {os.cpu_count()} cores.", "",
             "| page | " + " | ".join(f"N={int(s):,}" for s in sorted(sizes)) + f" | N={int(high):,} / N={int(low):,} |",
             "|---|" + "---:|" * (len(sizes) + 1)]
    for name in results[low]["workloads"]:
        cells = [results[str(s)]["workloads"][name] for s in sorted(sizes)]
        lines.append(f"| {name.replace('_', ' ')} | "
                     + " | ".join(f"{c['median_s'] * 1000:.1f} ({c['bytes']:,} B)" for c in cells)
                     + f" | {cells[-1]['median_s'] / cells[0]['median_s']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    return growth.main(argv, prog="python -m bench.dashboard", doc=__doc__, name="dashboard", default_sizes="10,100,1000",
                       run=run, report=report)


if __name__ == "__main__":
    main()
