"""Dashboard page server time as the organisation grows (Planerix only: the peers have no dashboard).

    python -m bench.dashboard                    # 10 and 1,000 objectives → bench/results/dashboard.*
    python -m bench.dashboard --sizes 10,100 --reps 5 --out /tmp/dashboard

One `planerix serve` on a fresh embedded database; an organisation gets N objectives, each with a
key result and a check-in (through the API). Signed in through the dashboard's form like a browser,
it times (median of repeated requests) the organisation overview, its live twin (the JSON an open
page polls), one objective page and one key-result page. The overview and its twin carry every
objective, so their bytes grow with N; the objective and key-result pages stay the same size, and
their time must not grow (no query per row anywhere: the query count is a test,
tests/test_web_dashboard.py).
"""
from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

import requests

from . import growth

USER = "dashbench"


def timed(session: requests.Session, url: str, reps: int) -> dict:
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        response = session.get(url, allow_redirects=False)
        samples.append(time.perf_counter() - t0)
        response.raise_for_status()
        assert response.status_code == 200, (url, response.status_code)
    return {"median_s": statistics.median(samples), "runs": reps, "bytes": len(response.content)}


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
        results = {}
        for size in sorted(sizes):
            org = api.post(base + "/api/organisations", json={"name": f"Bench {size}"}).json()
            first = None
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
            workloads = {
                "overview": timed(browser, f"{base}/app/organisations/{org['id']}", reps),
                "overview_live_json": timed(browser, f"{base}/app/organisations/{org['id']}/live", reps),
                "objective_page": timed(browser, f"{base}/app/objectives/{objective['id']}", reps),
                "key_result_page": timed(browser, f"{base}/app/key-results/{kr['id']}", reps),
            }
            results[str(size)] = {"workloads": workloads}
            print(f"N={size}: " + ", ".join(f"{k} {v['median_s'] * 1000:.1f} ms ({v['bytes']:,} B)"
                                            for k, v in workloads.items()), flush=True)
        return results


def report(results: dict, sizes: list[int]) -> str:
    low, high = str(min(sizes)), str(max(sizes))
    lines = ["# Dashboard page server time against the number of objectives (Planerix)", "",
             "Median time to the last byte in ms over repeated requests (answer size in brackets); "
             "`python -m bench.dashboard`.", "",
             "| page | " + " | ".join(f"N={int(s):,}" for s in sorted(sizes)) + f" | N={int(high):,} / N={int(low):,} |",
             "|---|" + "---:|" * (len(sizes) + 1)]
    for name in results[low]["workloads"]:
        cells = [results[str(s)]["workloads"][name] for s in sorted(sizes)]
        lines.append(f"| {name.replace('_', ' ')} | "
                     + " | ".join(f"{c['median_s'] * 1000:.1f} ({c['bytes']:,} B)" for c in cells)
                     + f" | {cells[-1]['median_s'] / cells[0]['median_s']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    return growth.main(argv, prog="python -m bench.dashboard", doc=__doc__, name="dashboard", default_sizes="10,1000",
                       run=run, report=report)


if __name__ == "__main__":
    main()
