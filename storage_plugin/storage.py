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
import re
import sys
import threading
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

from radicale import item as radicale_item
from radicale import pathutils, storage, types
from sqlalchemy.engine import Connection

from storage_plugin import (database, directory, freebusy, item_events, links, occurrences, pooler,
                            queries, request_state, scheduling, time_bounds)
from storage_plugin.bounds import budget, ical_scan
from storage_plugin.collection import Collection, check_name_length, path_owner, rows_from_json, texts_wanted
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


@dataclasses.dataclass(frozen=True)
class IndexedItem:
    """What a write stores for one item, derived from its parsed text (``Storage.index_item``)."""
    uid: str
    component_name: str
    etag: str  # the SHA-256 of ``text``, as Radicale computes it
    text: str
    time_range: tuple[int, int]
    expansion: occurrences.Expansion
    links: list
    facts: Any
    schedule_tag: Optional[str]


@dataclasses.dataclass(frozen=True)
class ItemWrite:
    href: str
    item: IndexedItem
    # Served instead of ``item.etag`` until the item is next written: the strong ETag of the
    # server it was imported from (migration 0019), so clients synced there download nothing.
    etag: Optional[str] = None


# Columns of ``queries.WRITE_ITEMS``: one entry per item, then one per occurrence and per link
# (``occurrence_of`` / ``link_of`` number the item, from 1).
_WRITE_COLUMNS = ("href", "uid", "component", "etag", "text_etag", "text", "series_start", "series_end",
                  "expanded_until", "summary", "status", "percent_complete", "due", "schedule_tag",
                  "occurrence_of", "starts", "ends", "surrounds", "fbtypes",
                  "link_of", "link_kinds", "link_targets", "link_weights", "link_completion")
# A statement writes at most this many items or occurrence rows (the rest go in the next).
_BATCH_ITEMS = 500
_BATCH_OCCURRENCES = 20000


def _write_batches(writes: Sequence[ItemWrite]) -> Iterator[Sequence[ItemWrite]]:
    start, occurrences_in = 0, 0
    for end, write in enumerate(writes):
        spans = len(write.item.expansion.spans)
        if end > start and (end - start >= _BATCH_ITEMS or occurrences_in + spans > _BATCH_OCCURRENCES):
            yield writes[start:end]
            start, occurrences_in = end, 0
        occurrences_in += spans
    if start < len(writes):
        yield writes[start:]


# RFC 9110 §8.8.3: a strong entity-tag is DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E (obs-text
# is left out, and the length bounded: the value goes into response headers as it is).
_STRONG_ETAG = re.compile(r'"[\x21\x23-\x7e]{0,254}"')


def is_strong_etag(etag: str) -> bool:
    """Whether ``etag`` can be an item's ETag: a strong entity-tag (no ``W/``) of printable ASCII."""
    return _STRONG_ETAG.fullmatch(etag) is not None


def _option(configuration, name: str) -> str:
    try:
        value = configuration.get("storage", name)
    except KeyError:
        value = None
    return DEFAULTS[name] if value in (None, "") else str(value)


def owner_of(path: str) -> str:
    return pathutils.strip_path(path).split("/", 1)[0]


