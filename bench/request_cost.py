"""The fixed cost of a request: OPTIONS, a small GET and a Depth-0 PROPFIND, side by side.

    python -m bench.request_cost                          # Planerix, stock Radicale, Xandikos
    python -m bench.request_cost --database-url postgresql://postgres@127.0.0.1:5432/postgres

The three servers run at the same time (idle while another is asked), each with one calendar
holding one small event. Each round sends every request once to every server, in turn, so a
load the machine sees meanwhile falls on all of them alike; the ratios (Planerix ÷ stock
Radicale, target ≤ 1.5 for OPTIONS and GET) compare medians measured in that one run. Every
request is authenticated (Basic) as clients send it; Xandikos ignores the header.

After the rounds, each server process's peak RSS (the kernel's high-water mark) is recorded,
so that a memory spike anywhere in the run shows even if it was gone by the end. Then
``--burst`` accounts (default 16) send their first request at the same moment, as 16 clients
do when a server starts: every login is a password check (argon2, 64 MiB each while it runs),
and the peak RSS is recorded again.

With ``--database-url`` (an administrator URL) Planerix runs on a fresh database made on that
PostgreSQL server and dropped afterwards; without it, on its embedded database.
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import threading
from pathlib import Path

from . import dataset
from .dav import XML, Dav
from .run import log, save_results
from .servers import SERVER_CLASSES, PlanerixServer

USER, PASSWORD = "bench", "bench-pass"
CALENDAR = "cal"
ITEM = dataset.dense_item(0)
PROPFIND_DEPTH0 = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">'
    "<d:prop><d:resourcetype/><d:displayname/><cs:getctag/><d:sync-token/></d:prop></d:propfind>")
# workload: (what is measured, the request, the statuses that are an answer)
WORKLOADS = {
    "options": ("OPTIONS *", lambda dav, cal: dav.request("OPTIONS", "/"), (200,)),
    "get": ("GET of one small event", lambda dav, cal: dav.get(cal + ITEM.name), (200,)),
    "propfind_depth0": ("PROPFIND Depth 0 of the calendar (DAVx5's check)",
                        lambda dav, cal: dav.request("PROPFIND", cal, PROPFIND_DEPTH0,
                                                     {"Depth": "0", "Content-Type": XML}), (207,)),
}
TARGETS = {"options": 1.5, "get": 1.5}


def _burst_users(count: int) -> dict[str, str]:
    return {f"burst{n}": f"burst-password-{n}" for n in range(count)}


def _start(name: str, workdir: Path, database_url: str | None, planerix_cmd: str | None, burst: int):
    users = {USER: PASSWORD, **_burst_users(burst)}
    if name == "planerix":
        server = PlanerixServer(workdir / name, users, planerix_cmd, database_url=database_url)
    else:
        server = SERVER_CLASSES[name](workdir / name, users)
    reason = server.unavailable_reason()
    if reason:
        return server, reason
    server.start()
    dav = Dav(server.base_url, (USER, PASSWORD))
    try:
        server.prepare_user(dav, USER)
        cal = server.calendar_path(USER, CALENDAR)
        for reply, what in ((dav.mkcalendar(cal), "MKCALENDAR"), (dav.put(cal + ITEM.name, ITEM.ics), "PUT")):
            if reply.status not in (200, 201, 204):
                raise RuntimeError(f"{name}: {what}: HTTP {reply.status}")
    finally:
        dav.close()
    return server, None


def measure(servers: dict, rounds: int, warmup: int = 5) -> dict:
    """Median seconds per server and workload, the rounds interleaved across servers."""
    clients = {name: Dav(server.base_url, (USER, PASSWORD)) for name, server in servers.items()}
    samples: dict = {name: {w: [] for w in WORKLOADS} for name in servers}
    try:
        names = list(servers)
        for number in range(warmup + rounds):
            for workload, (_, send, ok) in WORKLOADS.items():
                # A different server goes first each round: none always follows the same one.
                for name in names[number % len(names):] + names[:number % len(names)]:
                    reply = send(clients[name], servers[name].calendar_path(USER, CALENDAR))
                    if reply.status not in ok:
                        raise RuntimeError(f"{name} {workload}: HTTP {reply.status}: {reply.body[:200]!r}")
                    if number >= warmup:
                        samples[name][workload].append(reply.seconds)
    finally:
        for dav in clients.values():
            dav.close()
    return {name: {w: {"median_s": statistics.median(s), "p90_s": statistics.quantiles(s, n=10)[-1],
                       "runs": len(s)} for w, s in per.items()} for name, per in samples.items()}


def burst(servers: dict, count: int) -> None:
    """``count`` accounts' first requests to every server, all sent at the same moment."""
    clients = [(server, Dav(server.base_url, user)) for server in servers.values()
               for user in _burst_users(count).items()]
    barrier = threading.Barrier(len(clients))

    def first_request(dav: Dav) -> None:
        barrier.wait()
        dav.request("OPTIONS", "/")
    threads = [threading.Thread(target=first_request, args=(dav,)) for _, dav in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _, dav in clients:
        dav.close()


def report(results: dict) -> str:
    names = [n for n, e in results["servers"].items() if e["status"] == "ok"]
    lines = [f"# Fixed cost of a request ({results['meta']['started']})", "",
             f"Command: `{results['meta']['command']}`", "", results["meta"]["machine"], "",
             f"Rounds: {results['meta']['rounds']}, interleaved across the servers; Planerix on "
             f"{results['meta']['database']}.", ""]
    for name, entry in results["servers"].items():
        if entry["status"] != "ok":
            lines.append(f"- {name}: {entry['status']}: {entry.get('reason')}")
    lines += ["| request | " + " | ".join(f"{n} median (p90)" for n in names) + " | Planerix ÷ Radicale |",
              "|---|" + "---|" * (len(names) + 1)]
    for workload, (label, _, _) in WORKLOADS.items():
        cells = [f"{results['servers'][n]['latency'][workload]['median_s'] * 1000:.2f} ms "
                 f"({results['servers'][n]['latency'][workload]['p90_s'] * 1000:.2f})" for n in names]
        ratio = results["ratios"].get(workload)
        target = TARGETS.get(workload)
        verdict = "" if ratio is None else f"{ratio:.2f}×" + (
            f" ({'pass' if ratio <= target else 'miss'}, target ≤ {target})" if target else "")
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {verdict or '–'} |")
    lines += ["", f"## Peak RSS per process (VmHWM): after the rounds, and after {results['meta']['burst']} "
              "accounts' first requests at once", "",
              "| server | process | pid | peak after the rounds | peak after the burst | RSS at the end |",
              "|---|---|---|---|---|---|"]
    for name in names:
        after_burst = {proc["pid"]: proc for proc in results["servers"][name].get("memory_after_burst", [])}
        for proc in results["servers"][name]["memory"]:
            later = after_burst.get(proc["pid"], proc)
            lines.append(f"| {name} | {proc['name']}{' (server)' if proc['main'] else ''} | {proc['pid']} | "
                         f"{proc['peak_rss_bytes'] / 2**20:.1f} MiB | {later['peak_rss_bytes'] / 2**20:.1f} MiB | "
                         f"{later['rss_bytes'] / 2**20:.1f} MiB |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.request_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default="planerix,radicale,xandikos")
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--burst", type=int, default=16, help="accounts whose first requests arrive at once")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server (administrator URL) to run Planerix on a fresh database of")
    parser.add_argument("--planerix-cmd", default=None,
                        help="how to run Planerix (default: this checkout's `python -m server`)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    started = dt.datetime.now(dt.timezone.utc)
    out = args.out or Path(__file__).resolve().parent / "results" / f"request-cost-{started:%Y-%m-%d}"
    results: dict = {"meta": {"started": started.isoformat(timespec="seconds"), "rounds": args.rounds,
                              "burst": args.burst,
                              "command": "python -m bench.request_cost " + " ".join(
                                  sys.argv[1:] if argv is None else argv),
                              "database": "an external PostgreSQL" if args.database_url else "its embedded PostgreSQL",
                              "machine": f"{dt.datetime.now():%Y-%m-%d}, {sys.platform}, "
                                         f"Python {sys.version.split()[0]}"},
                     "servers": {}, "ratios": {}}
    databases = None
    if args.database_url:
        from .moving import Databases
        databases = Databases(args.database_url, Path(tempfile.gettempdir()))
    running: dict = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-request-cost-") as workdir:
            try:
                for name in [s.strip() for s in args.servers.split(",") if s.strip()]:
                    log(f"{name}: starting")
                    try:
                        server, reason = _start(name, Path(workdir), databases.fresh() if databases and
                                                name == "planerix" else None, args.planerix_cmd, args.burst)
                    except Exception as exc:  # report and go on with the next server
                        results["servers"][name] = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
                        continue
                    if reason:
                        results["servers"][name] = {"status": "skipped", "reason": reason}
                        continue
                    running[name] = server
                log(f"measuring {', '.join(running)}: {args.rounds} rounds")
                latency = measure(running, args.rounds)
                for name, server in running.items():
                    results["servers"][name] = {"status": "ok", "latency": latency[name],
                                                "memory": server.peak_memory(), "notes": server.notes}
                if args.burst:
                    log(f"burst: {args.burst} accounts' first requests at once")
                    burst(running, args.burst)
                    for name, server in running.items():
                        results["servers"][name]["memory_after_burst"] = server.peak_memory()
            finally:
                for server in running.values():
                    server.stop()
    finally:
        if databases is not None:
            databases.close()
    if "planerix" in running and "radicale" in running:
        results["ratios"] = {w: latency["planerix"][w]["median_s"] / latency["radicale"][w]["median_s"]
                             for w in WORKLOADS}
    results["meta"]["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return save_results(out, "request_cost", results, report(results))


if __name__ == "__main__":
    main()
