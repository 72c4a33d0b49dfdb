"""Expand an item into the occurrence spans stored in ``item_occurrence``.

Radicale's own visitor (``radicale.item.filter.visit_time_ranges``) decides what
a span is for every RFC 4791 §9.9 case (DTEND, DURATION, all-day, VTODO with DUE
only / DTSTART only / neither, overrides, EXDATE), so an indexed query answers
exactly what stock Radicale's filter would. We only bound the expansion: by the
horizon, by a number of occurrences and by the caller's time budget.

Radicale matches a visited range (s, e) against a window [ws, we) when
``ws < e and s < we``. For a proper range (s < e) that is the overlap of
``[s, e)`` and ``[ws, we)``. An empty or reversed range (e <= s: a DTEND at or
before DTSTART, or an end in a daylight-saving gap that maps to an instant
before the start) matches only windows that surround it, ``ws <= e - 1`` and
``s + 1 <= we``, that is when ``[e - 1, s + 1)`` is contained in the window.
Such a range is stored as that range with ``surrounds`` set (see ``index_rows``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Optional

from radicale.item import filter as radicale_filter

from storage_plugin import clock
from storage_plugin.bounds import budget

TIMESTAMP_MIN = radicale_filter.TIMESTAMP_MIN
TIMESTAMP_MAX = radicale_filter.TIMESTAMP_MAX


@dataclass(frozen=True)
class Expansion:
    # (start, end) as POSIX seconds, as Radicale visits them; end <= start for
    # the ranges that only a surrounding window matches.
    spans: list[tuple[int, int]]
    # None when ``spans`` holds every occurrence; otherwise occurrences
    # starting at or after this POSIX time may be missing from ``spans``.
    expanded_until: int | None
    # The free-busy type of each span (scheduling.freebusy: B, T or F), from the
    # component (master or override) it belongs to.
    fbtypes: list[str]


def _posix(value: datetime, rounding) -> int:
    return max(TIMESTAMP_MIN, min(TIMESTAMP_MAX, rounding(value.timestamp())))


FREE = "F"


def expand(vobject_item, component_name: str, horizon_seconds: int,
           max_occurrences: int, now: float | None = None,
           fbtype_of: Optional[Callable[[object], str]] = None) -> Expansion:
    """Occurrence spans of ``vobject_item`` up to ``now + horizon_seconds``.

    At most ``max_occurrences`` spans are kept; a longer series is cut and
    ``expanded_until`` tells where, so queries beyond it fall back to parsing.
    ``fbtype_of(component)`` gives the free-busy type of each VEVENT's spans
    (without it, and for tasks and journals, every span is free).
    """
    if component_name not in ("VEVENT", "VTODO", "VJOURNAL"):
        return Expansion([], None, [])
    horizon = int((clock.timestamp() if now is None else now) + horizon_seconds)
    spans: list[tuple[int, int]] = []
    fbtypes: list[str] = []
    current = [FREE]  # the type of the component being visited
    cut: int | None = None

    def component_fn(component) -> None:
        current[0] = fbtype_of(component) if fbtype_of is not None else FREE

    def range_fn(start: datetime, end: datetime, is_recurrence: bool) -> bool:
        nonlocal cut
        budget.check()  # the caller's deadline (storage_plugin.bounds.budget), if any
        # Window bounds are whole seconds: ws < end <=> ws < ceil(end), start < we <=> floor(start) < we.
        span_start, span_end = _posix(start, math.floor), _posix(end, math.ceil)
        # Overrides (is_recurrence) come first and are few: always keep them.
        # Master occurrences arrive in time order, so the first one past the
        # horizon (or the cap) ends the expansion.
        if not is_recurrence and (span_start >= horizon or len(spans) >= max_occurrences):
            cut = span_start
            return True
        spans.append((span_start, span_end))
        fbtypes.append(current[0])
        return False

    def infinity_fn(start: datetime) -> bool:
        return False  # keep visiting: range_fn stops at the horizon

    radicale_filter.visit_time_ranges(vobject_item, component_name, range_fn, infinity_fn,
                                      component_fn if component_name == "VEVENT" else None)
    return Expansion(spans, cut, fbtypes)


def index_rows(spans: list[tuple[int, int]]) -> tuple[list[int], list[int], list[bool]]:
    """Columns (lower, upper, surrounds) of the ``item_occurrence`` rows for ``spans``.

    A proper span is stored as itself and matched by overlap (``&&``); an empty or
    reversed one (e <= s) as ``[e - 1, s + 1)`` with ``surrounds`` set, matched by
    containment in the window (``<@``), which is Radicale's ``ws < e and s < we``.
    """
    lowers, uppers, surrounds = [], [], []
    for s, e in spans:
        if s < e:
            lowers.append(s)
            uppers.append(e)
            surrounds.append(False)
        else:
            lowers.append(e - 1)
            uppers.append(s + 1)
            surrounds.append(True)
    return lowers, uppers, surrounds
