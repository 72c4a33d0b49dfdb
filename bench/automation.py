"""Automation costs: measurement ingest with webhooks subscribed, and event-to-delivery latency.

    git worktree add /tmp/baseline f5096db^1                # main before automation
    python -m bench.automation --baseline-repo /tmp/baseline  # → bench/results/automation.{md,json}
    python -m bench.automation --measurements 5000 --events 200 --out /tmp/auto   # a quick run

1. Ingest: 100 KPIs, each with its own webhook (a goal filter on the KPI, kinds kpi.breach and
   kpi.recovered) posting to a receiver on 127.0.0.1; N measurements (default 50,000) are sent
   in batches of 100 points, 5 batches a KPI in a row, alternating good and bad values so that
   every batch is a health transition (an event and a delivery). The same ingest, without
   webhooks, runs against ``--baseline-repo`` (a checkout without automation: main before it,
   f5096db^1), so the ratio is this change's cost. Both servers start on fresh embedded databases.
2. Latency: E events (default 1,000) are made as fast as one client can (health flips of the 100
   KPIs) while the delivery workers run; for each, the time from the event's ``occurred_at``
   (the server's clock) to its arrival at the receiver (same machine, same clock), p50 and p99.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from aiohttp import web

from .servers import PlanerixServer, free_port

USER = "autobench"
KPIS = 100
BATCH = 100
BASE = datetime(datetime.now(timezone.utc).year, 1, 1, tzinfo=timezone.utc)  # in the current (yearly) period


class Receiver:
    """A webhook receiver on loopback: the arrival time of each event id."""

    def __init__(self) -> None:
        import asyncio

        self.arrivals: dict[str, tuple[float, str]] = {}
        self.port = free_port()
        self._loop = asyncio.new_event_loop()

        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            event = json.loads(body)
            self.arrivals.setdefault(event["id"], (time.time(), event["occurred_at"]))
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/hook", handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        threading.Thread(target=self._loop.run_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


def _session(server: PlanerixServer, password: str) -> tuple[requests.Session, str]:
    api = f"http://127.0.0.1:{server.api_port}/api"
    session = requests.Session()
    session.auth = (USER, password)
    for _ in range(200):  # the API starts right after CalDAV
        try:
            session.get(api + "/version").raise_for_status()
            break
        except requests.RequestException:
            time.sleep(0.2)
    return session, api


def _kpis(session, api, org) -> list[str]:
    return [session.post(api + "/kpis", json={"organisation_id": org, "name": f"KPI {i}", "period": "yearly",
                                              "aggregation": "last", "warn_threshold": 50, "alarm_threshold": 20}
                         ).json()["id"] for i in range(KPIS)]


def _batch(kpi_index: int, batch_index: int, offset: int) -> dict:
    """100 points; the batch's last point (the period's newest) decides the health: red, then green."""
    value = 10 if batch_index % 2 == 0 else 90
    start = BASE + timedelta(minutes=offset)
    return {"measurements": [{"measured_at": (start + timedelta(seconds=i)).isoformat(), "value": value}
                             for i in range(BATCH)]}


def ingest(session, api, kpis, measurements: int) -> tuple[float, int, dict]:
    """(seconds, batches sent, each KPI's health after it): every batch is a transition."""
    batches = measurements // BATCH
    per_kpi = -(-batches // len(kpis))
    t0 = time.perf_counter()
    sent, health = 0, {}
    for k, kpi_id in enumerate(kpis):
        for b in range(per_kpi):
            if sent >= batches:
                break
            session.post(f"{api}/kpis/{kpi_id}/measurements", json=_batch(k, b, b)).raise_for_status()
            health[kpi_id] = "red" if b % 2 == 0 else "green"
            sent += 1
    return time.perf_counter() - t0, sent, health


def _serve(workdir: Path, command: str | None, env: dict) -> tuple[PlanerixServer, requests.Session, str]:
    password = secrets.token_urlsafe(16)
    os.environ.update(env)
    server = PlanerixServer(workdir, {USER: password}, command)
    server.start()
    session, api = _session(server, password)
    return server, session, api


def run(measurements: int, events: int, baseline_repo: str | None, workdir: Path) -> dict:
    results: dict = {"measurements": measurements, "kpis": KPIS, "batch": BATCH, "events": events}
    env = {"PLANERIX_ALLOW_PRIVATE_NETWORKS": "1", "PLANERIX_FEEDS_SCHEDULER": "0"}
    if baseline_repo:
        command = f"env -C {baseline_repo} {sys.executable} -m server"
        server, session, api = _serve(workdir / "baseline", command, env)
        try:
            org = session.post(api + "/organisations", json={"name": "Bench"}).json()["id"]
            results["baseline_ingest_s"] = ingest(session, api, _kpis(session, api, org), measurements)[0]
        finally:
            server.stop()
    receiver = Receiver()
    server, session, api = _serve(workdir / "automation", None, env)
    try:
        org = session.post(api + "/organisations", json={"name": "Bench"}).json()["id"]
        kpis = _kpis(session, api, org)
        for kpi_id in kpis:
            session.post(api + "/webhooks", json={"organisation_id": org, "url": receiver.url, "goal_id": kpi_id,
                                                  "kinds": ["kpi.breach", "kpi.recovered"]}).raise_for_status()
        results["ingest_s"], expected, health = ingest(session, api, kpis, measurements)
        deadline = time.monotonic() + 300
        while len(receiver.arrivals) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
        results["ingest_events_delivered"] = len(receiver.arrivals)
        if "baseline_ingest_s" in results:
            results["ingest_ratio"] = results["ingest_s"] / results["baseline_ingest_s"]
        # Latency: flips of the 100 KPIs (each one a transition, so one event), as fast as one client sends.
        receiver.arrivals.clear()
        flips = 0
        while flips < events:
            for kpi_id in kpis:
                if flips >= events:
                    break
                red = health.get(kpi_id) != "red"
                health[kpi_id] = "red" if red else "green"
                at = BASE + timedelta(days=1, minutes=flips)
                session.post(f"{api}/kpis/{kpi_id}/measurements", json={"measurements": [
                    {"measured_at": at.isoformat(), "value": 10 if red else 90}]}).raise_for_status()
                flips += 1
        deadline = time.monotonic() + 300
        while len(receiver.arrivals) < events and time.monotonic() < deadline:
            time.sleep(0.1)
        latencies = sorted(arrived - datetime.fromisoformat(occurred).timestamp()
                           for arrived, occurred in receiver.arrivals.values())
        results["latency_events"] = len(latencies)
        if latencies:
            results["latency_p50_s"] = statistics.median(latencies)
            results["latency_p99_s"] = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    finally:
        server.stop()
    return results


def report(results: dict) -> str:
    lines = ["# Automation benchmark", "",
             f"{results['measurements']:,} measurements into {results['kpis']} KPIs in batches of {results['batch']}, "
             f"each KPI with its own webhook (goal filter); {results['events']:,} events for the latency.", "",
             "| figure | value |", "|---|---|"]
    for key, label in (("baseline_ingest_s", "ingest, baseline (no automation), s"),
                       ("ingest_s", "ingest with 100 KPIs subscribed, s"), ("ingest_ratio", "ratio (target ≤ 1.2)"),
                       ("ingest_events_delivered", "events delivered during the ingest"),
                       ("latency_events", "events timed"), ("latency_p50_s", "event → delivery p50, s"),
                       ("latency_p99_s", "event → delivery p99, s")):
        if key in results:
            value = results[key]
            lines.append(f"| {label} | {value:.3f} |" if isinstance(value, float) else f"| {label} | {value} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--measurements", type=int, default=50_000)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--baseline-repo", help="a checkout without automation (f5096db^1: main before it)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="planerix-autobench-") as tmp:
        results = run(args.measurements, args.events, args.baseline_repo, Path(tmp))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "automation.json").write_text(json.dumps(results, indent=2))
    (out / "automation.md").write_text(report(results))
    print(report(results))
    return results


if __name__ == "__main__":
    main()
