"""``planerix export radicale``: the database as a Radicale ``multifilesystem`` store.

Items are written with their stored text, which is already what Radicale's parser
and serializer make of it: stock Radicale reading the files computes the same
ETags (SHA-256 of that text) and serves the same hrefs. The export reads one
snapshot, so it is consistent while clients keep writing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from sqlalchemy import text

from storage_plugin import queries, time_bounds
from server.moving import radicale_store
from storage_plugin.storage import Storage

# Archived accounts (their names start with a ".") stay out: Radicale cannot serve such paths.
# So do scheduling inboxes and outboxes (migration 0008), which Radicale would serve as calendars.
_COLLECTIONS = text(
    "SELECT id, path, props FROM collection WHERE tag IN ('VCALENDAR', 'VADDRESSBOOK') "
    "AND kind = 'normal' AND NOT starts_with(path, '.') ORDER BY path")


@dataclass
class ExportReport:
    collections: dict[str, int] = field(default_factory=dict)  # path → items written

    @property
    def items(self) -> int:
        return sum(self.collections.values())


def export_radicale(storage: Storage, directory: str | os.PathLike,
                    only_users: Optional[list[str]] = None) -> ExportReport:
    root = Path(directory) / radicale_store.ROOT_FOLDER
    if root.exists() and any(root.iterdir()):
        raise radicale_store.StoreError(f"{root} is not empty: export into a new directory")
    root.mkdir(parents=True, exist_ok=True)
    report = ExportReport()
    with storage.acquire_lock("r"), storage.connection() as conn, time_bounds.unbounded(conn):
        for row in conn.execute(_COLLECTIONS).all():
            if only_users and row.path.split("/", 1)[0] not in only_users:
                continue
            items = conn.execute(queries.ITEMS_WITH_TEXT_OF_COLLECTION,
                                 {"cid": row.id, "owner": row.path.split("/", 1)[0], "max_size": None},
                                 execution_options={"stream_results": True, "yield_per": 1000})
            report.collections[row.path] = radicale_store.write_collection(
                root, row.path, dict(row.props), ((r.href, r.text) for r in items))
    return report
