"""Write calendar items as a user, outside a CalDAV request.

The sidecar's way into the storage's own write path. A write here is a CalDAV
PUT or DELETE in all that matters: the text is checked and prepared by
Radicale's parser and sanitizer, UIDs stay unique per calendar, the calendar's
component set and the rights (``storage_plugin.sharing``) are enforced, and the item goes
through ``Storage.write_item`` (new revision, occurrence index, end of its
tombstone) under the owner's advisory lock, so CalDAV clients see ordinary sync
changes and ``If-Match`` holds against concurrent CalDAV writes.

Everything inside one ``editing`` block is one transaction: an exception undoes
all of it. The functions are synchronous; call them from asyncio code with
``asyncio.to_thread``.

    with writer.editing(storage, "alice", "alice/work") as calendar:
        written = calendar.put(ics_text, if_match='"…"')
        calendar.delete("old.ics")
"""
from __future__ import annotations

import contextlib
import json
import posixpath
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping, Optional, Sequence, TypeVar, Union

from radicale import config as radicale_config
from radicale import item as radicale_item
from radicale import pathutils
from sqlalchemy.engine import Connection

from storage_plugin import queries, request_state, sharing
from storage_plugin.bounds import budget, ical_scan
from storage_plugin.collection import READ_ONLY_REASON, Collection, check_name_length
from storage_plugin.storage import EXPANDING, VALID_OBJECT, IndexedItem, IndexMismatch, ItemWrite, Storage

T = TypeVar("T")


