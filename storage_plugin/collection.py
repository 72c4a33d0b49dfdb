"""A calendar, address book or plain collection stored in PostgreSQL."""
from __future__ import annotations

import json
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Optional, Tuple, Union

from radicale import item as radicale_item
from radicale import pathutils, storage
from radicale.item import filter as radicale_filter

from storage_plugin import (inbox_availability, indexed_filters, item_events, queries, rendered, request_state,
                            scheduling, selections, sync_token)
from storage_plugin.items import StoredItem, http_date, rows_to_items

if TYPE_CHECKING:
    from storage_plugin.storage import Storage

COMPONENT_SET_PROP = "C:supported-calendar-component-set"
# PostgreSQL's btree indexes on paths, hrefs and UIDs take entries up to about 2.7 kB:
# longer names are refused up front rather than failing in the database.
MAX_NAME_BYTES = 1024
# Calendars filled by a feed subscription (``collection.read_only``) refuse CalDAV writes.
READ_ONLY_REASON = (
    "this calendar is subscribed from an external iCalendar feed and is read-only: its items "
    "change only when the feed does (manage the subscription under /api/subscriptions)")
# A subscriber may still rename, recolour and reorder a subscribed calendar in their client
# (Apple Calendar sets the order and colour on its first sync): it changes only how it looks.
# Whether its events count as the subscriber's busy time is the subscriber's choice too.
SCHEDULE_TRANSP_PROP = "C:schedule-calendar-transp"
PRESENTATION_PROPS = frozenset({"D:displayname", "ICAL:calendar-color", "ICAL:calendar-order",
                                SCHEDULE_TRANSP_PROP})
# Long listings are read through a server-side cursor, a batch at a time.
_STREAMED = {"stream_results": True, "yield_per": 2000}


def texts_wanted() -> bool:
    """Whether the request's answer shows item texts (a PROPFIND of etags does not)."""
    state = request_state.current()
    return state is None or state.needs_item_text


def row_from_json(data: dict) -> SimpleNamespace:
    """A row from its JSON form (``queries.home_as_json``, ``queries.as_json_rows``): its
    timestamps, ``modified`` and a member's ``m_modified``, as the driver would give them."""
    return SimpleNamespace(**{**data, **{name: datetime.fromisoformat(data[name])
                                          for name in ("modified", "m_modified") if data.get(name)}})


def rows_from_json(rows: list[dict] | None) -> list[SimpleNamespace]:
    return [row_from_json(row) for row in rows or ()]


def path_owner(sane_path: str) -> str:
    """The account owning a collection at ``sane_path`` (no leading slash): its first segment."""
    return sane_path.split("/", 1)[0]


def check_name_length(what: str, name: str) -> None:
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        raise request_state.StorageRejection(
            400, None, f"the {what} is {size} bytes long; at most {MAX_NAME_BYTES} bytes are allowed")


