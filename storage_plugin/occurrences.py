"""Expand an item into the occurrence spans stored in ``item_occurrence``.

Radicale's own visitor (``radicale.item.filter.visit_time_ranges``) decides what
a span is for every RFC 4791 §9.9 case (DTEND, DURATION, all-day, VTODO with DUE
only / DTSTART only / neither, overrides, EXDATE), so an indexed query answers
exactly what stock Radicale's filter would. We only bound the expansion.
"""
from __future__ import annotations

import bisect
import itertools
import math
import time
from dataclasses import dataclass
from datetime import datetime

from radicale.item import filter as radicale_filter

TIMESTAMP_MIN = radicale_filter.TIMESTAMP_MIN
TIMESTAMP_MAX = radicale_filter.TIMESTAMP_MAX


@dataclass(frozen=True)
class Expansion:
    spans: list[tuple[int, int]]
    # None when ``spans`` holds every occurrence; otherwise occurrences
    # starting at or after this POSIX time may be missing from ``spans``.
    expanded_until: int | None


def _posix(value: datetime, rounding) -> int:
    return max(TIMESTAMP_MIN, min(TIMESTAMP_MAX, rounding(value.timestamp())))


def expand(vobject_item, component_name: str, horizon_seconds: int,
           max_occurrences: int, now: float | None = None) -> Expansion:
    """Occurrence spans of ``vobject_item`` up to ``now + horizon_seconds``.

    At most ``max_occurrences`` spans are kept; a longer series is cut and
    ``expanded_until`` tells where, so queries beyond it fall back to parsing.
    """
    if component_name not in ("VEVENT", "VTODO", "VJOURNAL"):
        return Expansion([], None)
    horizon = int((time.time() if now is None else now) + horizon_seconds)
    spans: list[tuple[int, int]] = []
    empty: list[tuple[int, int]] = []
    cut: int | None = None

    def range_fn(start: datetime, end: datetime, is_recurrence: bool) -> bool:
        nonlocal cut
        span_start, span_end = _posix(start, math.floor), _posix(end, math.ceil)
        # Overrides (is_recurrence) come first and are few: always keep them.
        # Master occurrences arrive in time order, so the first one past the
        # horizon (or the cap) ends the expansion.
        if not is_recurrence and (span_start >= horizon or len(spans) >= max_occurrences):
            cut = span_start
            return True
        if span_end <= span_start:
            empty.append((span_start, span_end))
        else:
            spans.append((span_start, span_end))
        return False

    def infinity_fn(start: datetime) -> bool:
        return False  # keep visiting: range_fn stops at the horizon

    radicale_filter.visit_time_ranges(vobject_item, component_name, range_fn, infinity_fn)
    uncovered = list(_uncovered(empty, spans))
    if uncovered:
        cut = min(uncovered + ([cut] if cut is not None else []))
    return Expansion(spans, cut)


def _uncovered(empty: list[tuple[int, int]], spans: list[tuple[int, int]]):
    """Starts of the empty or reversed ranges that Radicale may match alone.

    Radicale matches a range (s, e) when ``window_start < e and s < window_end``.
    With e <= s (a VEVENT whose DTEND is at or before its DTSTART) that means the
    window surrounds the range, which no overlap with a stored span can express,
    so such a range is not stored. It is harmless when a stored span [a, b) with
    a <= s and e <= b matches every window it matches (VTODO rows of RFC 4791
    §9.9 add such ranges next to proper ones); any other leaves its windows to
    Radicale's parser, as ``expanded_until`` does past the horizon.
    """
    if not empty:
        return
    ordered = sorted(spans)
    starts = [a for a, _ in ordered]
    reach = list(itertools.accumulate((b for _, b in ordered), max))
    for s, e in empty:
        i = bisect.bisect_right(starts, s)
        if i == 0 or reach[i - 1] < e:
            yield s
