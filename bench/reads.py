"""Reads that return item texts: UID lookup, full multiget, a dense week query.

    python -m bench.reads                               # N = 1,000 and 10,000 → bench/results/reads-DATE/
    python -m bench.reads --sizes 1000 --servers planerix --out /tmp/reads

Each server in turn (one at a time) gets a calendar of N items whose first 1,000 are events in
the target week (one in ten a weekly series reaching into it) and the rest background items
outside it (bench.dataset), and a second calendar holding only the item looked up by UID. At
each N it times (median of repeated requests, one keep-alive client):

* UID lookup: python-caldav's ``event_by_uid`` query (prop-filter UID, i;octet) on the big
  calendar and on the one-item calendar, round by round: the ratio is the size independence;
* dense week: calendar-query of the week with getetag and calendar-data (~1,000 items), as the
  client's default asks (gzip) and with ``Accept-Encoding: identity``, asked again of an unchanged
  calendar (Planerix keeps answers by the calendar's revision: server.answer_cache), right after
  a rename of the calendar (an untimed PROPPATCH of its display name: a new revision, no member
  changed) and right after an edit of one of its events (an untimed PUT: one member changed;
  Planerix keeps the members a query selects and their responses, storage_plugin.selections and
  storage_plugin.rendered, and reads again only what changed); and the same bytes served as a
  static file by ``python -m http.server``'s handler (bench.static_server, HTTP/1.1): the
  identity answer as it is, the gzipped one as it is with ``Content-Encoding: gzip`` (nginx's
  gzip_static), so the client inflates both alike;
* full multiget: calendar-multiget of every item with getetag and calendar-data (a first sync).

Ratios are computed within one run, so the load other processes put on the machine affects
both sides of each ratio alike.
"""
from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import psutil

from server import compression

from . import dataset
from .dav import XML, Dav, calendar_query, calendar_query_uid, parse_multistatus
from .fill import http_fill
from .run import Plan, _fill, _warm, log, save_results
from .servers import SERVER_CLASSES, cpu_seconds, free_port
from .workloads import Budget, WorkloadError, multiget, rounds, week_query_with_data

USER, PASSWORD = "bench", "bench-pass"  # bench.run's user: its _fill reads the password there
BIG, ONE = "dense", "one"
TARGET = dataset.dense_item(500)


class StaticFile:
    """``python -m http.server`` over a temporary folder: the cost of sending bytes as they are."""

    def __init__(self) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="bench-static-")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.static_server", "--directory", self.folder.name, "--port", str(self.port)],
            cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.dav = Dav(f"http://127.0.0.1:{self.port}", None)
        Path(self.folder.name, "probe").write_bytes(b"ok")
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.dav.get("/probe").status == 200:
                    break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def serving(self, body: bytes, gzipped: bool = False) -> Callable[[], float]:
        """One timed GET of ``body`` as a file; with ``gzipped``, of ``body`` gzipped as Planerix
        gzips its answers (server.compression), sent as it is with ``Content-Encoding: gzip``."""
        name = "answer.xml.gz" if gzipped else "answer.xml"
        Path(self.folder.name, name).write_bytes(_gzipped(body) if gzipped else body)

        def run() -> float:
            reply = self.dav.get(f"/{name}")
            if reply.status != 200 or len(reply.body) != len(body):
                raise RuntimeError(f"static file: HTTP {reply.status}, {len(reply.body)} bytes")
            return reply.seconds

        return run

    def cpu_seconds(self) -> float:
        return cpu_seconds([psutil.Process(self.proc.pid)])

    def close(self) -> None:
        self.dav.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.folder.cleanup()


def _gzipped(body: bytes) -> bytes:
    _, chunks = compression.compress([], [body])
    return b"".join(chunks)


