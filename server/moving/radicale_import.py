"""``planerix import radicale``: a Radicale store into the database, hrefs and ETags unchanged.

Each item is parsed and sanitized as Radicale does when it reads the file, so its
text, and the ETag (the SHA-256 of that text), are the ones Radicale served; it is
then stored through ``writer.importing``, the write path of a PUT (occurrence and
goal-link index, sync revision). A calendar is one transaction: written whole or,
on an error, not at all. An item already stored with the same ETag is left alone,
so a second run changes nothing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from radicale import item as radicale_item

from storage_plugin import accounts, queries, writer
from server.moving import radicale_store
from storage_plugin.storage import Storage


@dataclass(frozen=True)
class Skipped:
    where: str  # "/alice/work/" or "/alice/work/x.ics"
    reason: str


@dataclass
class Imported:
    path: str
    tag: str
    new: int = 0
    changed: int = 0
    unchanged: int = 0


@dataclass
class ImportReport:
    collections: list[Imported] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    new_users: list[str] = field(default_factory=list)

    def total(self, what: str) -> int:
        return sum(getattr(c, what) for c in self.collections)


def import_radicale(storage: Storage, directory: str | os.PathLike,
                    only_users: Optional[list[str]] = None) -> ImportReport:
    """Import every user's calendars and address books (or only ``only_users``')."""
    root = radicale_store.collection_root(directory)
    if only_users:
        missing = sorted(set(only_users) - set(radicale_store.users(root)))
        if missing:
            raise radicale_store.StoreError(f"{root} has no user {', '.join(map(repr, missing))}")
    report = ImportReport()
    for source in radicale_store.collections(root, only_users or None):
        _import_collection(storage, source, report)
    accounts.ensure_homes(storage.engine, report.new_users)
    return report


def _import_collection(storage: Storage, source: radicale_store.SourceCollection,
                       report: ImportReport) -> None:
    where = f"/{source.path}/"
    if source.props is None or source.tag not in radicale_store.LEAF_TAGS:
        reason = source.error or "not a calendar or an address book (its .Radicale.props has no tag)"
        report.skipped.append(Skipped(where, f"{reason}; its {len(source.items)} file(s) were not imported"))
        return
    try:
        if accounts.add_without_password(storage.engine, source.owner):
            report.new_users.append(source.owner)
    except accounts.AccountError as e:
        report.skipped.append(Skipped(where, f"the folder name cannot be a user name: {e}"))
        return
    prepared = _prepare(storage, source, report)
    store_collection(storage, source.path, source.props, prepared, report, Imported(source.path, source.tag))


def store_collection(storage: Storage, path: str, props: dict, prepared: list[tuple[str, radicale_item.Item]],
                     report: ImportReport, result: Imported) -> None:
    """Write ``prepared`` (href, item) into the collection at ``path`` in one transaction; an
    item already stored there with the same ETag is left alone. The outcome goes to ``report``."""
    where = f"/{path}/"
    try:
        with writer.importing(storage, path, props) as target:
            stored = {r.href: r.etag for r in target.connection.execute(
                queries.ITEMS_OF_COLLECTION, {"cid": target.collection_id, "max_size": None})}
            for href, item in prepared:
                if stored.get(href) == item.etag:
                    result.unchanged += 1
                    continue
                try:
                    target.put_prepared(item, href)
                except writer.WriteError as e:  # refused before anything was written
                    report.skipped.append(Skipped(where + href, e.reason))
                    continue
                if href in stored:
                    result.changed += 1
                else:
                    result.new += 1
    except writer.WriteError as e:
        report.skipped.append(Skipped(where, f"{e.reason}; nothing of it was imported"))
        return
    report.collections.append(result)


def _prepare(storage: Storage, source: radicale_store.SourceCollection,
             report: ImportReport) -> list[tuple[str, radicale_item.Item]]:
    """The items of ``source`` as Radicale reads them, in href order; the rest is reported.
    Of items sharing a UID (a calendar holds a UID once) the oldest file is kept: the
    others are most likely copies made beside it."""
    prepared, first_of_uid = [], {}
    for source_item in sorted(source.items, key=lambda i: (i.modified, i.href)):
        where = f"/{source.path}/{source_item.href}"
        if source_item.data is None:
            report.skipped.append(Skipped(where, source_item.error or "unreadable file"))
            continue
        try:
            text = source_item.data.decode("utf-8")
        except UnicodeDecodeError as e:
            report.skipped.append(Skipped(where, f"corrupt item: not UTF-8 text ({e.reason} at byte {e.start})"))
            continue
        try:
            item = writer.prepare_item(storage, text, source.path, source.tag)
        except writer.ItemRejected as e:
            report.skipped.append(Skipped(where, f"corrupt item: {e.reason}"))
            continue
        if item.uid in first_of_uid:
            report.skipped.append(Skipped(where, f"duplicate UID {item.uid!r}: /{source.path}/"
                                                 f"{first_of_uid[item.uid]} has it too and was imported"))
            continue
        first_of_uid[item.uid] = source_item.href
        prepared.append((source_item.href, item))
    return sorted(prepared, key=lambda pair: pair[0])
