"""KPI values per period, health against thresholds, and trend."""
from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from enum import Enum
from typing import Sequence

from dateutil.relativedelta import relativedelta

AGGREGATIONS = ("sum", "avg", "last", "min", "max")
PERIODS = ("daily", "weekly", "monthly", "quarterly", "yearly")


class Health(str, Enum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


def period_start(moment: datetime, period: str) -> datetime:
    """Start of the period holding ``moment`` (weeks start on Monday, ISO 8601)."""
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    if period == "quarterly":
        return day.replace(day=1, month=(day.month - 1) // 3 * 3 + 1)
    if period == "yearly":
        return day.replace(day=1, month=1)
    raise ValueError(f"unknown period {period!r}; expected one of {', '.join(PERIODS)}")


def next_period(start: datetime, period: str, count: int = 1) -> datetime:
    """The start of the period ``count`` periods after (negative: before) the one at ``start``."""
    step = {"daily": timedelta(days=1), "weekly": timedelta(weeks=1), "monthly": relativedelta(months=1),
            "quarterly": relativedelta(months=3), "yearly": relativedelta(years=1)}
    if period not in step:
        raise ValueError(f"unknown period {period!r}; expected one of {', '.join(PERIODS)}")
    return start + step[period] * count


def aggregate(values: Sequence[float], aggregation: str) -> float | None:
    """One period's value from its measurements, oldest first."""
    if not values:
        return None
    if aggregation == "sum":
        return float(sum(values))
    if aggregation == "avg":
        return float(statistics.fmean(values))
    if aggregation == "last":
        return float(values[-1])
    if aggregation == "min":
        return float(min(values))
    if aggregation == "max":
        return float(max(values))
    raise ValueError(f"unknown aggregation {aggregation!r}; expected one of {', '.join(AGGREGATIONS)}")


def health(value: float | None, warn: float, alarm: float, higher_is_better: bool) -> Health | None:
    """Green while the warn threshold is respected, yellow between warn and alarm, red past alarm."""
    if value is None:
        return None
    if higher_is_better:
        if alarm > warn:
            raise ValueError("with higher-is-better, the alarm threshold must not be above warn")
        return Health.GREEN if value >= warn else Health.YELLOW if value >= alarm else Health.RED
    if alarm < warn:
        raise ValueError("with lower-is-better, the alarm threshold must not be below warn")
    return Health.GREEN if value <= warn else Health.YELLOW if value <= alarm else Health.RED


def trend(period_values: Sequence[float | None]) -> float | None:
    """Least-squares slope per period over the last periods (None with fewer than two values)."""
    points = [(i, v) for i, v in enumerate(period_values) if v is not None]
    if len(points) < 2:
        return None
    xs, ys = zip(*points)
    return statistics.linear_regression(xs, ys).slope
