"""Goal-link queries as the number of linked items grows (Planerix only: the peers have no goals).

    python -m bench.links                       # 100, 1,000, 10,000 linked items → bench/results/links.*
    python -m bench.links --sizes 100,1000 --out /tmp/links

One `planerix serve` on a fresh embedded database; a key result in ``tasks`` mode gets N linked
items through plain CalDAV PUTs (half VTODOs with a completion, half weekly VEVENTs with COUNT=8).
The first 20 events fall into the timed four-week window, all later ones before it, so every
answer but the progress stays the same size as N grows. At each N it times
(median of repeated requests) the key result with its progress, the objective roll-up, the first
page of linked items, and the time invested over four weeks. Flat means the figure at 10,000 is
close to the one at 100; the ratio is reported.
"""
from __future__ import annotations

import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

from .dataset import Item
from .dav import Dav
from .fill import http_fill
from . import growth

USER = "linkbench"
WINDOW_START = datetime(2026, 3, 2, tzinfo=timezone.utc)


def linked_item(n: int, kr_id: str) -> Item:
    uid = f"linked-{n:06d}"
    link = f"X-PLANERIX-KEY-RESULT;X-WEIGHT={1 + n % 3}:{kr_id}\r\n"
    if n < 40:  # the 20 events among the first 40 items: inside the window
        start = WINDOW_START + timedelta(hours=9 + n // 2 * 24)
    else:       # the rest spread over the year before it
        start = WINDOW_START - timedelta(days=400) + timedelta(hours=n * 7919 % (300 * 24))
    stamp = start.strftime("%Y%m%dT%H%M%SZ")
    if n % 2:
        body = (f"BEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDUE:{stamp}\r\n"
                f"SUMMARY:Task {n}\r\nPERCENT-COMPLETE:{n % 101}\r\n{link}END:VTODO\r\n")
    else:
        end = (start + timedelta(minutes=30)).strftime("%Y%m%dT%H%M%SZ")
        body = (f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{stamp}\r\nDTEND:{end}\r\n"
                f"RRULE:FREQ=WEEKLY;COUNT=8\r\nSUMMARY:Meeting {n}\r\n{link}END:VEVENT\r\n")
    ics = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Planerix bench//EN\r\n{body}END:VCALENDAR\r\n"
    return Item(uid, ics, "todo" if n % 2 else "weekly")


def timed(session: requests.Session, url: str, reps: int, **params) -> dict:
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        response = session.get(url, params=params)
        samples.append(time.perf_counter() - t0)
        response.raise_for_status()
    return {"median_s": statistics.median(samples), "runs": reps, "answer": response.json()}


def run(sizes: list[int], reps: int, workdir: Path) -> dict:
    with growth.planerix_with_user(workdir, USER) as (server, origin, session, password):
        api = origin + "/api"
        org = session.post(api + "/organisations", json={"name": "Bench"}).json()
        objective = session.post(api + "/objectives", json={"organisation_id": org["id"], "title": "Bench"}).json()
        kr = session.post(api + "/key-results", json={"objective_id": objective["id"], "title": "Linked",
                                                       "target_value": 1, "progress_mode": "tasks"}).json()
        dav = Dav(server.base_url, (USER, password))
        server.prepare_user(dav, USER)
        dav.mkcalendar(f"/{USER}/linked/")
        results, filled = {}, 0
        for size in sorted(sizes):
            fill = http_fill(server.base_url, (USER, password), f"/{USER}/linked/",
                             [linked_item(n, kr["id"]) for n in range(filled, size)])
            filled = size
            window = {"start": WINDOW_START.isoformat(), "end": (WINDOW_START + timedelta(weeks=4)).isoformat()}
            workloads = {
                "key_result_progress": timed(session, f"{api}/key-results/{kr['id']}", reps),
                "objective_rollup": timed(session, f"{api}/objectives/{objective['id']}", reps),
                "linked_items_first_page": timed(session, f"{api}/links", reps, target_kind="key_result",
                                                 target_id=kr["id"], limit=100),
                "time_invested_4_weeks": timed(session, f"{api}/time-invested", reps, target_kind="key_result",
                                               target_id=kr["id"], **window),
            }
            checks = {"progress": workloads["key_result_progress"]["answer"]["progress"],
                      "first_page_items": len(workloads["linked_items_first_page"]["answer"]["items"]),
                      "hours_in_window": workloads["time_invested_4_weeks"]["answer"]["total_hours"]}
            for workload in workloads.values():
                del workload["answer"]
            results[str(size)] = {"fill": fill, "workloads": workloads, "answers": checks}
            print(f"N={size}: " + ", ".join(f"{k} {v['median_s'] * 1000:.1f} ms" for k, v in workloads.items()),
                  flush=True)
        dav.close()
        return results


def report(results: dict, sizes: list[int]) -> str:
    low, high = str(min(sizes)), str(max(sizes))
    names = list(results[low]["workloads"])
    lines = ["# Goal-link queries against the number of linked items (Planerix)", "",
             "Median latency in ms over repeated requests; `python -m bench.links`.", "",
             "| workload | " + " | ".join(f"N={int(s):,}" for s in sorted(sizes)) + f" | N={int(high):,} / N={int(low):,} |",
             "|---|" + "---:|" * (len(sizes) + 1)]
    for name in names:
        cells = [results[str(s)]["workloads"][name]["median_s"] * 1000 for s in sorted(sizes)]
        lines.append(f"| {name.replace('_', ' ')} | " + " | ".join(f"{c:.1f}" for c in cells)
                     + f" | {cells[-1] / cells[0]:.2f} |")
    lines += ["", "Answers (so the timings are of real work): " + "; ".join(
        f"N={int(s):,}: {results[str(s)]['answers']}" for s in sorted(sizes))]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    return growth.main(argv, prog="python -m bench.links", doc=__doc__, name="links", default_sizes="100,1000,10000",
                       run=run, report=report)


if __name__ == "__main__":
    main()
