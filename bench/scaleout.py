"""Scale-out benchmark: the 16-client mixed workload (bench/concurrent.py) against one
PostgreSQL database served by 1 worker, by ``--workers 2``, and by 2 nodes behind HAProxy.

    python -m bench.scaleout [--database-server URL] [--items 2000] [--seconds 30]

Each configuration gets the same calendar of ``--items`` items (filled once through HTTP),
16 clients looping PROPFIND ctag/sync-token, sync-collection, multiget of up to 50 changes,
and 10 % conditional PUTs racing on shared items. Reported per configuration: throughput,
p50/p95/p99, 5xx, lost writes and whether every rejected write was a 412 (the audit of
bench/concurrent.py), and each server process's peak RSS (``VmHWM``: no sampling gap).
The database is a fresh one on ``--database-server`` (dropped afterwards).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from . import dataset
from .concurrent import run_concurrent
from .dav import Dav
from .fill import http_fill
from .haproxy import HAProxy, free_port
from .run import HOT_ITEMS, save_results
from .servers import cpu_seconds
from .workloads import Budget, initial_sync

REPO_ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = "bench", "bench-pass"
CALENDAR = "/bench/big/"
CONFIGURATIONS = (("1 worker", 1, 1), ("2 workers", 2, 1), ("2 nodes behind HAProxy", 1, 2))


def log(message: str) -> None:
    print(f"[scaleout {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def planerix(*args: str, timeout: float = 300) -> None:
    subprocess.run([sys.executable, "-m", "server", "--log-level", "warning", *args], cwd=REPO_ROOT,
                   check=True, timeout=timeout, stdout=subprocess.DEVNULL)


class Node:
    """``planerix serve --database-url URL --workers N`` on free loopback ports, run from
    ``root`` (this checkout, or another one to compare with)."""

    def __init__(self, database_url: str, workers: int, log_file: Path, root: Path = REPO_ROOT) -> None:
        self.caldav_port, self.api_port = free_port(), free_port()
        self._log = log_file.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server", "--log-level", "warning", "serve", "--database-url", database_url,
             "--host", "127.0.0.1", "--caldav-port", str(self.caldav_port), "--api-port", str(self.api_port),
             "--workers", str(workers)], cwd=root, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while "Planerix API:" not in log_file.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start: {log_file.read_text()}")
            time.sleep(0.2)

    def processes(self) -> list[psutil.Process]:
        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]

    def peak_rss(self) -> dict[str, int]:
        """Peak resident memory (bytes) of each process of the node: the parent, its workers
        (multiprocessing's resource tracker left out)."""
        peaks = {}
        root = psutil.Process(self.process.pid)
        for process in [root, *root.children()]:
            try:
                if "resource_tracker" in " ".join(process.cmdline()):
                    continue
                status = Path(f"/proc/{process.pid}/status").read_text()
            except (psutil.Error, OSError):
                continue
            kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
            role = "serve" if process.pid == root.pid else "worker"
            peaks[f"{role} {process.pid}"] = kib * 1024
        return peaks

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


class BackendSampler(threading.Thread):
    """The CPU seconds of every PostgreSQL backend serving the benchmark's database, sampled
    every quarter second: pooled connections come and go during a run, and a backend's CPU is
    only readable while it lives (the last quarter second of each is missed: a lower bound)."""

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True)
        self._url, self._done = database_url, threading.Event()
        self.seconds: dict[int, float] = {}

    def run(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as conn:
            while not self._done.wait(0.25):
                for pid, in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                         " AND pid <> pg_backend_pid()").fetchall():
                    try:
                        self.seconds[pid] = cpu_seconds([psutil.Process(pid)])
                    except psutil.Error:
                        continue

    def stop(self) -> dict[int, float]:
        self._done.set()
        self.join(5)
        return self.seconds


class CpuUse:
    """CPU seconds so far of the Planerix processes and of the whole machine (with the
    backends' sampled CPU: the profile that says what bounds a run)."""

    def __init__(self, nodes: list[Node]) -> None:
        self.planerix = cpu_seconds(p for node in nodes for p in node.processes())
        times = psutil.cpu_times()
        self.machine_busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        self.machine_total = sum(times)

    def since(self, before: "CpuUse", first: dict[int, float], last: dict[int, float], requests: int) -> dict:
        postgres = sum(seconds - first.get(pid, 0.0) for pid, seconds in last.items())
        planerix = self.planerix - before.planerix
        total = self.machine_total - before.machine_total
        return {"planerix_s": planerix, "postgres_s": postgres,
                "planerix_ms_per_request": 1000 * planerix / requests if requests else None,
                "postgres_ms_per_request": 1000 * postgres / requests if requests else None,
                "machine_busy_fraction": (self.machine_busy - before.machine_busy) / total if total else None}


