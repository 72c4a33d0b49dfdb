"""Filling calendars: through HTTP PUT, or by writing a peer's storage directly.

HTTP filling uses a few keep-alive connections in parallel, each PUT with
``If-None-Match: *``.  Direct filling exists for the peers only (stock
Radicale manages ~20 PUT/s at a few thousand items), and the run reports
which method was used for every server and size.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .dataset import Item
from .dav import Dav


def http_fill(base_url: str, auth, cal_path: str, items: list[Item], workers: int = 4) -> dict:
    """PUT every item (If-None-Match: *); returns counts and elapsed seconds."""
    if not items:
        return {"method": "http", "items": 0, "seconds": 0.0, "errors": 0}
    chunks = [items[i::workers] for i in range(workers)]

    def run(chunk: list[Item]) -> list[int]:
        dav = Dav(base_url, auth)
        try:
            return [dav.put(cal_path + it.name, it.ics, create=True).status for it in chunk]
        finally:
            dav.close()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        statuses = [s for chunk in pool.map(run, chunks) for s in chunk]
    seconds = time.perf_counter() - t0
    errors = sum(1 for s in statuses if s not in (200, 201, 204))
    return {"method": "http", "items": len(items), "seconds": seconds, "errors": errors,
            "error_statuses": sorted({s for s in statuses if s not in (200, 201, 204)})}


def radicale_direct_fill(collection_dir: Path, items: list[Item]) -> dict:
    """Write ``UID.ics`` files into a Radicale multifilesystem collection folder.

    The collection must exist (created with MKCALENDAR); ``.Radicale.props``
    is written if missing.  Radicale builds its item cache lazily, so the
    caller warms it with one untimed request afterwards.
    """
    t0 = time.perf_counter()
    collection_dir.mkdir(parents=True, exist_ok=True)
    props = collection_dir / ".Radicale.props"
    if not props.exists():
        props.write_text(json.dumps({"tag": "VCALENDAR"}))
    for it in items:
        tmp = collection_dir / f".{it.name}.tmp"
        tmp.write_text(it.ics, encoding="utf-8", newline="")
        os.replace(tmp, collection_dir / it.name)
    return {"method": "direct (files written into Radicale's collection folder)",
            "items": len(items), "seconds": time.perf_counter() - t0, "errors": 0}


def xandikos_direct_fill(collection_dir: Path, items: list[Item], batch: int = 20000) -> dict:
    """Add files to a Xandikos collection (a git work tree) and commit once.

    Mirrors what Xandikos does per PUT (write file, add blob, update index,
    commit the index tree), but for all items in one commit; blobs go into
    packs instead of loose objects.
    """
    from dulwich.index import index_entry_from_stat
    from dulwich.objects import Blob
    from dulwich.repo import Repo

    t0 = time.perf_counter()
    repo = Repo(str(collection_dir))
    index = repo.open_index()
    for start in range(0, len(items), batch):
        objects = []
        for it in items[start:start + batch]:
            data = it.ics.encode("utf-8")
            path = collection_dir / it.name
            path.write_bytes(data)
            blob = Blob.from_string(data)
            objects.append((blob, None))
            index[it.name.encode("utf-8")] = index_entry_from_stat(os.lstat(path), blob.id)
        repo.object_store.add_objects(objects)
    index.write()
    tree = index.commit(repo.object_store)
    repo.get_worktree().commit(message=f"bench: add {len(items)} items".encode(), tree=tree)
    repo.close()
    return {"method": "direct (one git commit into Xandikos' collection repo via dulwich)",
            "items": len(items), "seconds": time.perf_counter() - t0, "errors": 0}


DIRECT_FILLERS = {"radicale-fs": radicale_direct_fill, "xandikos-git": xandikos_direct_fill}
