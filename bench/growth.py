"""The command line shared by the benchmarks that time one server as its data grows
(``bench.links``, ``bench.dashboard``): sizes, repetitions, where to write, and the two files
(``NAME.json`` with every figure, ``NAME.md`` with the table)."""
from __future__ import annotations

import argparse
import contextlib
import secrets
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

import requests

from .run import save_results
from .servers import PlanerixServer

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None, *, prog: str, doc: str, name: str, default_sizes: str,
         run: Callable[[list[int], int, Path], dict], report: Callable[[dict, list[int]], str]) -> dict:
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n")[0])
    parser.add_argument("--sizes", default=default_sizes)
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as workdir:
        results = run(sizes, args.reps, Path(workdir))
    save_results(args.out, name, {"meta": {"finished": datetime.now().isoformat(timespec="seconds"),
                                           "sizes": sizes, "reps": args.reps}, "sizes": results},
                 report(results, sizes))
    return results


@contextlib.contextmanager
def planerix_with_user(workdir: Path, user: str):
    """``planerix serve`` on a fresh embedded database with one user: (server, API origin, a
    requests session signed in as that user, the password), once the API answers."""
    password = secrets.token_urlsafe(16)
    server = PlanerixServer(workdir / "planerix", {user: password})
    server.start()
    try:
        origin = f"http://127.0.0.1:{server.api_port}"
        session = requests.Session()
        session.auth = (user, password)
        for _ in range(100):  # the API starts right after CalDAV
            try:
                session.get(origin + "/api/version").raise_for_status()
                break
            except requests.RequestException:
                time.sleep(0.2)
        yield server, origin, session, password
    finally:
        server.stop()