def run_configuration(name: str, workers: int, nodes: int, database_url: str, folder: Path,
                      clients: int, seconds: float, hot, root: Path = REPO_ROOT, **workload) -> dict:
    """``workload``: passed on to run_concurrent (``mix``, ``names``)."""
    log(f"{name}: starting")
    started = [Node(database_url, workers, folder / f"{name.replace(' ', '-').replace('/', '-')}-{n}.log", root)
               for n in range(nodes)]
    proxy = None
    try:
        if nodes > 1:
            proxy = HAProxy(shutil.which("haproxy") or "/usr/sbin/haproxy",
                            [(node.caldav_port, node.api_port) for node in started], folder / "haproxy")
            base = proxy.caldav_url
        else:
            base = f"http://127.0.0.1:{started[0].caldav_port}"
        dav = Dav(base, (USER, PASSWORD))
        _, token = initial_sync(dav, CALENDAR, Budget(reps=1))
        dav.close()
        log(f"{name}: {clients} clients for {seconds:.0f} s")
        sampler = BackendSampler(database_url)
        sampler.start()
        time.sleep(0.5)
        first, before = dict(sampler.seconds), CpuUse(started)
        result = run_concurrent(base, (USER, PASSWORD), CALENDAR, token, hot, tag=uuid.uuid4().hex[:6],
                                clients=clients, seconds=seconds, **workload)
        # The audit after the load (a GET per acknowledged creation and per hot item) is measured too.
        served = result["requests"] + result["audit"]["creates_acknowledged"] + len(hot)
        result["cpu"] = CpuUse(started).since(before, first, sampler.stop(), served)
        result["peak_rss_bytes"] = {f"node {n + 1} {key}": value
                                    for n, node in enumerate(started) for key, value in node.peak_rss().items()}
        return result
    finally:
        if proxy is not None:
            proxy.stop()
        for node in started:
            node.stop()


def summary(name: str, result: dict, baseline: dict | None) -> str:
    audit = result["audit"]
    rejected_other = audit["writes_rejected_other"]
    ratio = f" ({result['throughput_rps'] / baseline['throughput_rps']:.2f}×)" if baseline else ""
    peaks = ", ".join(f"{key.split()[2]} {value / 2**20:.0f}" for key, value in result["peak_rss_bytes"].items())
    cpu = result["cpu"]
    return (f"| {name} | {result['throughput_rps']:.1f}{ratio} | {result['p50_s'] * 1000:.0f} / "
            f"{result['p95_s'] * 1000:.0f} / {result['p99_s'] * 1000:.0f} | {result['errors_5xx']} | "
            f"{audit['lost_writes']} | {audit['writes_acknowledged']} / {audit['writes_rejected_412']} / "
            f"{rejected_other} | {cpu['planerix_ms_per_request']:.1f} + {cpu['postgres_ms_per_request']:.1f} | "
            f"{cpu['machine_busy_fraction']:.0%} | {peaks} |")


def markdown(results: dict) -> str:
    baseline = results["configurations"].get("1 worker")
    lines = [f"Scale-out benchmark (`python -m bench.scaleout`): {results['clients']} clients, "
             f"{results['seconds']:.0f} s per configuration, a calendar of {results['items']} items, "
             f"{results['cores']} cores; load average {results['load_average_at_start'][0]:.1f} at the start, "
             f"{results.get('load_average_at_end', [float('nan')])[0]:.1f} at the end.", "",
             "| configuration | requests/s | p50 / p95 / p99 ms | 5xx | lost writes | writes: acknowledged / 412 / "
             "other | CPU ms per request: Planerix + PostgreSQL | machine busy | peak RSS MB (serve, workers) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for label, result in results["configurations"].items():
        lines.append(summary(label, result, baseline if label != "1 worker" else None))
    return "\n".join(lines) + "\n"


def fill_planerix(database_url: str, folder: Path, items: list) -> dict:
    """Migrate the database, add the bench user and PUT ``items`` into its calendar ``CALENDAR``
    through one Planerix node (started and stopped here); the fill's figures."""
    planerix("db", "upgrade", "--database-url", database_url)
    planerix("user", "add", USER, "--password", PASSWORD, "--database-url", database_url)
    filler = Node(database_url, 1, folder / "fill.log")
    try:
        base = f"http://127.0.0.1:{filler.caldav_port}"
        dav = Dav(base, (USER, PASSWORD))
        assert dav.mkcalendar(CALENDAR).status == 201
        dav.close()
        return http_fill(base, (USER, PASSWORD), CALENDAR, items)
    finally:
        filler.stop()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-server", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="admin URL of a PostgreSQL server: a fresh database is made on it")
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results" / "scaleout.json")
    args = parser.parse_args(argv)
    admin = make_url(args.database_server)
    name = f"planerix_scaleout_{uuid.uuid4().hex[:8]}"
    admin_url = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database_url = admin.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    folder = Path(tempfile.mkdtemp(prefix="planerix-scaleout-"))
    results: dict = {"items": args.items, "clients": args.clients, "seconds": args.seconds,
                     "cores": psutil.cpu_count(), "load_average_at_start": list(psutil.getloadavg()),
                     "configurations": {}}
    try:
        log(f"filling {args.items} items")
        results["fill"] = fill_planerix(database_url, folder, dataset.calendar_items(0, args.items))
        hot = [dataset.background_item(i) for i in range(HOT_ITEMS)]
        for label, workers, nodes in CONFIGURATIONS:
            result = run_configuration(label, workers, nodes, database_url, folder, args.clients, args.seconds, hot)
            results["configurations"][label] = result
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=2, default=str))
        results["load_average_at_end"] = list(psutil.getloadavg())
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        shutil.rmtree(folder, ignore_errors=True)
    return save_results(args.out.parent, args.out.stem, results, markdown(results))


if __name__ == "__main__":
    main()