def _after_an_edit(dav: Dav, cal: str, timed: Callable[[], float]) -> Callable[[], float]:
    """``timed`` right after an untimed PUT of one event of the week with a new summary: one
    member changed (what a calendar app's next query after an edit reads)."""
    count = [0]
    edited = dataset.dense_item(0)

    def run() -> float:
        count[0] += 1
        ics = edited.ics.replace("SUMMARY:", f"SUMMARY:Edited {count[0]} ", 1)
        reply = dav.put(cal + edited.name, ics)
        if reply.status not in (201, 204):
            raise RuntimeError(f"PUT {edited.name}: HTTP {reply.status}")
        return timed()
    return run


def _after_a_change(dav: Dav, cal: str, timed: Callable[[], float]) -> Callable[[], float]:
    """``timed`` right after an untimed PROPPATCH of the calendar's display name: the calendar
    has a new revision, so no answer kept by an earlier one may be reused (server.answer_cache)."""
    count = [0]

    def run() -> float:
        count[0] += 1
        reply = dav.request("PROPPATCH", cal, (
            "<D:propertyupdate xmlns:D='DAV:'><D:set><D:prop>"
            f"<D:displayname>Dense {count[0]}</D:displayname></D:prop></D:set></D:propertyupdate>"),
            {"Content-Type": XML})
        if reply.status != 207:
            raise RuntimeError(f"PROPPATCH of {cal}: HTTP {reply.status}")
        return timed()
    return run


def _report_run(dav: Dav, cal: str, body: str, accept_encoding: str | None) -> Callable[[], float]:
    """One timed REPORT of ``body`` (``Accept-Encoding`` replaced if given)."""
    headers = {"Content-Type": XML, "Depth": "1"}
    if accept_encoding:
        headers["Accept-Encoding"] = accept_encoding

    def run() -> float:
        reply = dav.request("REPORT", cal, body, headers)
        if reply.status != 207:
            raise RuntimeError(f"REPORT of {cal}: HTTP {reply.status}")
        return reply.seconds

    return run


def _measure(server, plan: Plan, n: int, filled: int, static: StaticFile, budget: Budget) -> dict:
    dav = Dav(server.base_url, (USER, PASSWORD))
    big, one = server.calendar_path(USER, BIG), server.calendar_path(USER, ONE)
    log(f"{server.name} N={n}: filling {n - filled} items")
    fill = _fill(server, plan, USER, BIG, dataset.dense_calendar_items(filled, n), may_direct=True)
    fill["warm_s"] = _warm(dav, big)
    log(f"{server.name} N={n}: filled via {fill['method']} in {fill['seconds']:.1f}s, warm {fill['warm_s']:.1f}s")
    out: dict = {"fill": fill}
    log(f"{server.name} N={n}: UID lookup")
    # Pairs measured round by round (load from elsewhere weighs on both sides of a ratio alike).
    uid_body = calendar_query_uid(TARGET.uid)
    out.update(rounds({"uid_lookup": (_report_run(dav, big, uid_body, None), server.cpu_seconds),
                        "uid_lookup_one_item": (_report_run(dav, one, uid_body, None), server.cpu_seconds)},
                       budget))
    log(f"{server.name} N={n}: dense week")
    # The query as the client's default asks (gzip), as it is (identity), and the same bytes as
    # a static file (sent plain).
    week_body = calendar_query(*dataset.week_range(), with_data=True)
    _, body = week_query_with_data(dav, big, Budget(reps=1))
    out.update(rounds({"dense_week": (_report_run(dav, big, week_body, None), server.cpu_seconds),
                        "dense_week_static_gzip": (static.serving(body, gzipped=True), static.cpu_seconds),
                        "dense_week_identity": (_report_run(dav, big, week_body, "identity"), server.cpu_seconds),
                        "dense_week_static_file": (static.serving(body), static.cpu_seconds)}, budget,
                       bytes=len(body), items=sum(1 for e in parse_multistatus(body).entries if e.data)))
    # Rounds of their own: a change between the rounds above would make every answer a fresh one.
    asked = _report_run(dav, big, week_body, None)
    out.update(rounds({"dense_week_changed": (_after_a_change(dav, big, asked), server.cpu_seconds),
                        "dense_week_edited": (_after_an_edit(dav, big, asked), server.cpu_seconds),
                        "dense_week_changed_static_gzip": (static.serving(body, gzipped=True), static.cpu_seconds),
                        "dense_week_changed_static_file": (static.serving(body), static.cpu_seconds)}, budget))
    log(f"{server.name} N={n}: full multiget")
    names = [item.name for item in dataset.dense_calendar_items(0, n)]
    try:
        out["full_multiget"] = multiget(dav, big, names, budget)
    except WorkloadError as exc:  # the server's own bound on one answer (reported, not a failure)
        out["full_multiget"], out["full_multiget_refused"] = None, str(exc)[:160]
    dav.close()
    return out