class _Read:
    """A read lock's transaction, begun by the first statement that needs it.

    A read-only repeatable-read snapshot; with ``one_statement``, no transaction (autocommit:
    a single statement is its own snapshot, without the BEGIN and COMMIT round trips), except
    behind a transaction pooler, where the time bounds are set per transaction
    (``pooler.bound_each_transaction``) and the statement would run unbounded without one."""

    def __init__(self, engine, one_statement: bool) -> None:
        self._engine = engine
        self._one_statement = one_statement and not pooler.transaction_pooling()
        self._opened: Optional[contextlib.ExitStack] = None
        self._conn: Optional[Connection] = None

    def connection(self) -> Connection:
        if self._conn is None:
            with contextlib.ExitStack() as opened:
                conn = opened.enter_context(self._engine.connect())
                if self._one_statement:
                    conn.execution_options(isolation_level="AUTOCOMMIT")
                else:
                    conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
                opened.enter_context(conn.begin())
                self._opened, self._conn = opened.pop_all(), conn
        return self._conn

    def __enter__(self) -> "_Read":
        return self

    def __exit__(self, *exc_info) -> None:
        if self._opened is not None:  # commits, or rolls back on an exception, and returns the connection
            self._opened.__exit__(*exc_info)


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
        self._bound: contextvars.ContextVar[Connection | _Read | None] = contextvars.ContextVar(
            f"planerix_connection_{id(self)}", default=None)

    # -- transactions ---------------------------------------------------------
    @types.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args, **kwargs) -> Iterator[None]:
        if self._bound.get() is not None:  # nested (Radicale's sharing code does this)
            yield
            return
        if mode == "r":
            # Its transaction begins with its first statement (where PostgreSQL takes the snapshot
            # anyway): a read answered from what the login read ahead checks out no connection.
            read = _Read(self.engine, one_statement=bool(kwargs.get("one_statement")))
            token = self._bound.set(read)
            try:
                with read:
                    yield
            finally:
                self._bound.reset(token)
            return
        request_state.forget_looked_up()
        with self.engine.connect() as conn, conn.begin():
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

    def in_transaction(self) -> bool:
        """Whether this thread holds a lock (its statements share the lock's transaction)."""
        return self._bound.get() is not None

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        """The request's connection inside ``acquire_lock``, else a short transaction."""
        bound = self._bound.get()
        if bound is not None:
            yield bound.connection() if isinstance(bound, _Read) else bound
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

    def lookup(self, path: str) -> Optional[request_state.Lookup]:
        """``_find``'s query of ``path`` as ``discover`` will be given it, for the login statement
        to answer ahead (``storage_plugin.auth``); a member is looked up with its text."""
        sane_path = pathutils.strip_path(path)
        if not sane_path:
            return None
        parent_path, _, href = sane_path.rpartition("/")
        return request_state.Lookup(sane_path, not path.endswith("/"),
                                    self._find_parameters(sane_path, parent_path, href))

    def _find_parameters(self, sane_path: str, parent_path: str, href: str) -> dict:
        # PostgreSQL text cannot hold NUL: such a name names nothing stored.
        return {"paths": [sane_path, parent_path], "owner": path_owner(sane_path), "parent": parent_path,
                "href": href.replace("\x00", "/"), "max_size": self.max_item_bytes}

    def _find(self, sane_path: str, parent_path: str, href: str, with_member: bool = True):
        """The collection or item at ``sane_path``, or None."""
        with_text = texts_wanted()
        looked_up = request_state.take_looked_up(sane_path, with_member) if sane_path else None
        if looked_up is not None:  # by the login, in its statement (its own snapshot)
            rows = {r.path: r for r in rows_from_json(looked_up)}
            with_text = with_member
        elif sane_path:
            with self.connection() as conn:
                # One query answers "is it a collection?", "is its parent one?" and, if so, "which
                # member is it?".
                query = (queries.COLLECTIONS_BY_PATHS if not with_member else
                         queries.COLLECTIONS_AND_MEMBER_WITH_TEXT if with_text else queries.COLLECTIONS_AND_MEMBER)
                rows = {r.path: r for r in conn.execute(
                    query, self._find_parameters(sane_path, parent_path, href))}
        else:
            rows = {}
        row = rows.get(sane_path) if sane_path else _ROOT_ROW
        if row is not None:
            return Collection(self, row)
        parent = rows.get(parent_path) if parent_path else None
        if parent is not None and not with_member:
            return next(Collection(self, parent).get_multi([href]))[1]
        if parent is None or parent.m_id is None:
            return None
        columns = parent._mapping if hasattr(parent, "_mapping") else vars(parent)
        member = SimpleNamespace(**{name[2:]: value for name, value in columns.items() if name.startswith("m_")})
        # Read in this snapshot: GET's Schedule-Tag needs no second look (server.scheduling.tags).
        request_state.note_schedule_tag(sane_path, member.schedule_tag)
        return rows_to_items(Collection(self, parent), [member], {member.id: member.text} if with_text else None)[0]

    def child_collections(self, collection: Collection) -> list[Collection]:
        """The collections directly below ``collection``, in ``discover``'s order."""
        with self.connection() as conn:
            rows = conn.execute(queries.CHILD_COLLECTIONS, {"path": collection.path, "owner": collection.owner}) \
                if collection.path else conn.execute(queries.HOMES)
            return [Collection(self, r) for r in rows]

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
            row = conn.execute(queries.COLLECTION_BY_PATH, {"path": sane_path, "owner": path_owner(sane_path)}).first()
            if row is not None and props is None and items is None:
                return Collection(self, row), {}, []
            self._create_ancestors(conn, sane_path)
            props = dict(radicale_item.check_and_sanitize_props(dict(props or {})))
            if row is None:
                row = conn.execute(queries.INSERT_COLLECTION, {
                    "path": sane_path, "owner": path_owner(sane_path), "parent_path": posixpath.dirname(sane_path),
                    "tag": props.get("tag") or None, "props": json.dumps(props)}).one()
                collection = Collection(self, row)
                old_items: dict[str, StoredItem] = {}
            else:
                collection = Collection(self, row)
                collection.set_meta(props)
                old_rows = conn.execute(queries.ITEMS_WITH_TEXT_OF_COLLECTION,
                                        {"cid": collection.id, "owner": collection.owner, "max_size": None}).all()
                old_items = {i.href: i for i in rows_to_items(collection, old_rows,
                                                              {r.id: r.text for r in old_rows})}
                conn.execute(queries.DELETE_ALL_ITEMS, {"cid": collection.id, "owner": collection.owner})
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
        while parent and conn.execute(queries.COLLECTION_BY_PATH,
                                      {"path": parent, "owner": path_owner(parent)}).first() is None:
            missing.append(parent)
            parent = posixpath.dirname(parent)
        for path in reversed(missing):
            conn.execute(queries.INSERT_COLLECTION, {
                "path": path, "owner": path_owner(path), "parent_path": posixpath.dirname(path), "tag": None,
                "props": "{}"})

    def _store_new_items(self, conn, collection: Collection, items: list, tag: Optional[str]) -> list[str]:
        if not items or tag not in ("VCALENDAR", "VADDRESSBOOK"):
            return []
        suffix = ".ics" if tag == "VCALENDAR" else ".vcf"
        taken: set[str] = set()
        fbtype_of = self.fbtype_classifier(collection.path.split("/", 1)[0], conn)
        writes = []
        for item in items:
            href = self._free_href(item.uid, suffix, taken)
            taken.add(href)
            writes.append(ItemWrite(href, self.index_item(item, collection.path, href, fbtype_of)))
        self.write_items(conn, collection, writes)
        return list(taken)

    @staticmethod
    def _free_href(uid: str, suffix: str, taken: set[str]) -> str:
        candidates = [uid if uid.lower().endswith(suffix) else uid + suffix,
                      radicale_item.get_etag(uid).strip('"') + suffix]
        for href in candidates:
            if pathutils.is_safe_path_component(href) and href not in taken:
                return href
        return radicale_item.find_available_uid(lambda h: h in taken, suffix)

    def index_item(self, item: radicale_item.Item, path: str, href: str,
                   fbtype_of: Optional[Callable[[object], str]] = None) -> IndexedItem:
        """Everything a write stores for ``item`` at ``path/href`` besides the text: the parse is
        used here once, so a caller preparing many items keeps these and lets the parse go.
        ``fbtype_of``: the owner's ``freebusy.fbtype_classifier`` (one per batch saves queries)."""
        text = item.serialize()
        account = path.split("/", 1)[0]  # the owner (a write through a share is the owner's)
        if fbtype_of is None:
            fbtype_of = self.fbtype_classifier(account)
        # Every writer is bounded here too (plain Radicale has no pre-scan of the body).
        try:
            ical_scan.check_text(text, self._rules_only)
            with budget.limited(self.expansion_seconds, EXPANDING):
                expansion = occurrences.expand(item.vobject_item, item.component_name, self.horizon_seconds,
                                               self.max_occurrences, fbtype_of=fbtype_of)
        except (ical_scan.TextRefused, budget.BudgetExceeded) as e:
            raise request_state.StorageRejection(403, VALID_OBJECT, str(e)) from None
        return IndexedItem(
            uid=item.uid, component_name=item.component_name, etag=item.etag, text=text,
            time_range=item.time_range, expansion=expansion,
            links=links.extract(item.vobject_item, item.component_name, f"{path}/{href}"),
            facts=links.facts(item.vobject_item, item.component_name),
            schedule_tag=scheduling.schedule_tag_of(text))

    def fbtype_classifier(self, account: str, conn: Optional[Connection] = None) -> Callable[[object], str]:
        """``freebusy.fbtype_classifier`` of ``account``, its addresses read on ``conn`` (or a
        short transaction of its own) when first needed."""
        def addresses():
            if conn is not None:
                return directory.addresses_of(conn, account)
            with self.connection() as own:
                return directory.addresses_of(own, account)
        return freebusy.fbtype_classifier(account, addresses)

    def write_item(self, conn: Connection, collection: Collection, href: str, item: radicale_item.Item,
                   etag: Optional[str] = None) -> tuple[StoredItem, Optional[StoredItem]]:
        """Store ``item`` at ``href`` under a new revision, with its time index; the write path of
        one item (``write_items`` of one). Returns the stored item and the version it replaced.
        ``etag``: served instead of the text's (see ``ItemWrite``)."""
        account = collection.path.split("/", 1)[0]
        indexed = self.index_item(item, collection.path, href, self.fbtype_classifier(account, conn))
        return self.write_items(conn, collection, [ItemWrite(href, indexed, etag)])[0]

    def write_items(self, conn: Connection, collection: Collection, writes: Sequence[ItemWrite],
                    ) -> list[tuple[StoredItem, Optional[StoredItem]]]:
        """Store ``writes`` (distinct hrefs) in ``collection``, each under a revision of its own,
        with their occurrence and goal-link index and the end of their tombstones: the one
        write path for items, a few hundred items per statement. Returns, in order, each
        stored item and the version it replaced."""
        if len({w.href for w in writes}) != len(writes):
            raise ValueError("write_items: an href appears twice")
        for write in writes:
            if write.etag is not None and not is_strong_etag(write.etag):
                raise ValueError(f"write_items: {write.etag!r} is not a strong ETag")
        done: list[tuple[StoredItem, Optional[StoredItem]]] = []
        for batch in _write_batches(writes):
            done.extend(self._write_batch(conn, collection, batch))
        return done

    def _write_batch(self, conn: Connection, collection: Collection, writes: Sequence[ItemWrite]):
        columns: dict[str, list] = {name: [] for name in _WRITE_COLUMNS}
        for n, write in enumerate(writes, 1):
            indexed = write.item
            served = write.etag if write.etag not in (None, indexed.etag) else None
            starts, ends, surrounds = occurrences.index_rows(indexed.expansion.spans)
            shown = indexed.facts
            for name, value in (
                    ("href", write.href), ("uid", indexed.uid), ("component", indexed.component_name),
                    ("etag", served or indexed.etag), ("text_etag", indexed.etag if served else None),
                    ("text", indexed.text), ("series_start", indexed.time_range[0]),
                    ("series_end", indexed.time_range[1]), ("expanded_until", indexed.expansion.expanded_until),
                    ("summary", shown.summary), ("status", shown.status),
                    ("percent_complete", shown.percent_complete), ("due", shown.due),
                    ("schedule_tag", indexed.schedule_tag)):
                columns[name].append(value)
            columns["occurrence_of"].extend([n] * len(starts))
            columns["starts"].extend(starts)
            columns["ends"].extend(ends)
            columns["surrounds"].extend(surrounds)
            columns["fbtypes"].extend(indexed.expansion.fbtypes)
            columns["link_of"].extend([n] * len(indexed.links))
            columns["link_kinds"].extend(link.kind for link in indexed.links)
            columns["link_targets"].extend(link.target_id for link in indexed.links)
            columns["link_weights"].extend(link.weight for link in indexed.links)
            columns["link_completion"].extend([shown.completion] * len(indexed.links))
        rows = conn.execute(queries.WRITE_ITEMS, {
            "cid": collection.id, "count": len(writes), "owner": collection.owner,  # the rows' key, whose tasks count
            **columns}).all()
        collection.advance(rows[-1].new_revision, rows[-1].collection_modified)
        done = []
        for write, row in zip(writes, rows):
            indexed = write.item
            item_events.after_write(conn, collection.path, write.href, indexed, indexed.links, indexed.facts,
                                    row.text if row.id is not None else None, etag=row.new_etag)
            stored = SimpleNamespace(id=row.new_id, href=write.href, uid=indexed.uid,
                                     component=indexed.component_name, etag=row.new_etag,
                                     series_start=indexed.time_range[0], series_end=indexed.time_range[1],
                                     modified=row.new_modified)
            old = from_row(collection, row, text=row.text) if row.id is not None else None
            done.append((from_row(collection, stored, text=indexed.text), old))
        return done

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
        owner, to_owner = source.owner, to_collection.owner
        with self.atomic() as conn:
            conn.execute(queries.DELETE_ITEM, {"cid": to_collection.id, "href": to_href, "owner": to_owner})
            links = conn.execute(queries.TAKE_LINKS, {"id": item.item_id, "owner": owner}).all() \
                if to_owner != owner else []
            conn.execute(queries.MOVE_ITEM, {"id": item.item_id, "owner": owner, "to_owner": to_owner,
                                             "to_cid": to_collection.id, "to_href": to_href,
                                             "revision": to_collection._bump(conn, 1)})
            conn.execute(queries.MOVE_OCCURRENCES, {"item_id": item.item_id, "owner": to_owner,
                                                    "to_cid": to_collection.id})
            if links:
                kinds, targets, weights, completions = (list(column) for column in zip(*links))
                conn.execute(queries.PUT_LINKS, {"id": item.item_id, "owner": to_owner, "kinds": kinds,
                                                 "targets": targets, "weights": weights,
                                                 "completions": completions})
            conn.execute(queries.DELETE_TOMBSTONE, {"cid": to_collection.id, "href": to_href, "owner": to_owner})
            if not (source.id == to_collection.id and item.href == to_href):
                source.record_removal(conn, item.href, source._bump(conn, 1))

    def prune_history(self, conn: Connection, collection: Collection) -> None:
        conn.execute(queries.PRUNE_TOMBSTONES, {"cid": collection.id, "owner": collection.owner,
                                                "days": self.history_days})

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
        # An ETag kept from the server an item was imported from stands for the text in text_etag.
        stored = (row.text_etag or row.etag, row.uid, row.component, (row.series_start, row.series_end))
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
