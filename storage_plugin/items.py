"""Items built from stored rows: nothing is parsed to answer a read.

Etag, UID, component and time range come from columns. The iCalendar text is
either loaded with the row (multiget, reports) or, for listings that usually
need only etags (Depth-1 PROPFIND), fetched on first use for the whole batch
in one query.
"""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Iterable

from radicale import item as radicale_item

from storage_plugin import queries

if TYPE_CHECKING:
    from storage_plugin.collection import Collection


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(timezone.utc), usegmt=True)


class TextBatch:
    """Loads the texts of a batch of listed items with one query, when first needed."""

    def __init__(self, collection: "Collection") -> None:
        self._collection = collection
        self._etags: dict[int, str] = {}
        self._texts: dict[int, str] | None = None
        self._lock = threading.Lock()

    def add(self, item_id: int, etag: str) -> None:
        self._etags[item_id] = etag

    def text_of(self, item_id: int) -> str:
        with self._lock:
            if self._texts is None:
                with self._collection.storage.connection() as conn:
                    rows = conn.execute(queries.ITEM_TEXTS_WITH_ETAG, {"ids": list(self._etags)})
                    self._texts = {r.id: r.text for r in rows if r.etag == self._etags[r.id]}
        try:
            return self._texts[item_id]
        except KeyError:
            raise RuntimeError(
                f"item {item_id} in {self._collection.path!r} changed while the "
                "response was built; the client should retry") from None


class StoredItem(radicale_item.Item):
    """A Radicale item whose text may be fetched lazily through a ``TextBatch``."""

    def __init__(self, *, batch: TextBatch | None, item_id: int, text: str | None,
                 **kwargs: Any) -> None:
        super().__init__(text=text if text is not None else "", **kwargs)
        self.item_id = item_id
        self._batch = batch
        if text is None:
            self._text = None

    def serialize(self) -> str:
        if self._text is None and self._vobject_item is None:
            assert self._batch is not None
            self._text = self._batch.text_of(self.item_id)
        return super().serialize()

    @property
    def vobject_item(self):
        if self._text is None and self._vobject_item is None:
            self.serialize()
        return radicale_item.Item.vobject_item.fget(self)


def from_row(collection: "Collection", row, *, text: str | None = None,
             batch: TextBatch | None = None) -> StoredItem:
    if text is None and batch is not None:
        batch.add(row.id, row.etag)
    return StoredItem(
        collection=collection, batch=batch, item_id=row.id, text=text,
        href=row.href, last_modified=http_date(row.modified), etag=row.etag,
        uid=row.uid, name="VCARD" if collection.tag == "VADDRESSBOOK" else "VCALENDAR",
        component_name=row.component, time_range=(row.series_start, row.series_end))


def rows_to_items(collection: "Collection", rows: Iterable,
                  texts: dict[int, str] | None = None) -> list[StoredItem]:
    """Items for ``rows``; those without a text in ``texts`` load it lazily, as one batch."""
    texts = texts or {}
    batch = TextBatch(collection)
    return [from_row(collection, row, text=texts.get(row.id), batch=batch) for row in rows]
