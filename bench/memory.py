"""Where a Planerix server's memory goes (the figures behind the benchmark's memory row).

    python -m bench.memory                      # resident memory each import adds, in a fresh interpreter
    python -m bench.memory --data-dir DIR       # plus PSS per process of the `planerix serve` on DIR

Imports are measured in the order the server loads them (each line: what importing that module
adds to the resident set, on top of everything above it). Processes are the server's own and
those of its embedded PostgreSQL (found by the data directory on their command line).
"""
from __future__ import annotations

import argparse
import subprocess
import sys

import psutil

# The server's import order, coarsest first: each adds what the ones above did not load.
IMPORTS = [
    "radicale.app", "sqlalchemy", "psycopg", "sqlalchemy.dialects.postgresql.psycopg",
    "storage_plugin.storage", "aiohttp.web", "asyncpg", "sqlalchemy.ext.asyncio", "pydantic",
    "okr_extension", "server.launcher",
]

_MEASURE = """
import importlib, sys, warnings
warnings.simplefilter("ignore")
def rss():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
before = rss()
print(f"{'interpreter':40s} {before:6.1f} MiB")
for name in sys.argv[1:]:
    importlib.import_module(name)
    now = rss()
    print(f"{name:40s} +{now - before:5.1f} MiB  (total {now:.1f})")
    before = now
"""


def import_costs() -> str:
    return subprocess.run([sys.executable, "-c", _MEASURE, *IMPORTS], capture_output=True, text=True,
                          check=True).stdout


def process_costs(data_dir: str) -> str:
    roots = [p for p in psutil.process_iter(["cmdline"])
             if data_dir in " ".join(p.info["cmdline"] or []) and "bench.memory" not in " ".join(p.info["cmdline"])]
    # The server, its embedded PostgreSQL (its data directory is inside DIR) and their children.
    processes = {p.pid: p for root in roots for p in (root, *root.children(recursive=True))}
    lines, total = [], 0
    for process in processes.values():
        try:
            info, command = process.memory_full_info(), " ".join(process.cmdline())
        except psutil.Error:
            continue
        total += info.pss
        lines.append(f"{info.pss / 2**20:7.1f} MiB PSS {info.rss / 2**20:7.1f} MiB RSS  {command[:80]}")
    lines.append(f"{total / 2**20:7.1f} MiB PSS in all ({len(lines)} processes)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="the --data-dir of a running `planerix serve`")
    args = parser.parse_args(argv)
    print(import_costs())
    if args.data_dir:
        print(process_costs(args.data_dir))


if __name__ == "__main__":
    main()