def run_server(name: str, sizes: list[int], workdir: Path, static: StaticFile, budget: Budget) -> dict:
    server = SERVER_CLASSES[name](workdir / name, {USER: PASSWORD})
    reason = server.unavailable_reason()
    if reason:
        log(f"{name}: skipped: {reason}")
        return {"status": "skipped", "reason": reason}
    entry: dict = {"status": "ok", "sizes": {}}
    plan = Plan(sizes=sizes)
    try:
        server.start()
        dav = Dav(server.base_url, (USER, PASSWORD))
        server.prepare_user(dav, USER)
        for cal in (BIG, ONE):
            reply = dav.mkcalendar(server.calendar_path(USER, cal))
            if reply.status not in (200, 201):
                raise RuntimeError(f"MKCALENDAR {cal}: HTTP {reply.status}")
        dav.close()
        http_fill(server.base_url, (USER, PASSWORD), server.calendar_path(USER, ONE), [TARGET], 1)
        filled = 0
        for n in sorted(sizes):
            entry["sizes"][str(n)] = _measure(server, plan, n, filled, static, budget)
            filled = n
    except Exception as exc:  # report and go on with the next server
        entry.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
        log(f"{name}: FAILED: {exc}")
    finally:
        server.stop()
    return entry


def _ms(result: dict | None) -> str:
    if not result:
        return "–"
    cpu = f"; CPU {result['cpu_s'] * 1000:,.1f} ms" if "cpu_s" in result else ""
    return f"{result['median_s'] * 1000:,.1f} ms ({result['runs']}×{cpu})"


def _cpu_ratio(a: dict | None, b: dict | None) -> float | None:
    return a["cpu_s"] / b["cpu_s"] if a and b and b.get("cpu_s") and "cpu_s" in a else None


def _ratio(a: dict | None, b: dict | None) -> float | None:
    return a["median_s"] / b["median_s"] if a and b and b["median_s"] else None


def _fmt(value: float | None, unit: str = "×") -> str:
    return "–" if value is None else f"{value:.2f}{unit}"