class Collection(storage.BaseCollection):

    def __init__(self, storage_: "Storage", row) -> None:
        self.storage = storage_
        self.id: int = row.id
        self._path: str = row.path
        self._props: dict = dict(row.props)
        self._revision: int = row.revision
        self._history_floor: int = row.history_floor
        self._modified = row.modified
        self.read_only: bool = bool(getattr(row, "read_only", False))
        # "normal", or "schedule-inbox"/"schedule-outbox" (migration 0008): only the server writes those.
        self.kind: str = getattr(row, "kind", None) or "normal"
        if self.read_only:
            request_state.note_read_only(self._path)

    # -- identity and metadata --------------------------------------------
    @property
    def path(self) -> str:
        return self._path

    @property
    def owner(self) -> str:
        """The account owning this collection (the first segment of its path): the key of its rows."""
        return path_owner(self._path)

    @property
    def tag(self) -> str:
        return self._props.get("tag", "")

    @property
    def etag(self) -> str:
        # Every member change and every PROPPATCH bumps the revision.
        return f'"{self.id}-{self._revision}"'

    @property
    def revision(self) -> int:
        """The revision this collection was read at (``etag``)."""
        return self._revision

    @property
    def history_floor(self) -> int:
        """Changes before this revision are no longer in the history (pruned tombstones)."""
        return self._history_floor

    @property
    def last_modified(self) -> str:
        return http_date(self._modified)

    def get_meta(self, key: Optional[str] = None) -> Union[Mapping[str, str], Optional[str]]:
        if self.kind == "schedule-inbox" and (key is None or key in inbox_availability.PROPS):
            with self.storage.connection() as conn:  # the account's working hours
                props = {**self._props, **inbox_availability.read(conn, self._path)}
            return props if key is None else props.get(key)
        if key is None:
            return dict(self._props)
        if key == SCHEDULE_TRANSP_PROP and self.tag == "VCALENDAR":
            return self._props.get(key) or "opaque"  # RFC 6638 §9.1: counts as busy time unless set
        return self._props.get(key)

    def set_meta(self, props: Mapping[str, str]) -> None:
        props = dict(radicale_item.check_and_sanitize_props(dict(props)))
        if self.read_only:
            changed = {k for k in props.keys() | self._props.keys() if props.get(k) != self._props.get(k)}
            if changed - PRESENTATION_PROPS:
                self.check_writable()
        with self.storage.connection() as conn:
            if self.kind == "schedule-inbox":
                inbox_availability.write(conn, self._path, props)
            row = conn.execute(queries.SET_COLLECTION_PROPS, {
                "id": self.id, "owner": self.owner, "props": json.dumps(props), "tag": props.get("tag") or None}).one()
        self._props = props
        self.advance(row.revision, row.modified)

    # -- reads ----------------------------------------------------------------
    def get_all(self) -> Iterable[StoredItem]:
        # PROPFIND renders after the lock is gone: texts it will need come from this
        # snapshot, or a concurrent write would leave the listing without them.
        with_text = texts_wanted()
        query = queries.ITEMS_WITH_TEXT_OF_COLLECTION if with_text else queries.ITEMS_OF_COLLECTION
        with self.storage.connection() as conn:
            rows = conn.execute(query, {"cid": self.id, "owner": self.owner,
                                        "max_size": self.storage.max_item_bytes}).all()
        return rows_to_items(self, rows, {row.id: row.text for row in rows} if with_text else None)

    def iter_member_rows(self) -> Iterator:
        """Rows (id, href, uid, component, etag, series bounds, modified) of every member,
        in ``get_all``'s order, read in batches; for listings that need no item objects
        (``server.fast_listing``)."""
        with self.storage.connection() as conn:
            yield from conn.execute(queries.ITEMS_OF_COLLECTION, {"cid": self.id, "owner": self.owner,
                                                                  "max_size": self.storage.max_item_bytes},
                                    execution_options=_STREAMED)

    def get_multi(self, hrefs: Iterable[str]) -> Iterator[Tuple[str, Optional[StoredItem]]]:
        wanted = list(dict.fromkeys(hrefs))
        if not wanted:
            return
        rows = self.rows_by_href(wanted)
        texts = {row.id: row.text for row in rows} if texts_wanted() else None
        found = {item.href: item for item in rows_to_items(self, rows, texts)}
        for href in wanted:
            yield href, found.get(href)

    def rows_by_href(self, hrefs: list[str]) -> list:
        """Rows of the members named ``hrefs`` (with ``text`` when the request needs texts)."""
        query = queries.ITEMS_WITH_TEXT_BY_HREF if texts_wanted() else queries.ITEMS_BY_HREF
        # PostgreSQL text cannot hold NUL: a name with one (a multiget href) names nothing stored.
        storable = [href for href in hrefs if "\x00" not in href]
        with self.storage.connection() as conn:
            return conn.execute(query, {"cid": self.id, "owner": self.owner, "hrefs": storable,
                                        "max_size": self.storage.max_item_bytes}).all()

    def get_filtered(self, filters) -> Iterator[Tuple[StoredItem, bool]]:
        selected = self.filtered_rows(filters)
        items = rows_to_items(self, [row for row, _, _ in selected],
                              {row.id: text for row, _, text in selected if text is not None})
        for (_, exact, _), item in zip(selected, items):
            yield item, exact

    def filtered_rows(self, filters) -> list[tuple[Any, bool, Optional[str]]]:
        """(row, exact, text) of the items ``filters`` may select, in ``get_filtered``'s order;
        not exact means Radicale must test the item by parsing. Texts are read in the same
        snapshot (REPORTs render after the storage lock is gone): all of them when the request
        needs texts, otherwise those of the items to parse."""
        if not self.tag:
            return []
        window, uid_tests, params, indexed, simple = self._selection(filters, self.storage.indexed_filters)
        all_texts = texts_wanted()
        query = queries.items_matching(window, tuple(test.sql_kind for test in uid_tests), all_texts)
        with self.storage.connection() as conn:
            rows = conn.execute(query, params).all()
            if indexed is not None:
                rows = [row for row in rows if indexed.matches(row.uid)]
            if all_texts:
                texts = {row.id: row.text for row in rows}
            else:
                wanted = [row.id for row in rows if not (simple and row.exact)]
                texts = dict(conn.execute(queries.ITEM_TEXTS, {"ids": wanted, "owner": self.owner}).all()) \
                    if wanted else {}
        return [(row, simple and row.exact, texts.get(row.id)) for row in rows]

    def render_filtered(self, filters, parts: list[str], slots: list[str]) -> Optional[rendered.Rendered]:
        """The responses of the items ``filters`` select, written by the database in one
        statement (``storage_plugin.rendered``; empty for none), or None when that cannot
        decide them all: a prop-filter (UID filters are left to ``filtered_rows``), or an item
        Radicale must test by parsing."""
        if not self.tag:
            return rendered.Rendered([], 0)
        # Without the UID index: a prop-filter makes the filter not simple (nothing is exact).
        window, _, params, _, simple = self._selection(filters, uid_index=False)
        if not simple:
            return None
        with self.storage.connection() as conn:
            members = selections.select(conn, self, window, params)
            if not all(member.exact for member in members):
                return None
            return rendered.render_members(conn, members, parts, slots, self.id)

    def _selection(self, filters, uid_index: bool):
        """(window, UID tests, parameters, indexed filter or None, simple) of ``filters``:
        what ``queries.items_matching`` is asked; not simple means no item is exact."""
        indexed = indexed_filters.analyse(filters, self.tag) if uid_index else None
        if indexed is not None:
            tag, start, end, simple = indexed.component, indexed.start, indexed.end, True
            uid_tests = indexed.uid_tests
        else:
            tag, start, end, simple = radicale_filter.simplify_prefilters(filters, self.tag)
            uid_tests = ()
        if start <= radicale_filter.TIMESTAMP_MIN and end >= radicale_filter.TIMESTAMP_MAX:
            window = "all"
        else:
            window = "range" if start < end else "inverted"
        params = {"cid": self.id, "owner": self.owner, "component": tag, "start": start, "end": end,
                  "max_size": self.storage.max_item_bytes, "non_ascii": indexed_filters.NON_ASCII_PATTERN,
                  **{f"uid{n}": test.text for n, test in enumerate(uid_tests)},
                  **{f"uid{n}_pattern": indexed_filters.contains_pattern(test.text)
                     for n, test in enumerate(uid_tests)}}
        return window, uid_tests, params, indexed, simple

    def has_uid(self, uid: str) -> bool:
        with self.storage.connection() as conn:
            return bool(conn.execute(queries.HAS_UID, {"cid": self.id, "owner": self.owner, "uid": uid,
                                                      "max_size": self.storage.max_item_bytes}).scalar())

    # -- writes ---------------------------------------------------------------
    def upload(self, href: str, item: radicale_item.Item) -> Tuple[StoredItem, Optional[StoredItem]]:
        if not pathutils.is_safe_path_component(href):
            raise pathutils.UnsafePathError(href)
        check_name_length("resource name", href)
        check_name_length("UID", item.uid)
        self.check_writable()
        self.check_client_may_store()
        self._check_component_allowed(item)
        with self.storage.atomic() as conn:
            # Implicit scheduling: the jobs and the (rewritten) item commit together.
            item = scheduling.before_write(self.storage, conn, self, href, item)
            return self.storage.write_item(conn, self, href, item)

    def delete(self, href: Optional[str] = None) -> None:
        self.check_writable()
        if href is None and self.kind != "normal":
            raise request_state.StorageRejection(
                403, "D:need-privileges", f"the {self.kind} belongs to the account and cannot be deleted")
        with self.storage.atomic() as conn:
            if href is None:
                conn.execute(queries.DELETE_COLLECTION_TREE, {"path": self._path, "owner": self.owner})
                return
            scheduling.before_delete(self.storage, conn, self, href)
            if not self.remove_item(conn, href):
                raise storage.ComponentNotFoundError(href)

    def remove_item(self, conn, href: str) -> bool:
        """Delete one item (the one delete path: CalDAV and writes from outside it); False if
        there was none."""
        item_events.before_delete(conn, self.path, self.id, href)
        if conn.execute(queries.DELETE_ITEM, {"cid": self.id, "href": href, "owner": self.owner}).first() is None:
            return False
        self.record_removal(conn, href, self._bump(conn, 1))
        self.storage.prune_history(conn, self)
        return True

    def record_removal(self, conn, href: str, revision: int) -> None:
        conn.execute(queries.INSERT_TOMBSTONE, {"cid": self.id, "href": href, "revision": revision,
                                                "owner": self.owner})

    def advance(self, revision: int, modified) -> None:
        """Take note of a revision the database assigned to a change of this collection."""
        self._revision, self._modified = revision, modified

    def _bump(self, conn, count: int) -> int:
        """Reserve ``count`` revisions; returns the first. Each change gets its own,
        so a sync truncated by DAV:limit can continue exactly where it stopped."""
        row = conn.execute(queries.BUMP_REVISION, {"id": self.id, "owner": self.owner, "count": count}).one()
        self.advance(row.revision, row.modified)
        return row.revision - count + 1

    def check_writable(self) -> None:
        """Refuse a client's change of a read-only (subscribed) calendar, its items or properties."""
        if self.read_only:
            raise request_state.StorageRejection(403, "D:need-privileges", READ_ONLY_REASON)

    def check_client_may_store(self) -> None:
        """The inbox and outbox are filled by the server only (RFC 6638 §2.2, §2.1)."""
        if self.kind != "normal":
            raise request_state.StorageRejection(
                403, "D:need-privileges", f"clients cannot store objects in the {self.kind}: the server "
                "delivers scheduling messages there; write into a calendar instead")

    def _check_component_allowed(self, item: radicale_item.Item) -> None:
        allowed = self._props.get(COMPONENT_SET_PROP)
        if self.tag != "VCALENDAR" or not allowed:
            return
        if item.component_name not in allowed.split(","):
            raise request_state.StorageRejection(
                403, "C:supported-calendar-component",
                f"this calendar accepts only {allowed.replace(',', ', ')}; "
                f"a {item.component_name} cannot be stored in it")

    # -- sync (RFC 6578) ------------------------------------------------------
    def sync(self, old_token: str = "") -> Tuple[str, Iterable[str]]:
        token, changes = self.sync_changes(old_token)
        return token, (change.href for change in changes)

    def sync_changes(self, old_token: str = "") -> Tuple[str, Iterable]:
        """The new token and the changes since ``old_token`` (every member when empty),
        oldest first, as rows (href, revision, etag, component); a deletion has no etag.
        Honours the request's DAV:limit; without one the rows are read when iterated."""
        state = request_state.current()
        limit = state.sync_limit if state else None
        if old_token or limit is not None or self.storage.in_transaction():
            with self.storage.connection() as conn:
                current = conn.execute(queries.COLLECTION_REVISION, {"id": self.id, "owner": self.owner}).one()
        else:
            # The token alone, after the request's reads (Radicale renders a PROPFIND's
            # DAV:sync-token once its read lock is gone): that of the snapshot this collection was
            # read in, as its getctag. Changes listed later, from a newer one, may repeat in the
            # next sync; none is missed.
            current = SimpleNamespace(revision=self._revision, history_floor=self._history_floor)
        since = (sync_token.parse(old_token, self.id, current.revision, current.history_floor)
                 if old_token else None)
        if limit is None:
            # Radicale asks for the token alone when rendering the DAV:sync-token
            # property and drops the names: list them only if they are read.
            return sync_token.make(self.id, current.revision), self._changes(since, None)
        rows = list(self._changes(since, limit + 1))
        if len(rows) <= limit:
            return sync_token.make(self.id, current.revision), rows
        rows = rows[:limit]
        state.sync_truncated = True
        # Every change has its own revision, so the next sync resumes right after the last one sent.
        return sync_token.make(self.id, rows[-1].revision), rows

    def _changes(self, since: Optional[int], limit: Optional[int]):
        """Changes after revision ``since`` (all members when None), oldest change first."""
        with self.storage.connection() as conn:
            if since is None:
                rows = conn.execute(queries.CURRENT_MEMBERS, {"cid": self.id, "owner": self.owner, "limit": limit,
                                                             "max_size": self.storage.max_item_bytes},
                                    execution_options=_STREAMED)
            else:
                rows = conn.execute(queries.CHANGES_SINCE, {"cid": self.id, "owner": self.owner, "since": since,
                                                           "limit": limit,
                                                           "max_size": self.storage.max_item_bytes},
                                    execution_options=_STREAMED)
            yield from rows
