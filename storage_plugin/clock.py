"""The server's one source of the current time.

Everything that depends on "now" (the occurrence-index horizon, goal tracking, KPI
periods, feed windows and schedules) asks this module, never the system clock
directly, so tests can pin the time with ``frozen`` and no expectation depends on
the day the suite runs.
"""
from __future__ import annotations

import contextlib
from datetime import date, datetime, timezone
from typing import Callable, Iterator


def _system() -> datetime:
    return datetime.now(timezone.utc)


_source: Callable[[], datetime] = _system


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return _source()


def timestamp() -> float:
    return now().timestamp()


def today() -> date:
    return now().date()


@contextlib.contextmanager
def frozen(at: datetime) -> Iterator[datetime]:
    """Pin ``now()`` to ``at`` (aware) for the duration of the block, in every thread."""
    if at.tzinfo is None:
        raise ValueError("frozen() takes a timezone-aware datetime")
    global _source
    previous = _source
    _source = lambda: at
    try:
        yield at
    finally:
        _source = previous
