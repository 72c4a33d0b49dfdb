"""Which stored items a calendar feed includes: SQL conditions on the ``item`` table.

Everything is answered from indexed columns (component, the occurrence index),
so selecting from a large calendar parses nothing. Each option contributes a
named condition from ``queries.SELECTION_CONDITIONS`` and its parameters.

Extension point: a goal filter adds a condition here (e.g. "the item is linked
to objective / key result / project X", joining the link table) and its
parameters; if links can change without a new revision of the calendar, their
change marker must join the cache key in ``publishing.state_key`` too.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional

from okr_extension.feeds import queries
from okr_extension.feeds.options import FeedOptions
from storage_plugin.occurrences import TIMESTAMP_MAX, TIMESTAMP_MIN

DAY = 86400


@dataclass(frozen=True)
class Window:
    # The day the window is counted from (UTC midnight): the feed changes when it does.
    anchor: datetime
    start: int  # POSIX seconds, inclusive
    end: int  # exclusive


def window_for(options: FeedOptions, now: datetime) -> Optional[Window]:
    if not options.windowed:
        return None
    anchor = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    midnight = int(anchor.timestamp())
    start = TIMESTAMP_MIN if options.past_days is None else midnight - options.past_days * DAY
    end = TIMESTAMP_MAX if options.future_days is None else midnight + (options.future_days + 1) * DAY
    return Window(anchor, start, end)


def conditions_for(collection_id: int, options: FeedOptions,
                   window: Optional[Window]) -> tuple[list[str], dict[str, Any]]:
    names, params = ["components"], {"cid": collection_id, "components": list(options.components)}
    if window is not None:
        names.append("window")
        params.update(window_start=window.start, window_end=window.end)
    if options.goal is not None:
        names.append("goal")
        params.update(goal_kind=options.goal[0], goal_id=options.goal[1])
    return names, params


async def load_items(conn, collection_id: int, options: FeedOptions, window: Optional[Window]) -> list:
    """Rows (uid, component, text) of the items the feed includes, ordered by UID."""
    names, params = conditions_for(collection_id, options, window)
    return (await conn.execute(queries.select_items(names), params)).all()
