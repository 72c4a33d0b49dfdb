"""Command line: ``python -m bench.run [--sizes 1000,10000,100000] [--smoke] [--out DIR]``.

For each server in turn (only one runs at a time): start it, create the
calendars, then for each size N (ascending, the calendar grows in place)
fill, warm, run every workload, run the concurrent phase, read memory; stop
it.  Results go to ``--out`` as results.json, results.md and latency.png.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

from . import dataset, report
from .concurrent import run_concurrent
from .dav import Dav, calendar_query, PROPFIND_GETETAG
from .fill import DIRECT_FILLERS, http_fill
from .servers import SERVER_CLASSES, Server
from .workloads import (Budget, home_propfind, initial_sync, multiget, propfind_depth1, put_rate,
                        sync_one_change, week_query)

USERS = {"bench": "bench-pass", "home": "home-pass"}
BIG, ANSWER = "big", "answer"
HOT_ITEMS = 8


@dataclass
class Plan:
    sizes: list[int]
    smoke: bool = False
    reps: int = 7
    reps_large: int = 3  # at N >= 50,000
    budget_s: float = 60.0
    put_batch: int = 100
    put_runs: int = 5
    put_run_seconds: float = 20.0
    clients: int = 16
    concurrent_s: float = 30.0
    home_calendars: int = 50
    home_items: int = 10
    http_fill_limit: int = 1500  # peers: above this many new items, write storage directly
    fill_workers: int = 4

    @classmethod
    def smoke_plan(cls) -> "Plan":
        return cls(sizes=[200], smoke=True, reps=2, reps_large=1, budget_s=5.0, put_batch=10, put_runs=2,
                   put_run_seconds=5.0, concurrent_s=3.0, home_items=1)

    def budget(self, n: int) -> Budget:
        return Budget(reps=self.reps_large if n >= 50_000 else self.reps, seconds=self.budget_s)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def save_results(out: Path, name: str, results: dict, text: str) -> dict:
    """``name``.json and ``name``.md (the report ``text``) under ``out``, the report printed too."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=1, default=str))
    (out / f"{name}.md").write_text(text)
    log(f"results: {out / (name + '.md')}")
    print(text)
    return results


def _check(reply, what):
    if reply.status not in (200, 201, 204, 207):
        raise RuntimeError(f"{what}: HTTP {reply.status}: {reply.body[:200]!r}")


def _fill(server: Server, plan: Plan, user: str, cal: str, items, may_direct: bool) -> dict:
    auth = (user, USERS[user])
    if may_direct and server.storage and len(items) > plan.http_fill_limit:
        return DIRECT_FILLERS[server.storage](server.collection_dir(user, cal), items)
    return http_fill(server.base_url, auth, server.calendar_path(user, cal), items, plan.fill_workers)


def _warm(dav: Dav, cal: str) -> float:
    t0 = time.perf_counter()
    dav.report(cal, calendar_query(*dataset.week_range()), depth="1")
    dav.propfind(cal, PROPFIND_GETETAG, "1")
    return time.perf_counter() - t0


def _setup_collections(server: Server, plan: Plan) -> None:
    for user in USERS:
        dav = Dav(server.base_url, (user, USERS[user]))
        server.prepare_user(dav, user)
        cals = [BIG, ANSWER] if user == "bench" else [f"cal-{i:02d}" for i in range(plan.home_calendars)]
        for cal in cals:
            _check(dav.mkcalendar(server.calendar_path(user, cal)), f"MKCALENDAR {cal}")
        dav.close()
    http_fill(server.base_url, ("bench", USERS["bench"]), server.calendar_path("bench", ANSWER),
              dataset.answer_items(), plan.fill_workers)
    home_items = [dataset.home_item(c, k) for c in range(plan.home_calendars) for k in range(plan.home_items)]
    for c in range(plan.home_calendars):
        http_fill(server.base_url, ("home", USERS["home"]), server.calendar_path("home", f"cal-{c:02d}"),
                  home_items[c * plan.home_items:(c + 1) * plan.home_items], 2)


