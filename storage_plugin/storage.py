"""Radicale's ``BaseStorage`` on PostgreSQL.

Each request runs in one transaction bound to the request's thread by
``acquire_lock``: writers take a transaction-scoped advisory lock per owner
(so If-Match checks and writes are atomic across threads and processes) and
commit or roll back together; readers get a read-only repeatable-read snapshot.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
import logging
import posixpath
import sys
import threading
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any, Iterator, Mapping, Optional

from radicale import item as radicale_item
from radicale import pathutils, storage, types
from sqlalchemy.engine import Connection

from storage_plugin import (database, directory, freebusy, item_events, links, occurrences, queries,
                            request_state, scheduling, time_bounds)
from storage_plugin.bounds import budget, ical_scan
from storage_plugin.collection import Collection, check_name_length, texts_wanted
from storage_plugin.items import StoredItem, from_row, rows_to_items

logger = logging.getLogger("planerix.storage")

# Options this plugin reads from Radicale's [storage] section (raw strings there).
DEFAULTS = {
    "sync_history_days": "30",
    "expand_horizon_days": "1100",
    "max_occurrences_per_item": "5000",
    # Bounded work per request (storage_plugin.bounds): iCalendar text read at most, and seconds of
    # recurrence expansion for a write and of expansion and filtering for a query.
    "max_icalendar_lines": "100000",
    "max_folded_lines": "10000",
    "expansion_budget_seconds": "5",
    "query_budget_seconds": "10",
}

_ROOT_ROW = SimpleNamespace(id=0, path="", props={}, revision=0, history_floor=0,
                            modified=datetime(1970, 1, 1, tzinfo=timezone.utc))
_migrated: set[str] = set()
_migrated_lock = threading.Lock()


# What a write's budget is spent on (the reason of a refusal names it).
EXPANDING = "expanding the recurrence rules of this calendar object"
VALID_OBJECT = "C:valid-calendar-object-resource"


class IndexMismatch(ValueError):
    """An item's indexed fields differ from what its text says (``verify``, ``writer.reindex``)."""


def _option(configuration, name: str) -> str:
    try:
        value = configuration.get("storage", name)
    except KeyError:
        value = None
    return DEFAULTS[name] if value in (None, "") else str(value)


def owner_of(path: str) -> str:
    return pathutils.strip_path(path).split("/", 1)[0]


