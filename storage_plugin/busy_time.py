"""Each calendar's busy occurrences over a window, kept per process and brought up to date from
the calendar's change history.

A free-busy answer for twenty people reads twenty calendars' occurrences, and between two
questions most of them did not change: a calendar renamed changed none, an event edited one.
So the busy occurrences of a calendar over a window are kept by item, with the calendar's
revision they were read at. Asked again at a later revision, only the items written since
(``item.revision``, the history sync-collection answers from) are read again; a calendar read
whole again when something left it (a tombstone since: a delete or a move away), when an item
new to the kept ones was written (it may stand where a deleted one stood, under its href), when
too much changed, or when its history was pruned past the kept revision. The occurrences'
merge (``logic.merge``) is kept with them and merged again after an edit only where the edit
touched it (``logic.merge_changed``).

Every write of an item gives it a new revision and rewrites its occurrences in the same
transaction (``queries.UPSERT_ITEMS``, ``MOVE_ITEM``), so items not in the history since are as
they were. Reads are index-only (``item_occurrence_busy_idx`` carries type and item).
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from scheduling import freebusy as logic
from storage_plugin.kept import Kept

# More items written since the kept revision than this: the calendar is read whole.
MAX_CHANGES = 50


class Calendar(NamedTuple):
    """A calendar whose busy time counts, as read at the start of the question."""
    id: int
    revision: int
    history_floor: int


ByItem = dict[int, tuple[logic.Period, ...]]


class Busy(NamedTuple):
    """A calendar's busy time over a window: its occurrences by item and sorted, and their
    ``logic.merge`` (kept up to date with ``logic.merge_changed``)."""
    revision: int
    by_item: ByItem
    ordered: list[logic.Period]
    merged: list[logic.Period]


KEPT: Kept[Busy] = Kept(600_000, lambda busy: 1 + 2 * len(busy.ordered) + len(busy.merged))

_BUSY_OCCURRENCE = "o.span && int8range(:start, :end) AND o.fbtype <> 'F' AND NOT o.surrounds"
# Each occurrence's bounds and type as three arrays (the types a letter each): a row per item or
# calendar, not per occurrence.
_AS_ARRAYS = ("array_agg(lower(o.span)) AS starts, array_agg(upper(o.span)) AS ends,"
              " string_agg(CAST(o.fbtype AS text), '') AS types")
# Of each calendar kept at an earlier revision: the items written since (at most :limit of
# them), each with its busy occurrences, and a NULL item when something left it since (a
# tombstone). (By collection and revision only: the owner, which the collection determines,
# would lead the planner to the href index and a scan of the whole calendar.)
_CHANGES = sa.text(
    "SELECT s.cid, changed.id, occ.starts, occ.ends, occ.types"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:revisions AS bigint[])) AS s(cid, rev)"
    " CROSS JOIN LATERAL ("
    "  (SELECT i.id FROM item i WHERE i.collection_id = s.cid AND i.revision > s.rev LIMIT :limit)"
    "  UNION ALL"
    "  (SELECT NULL FROM tombstone t WHERE t.collection_id = s.cid AND t.revision > s.rev LIMIT 1)) AS changed"
    f" CROSS JOIN LATERAL (SELECT {_AS_ARRAYS} FROM item_occurrence o"
    f"  WHERE o.item_id = changed.id AND {_BUSY_OCCURRENCE}) AS occ").bindparams(
    sa.bindparam("ids", type_=ARRAY(sa.BigInteger)), sa.bindparam("revisions", type_=ARRAY(sa.BigInteger)),
    sa.bindparam("start", type_=sa.BigInteger), sa.bindparam("end", type_=sa.BigInteger))
# Each calendar read whole: its busy occurrences' items, bounds and types (NULLs for none).
_WHOLE = (
    "SELECT w.cid, occ.items, occ.starts, occ.ends, occ.types"
    " FROM unnest(CAST(:ids AS bigint[])) AS w(cid)"
    f" CROSS JOIN LATERAL (SELECT array_agg(o.item_id) AS items, {_AS_ARRAYS}"
    f"  FROM item_occurrence o WHERE o.collection_id = w.cid AND {_BUSY_OCCURRENCE} {{mask}}) AS occ")
# Masking one UID (Apple's X-CALENDARSERVER-MASK-UID) reads the item of each occurrence.
_MASK = "AND NOT EXISTS (SELECT 1 FROM item i WHERE i.id = o.item_id AND i.uid = :mask_uid)"
_WHOLE_TYPES = [sa.bindparam("ids", type_=ARRAY(sa.BigInteger)),
                sa.bindparam("start", type_=sa.BigInteger), sa.bindparam("end", type_=sa.BigInteger)]
_SELECT_WHOLE = sa.text(_WHOLE.format(mask="")).bindparams(*_WHOLE_TYPES)
_SELECT_WHOLE_MASKED = sa.text(_WHOLE.format(mask=_MASK)).bindparams(
    *_WHOLE_TYPES, sa.bindparam("mask_uid", type_=sa.Text))


def busy_of(conn: sa.Connection, calendars: Sequence[Calendar], start: int, end: int,
            mask_uid: Optional[str] = None) -> dict[int, Busy]:
    """The busy time of each of ``calendars`` over ``[start, end)``, by calendar id: kept,
    brought up to date, or read. With ``mask_uid`` every calendar is read whole without the
    items of that UID, and nothing is kept."""
    found: dict[int, Busy] = {}
    whole: list[Calendar] = []
    behind: list[tuple[Calendar, Busy]] = []
    for calendar in calendars:
        kept = KEPT.get((calendar.id, start, end)) if mask_uid is None else None
        if kept is None or not calendar.history_floor <= kept.revision <= calendar.revision:
            whole.append(calendar)
        elif kept.revision == calendar.revision:
            found[calendar.id] = kept
        else:
            behind.append((calendar, kept))
    for calendar, kept, changed in _changes(conn, behind, start, end):
        if None in changed or len(changed) > MAX_CHANGES or not all(id in kept.by_item for id in changed):
            whole.append(calendar)
            continue
        if not changed:  # a new revision, no item written (a PROPPATCH)
            busy = kept._replace(revision=calendar.revision)
        else:
            by_item = kept.by_item.copy()  # kept ones are never changed: others may be reading them
            removed = [period for id in changed for period in by_item.pop(id)]
            by_item.update((id, occurrences) for id, occurrences in changed.items() if occurrences)
            merged, ordered = logic.merge_changed(kept.merged, kept.ordered, removed,
                                                  [p for occurrences in changed.values() for p in occurrences],
                                                  start, end)
            busy = Busy(calendar.revision, by_item, ordered, merged)
        found[calendar.id] = busy
        KEPT.put((calendar.id, start, end), busy)
    if whole:
        statement = _SELECT_WHOLE if mask_uid is None else _SELECT_WHOLE_MASKED.bindparams(mask_uid=mask_uid)
        rows = conn.execute(statement, dict(ids=[c.id for c in whole], start=start, end=end))
        for cid, items, starts, ends, types in rows:
            occurrences: dict[int, list] = {}
            for id, s, e, t in zip(items or (), starts or (), ends or (), types or ""):
                occurrences.setdefault(id, []).append((s, e, t))
            by_item: ByItem = {id: tuple(periods) for id, periods in occurrences.items()}
            ordered = sorted(zip(starts or (), ends or (), types or ""))
            found[cid] = Busy(0, by_item, ordered, logic.merge(ordered, start, end))
        for calendar in whole:
            found[calendar.id] = found[calendar.id]._replace(revision=calendar.revision)
            if mask_uid is None:
                KEPT.put((calendar.id, start, end), found[calendar.id])
    return found


def _changes(conn: sa.Connection, behind: list[tuple[Calendar, Busy]], start: int, end: int):
    """(calendar, kept, {item id: its busy occurrences, None: () for something gone}) of each
    calendar kept at an earlier revision, in one statement."""
    if not behind:
        return []
    changed: dict[int, dict] = {calendar.id: {} for calendar, _ in behind}
    rows = conn.execute(_CHANGES, dict(ids=[c.id for c, _ in behind], revisions=[k.revision for _, k in behind],
                                       limit=MAX_CHANGES + 1, start=start, end=end))
    for cid, id, starts, ends, types in rows:
        changed[cid][id] = tuple(zip(starts or (), ends or (), types or ""))
    return [(calendar, kept, changed[calendar.id]) for calendar, kept in behind]