class WriteError(Exception):
    """A write refused for a reason the caller can show; ``status`` is the HTTP equivalent."""
    status = 400

    def __init__(self, reason: str, precondition: Optional[str] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        # The CalDAV precondition a PUT would have failed with, if any.
        self.precondition = precondition


class NotFound(WriteError):
    status = 404


class Forbidden(WriteError):
    status = 403


class Conflict(WriteError):
    status = 409


class PreconditionFailed(WriteError):
    status = 412


class ItemRejected(WriteError):
    """The iCalendar text cannot be stored (what a PUT answers with 400)."""
    status = 422


@dataclass(frozen=True)
class Put:
    text: str
    href: Optional[str] = None  # None: the item of the same UID, or a new name
    if_match: Optional[str] = None  # an ETag, or "*" for "must exist"
    if_none_match: bool = False  # "must not exist yet"


@dataclass(frozen=True)
class Delete:
    href: str
    if_match: Optional[str] = None


Change = Union[Put, Delete]


@dataclass(frozen=True)
class Written:
    href: str
    etag: Optional[str]  # None after a delete
    created: bool = False
    deleted: bool = False


@dataclass(frozen=True)
class Stored:
    href: str
    uid: str
    component: str
    etag: str
    text: str


def open_storage(database_url: str, options: Optional[Mapping[str, str]] = None) -> Storage:
    """A ``Storage`` for code outside Radicale (the sidecar), sharing the process's engine.

    ``options`` are ``[storage]`` settings as in Radicale's configuration file."""
    configuration = radicale_config.load()
    configuration.update({"storage": {"type": "storage_plugin", "database_url": database_url,
                                      **dict(options or {})}}, "planerix writer", privileged=True)
    return Storage(configuration)


def calendar_path(path: str) -> str:
    """``/alice/work/`` or ``alice/work`` → ``alice/work`` (Radicale's sanitized form)."""
    if "\x00" in path:
        raise ValueError("a path cannot contain the NUL character")
    return pathutils.strip_path(pathutils.sanitize_path(path))


def owner_of(path: str) -> str:
    """The user owning a ``calendar_path``: a user owns what lies under ``/<user>/``."""
    return path.split("/", 1)[0]


def _check_owner(user: str, path: str) -> None:
    if not user or owner_of(path) != user:
        raise Forbidden(f"/{path}/ belongs to another user; only its owner may change it")


def _check_may_edit(storage: Storage, user: str, path: str) -> None:
    """Items of a calendar change by its owner or by a user it is shared with for read-write
    (``storage_plugin.sharing``, the rights CalDAV enforces)."""
    if user and owner_of(path) == user:
        return
    with storage.connection() as conn:
        access = sharing.access_of(conn, user, path) if user else None
    if access != "read-write":
        raise Forbidden(f"/{path}/ belongs to another user and is not shared with you for read-write")


def _max_rrule_occurrences(storage: Storage) -> int:
    return int(storage.configuration.get("server", "max_vevent_rrule_occurrence"))


def prepare_item(storage: Storage, text: str, path: str = "", tag: str = "VCALENDAR") -> radicale_item.Item:
    """Parse and check one calendar object (or, with ``tag`` VADDRESSBOOK, one vCard) as a
    PUT does; ``ItemRejected`` if it cannot be stored.

    As for a PUT, the text is scanned before it is parsed and its preparation
    (which expands recurrences) runs under the storage's expansion budget."""
    try:
        ical_scan.check_text(text, storage.text_limits)
    except ical_scan.TextRefused as e:
        raise ItemRejected(str(e), "C:valid-calendar-object-resource") from None
    with budget.limited(storage.expansion_seconds, EXPANDING) as spent:
        try:
            components = radicale_item.read_components(text)
        except Exception as e:
            if spent.exceeded:
                raise ItemRejected(spent.reason, "C:valid-calendar-object-resource") from None
            raise ItemRejected(f"not valid iCalendar: {e}") from None
        try:
            radicale_item.check_and_sanitize_items(
                components, max_vevent_rrule_occurrence=_max_rrule_occurrences(storage), tag=tag)
            item = radicale_item.Item(collection_path=path, vobject_item=components[0])
            item.prepare()
        except Exception as e:
            if spent.exceeded:
                raise ItemRejected(spent.reason, "C:valid-calendar-object-resource") from None
            raise ItemRejected(f"the calendar object cannot be stored: {e or type(e).__name__}") from None
    size = len(item.serialize().encode("utf-8"))
    limit = int(storage.configuration.get("server", "max_resource_size"))
    if size > limit:
        raise ItemRejected(f"the calendar object is {size} bytes; at most {limit} bytes are allowed")
    try:
        check_name_length("UID", item.uid)
    except request_state.StorageRejection as e:
        raise ItemRejected(str(e)) from None
    return item


def prepare_indexed(storage: Storage, text: str, path: str, href: str, tag: str = "VCALENDAR",
                    fbtype_of: Optional[Callable[[object], str]] = None) -> IndexedItem:
    """``prepare_item``, then what its write stores (``Storage.index_item``): for importers, which
    hold many items until they write them and need not keep their parse."""
    item = prepare_item(storage, text, path, tag)
    try:
        return storage.index_item(item, path, href, fbtype_of)
    except request_state.StorageRejection as e:
        raise ItemRejected(str(e), VALID_OBJECT) from None


@dataclass(frozen=True)
class PreparedPut:
    href: str
    item: IndexedItem  # from ``prepare_indexed``
    etag: Optional[str] = None  # served instead of the text's (``storage.ItemWrite``)


class CalendarEditor:
    """One calendar inside a write transaction (see ``editing``)."""

    def __init__(self, storage: Storage, conn: Connection, collection: Collection) -> None:
        self._storage = storage
        self._conn = conn
        self._collection = collection

    @property
    def connection(self) -> Connection:
        """The transaction's connection, for the caller's own statements (committed together)."""
        return self._conn

    @property
    def collection_id(self) -> int:
        return self._collection.id

    @property
    def path(self) -> str:
        return self._collection.path

    def items(self) -> list[Stored]:
        rows = self._conn.execute(queries.ITEMS_WITH_TEXT_OF_COLLECTION, {"cid": self._collection.id,
                                                                        "owner": self._collection.owner,
                                                                        "max_size": None})
        return [Stored(r.href, r.uid, r.component, r.etag, r.text) for r in rows]

    def get(self, href: str) -> Optional[Stored]:
        row = self._conn.execute(queries.ITEMS_WITH_TEXT_BY_HREF,
                                 {"cid": self._collection.id, "owner": self._collection.owner, "hrefs": [href],
                                  "max_size": None}).first()
        return None if row is None else Stored(row.href, row.uid, row.component, row.etag, row.text)

    def apply(self, change: Change) -> Written:
        if isinstance(change, Put):
            return self.put(change.text, change.href, change.if_match, change.if_none_match)
        return self.delete(change.href, change.if_match)

    def put(self, text: str, href: Optional[str] = None, if_match: Optional[str] = None,
            if_none_match: bool = False, etag: Optional[str] = None) -> Written:
        """Create or replace one calendar object; returns its href and new ETag."""
        return self.put_prepared(prepare_item(self._storage, text, self._collection.path),
                                 href, if_match, if_none_match, etag)

    def put_prepared(self, item: radicale_item.Item, href: Optional[str] = None,
                     if_match: Optional[str] = None, if_none_match: bool = False,
                     etag: Optional[str] = None) -> Written:
        """``put`` of an item that ``prepare_item`` returned (parsed outside the lock). ``etag``:
        served instead of the text's until the item is next written (``storage.ItemWrite``)."""
        same_uid = [r.href for r in self._conn.execute(
            queries.HREFS_OF_UID, {"cid": self._collection.id, "owner": self._collection.owner, "uid": item.uid})]
        if href is None:
            href = same_uid[0] if same_uid else self._free_href(item.uid)
        self._check_put(href, item, self.get(href), same_uid, if_match, if_none_match)
        stored, old = self._storage.write_item(self._conn, self._collection, href, item, etag)
        return Written(href, stored.etag, created=old is None)

    def put_all(self, puts: Sequence[PreparedPut]) -> list[Union[Written, WriteError]]:
        """``put_prepared`` of many items (without preconditions) in a few round trips: one read
        of the calendar's members, then the accepted items written together. A refused item
        has its ``WriteError`` in its place; nothing of it was written."""
        members = self._conn.execute(queries.ITEMS_OF_COLLECTION,
                                     {"cid": self._collection.id, "owner": self._collection.owner,
                                      "max_size": None}).all()
        current = {r.href: r for r in members}
        hrefs_of_uid: dict[str, list[str]] = {}
        for row in members:
            hrefs_of_uid.setdefault(row.uid, []).append(row.href)
        outcomes: list[Union[Written, WriteError, None]] = []
        accepted: list[tuple[int, ItemWrite]] = []
        taken: set[str] = set()
        for put in puts:
            try:
                if put.href in taken:
                    raise Conflict(f"{put.href} is written twice in one batch")
                self._check_put(put.href, put.item, current.get(put.href), hrefs_of_uid.get(put.item.uid, []),
                                None, False)
            except WriteError as e:
                outcomes.append(e)
                continue
            taken.add(put.href)
            if put.href not in current:
                hrefs_of_uid.setdefault(put.item.uid, []).append(put.href)
            accepted.append((len(outcomes), ItemWrite(put.href, put.item, put.etag)))
            outcomes.append(None)
        written = self._storage.write_items(self._conn, self._collection, [w for _, w in accepted])
        for (position, write), (stored, old) in zip(accepted, written):
            outcomes[position] = Written(write.href, stored.etag, created=old is None)
        return outcomes

    def _check_put(self, href: str, item, current, same_uid: list[str], if_match: Optional[str],
                   if_none_match: bool) -> None:
        """Refuse what a PUT of ``item`` at ``href`` would (``current``: the member there, with
        ``etag`` and ``uid``; ``same_uid``: hrefs of members with the item's UID)."""
        if not pathutils.is_safe_path_component(href) or "\x00" in href:
            raise ItemRejected(f"{href!r} is not a valid resource name")
        try:
            check_name_length("resource name", href)
        except request_state.StorageRejection as e:
            raise ItemRejected(str(e)) from None
        _check_preconditions(href, current, if_match, if_none_match)
        if (current is not None and current.uid != item.uid) or (current is None and same_uid):
            raise Conflict(f"another item of this calendar already has the UID {item.uid!r}",
                           "C:no-uid-conflict")
        try:
            self._collection._check_component_allowed(item)
        except request_state.StorageRejection as e:
            raise Forbidden(str(e), "C:supported-calendar-component") from None

    def delete(self, href: str, if_match: Optional[str] = None) -> Written:
        current = self.get(href)
        if current is None:
            raise NotFound(f"/{self._collection.path}/{href} does not exist")
        _check_preconditions(href, current, if_match, False)
        self._collection.remove_item(self._conn, href)
        return Written(href, None, deleted=True)

    def _free_href(self, uid: str) -> str:
        candidates = [uid + ".ics", radicale_item.get_etag(uid).strip('"') + ".ics"]
        usable = [h for h in candidates
                  if pathutils.is_safe_path_component(h) and len(h.encode("utf-8")) <= 255]
        taken = {r.href for r in self._conn.execute(
            queries.ITEMS_BY_HREF, {"cid": self._collection.id, "owner": self._collection.owner, "hrefs": usable,
                                    "max_size": None})}
        for href in usable:
            if href not in taken:
                return href
        return radicale_item.find_available_uid(lambda h: self.get(h) is not None, ".ics")


def _check_preconditions(href: str, current: Optional[Stored], if_match: Optional[str],
                         if_none_match: bool) -> None:
    if if_none_match and current is not None:
        raise PreconditionFailed(f"{href} already exists (If-None-Match: *)")
    if if_match is not None:
        if current is None:
            raise PreconditionFailed(f"{href} does not exist (If-Match: {if_match})")
        if if_match != "*" and if_match != current.etag:
            raise PreconditionFailed(
                f"{href} has changed: its ETag is {current.etag}, not {if_match}")


@contextlib.contextmanager
def _locked(storage: Storage, user: str, path: str, request: str) -> Iterator[Connection]:
    with storage.acquire_lock("w", user, path="/" + path + "/", request=request, actor=user):
        with storage.connection() as conn:
            yield conn


def _calendar(storage: Storage, conn: Connection, path: str, allow_read_only: bool) -> Collection:
    row = conn.execute(queries.COLLECTION_BY_PATH, {"path": path, "owner": owner_of(path)}).first()
    if row is None:
        raise NotFound(f"there is no calendar /{path}/")
    collection = Collection(storage, row)
    if collection.tag != "VCALENDAR":
        raise Conflict(f"/{path}/ is not a calendar")
    if collection.read_only and not allow_read_only:
        raise Forbidden(READ_ONLY_REASON, "D:need-privileges")
    return collection


@contextlib.contextmanager
def editing(storage: Storage, user: str, path: str, *,
            allow_read_only: bool = False) -> Iterator[CalendarEditor]:
    """The calendar at ``path`` of ``user``, writable until the block ends (then committed).

    ``allow_read_only`` is for the one writer of a subscribed calendar, its importer."""
    path = calendar_path(path)
    _check_may_edit(storage, user, path)
    with _locked(storage, user, path, "PUT") as conn:
        yield CalendarEditor(storage, conn, _calendar(storage, conn, path, allow_read_only))


@contextlib.contextmanager
def importing(storage: Storage, path: str, props: Mapping[str, str]) -> Iterator[CalendarEditor]:
    """The calendar or address book at ``path`` with ``props``, created if missing, writable
    until the block ends (then committed; an exception undoes all of it). For importers:
    the owner's own rights are not asked for, existing items stay, and properties are
    written only when they differ (so a repeated import changes nothing)."""
    path = calendar_path(path)
    if "/" not in path:
        raise Conflict(f"/{path}/ is a user's home, not a calendar path")
    try:
        props = dict(radicale_item.check_and_sanitize_props(dict(props)))
    except ValueError as e:
        raise ItemRejected(f"invalid properties: {e}") from None
    with _locked(storage, owner_of(path), path, "PUT") as conn:
        rows = {r.path: r for r in conn.execute(
            queries.COLLECTIONS_BY_PATHS, {"paths": [path, posixpath.dirname(path)], "owner": owner_of(path)})}
        parent = rows.get(posixpath.dirname(path))
        if parent is not None and parent.tag:
            raise Conflict(f"/{parent.path}/ is a calendar or address book; nothing can be inside it")
        row = rows.get(path)
        if row is None:
            collection, _, _ = storage.create_collection("/" + path + "/", props=props)
        else:
            collection = Collection(storage, row)
            if collection.tag != props.get("tag"):
                raise Conflict(f"/{path}/ exists and is a {collection.tag or 'plain collection'}, "
                               f"not a {props.get('tag')}")
            if collection.read_only:
                raise Forbidden(READ_ONLY_REASON, "D:need-privileges")
            if dict(collection.get_meta()) != props:
                collection.set_meta(props)  # on this transaction's connection
        yield CalendarEditor(storage, conn, collection)


def write_items(storage: Storage, user: str, path: str, changes: Sequence[Change], *,
                allow_read_only: bool = False) -> list[Written]:
    """Apply ``changes`` to a calendar in one transaction: all of them or, on an error, none."""
    with editing(storage, user, path, allow_read_only=allow_read_only) as calendar:
        return [calendar.apply(change) for change in changes]


def create_calendar(storage: Storage, user: str, path: str, props: Mapping[str, str], *,
                    read_only: bool = False,
                    then: Optional[Callable[[Connection, int], T]] = None) -> Optional[T]:
    """Create a calendar (as MKCALENDAR does); ``then(connection, collection_id)`` runs in
    the same transaction, for the caller's own rows. Conflict if the path is taken."""
    path = calendar_path(path)
    _check_owner(user, path)
    if "/" not in path:
        raise Conflict(f"/{path}/ is a user's home, not a calendar path; use /{path}/NAME/")
    with _locked(storage, user, path, "MKCALENDAR") as conn:
        rows = {r.path: r for r in conn.execute(
            queries.COLLECTIONS_BY_PATHS, {"paths": [path, posixpath.dirname(path)], "owner": owner_of(path)})}
        if path in rows:
            raise Conflict(f"/{path}/ already exists")
        parent = rows.get(posixpath.dirname(path))
        if parent is not None and parent.tag:
            raise Conflict(f"/{parent.path}/ is a calendar or address book; a calendar cannot be inside it")
        try:
            collection, _, _ = storage.create_collection(
                "/" + path + "/", props={**props, "tag": "VCALENDAR"})
        except ValueError as e:
            raise ItemRejected(f"invalid calendar properties: {e}") from None
        if read_only:
            conn.execute(queries.SET_READ_ONLY, {"id": collection.id, "owner": collection.owner, "read_only": True})
        return then(conn, collection.id) if then is not None else None


def update_properties(storage: Storage, user: str, path: str, changes: Mapping[str, Optional[str]], *,
                      allow_read_only: bool = False) -> None:
    """Set calendar properties (a None value removes one), as PROPPATCH does."""
    path = calendar_path(path)
    _check_owner(user, path)
    with _locked(storage, user, path, "PROPPATCH") as conn:
        collection = _calendar(storage, conn, path, allow_read_only)
        props = dict(collection.get_meta())
        for name, value in changes.items():
            if value is None:
                props.pop(name, None)
            else:
                props[name] = value
        try:
            props = dict(radicale_item.check_and_sanitize_props(props))
        except ValueError as e:
            raise ItemRejected(f"invalid calendar properties: {e}") from None
        conn.execute(queries.SET_COLLECTION_PROPS, {
            "id": collection.id, "owner": collection.owner, "props": json.dumps(props), "tag": props.get("tag") or None})


def delete_calendar(storage: Storage, user: str, path: str, *, allow_read_only: bool = False) -> None:
    """Delete a calendar with its items (as a DELETE of the collection does)."""
    path = calendar_path(path)
    _check_owner(user, path)
    with _locked(storage, user, path, "DELETE") as conn:
        _calendar(storage, conn, path, allow_read_only)
        conn.execute(queries.DELETE_COLLECTION_TREE, {"path": path, "owner": owner_of(path)})


@dataclass
class Reindexed:
    stale: int = 0
    rewritten: int = 0
    unreadable: list[str] = field(default_factory=list)


def reindex(storage: Storage) -> Reindexed:
    """Store again, unchanged, every item whose index no longer matches its text (items written
    before a migration added an index): each gets its index rebuilt and a new sync revision, its
    ETag stays (also one kept from the server it was imported from). Items whose text cannot be
    parsed are listed, not touched."""
    report = Reindexed()
    stale: dict[str, dict[str, tuple[str, bool]]] = {}
    for row, error in storage.check_items():
        if isinstance(error, IndexMismatch):
            report.stale += 1
            stale.setdefault(row.path, {})[row.href] = (row.etag, row.text_etag is not None)
        else:
            report.unreadable.append(f"/{row.path}/{row.href}: {error}")
    for path, etags in stale.items():
        hrefs = list(etags)
        for start in range(0, len(hrefs), 500):  # short transactions: clients keep syncing
            with editing(storage, owner_of(path), path, allow_read_only=True) as calendar:
                for href in hrefs[start:start + 500]:
                    current = calendar.get(href)
                    etag, foreign = etags[href]
                    if current is not None and current.etag == etag:  # else changed since: indexed
                        calendar.put(current.text, href, if_match=etag, etag=etag if foreign else None)
                        report.rewritten += 1
    return report