def _measure_size(server: Server, plan: Plan, n: int, filled: int) -> dict:
    dav = Dav(server.base_url, ("bench", USERS["bench"]))
    big, ans = server.calendar_path("bench", BIG), server.calendar_path("bench", ANSWER)
    budget = plan.budget(n)
    out: dict = {}

    log(f"{server.name} N={n}: filling {n - filled} items")
    fill = _fill(server, plan, "bench", BIG, dataset.calendar_items(filled, n), may_direct=True)
    fill["warm_s"] = _warm(dav, big)
    _warm(dav, ans)
    out["fill"] = fill
    log(f"{server.name} N={n}: filled via {fill['method']} in {fill['seconds']:.1f}s, warm {fill['warm_s']:.1f}s")

    wl: dict = {}
    counter = {"k": 0}

    def new_items(k: int):
        items = [dataset.fresh_item(f"put-{n}-{counter['k'] + j:05d}", n * 10 + counter["k"] + j)
                 for j in range(k)]
        counter["k"] += k
        return items

    steps = [
        ("put_rate", lambda: put_rate(dav, big, new_items, plan.put_batch,
                                      Budget(reps=plan.put_runs if n < 50_000 else max(1, plan.put_runs - 2),
                                             seconds=plan.budget_s), plan.put_run_seconds)),
        ("week_query", lambda: week_query(dav, big, budget)),
        ("week_query_answer_only", lambda: week_query(dav, ans, budget)),
    ]
    for key, fn in steps:
        log(f"{server.name} N={n}: {key}")
        wl[key] = fn()
    log(f"{server.name} N={n}: initial_sync")
    wl["initial_sync"], token = initial_sync(dav, big, budget)
    _, ans_token = initial_sync(dav, ans, Budget(reps=1))
    log(f"{server.name} N={n}: sync_one_change")
    wl["sync_one_change"], token = sync_one_change(dav, big, token, dataset.background_item(10), budget)
    wl["sync_one_change_answer_only"], _ = sync_one_change(dav, ans, ans_token, dataset.answer_item(0), budget)
    log(f"{server.name} N={n}: propfind / multiget / home")
    wl["propfind_depth1"] = propfind_depth1(dav, big, budget)
    n_bg = n - dataset.ANSWER_COUNT
    step = max(1, n_bg // 50)
    names = [dataset.background_item((j * step + 20) % n_bg).name for j in range(min(50, n_bg))]
    wl["multiget_50"] = multiget(dav, big, names, budget)
    home = Dav(server.base_url, ("home", USERS["home"]))
    wl["home_propfind"] = home_propfind(home, server.home_path("home"), budget)
    home.close()
    out["workloads"] = wl

    log(f"{server.name} N={n}: concurrent phase ({plan.clients} clients, {plan.concurrent_s:.0f}s)")
    hot = [dataset.background_item(i) for i in range(HOT_ITEMS)]
    out["concurrent"] = run_concurrent(server.base_url, ("bench", USERS["bench"]), big, token, hot,
                                       tag=str(n), clients=plan.clients, seconds=plan.concurrent_s)
    out["memory"] = server.memory()
    c = out["concurrent"]
    log(f"{server.name} N={n}: {c['throughput_rps']:.1f} req/s, 5xx={c['errors_5xx']}, "
        f"lost={c['audit']['lost_writes']}, PSS={out['memory']['pss_bytes'] / 2**20:.0f} MiB")
    dav.close()
    return out


def run_server(name: str, plan: Plan, workdir: Path, args, save) -> dict:
    cls = SERVER_CLASSES[name]
    kwargs = {"command": args.planerix_cmd} if name == "planerix" else {}
    server = cls(workdir / name, USERS, **kwargs)
    entry: dict = {"status": "skipped", "auth": server.auth_note, "sizes": {}}
    reason = server.unavailable_reason()
    if not reason and server.workdir.exists() and any(server.workdir.iterdir()):
        reason = f"work directory {server.workdir} is not empty (use a fresh --workdir)"
    if reason:
        entry["reason"] = reason
        log(f"{name}: skipped: {reason}")
        return entry
    try:
        log(f"{name}: starting")
        server.start()
        argv, cwd = server.command()
        entry.update(status="ok", notes=server.notes, base_url=server.base_url,
                     command={"argv": argv, "cwd": str(cwd) if cwd else None},
                     layout={"calendar": server.calendar_path("bench", BIG), "home": server.home_path("home")})
        _setup_collections(server, plan)
        filled = 0
        for n in sorted(plan.sizes):
            entry["sizes"][str(n)] = _measure_size(server, plan, n, filled)
            filled = n
            save()
    except Exception as exc:  # report and go on with the next server
        entry.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
        log(f"{name}: FAILED: {exc}\n{traceback.format_exc()}")
    finally:
        server.stop()
    return entry


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000,10000,100000", help="comma-separated calendar sizes")
    p.add_argument("--smoke", action="store_true", help="N=200, few repetitions, short concurrent phase, temp output")
    p.add_argument("--out", type=Path, default=None, help="output directory (default bench/results; smoke: a temp dir)")
    p.add_argument("--servers", default="planerix,radicale,xandikos")
    p.add_argument("--planerix-cmd", default=None, help="command prefix for Planerix, e.g. 'python -m server'")
    p.add_argument("--workdir", type=Path, default=None, help="where servers keep data (default: temp dir, removed)")
    p.add_argument("--concurrent-seconds", type=float, default=None)
    p.add_argument("--clients", type=int, default=None)
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--no-plot", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    plan = Plan.smoke_plan() if args.smoke else Plan(sizes=[int(s) for s in args.sizes.split(",") if s])
    if args.concurrent_seconds is not None:
        plan.concurrent_s = args.concurrent_seconds
    if args.clients is not None:
        plan.clients = args.clients
    if args.reps is not None:
        plan.reps = args.reps
    out_dir = args.out or (Path(tempfile.mkdtemp(prefix="bench-smoke-")) if args.smoke
                           else Path(__file__).resolve().parent / "results")
    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-data-")
        workdir = Path(tmp.name)
    else:
        workdir = args.workdir
    results = {
        "meta": {
            "started": dt.datetime.now().isoformat(timespec="seconds"), "sizes": sorted(plan.sizes),
            "smoke": plan.smoke, "plan": asdict(plan), "out_dir": str(out_dir),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
            "method": _method_notes(plan),
        },
        "servers": {},
    }

    def save():
        results["meta"]["finished"] = dt.datetime.now().isoformat(timespec="seconds")
        report.write_all(results, out_dir, plot_png=False)

    try:
        for name in [s.strip() for s in args.servers.split(",") if s.strip()]:
            results["servers"][name] = run_server(name, plan, workdir, args, save)
            save()
    finally:
        if tmp:
            tmp.cleanup()
    results["meta"]["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    paths = report.write_all(results, out_dir, plot_png=not args.no_plot)
    log("results: " + ", ".join(str(p) for p in paths.values()))
    for row in results["targets"]["rows"]:
        v = "–" if row["value"] is None else f"{row['value']:.3g}"
        log(f"  {row['result']:4}  {row['target']}: {v} (needs {row['op']} {row['threshold']:.3g})")
    return results


def _method_notes(plan: Plan) -> list[str]:
    return [
        "Servers run one at a time on 127.0.0.1; the client runs on the same 2-core box.",
        f"Calendar of N items: {dataset.ANSWER_COUNT} items overlap the target week "
        f"{dataset.week_range()[0]}–{dataset.week_range()[1]}, the rest avoid it; ~20% weekly with COUNT, "
        "~5% unbounded RRULE, ~10% VTODO with DUE, 30% with TZID=Europe/Berlin (seeded generator bench/dataset.py).",
        "The calendar grows in place from one size to the next; at each size the PUT-rate items "
        f"(up to {plan.put_batch} × {plan.put_runs} runs, sequential, If-None-Match: *) are added first.",
        "Answer-only calendar: the same ~100 week items alone, queried in the same run (size-independence ratio).",
        f"Home: a second user with {plan.home_calendars} calendars × {plan.home_items} items; "
        "PROPFIND Depth 1 with Apple Calendar's ~40 properties.",
        f"Peers are filled by HTTP PUT up to {plan.http_fill_limit} new items per step, above that by writing "
        "their storage directly (each fill is labelled); Planerix is always filled by HTTP PUT.",
        "After every fill one untimed calendar-query and Depth-1 PROPFIND warm caches (Radicale builds its item cache).",
        f"Latencies are medians of up to {plan.reps} runs ({plan.reps_large} at N ≥ 50,000), "
        f"stopping after {plan.budget_s:.0f}s per workload.",
        f"Concurrent phase: {plan.clients} DAVx5-like clients for {plan.concurrent_s:.0f}s (PROPFIND ctag/sync-token → "
        "sync-collection → multiget ≤50, ~10% of requests PUT: creations + If-Match updates of 8 shared items); "
        "in-flight requests finish after the deadline; the final state is audited.",
        "Memory: PSS (and RSS) summed over the server's process tree after the concurrent phase; "
        "for Planerix that includes its embedded PostgreSQL (shared buffers, one backend per "
        "pooled connection), shown apart as the server process alone. The target is judged on the total.",
    ]


if __name__ == "__main__":
    main()
