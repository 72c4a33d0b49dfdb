"""Planerix (1 worker, ``--workers 2``) and SabreDAV 4.7 side by side under 16 clients.

    PLANERIX_BENCH_SABREDAV=/tmp/sabre python -m bench.sabredav [--sizes 2000,20000] [--seconds 30]

For each size both get a calendar of that many items (the same dataset, filled through HTTP
PUT) in a fresh database of their own on ``--database-server``; then, for each mix (``ops``:
issue #17's 30 % week query / 30 % multiget-50 / 30 % sync delta / 10 % GET + conditional PUT;
``davx5``: the sync cycle of bench/concurrent.py), each configuration in turn runs the 16
clients for ``--seconds``. Reported per configuration: throughput, p50/p95 per operation kind,
5xx, the audit (lost writes, every rejection a 412), CPU per request of the server and of its
PostgreSQL backends. Without ``PLANERIX_BENCH_SABREDAV`` SabreDAV is listed as not available
and Planerix runs alone (bench/README.md says how to set SabreDAV up).
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from . import dataset
from .concurrent import MIXES, run_concurrent
from .dav import Dav
from .fill import http_fill
from .run import HOT_ITEMS, save_results
from .scaleout import BackendSampler, fill_planerix, log, run_configuration
from .servers import SabreDAVServer
from .workloads import Budget, initial_sync

REPO_ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = "bench", "bench-pass"
CALENDAR = "big"
KINDS = ("week-query", "multiget", "sync-collection", "get", "put", "propfind-ctag")


def _fresh_database(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _analyze(url: str) -> None:
    """What autovacuum would do after a bulk fill, so neither server meets stale statistics."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def run_sabredav(server: SabreDAVServer, clients: int, seconds: float, hot, mix: str, names: list[str]) -> dict:
    cal = server.calendar_path(USER, CALENDAR)
    dav = Dav(server.base_url, (USER, PASSWORD))
    _, token = initial_sync(dav, cal, Budget(reps=1))
    dav.close()
    url = make_url(server.database_server).set(database=server.database).render_as_string(hide_password=False)
    sampler = BackendSampler(url)
    sampler.start()
    time.sleep(0.5)
    first, before = dict(sampler.seconds), server.cpu_seconds()
    result = run_concurrent(server.base_url, (USER, PASSWORD), cal, token, hot, tag=uuid.uuid4().hex[:6],
                            clients=clients, seconds=seconds, mix=mix, names=names)
    served = result["requests"] + result["audit"]["creates_acknowledged"] + len(hot)
    last = sampler.stop()
    php, postgres = server.cpu_seconds() - before, sum(s - first.get(pid, 0.0) for pid, s in last.items())
    result["cpu"] = {"planerix_s": php, "postgres_s": postgres,
                     "planerix_ms_per_request": 1000 * php / served, "postgres_ms_per_request": 1000 * postgres / served}
    result["peak_rss_bytes"] = {f"{p['name']} {p['pid']}": p["peak_rss_bytes"] for p in server.peak_memory()
                                if p["name"] == "php"}
    return result


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:.0f}"