def report(results: dict) -> str:
    servers = [s for s, e in results["servers"].items() if e["status"] == "ok"]
    lines = [f"# Reads that return item texts ({results['meta']['started']})", "",
             f"Command: `{results['meta']['command']}`", "",
             results["meta"]["machine"], ""]
    for name, entry in results["servers"].items():
        if entry["status"] != "ok":
            lines.append(f"- {name}: {entry['status']}: {entry.get('reason')}")
    rows = [("UID lookup (event_by_uid)", "uid_lookup"), ("UID lookup, one-item calendar", "uid_lookup_one_item"),
            ("Dense week with calendar-data (gzip, as clients ask)", "dense_week"),
            ("The same gzipped bytes as a static file (Content-Encoding: gzip)", "dense_week_static_gzip"),
            ("Dense week, Accept-Encoding: identity", "dense_week_identity"),
            ("The same bytes as a static file", "dense_week_static_file"),
            ("Dense week right after the calendar was renamed (PROPPATCH; CPU includes it)", "dense_week_changed"),
            ("Dense week right after one of its events was edited (PUT; CPU includes it)", "dense_week_edited"),
            ("Full multiget (every item, calendar-data)", "full_multiget")]

    def ratios(per: dict, *pairs: tuple[str, str]) -> str:
        return " | ".join(" / ".join(_fmt(_ratio(per[s].get(a), per[s].get(b))) for a, b in pairs) for s in per)

    for n in results["meta"]["sizes"]:
        per = {s: results["servers"][s]["sizes"].get(str(n), {}) for s in servers}
        lines += ["", f"## N = {n:,}", "", "| workload | " + " | ".join(servers) + " |",
                  "|---|" + "---|" * len(servers)]
        for label, key in rows:
            lines.append(f"| {label} | " + " | ".join(_ms(per[s].get(key)) for s in servers) + " |")
        lines.append("| Dense week: items / bytes | " + " | ".join(
            f"{per[s]['dense_week']['items']} / {per[s]['dense_week']['bytes']:,}" if per[s] else "–"
            for s in servers) + " |")
        lines.append("| **UID lookup ÷ one-item calendar** (target ≤ 1.3) | " + " | ".join(
            _fmt(_ratio(per[s].get("uid_lookup"), per[s].get("uid_lookup_one_item"))) for s in servers) + " |")
        lines.append("| **Dense week ÷ the same bytes from a static file: gzip / identity** (target ≤ 2) | "
                     + ratios(per, ("dense_week", "dense_week_static_gzip"),
                              ("dense_week_identity", "dense_week_static_file")) + " |")
        lines.append("| Dense week right after a rename / after an edit ÷ the same gzipped bytes from a static file | "
                     + ratios(per, ("dense_week_changed", "dense_week_changed_static_gzip"),
                              ("dense_week_edited", "dense_week_changed_static_gzip")) + " |")
        if any(per[s].get("full_multiget_refused") for s in servers if per[s]):
            lines.append("| Full multiget refused: Radicale's max_expand_occurrence (10,000 VEVENTs per answer) | "
                         + " | ".join(per[s].get("full_multiget_refused", "") if per[s] else "" for s in servers)
                         + " |")
        lines.append("| Dense week (gzip) ÷ the identity static file (the ratio earlier runs reported) | "
                     + ratios(per, ("dense_week", "dense_week_static_file")) + " |")
        lines.append("| CPU per request: UID lookup ÷ one-item calendar; dense week, gzip and identity, ÷ static file | "
                     + " | ".join(" / ".join(_fmt(_cpu_ratio(per[s].get(a), per[s].get(b))) for a, b in (
                         ("uid_lookup", "uid_lookup_one_item"), ("dense_week", "dense_week_static_file"),
                         ("dense_week_identity", "dense_week_static_file"))) for s in servers) + " |")
        if "planerix" in per and per["planerix"]:
            for peer in (s for s in servers if s != "planerix"):
                lines.append(f"| {peer} ÷ Planerix: UID / week / multiget | " + " | ".join(
                    " / ".join(_fmt(_ratio(per[peer].get(k), per["planerix"].get(k)))
                               for k in ("uid_lookup", "dense_week", "full_multiget")) if s == peer else ""
                    for s in servers) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.reads", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--servers", default="planerix,radicale,xandikos")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=8.0, help="stop repeating a workload after this long")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    started = dt.datetime.now(dt.timezone.utc)
    out = args.out or Path(__file__).resolve().parent / "results" / f"reads-{started:%Y-%m-%d}"
    results = {"meta": {"started": started.isoformat(timespec="seconds"), "sizes": sizes,
                        "command": "python -m bench.reads " + " ".join(sys.argv[1:] if argv is None else argv),
                        "machine": f"{dt.datetime.now():%Y-%m-%d}, {sys.platform}, Python {sys.version.split()[0]}"},
               "servers": {}}
    budget = Budget(reps=args.reps, seconds=args.seconds)
    static = StaticFile()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-reads-") as workdir:
            for name in [s.strip() for s in args.servers.split(",") if s.strip()]:
                log(f"{name}: starting")
                results["servers"][name] = run_server(name, sizes, Path(workdir), static, budget)
    finally:
        static.close()
    results["meta"]["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return save_results(out, "reads", results, report(results))


if __name__ == "__main__":
    main()
