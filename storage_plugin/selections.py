"""Which members a calendar-query selects, kept per process and brought up to date from the
calendar's change history.

Selecting the members of a dense week reads the occurrence index and every selected item's row
(a few milliseconds for a thousand items), and most of it is the same as last time: a calendar
renamed selects the same members, an event edited changes one of them. So the members a query
selected (with their row versions, ``storage_plugin.rendered``) are kept by the calendar, the
query's window and parameters, and the calendar's revision they were read at. Asked again at a
later revision, only the members changed since (``item.revision`` and ``tombstone.revision``,
the history sync-collection answers from) are selected again and merged in; when the history
was pruned past the kept revision, or too much changed, the query runs whole.

Every write of a member gives it a new revision (``queries.UPSERT_ITEMS``, ``MOVE_ITEM``), so
members not in the history since are as they were. The merge orders by href in Python, which
is the database's order only where its collation sorts by code point (C, POSIX, C.UTF-8): the
first use asks the database to sort probe strings and keeps nothing if it sorts otherwise.
"""
from __future__ import annotations

import bisect
import threading
from typing import NamedTuple, Optional

from storage_plugin import queries
from storage_plugin.kept import Kept

# More changes than this since the kept revision: the whole query is cheaper than the merge.
MAX_CHANGES = 200


class Member(NamedTuple):
    """A row of ``queries.RENDERED_COLUMNS`` and ``exact``."""
    href: str
    vevent_bound: int
    id: int
    version: int
    exact: bool


class _Selected(NamedTuple):
    revision: int
    members: list[Member]  # in href order


# Bounded by an estimate of their memory: a member (its tuple, its list slot, href and integers) takes
# about 240 bytes.
KEPT: Kept[_Selected] = Kept(16 * 1024 * 1024, lambda selected: 64 + 240 * len(selected.members))

# Strings whose order differs between code point and linguistic collations.
_PROBES = ["a", "B", "b", "A", "ä", "z", "Z", "_x", "-x", "1", "10", "9", "é", "e", "f", "~", " ", "ß", "ss", "😀", "ｚ"]
_CODE_POINT_ORDER: dict[object, bool] = {}
_probe_lock = threading.Lock()


def _sorts_by_code_point(conn) -> bool:
    """Whether the database orders ``item.href`` as Python orders strings (asked once per engine)."""
    engine = conn.engine
    with _probe_lock:
        known = _CODE_POINT_ORDER.get(engine)
    if known is None:
        ordered = conn.execute(queries.SORTED_LIKE_HREF, {"probes": _PROBES}).scalars().all()
        known = ordered == sorted(_PROBES)
        with _probe_lock:
            _CODE_POINT_ORDER[engine] = known
    return known


def select(conn, collection, window: str, params: dict) -> list[Member]:
    """The members ``queries.items_matching`` (with ``RENDERED_COLUMNS``, run with ``params``)
    selects from ``collection`` in ``window``, in href order, kept or brought up to date. Only
    selections with every member exact are kept."""
    key = (collection.id, window, tuple(sorted(params.items())))
    revision, floor = collection.revision, collection.history_floor
    kept = KEPT.get(key)
    members = None
    if kept is not None and floor <= kept.revision <= revision and _sorts_by_code_point(conn):
        members = kept.members if kept.revision == revision else _brought_up_to_date(
            conn, collection, window, params, kept)
    if members is None:
        members = [Member(*row) for row in conn.execute(queries.items_matching(window, (), False, True), params)]
    if all(member.exact for member in members):
        KEPT.put(key, _Selected(revision, members))
    return members


def _brought_up_to_date(conn, collection, window: str, params: dict, kept: _Selected) -> Optional[list[Member]]:
    """``kept.members`` with the members changed since ``kept.revision`` selected again (one
    statement), or None when too many changed."""
    changed, again = set(), []
    for change, *member in conn.execute(queries.members_changed_since(window),
                                        {**params, "since": kept.revision, "limit": MAX_CHANGES + 1}):
        if change:
            changed.add(member[0])
        else:
            again.append(Member(*member))
    if len(changed) > MAX_CHANGES:
        return None
    if not changed:
        return kept.members
    members = [member for member in kept.members if member.href not in changed]
    hrefs = [member.href for member in members]
    for member in again:
        at = bisect.bisect_left(hrefs, member.href)
        hrefs.insert(at, member.href)
        members.insert(at, member)
    return members