def markdown(results: dict) -> str:
    lines = [f"Planerix and SabreDAV side by side (`{results['command']}`): {results['clients']} clients, "
             f"{results['seconds']:.0f} s per configuration, {results['cores']} cores; load average "
             f"{results['load_average_at_start'][0]:.1f} at the start, "
             f"{results.get('load_average_at_end', [float('nan')])[0]:.1f} at the end.", ""]
    for note in results["notes"]:
        lines.append(f"- {note}")
    for size, per_mix in results["sizes"].items():
        for mix, configurations in per_mix.items():
            if not configurations:
                continue
            kinds = [k for k in KINDS if any(k in r["by_kind"] for r in configurations.values())]
            lines += ["", f"### {size} items, mix `{mix}`", "",
                      "| server | requests/s | " + " | ".join(f"{k} p50 / p95 ms" for k in kinds)
                      + " | 5xx | lost writes | writes: acknowledged / 412 / other | CPU ms per request: "
                        "server + PostgreSQL | load average after |",
                      "|---|---|" + "---|" * len(kinds) + "---|---|---|---|---|"]
            for label, r in configurations.items():
                audit, cpu = r["audit"], r["cpu"]
                cells = [f"{_ms(r['by_kind'][k]['p50_s'])} / {_ms(r['by_kind'][k]['p95_s'])}"
                         if k in r["by_kind"] else "–" for k in kinds]
                lines.append(f"| {label} | {r['throughput_rps']:.1f} | " + " | ".join(cells)
                             + f" | {r['errors_5xx']} | {audit['lost_writes']} | {audit['writes_acknowledged']} / "
                               f"{audit['writes_rejected_412']} / {audit['writes_rejected_other']} | "
                               f"{cpu['planerix_ms_per_request']:.1f} + {cpu['postgres_ms_per_request']:.1f} | "
                               f"{r['load_average_after'][0]:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.sabredav", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-server", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="admin URL of a PostgreSQL server: fresh databases are made on it")
    parser.add_argument("--sizes", default="2000")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--mixes", default="ops,davx5")
    parser.add_argument("--workers", default="1,2", help="Planerix configurations: --workers of each")
    parser.add_argument("--baseline", type=Path,
                        help="another checkout of Planerix (say `git archive REV | tar -x -C /tmp/planerix-REV`), "
                             "named by the folder's name: its 1 worker runs first, to compare in the same run")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results" / "sabredav-concurrent.json")
    args = parser.parse_args(argv)
    mixes = [m for m in args.mixes.split(",") if m]
    unknown = set(mixes) - set(MIXES)
    if unknown:
        parser.error(f"unknown mix {', '.join(sorted(unknown))}; known: {', '.join(MIXES)}")
    admin = make_url(args.database_server).set(drivername="postgresql").render_as_string(hide_password=False)
    folder = Path(tempfile.mkdtemp(prefix="planerix-sabredav-"))
    results: dict = {"command": "python -m bench.sabredav " + " ".join(argv if argv is not None else
                                                                       __import__("sys").argv[1:]),
                     "clients": args.clients, "seconds": args.seconds, "cores": psutil.cpu_count(),
                     "load_average_at_start": list(psutil.getloadavg()), "notes": [], "fills": {}, "sizes": {}}
    hot = [dataset.background_item(i) for i in range(HOT_ITEMS)]
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            items = dataset.calendar_items(0, size)
            names = [it.name for it in items]
            per_mix: dict = {mix: {} for mix in mixes}
            results["sizes"][str(size)] = per_mix
            db_name = f"planerix_sabredav_{uuid.uuid4().hex[:8]}"
            database_url = _fresh_database(admin, db_name)
            sabre = SabreDAVServer(folder / f"sabredav-{size}", {USER: PASSWORD}, admin)
            reason = sabre.unavailable_reason()
            try:
                log(f"{size} items: filling Planerix")
                results["fills"][str(size)] = {"planerix": fill_planerix(database_url, folder, items)}
                _analyze(database_url)
                if reason is None:
                    sabre.start()
                    dav = Dav(sabre.base_url, (USER, PASSWORD))
                    assert dav.mkcalendar(sabre.calendar_path(USER, CALENDAR)).status == 201
                    dav.close()
                    log(f"{size} items: filling SabreDAV")
                    results["fills"][str(size)]["sabredav"] = http_fill(sabre.base_url, (USER, PASSWORD),
                                                            sabre.calendar_path(USER, CALENDAR), items)
                    _analyze(make_url(admin).set(database=sabre.database).render_as_string(hide_password=False))
                    results["notes"] = sabre.notes
                else:
                    results["notes"] = [f"SabreDAV not available: {reason}"]
                for mix in mixes:
                    planerix_runs = [(f"Planerix {w} worker{'s' if w > 1 else ''}", w, REPO_ROOT)
                                     for w in (int(w) for w in args.workers.split(","))]
                    if args.baseline:
                        planerix_runs.insert(0, (f"Planerix 1 worker, {args.baseline.name}", 1,
                                                 args.baseline.resolve()))
                    for label, workers, root in planerix_runs:
                        log(f"{size} items, {mix}: {label}")
                        r = run_configuration(f"{label} {mix} {size}", workers, 1, database_url, folder,
                                              args.clients, args.seconds, hot, root=root, mix=mix, names=names)
                        r["load_average_after"] = list(psutil.getloadavg())
                        per_mix[mix][label] = r
                    if reason is None:
                        log(f"{size} items, {mix}: SabreDAV")
                        r = run_sabredav(sabre, args.clients, args.seconds, hot, mix, names)
                        r["load_average_after"] = list(psutil.getloadavg())
                        per_mix[mix]["SabreDAV 4.7"] = r
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    args.out.write_text(json.dumps(results, indent=1, default=str))
            finally:
                if reason is None:
                    sabre.stop()
                _drop_database(admin, db_name)
        results["load_average_at_end"] = list(psutil.getloadavg())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return save_results(args.out.parent, args.out.stem, results, markdown(results))


if __name__ == "__main__":
    main()
