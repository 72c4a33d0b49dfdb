"""Moving in and out: import rate, export, backup and restore time against store size.

    python -m bench.moving                          # N = 10,000 and 100,000 → bench/results/moving.*
    python -m bench.moving --sizes 1000 --out /tmp/moving
    python -m bench.moving --database-url postgresql://postgres@127.0.0.1/postgres   # an external server

For each N: a Radicale multifilesystem store with one calendar of N items (the harness's
dataset, written as Radicale stores files), then, in this process on a fresh database (the
embedded PostgreSQL in a temporary data directory unless ``--database-url`` names a server):
``import radicale`` (items per second), the same import again (nothing to change), ``export
radicale``, ``db backup`` and ``db restore`` into an empty database. Beside the import, stock
Radicale 3.9 serving the same store for the first time: its first Depth-1 PROPFIND parses every
file to build its item cache, the same parse-sanitize-hash work the import does per item.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import psycopg
import requests
from psycopg import sql
from sqlalchemy.engine import make_url

from .dataset import calendar_items
from .dav import PROPFIND_GETETAG
from .fill import radicale_direct_fill
from .servers import RadicaleServer

USER, CALENDAR = "bench", "cal"


def make_store(root: Path, n: int) -> Path:
    radicale_direct_fill(root / "collection-root" / USER / CALENDAR, calendar_items(0, n))
    return root


def _timed(action):
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def radicale_first_listing(workdir: Path, store: Path) -> dict:
    """Seconds until stock Radicale answers the first Depth-1 PROPFIND of the fresh store."""
    (workdir / "radicale").mkdir(exist_ok=True)
    server = RadicaleServer(workdir / "radicale", {USER: "bench-pass"})
    server.setup()
    shutil.rmtree(server.workdir / "collections", ignore_errors=True)
    shutil.copytree(store, server.workdir / "collections")
    server.start()
    try:
        url = f"{server.base_url}/{USER}/{CALENDAR}/"
        seconds, response = _timed(lambda: requests.request(
            "PROPFIND", url, data=PROPFIND_GETETAG, auth=(USER, "bench-pass"),
            headers={"Depth": "1", "Content-Type": "application/xml"}, timeout=3600))
        members = len(ET.fromstring(response.content).findall("{DAV:}response")) - 1  # minus the calendar
        assert response.status_code == 207 and members == len(list((store / "collection-root" / USER / CALENDAR)
                                                                 .glob("*.ics"))), (response.status_code, members)
        return {"seconds": seconds, "members": members}
    finally:
        server.stop()


class Databases:
    """Fresh databases on the server at ``admin_url``, or on an embedded server of our own."""

    def __init__(self, admin_url: str | None, workdir: Path) -> None:
        self._embedded = None
        if admin_url is None:
            from server.embedded import EmbeddedPostgres
            (workdir / "data").mkdir()
            self._embedded = EmbeddedPostgres(workdir / "data")
            admin_url = self._embedded.start()
        self.admin = make_url(admin_url).set(drivername="postgresql")
        self.made: list[str] = []

    def fresh(self) -> str:
        name = f"planerix_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin.render_as_string(hide_password=False), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.made.append(name)
        return self.admin.set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        from storage_plugin import database
        database.dispose_all()
        with psycopg.connect(self.admin.render_as_string(hide_password=False), autocommit=True) as conn:
            for name in self.made:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if self._embedded is not None:
            self._embedded.stop()


def measure(n: int, workdir: Path, databases: Databases, with_radicale: bool = True) -> dict:
    import okr_extension
    from server.moving import backup, radicale_export, radicale_import
    from storage_plugin import database, writer

    store = make_store(workdir / f"store-{n}", n)
    url = databases.fresh()
    okr_extension.migrate(database.engine_for(url))
    storage = writer.open_storage(url)
    result: dict = {"n": n}

    seconds, report = _timed(lambda: radicale_import.import_radicale(storage, store))
    assert report.total("new") == n and not report.skipped, (report.total("new"), report.skipped[:3])
    result["import"] = {"seconds": seconds, "items_per_second": n / seconds}
    seconds, report = _timed(lambda: radicale_import.import_radicale(storage, store))
    assert report.total("unchanged") == n
    result["import_again"] = {"seconds": seconds, "items_per_second": n / seconds}
    seconds, exported = _timed(lambda: radicale_export.export_radicale(storage, workdir / f"export-{n}"))
    assert exported.items == n
    result["export"] = {"seconds": seconds, "items_per_second": n / seconds}
    # The export is a store as Radicale writes it: importing it again finds every file stored.
    seconds, report = _timed(lambda: radicale_import.import_radicale(storage, workdir / f"export-{n}"))
    assert report.total("unchanged") == n and not report.skipped
    result["import_export_again"] = {"seconds": seconds, "items_per_second": n / seconds}

    archive = workdir / f"backup-{n}.dump"
    with psycopg.connect(url) as conn:
        result["database_bytes"] = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    seconds, tool = _timed(lambda: backup.backup(url, archive))
    result["backup"] = {"seconds": seconds, "archive_bytes": archive.stat().st_size, "pg_dump": tool.major}
    target = databases.fresh()
    seconds, tool = _timed(lambda: backup.restore(target, archive))
    with psycopg.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM item").fetchone()[0] == n
    result["restore"] = {"seconds": seconds, "pg_restore": tool.major}
    if with_radicale:
        result["radicale_first_listing"] = radicale_first_listing(workdir, store)
        result["radicale_first_listing"]["items_per_second"] = n / result["radicale_first_listing"]["seconds"]
    return result


def render(results: list[dict], meta: dict) -> str:
    def row(label, key, field, fmt):
        cells = [fmt(r[key][field]) if key in r else "–" for r in results]
        return f"| {label} | " + " | ".join(cells) + " |"

    head = "| | " + " | ".join(f"N={r['n']:,}" for r in results) + " |"
    lines = ["# Moving in and out (Planerix)", "",
             f"`{meta.get('command', 'python -m bench.moving')}`; {meta['database']}; {meta['machine']}.", "",
             head, "|---|" + "---:|" * len(results),
             row("import radicale, items/s", "import", "items_per_second", lambda v: f"{v:,.0f}"),
             row("import radicale, s", "import", "seconds", lambda v: f"{v:.1f}"),
             row("same import again (no change), s", "import_again", "seconds", lambda v: f"{v:.1f}"),
             row("export radicale, s", "export", "seconds", lambda v: f"{v:.1f}"),
             row("import of that export (files Radicale's way, no change), s", "import_export_again", "seconds",
                 lambda v: f"{v:.1f}"),
             row("db backup, s", "backup", "seconds", lambda v: f"{v:.1f}"),
             row("backup archive, MB", "backup", "archive_bytes", lambda v: f"{v / 1e6:.1f}"),
             row("db restore (empty database), s", "restore", "seconds", lambda v: f"{v:.1f}"),
             row("stock Radicale 3.9, first listing of the store, s", "radicale_first_listing", "seconds",
                 lambda v: f"{v:.1f}"),
             row("stock Radicale 3.9, first listing, items/s", "radicale_first_listing", "items_per_second",
                 lambda v: f"{v:,.0f}"),
             "",
             "The import parses, sanitizes and hashes each file as Radicale does when it first reads it, "
             "then indexes occurrences and goal links and writes it in one transaction per calendar; "
             "stock Radicale's first listing of a fresh store does the parse, sanitize and hash (its "
             "item cache) and nothing else. Database size: "
             + ", ".join(f"N={r['n']:,}: {r['database_bytes'] / 1e6:.0f} MB" for r in results) + "."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m bench.moving", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--database-url", help="a PostgreSQL server to make fresh databases on "
                        "(default: an embedded one in a temporary directory)")
    parser.add_argument("--no-radicale", action="store_true", help="skip stock Radicale's first listing")
    parser.add_argument("--radicale-up-to", type=int, metavar="N",
                        help="stock Radicale's first listing only for sizes up to N (it reads ~30-100 items/s)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="planerix-bench-moving-"))
    load_before = os.getloadavg()[0]
    databases = Databases(args.database_url, workdir)
    try:
        results = [measure(n, workdir, databases, not args.no_radicale
                           and (args.radicale_up_to is None or n <= args.radicale_up_to)) for n in sizes]
    finally:
        databases.close()
        shutil.rmtree(workdir, ignore_errors=True)
    meta = {"command": "python -m bench.moving " + " ".join(argv if argv is not None else sys.argv[1:]),
            "database": "external PostgreSQL" if args.database_url else "embedded PostgreSQL 18",
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
                       f"load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after the run"}
    (out / "moving.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    (out / "moving.md").write_text(render(results, meta))
    print((out / "moving.md").read_text())
    return results


if __name__ == "__main__":
    main()