class Storage(storage.BaseStorage):
    # A database stores any text: no reason to restrict names.
    _supports_unicode = True
    _supports_trailing_whitespace = True
    _supports_problematic_chars = True
    # Calendar-queries with UID prop-filters answered from the uid column
    # (storage_plugin.indexed_filters); False parses every item, as Radicale does.
    indexed_filters = True

    def __init__(self, configuration) -> None:
        super().__init__(configuration)
        url = database.url_from(configuration)
        self.engine = database.engine_for(url, database.max_connections_from(configuration),
                                          database.timeout_from(configuration))
        self.history_days = int(_option(configuration, "sync_history_days"))
        self.horizon_seconds = int(_option(configuration, "expand_horizon_days")) * 86400
        self.max_occurrences = int(_option(configuration, "max_occurrences_per_item"))
        self.text_limits = ical_scan.TextLimits(
            max_lines=int(_option(configuration, "max_icalendar_lines")),
            max_folded_lines=int(_option(configuration, "max_folded_lines")),
            max_count=int(configuration.get("server", "max_vevent_rrule_occurrence") or 0))
        # Stored texts are folded by the serializer, not by the client: only their rules are checked.
        self._rules_only = dataclasses.replace(self.text_limits, max_lines=sys.maxsize,
                                               max_folded_lines=sys.maxsize)
        self.expansion_seconds = float(_option(configuration, "expansion_budget_seconds"))
        self.query_seconds = float(_option(configuration, "query_budget_seconds"))
        # Larger items are not shown to clients, as Radicale's file storage does not serve them.
        self.max_item_bytes = configuration.get("server", "max_resource_size")
        with _migrated_lock:
            if url not in _migrated:
                applied = database.upgrade(self.engine)
                if applied:
                    logger.info("database schema migrated: %s", ", ".join(applied))
                _migrated.add(url)
        self._bound: contextvars.ContextVar[Optional[Connection]] = contextvars.ContextVar(
            f"planerix_connection_{id(self)}", default=None)

    # -- transactions ---------------------------------------------------------
    @types.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args, **kwargs) -> Iterator[None]:
        if self._bound.get() is not None:  # nested (Radicale's sharing code does this)
            yield
            return
        with self.engine.connect() as conn:
            if mode == "r" and kwargs.get("one_statement"):
                # A read of one statement is its own snapshot: no BEGIN and COMMIT round trips.
                conn.execution_options(isolation_level="AUTOCOMMIT")
            elif mode == "r":
                conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                if mode == "w":
                    # Read committed: each statement after the lock sees the previous writer's commit.
                    for key in sorted(self._lock_keys(user, kwargs)):
                        conn.execute(queries.LOCK_OWNER, {"key": "planerix:" + key})
                token = self._bound.set(conn)
                try:
                    yield
                finally:
                    self._bound.reset(token)

    @staticmethod
    def _lock_keys(user: Optional[str], kwargs: Mapping) -> set[str]:
        paths = [kwargs[name] for name in ("path", "to_path") if kwargs.get(name)]
        return {owner_of(p) for p in paths} or {user or ""}

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        """The request's connection inside ``acquire_lock``, else a short transaction."""
        conn = self._bound.get()
        if conn is not None:
            yield conn
            return
        with self.engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Connection]:
        """A savepoint: Radicale may turn our exception into a response and let the
        request transaction commit, so a failed operation must undo its own writes."""
        with self.connection() as conn:
            with conn.begin_nested():
                yield conn

    # -- discovery --------------------------------------------------------------
    def discover(self, path: str, depth: str = "0", child_context_manager=None,
                 user_groups=frozenset()) -> Iterator[types.CollectionOrItem]:
        sane_path = pathutils.strip_path(path)
        state = request_state.current()
        if depth == "0" and state is not None and sane_path in state.known_collections:
            yield Collection(self, state.known_collections[sane_path])
            return
        context = child_context_manager or (lambda _path, _href: contextlib.nullcontext())
        parent_path, _, href = sane_path.rpartition("/")
        known, row = request_state.take_read_ahead(sane_path) if sane_path else (False, None)
        if known and (row is not None or not parent_path):
            found = Collection(self, row) if row is not None else None
        else:
            # A path ending in "/" names a collection: its member lookup would be wasted.
            found = self._find(sane_path, parent_path, href, with_member=not path.endswith("/"))
        if found is None:
            return
        yield found
        if depth == "0" or not isinstance(found, Collection):
            return
        # Read only once the first is taken: Radicale's check of the user's home on every
        # request (Depth 1) takes just the home.
        members = found.get_all() if found.tag else []
        children = self.child_collections(found)
        for member in members:
            with context(sane_path, member.href):
                yield member
        for child in children:
            with context(child.path, None):
                yield child

    def _find(self, sane_path: str, parent_path: str, href: str, with_member: bool = True):
        """The collection or item at ``sane_path``, or None."""
        with_text = texts_wanted()
        with self.connection() as conn:
            # One query answers "is it a collection?", "is its parent one?" and, if so, "which
            # member is it?" (PostgreSQL text cannot hold NUL: such a name names nothing stored).
            query = (queries.COLLECTIONS_BY_PATHS if not with_member else
                     queries.COLLECTIONS_AND_MEMBER_WITH_TEXT if with_text else queries.COLLECTIONS_AND_MEMBER)
            rows = {r.path: r for r in conn.execute(query, {
                "paths": [sane_path, parent_path], "parent": parent_path, "href": href.replace("\x00", "/"),
                "max_size": self.max_item_bytes})} if sane_path else {}
        row = rows.get(sane_path) if sane_path else _ROOT_ROW
        if row is not None:
            return Collection(self, row)
        parent = rows.get(parent_path) if parent_path else None
        if parent is not None and not with_member:
            return next(Collection(self, parent).get_multi([href]))[1]
        if parent is None or parent.m_id is None:
            return None
        member = SimpleNamespace(**{name[2:]: value for name, value in parent._mapping.items() if name.startswith("m_")})
        # Read in this snapshot: GET's Schedule-Tag needs no second look (server.scheduling.tags).
        request_state.note_schedule_tag(sane_path, member.schedule_tag)
        return rows_to_items(Collection(self, parent), [member], {member.id: member.text} if with_text else None)[0]

    def child_collections(self, collection: Collection) -> list[Collection]:
        """The collections directly below ``collection``, in ``discover``'s order."""
        with self.connection() as conn:
            return [Collection(self, r) for r in
                    conn.execute(queries.CHILD_COLLECTIONS, {"path": collection.path})]

    # -- writes -------------------------------------------------------------------
    def create_collection(self, href: str, items=None, props=None):
        sane_path = pathutils.strip_path(href)
        if not sane_path:
            return Collection(self, _ROOT_ROW), {}, []
        check_name_length("collection path", sane_path)
        items = list(items) if items is not None else None
        for item in items or ():
            check_name_length("UID", item.uid)
        with self.atomic() as conn:
            row = conn.execute(queries.COLLECTION_BY_PATH, {"path": sane_path}).first()
            if row is not None and props is None and items is None:
                return Collection(self, row), {}, []
            self._create_ancestors(conn, sane_path)
            props = dict(radicale_item.check_and_sanitize_props(dict(props or {})))
            if row is None:
                row = conn.execute(queries.INSERT_COLLECTION, {
                    "path": sane_path, "parent_path": posixpath.dirname(sane_path),
                    "tag": props.get("tag") or None, "props": json.dumps(props)}).one()
                collection = Collection(self, row)
                old_items: dict[str, StoredItem] = {}
            else:
                collection = Collection(self, row)
                collection.set_meta(props)
                old_rows = conn.execute(queries.ITEMS_WITH_TEXT_OF_COLLECTION,
                                        {"cid": collection.id, "max_size": None}).all()
                old_items = {i.href: i for i in rows_to_items(collection, old_rows,
                                                              {r.id: r.text for r in old_rows})}
                conn.execute(queries.DELETE_ALL_ITEMS, {"cid": collection.id})
            new_hrefs = self._store_new_items(conn, collection, list(items or ()), props.get("tag"))
            removed = [h for h in old_items if h not in set(new_hrefs)]
            if removed:
                first = collection._bump(conn, len(removed))
                for offset, gone in enumerate(removed):
                    collection.record_removal(conn, gone, first + offset)
        replaced = {h: old_items[h] for h in new_hrefs if h in old_items}
        return collection, replaced, [h for h in new_hrefs if h not in old_items]

    def _create_ancestors(self, conn: Connection, sane_path: str) -> None:
        parent = posixpath.dirname(sane_path)
        missing = []
        while parent and conn.execute(queries.COLLECTION_BY_PATH, {"path": parent}).first() is None:
            missing.append(parent)
            parent = posixpath.dirname(parent)
        for path in reversed(missing):
            conn.execute(queries.INSERT_COLLECTION, {
                "path": path, "parent_path": posixpath.dirname(path), "tag": None, "props": "{}"})

    def _store_new_items(self, conn, collection: Collection, items: list, tag: Optional[str]) -> list[str]:
        if not items or tag not in ("VCALENDAR", "VADDRESSBOOK"):
            return []
        suffix = ".ics" if tag == "VCALENDAR" else ".vcf"
        taken: set[str] = set()
        for item in items:
            href = self._free_href(item.uid, suffix, taken)
            taken.add(href)
            self.write_item(conn, collection, href, item)
        return list(taken)

    @staticmethod
    def _free_href(uid: str, suffix: str, taken: set[str]) -> str:
        candidates = [uid if uid.lower().endswith(suffix) else uid + suffix,
                      radicale_item.get_etag(uid).strip('"') + suffix]
        for href in candidates:
            if pathutils.is_safe_path_component(href) and href not in taken:
                return href
        return radicale_item.find_available_uid(lambda h: h in taken, suffix)

    def write_item(self, conn: Connection, collection: Collection, href: str,
                   item: radicale_item.Item) -> tuple[StoredItem, Optional[StoredItem]]:
        """Store ``item`` at ``href`` under a new revision, with its time index; the one
        write path for items. Returns the stored item and the version it replaced."""
        text = item.serialize()
        series_start, series_end = item.time_range
        account = collection.path.split("/", 1)[0]  # the owner (a write through a share is the owner's)
        # Every writer is bounded here too (plain Radicale has no pre-scan of the body).
        try:
            ical_scan.check_text(text, self._rules_only)
            with budget.limited(self.expansion_seconds, EXPANDING):
                expansion = occurrences.expand(
                    item.vobject_item, item.component_name, self.horizon_seconds, self.max_occurrences,
                    fbtype_of=freebusy.fbtype_classifier(
                        account, lambda: directory.addresses_of(conn, account)))
        except (ical_scan.TextRefused, budget.BudgetExceeded) as e:
            raise request_state.StorageRejection(403, VALID_OBJECT, str(e)) from None
        starts, ends, surrounds = occurrences.index_rows(expansion.spans)
        found = links.extract(item.vobject_item, item.component_name, f"{collection.path}/{href}")
        shown = links.facts(item.vobject_item, item.component_name)
        row = conn.execute(queries.WRITE_ITEM, {
            "cid": collection.id, "href": href, "uid": item.uid, "component": item.component_name,
            "etag": item.etag, "text": text, "series_start": series_start, "series_end": series_end,
            "expanded_until": expansion.expanded_until, "starts": starts, "ends": ends,
            "surrounds": surrounds, "fbtypes": expansion.fbtypes, "summary": shown.summary, "status": shown.status,
            "percent_complete": shown.percent_complete, "due": shown.due,
            "link_kinds": [link.kind for link in found], "link_targets": [link.target_id for link in found],
            "link_weights": [link.weight for link in found],
            "link_completion": [shown.completion] * len(found),
            "link_owner": account,  # whose tasks count (migration 0005)
            "schedule_tag": scheduling.schedule_tag_of(text)}).one()
        collection.advance(row.new_revision, row.collection_modified)
        item_events.after_write(conn, collection.path, href, item, found, shown,
                                row.text if row.id is not None else None)
        stored = SimpleNamespace(id=row.new_id, href=href, uid=item.uid, component=item.component_name,
                                 etag=item.etag, series_start=series_start, series_end=series_end,
                                 modified=row.new_modified)
        old = from_row(collection, row, text=row.text) if row.id is not None else None
        return from_row(collection, stored, text=text), old

    def move(self, item: radicale_item.Item, to_collection: storage.BaseCollection, to_href: str) -> None:
        if not pathutils.is_safe_path_component(to_href):
            raise pathutils.UnsafePathError(to_href)
        check_name_length("resource name", to_href)
        assert isinstance(item, StoredItem) and isinstance(item.collection, Collection)
        assert isinstance(to_collection, Collection)
        source = item.collection
        source.check_writable()
        to_collection.check_writable()
        to_collection.check_client_may_store()
        to_collection._check_component_allowed(item)
        with self.atomic() as conn:
            conn.execute(queries.DELETE_ITEM, {"cid": to_collection.id, "href": to_href})
            conn.execute(queries.MOVE_ITEM, {"id": item.item_id, "to_cid": to_collection.id,
                                             "to_href": to_href, "revision": to_collection._bump(conn, 1)})
            conn.execute(queries.MOVE_OCCURRENCES, {"item_id": item.item_id, "to_cid": to_collection.id})
            conn.execute(queries.DELETE_TOMBSTONE, {"cid": to_collection.id, "href": to_href})
            if not (source.id == to_collection.id and item.href == to_href):
                source.record_removal(conn, item.href, source._bump(conn, 1))

    def prune_history(self, conn: Connection, collection_id: int) -> None:
        conn.execute(queries.PRUNE_TOMBSTONES, {"cid": collection_id, "days": self.history_days})

    # -- maintenance --------------------------------------------------------------
    def verify(self) -> bool:
        """Re-derive every item's indexed fields from its text (``--verify-storage``)."""
        ok = True
        for row, error in self.check_items():
            ok = False
            logger.error("Invalid item %r: %s", f"/{row.path}/{row.href}", error)
        return ok

    def check_items(self) -> Iterator[tuple[Any, Exception]]:
        """Every item whose index differs from its text (or whose text is unreadable), with why."""
        with self.connection() as conn, time_bounds.unbounded(conn):  # one long read of every item
            addresses: dict[str, set[str]] = {}
            for account, address in conn.execute(freebusy.select_all_addresses()):
                addresses.setdefault(account, set()).add(address)
            for row in conn.execute(queries.ITEMS_FOR_VERIFY, execution_options={"stream_results": True,
                                                                                   "yield_per": 500}):
                try:
                    self._verify_item(row, addresses)
                except Exception as e:  # report every broken item, not just the first
                    yield row, e

    def _verify_item(self, row, addresses: Mapping[str, set[str]]) -> None:
        parsed, = radicale_item.read_components(row.text)
        check = radicale_item.Item(collection_path=row.path, vobject_item=parsed)
        expected = (radicale_item.get_etag(row.text), check.uid, check.component_name, check.time_range)
        stored = (row.etag, row.uid, row.component, (row.series_start, row.series_end))
        if expected != stored:
            raise IndexMismatch(f"stored index {stored} differs from the text {expected}")
        # The expansion horizon was relative to the write: compare below both cuts.
        account = row.path.split("/", 1)[0]
        expansion = occurrences.expand(parsed, check.component_name, self.horizon_seconds,
                                       self.max_occurrences, now=row.modified.timestamp(),
                                       fbtype_of=freebusy.fbtype_classifier(
                                           account, lambda: addresses.get(account, ())))
        cuts = [c for c in (row.expanded_until, expansion.expanded_until) if c is not None]
        limit = min(cuts) if cuts else None
        def below(spans):
            return sorted(tuple(s) for s in spans if limit is None or s[0] < limit)
        expected_spans = [(s, e, t) for (s, e), t in zip(expansion.spans, expansion.fbtypes)]
        if (row.expanded_until is None) != (expansion.expanded_until is None) or \
                below(row.spans) != below(expected_spans):
            raise IndexMismatch("the occurrence index does not match the text; save the item again")
        found = links.extract(parsed, check.component_name, f"/{row.path}/{row.href}")
        if sorted((link.kind, link.target_id, link.weight) for link in found) != \
                sorted((kind, target, float(weight)) for kind, target, weight in row.links):
            raise IndexMismatch("the goal-link index does not match the text; save the item again")
        shown = links.facts(parsed, check.component_name)
        if (shown.summary, shown.status, shown.percent_complete, shown.due) != \
                (row.summary, row.status, row.percent_complete, row.due):
            raise IndexMismatch("the indexed summary, status, completion or due date does not match the text")
