"""``planerix import radicale``: a Radicale store into the database, hrefs and ETags unchanged.

Each item is parsed and sanitized as Radicale does when it reads the file, so its
text, and the ETag (the SHA-256 of that text), are the ones Radicale served; it is
indexed right away (``writer.prepare_indexed``: occurrences, goal links, free-busy
types), then the calendar is stored through ``writer.importing`` and
``CalendarEditor.put_all``, the checks and write path of a PUT for many items at once
(a few hundred items per statement, sync revisions and item events as for a PUT). A
calendar is one transaction: written whole or, on an error, not at all. An item already stored with the same ETag is left alone,
so a second run changes nothing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable, Optional

from radicale import item as radicale_item
from radicale import pathutils

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
    etags_kept: int = 0  # items served with the source's own ETag (``SourceText.etag``)


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
    texts = []
    for source_item in sorted(source.items, key=lambda i: (i.modified, i.href)):
        if source_item.data is None:
            texts.append(SourceText(source_item.href, None, source_item.error or "unreadable file"))
            continue
        try:
            texts.append(SourceText(source_item.href, source_item.data.decode("utf-8")))
        except UnicodeDecodeError as e:
            texts.append(SourceText(source_item.href, None,
                                    f"corrupt item: not UTF-8 text ({e.reason} at byte {e.start})"))
    # Of files sharing a UID the oldest is kept: the others are most likely copies made beside it.
    result = Imported(source.path, source.tag)
    prepared = prepare_all(storage, source.path, source.tag, texts, report, result)
    store_collection(storage, source.path, source.props, prepared, report, result)


@dataclass(frozen=True)
class SourceText:
    href: str
    text: Optional[str]  # None: unusable, see ``error``
    error: Optional[str] = None
    etag: Optional[str] = None  # the source's strong ETag, kept if it differs from ours


def prepare_all(storage: Storage, path: str, tag: str, texts: Iterable[SourceText],
                report: ImportReport, result: Imported) -> list[writer.PreparedPut]:
    """The items of ``texts`` as a PUT prepares them, with everything their write stores (so
    their parse is not kept), in href order; what cannot be imported goes to ``report``. Of
    texts sharing a UID (a calendar holds a UID once) the first is kept. A text already
    stored at its href (the source ETag kept, else the same digest) is counted unchanged in
    ``result`` without being parsed: a second run, or one resumed, costs a hash per item."""
    prepared, first_of_uid = [], {}
    with storage.connection() as conn:
        stored = {r.href: r for r in conn.execute(queries.STORED_VERSIONS,
                                                  {"path": path, "owner": writer.owner_of(path)})}
    fbtype_of = storage.fbtype_classifier(writer.owner_of(path))  # one address lookup per calendar
    for source in texts:
        where = f"/{path}/{source.href}"
        if source.text is None:
            report.skipped.append(Skipped(where, source.error or "no text"))
            continue
        if not pathutils.is_safe_filesystem_path_component(source.href):
            report.skipped.append(Skipped(where, "its name cannot be a path segment"))
            continue
        known = stored.get(source.href)
        if known is not None and (source.etag == known.etag if source.etag is not None
                                  else radicale_item.get_etag(source.text) == known.text_digest):
            uid = known.uid
        else:
            try:
                item = writer.prepare_indexed(storage, source.text, path, source.href, tag, fbtype_of)
            except writer.ItemRejected as e:
                report.skipped.append(Skipped(where, f"corrupt item: {e.reason}"))
                continue
            uid, known = item.uid, None
        if uid in first_of_uid:
            report.skipped.append(Skipped(where, f"duplicate UID {uid!r}: /{path}/"
                                                 f"{first_of_uid[uid]} has it too and was imported"))
            continue
        first_of_uid[uid] = source.href
        result.etags_kept += source.etag is not None
        if known is not None:
            result.unchanged += 1
        else:
            prepared.append(writer.PreparedPut(source.href, item, source.etag))
    return sorted(prepared, key=lambda put: put.href)


def store_collection(storage: Storage, path: str, props: dict, prepared: list[writer.PreparedPut],
                     report: ImportReport, result: Imported) -> None:
    """Write ``prepared`` into the collection at ``path`` in one transaction, in a few
    statements (``CalendarEditor.put_all``); an item already stored there with the ETag it
    would get is left alone. The outcome goes to ``report``."""
    where = f"/{path}/"
    try:
        with writer.importing(storage, path, props) as target:
            stored = {r.href: r.etag for r in target.connection.execute(
                queries.ITEMS_OF_COLLECTION, {"cid": target.collection_id, "owner": writer.owner_of(path),
                                              "max_size": None})}
            changes = []
            for put in prepared:
                if stored.get(put.href) == (put.etag or put.item.etag):
                    result.unchanged += 1
                else:
                    changes.append(put)
            for put, outcome in zip(changes, target.put_all(changes)):
                if isinstance(outcome, writer.WriteError):  # refused before anything was written
                    report.skipped.append(Skipped(where + put.href, outcome.reason))
                elif put.href in stored:
                    result.changed += 1
                else:
                    result.new += 1
    except writer.WriteError as e:
        report.skipped.append(Skipped(where, f"{e.reason}; nothing of it was imported"))
        return
    report.collections.append(result)
