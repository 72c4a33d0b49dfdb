"""Progress of key results and objectives, and their status against the time elapsed.

Progress is a number from 0 up (1 = done; an overshoot of an ``increase_to`` or
``decrease_to`` result may go above 1). ``None`` means "nothing to measure":
an objective without key results or children.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Iterable

KINDS = ("increase_to", "decrease_to", "stay_above", "stay_below", "milestone")


class Status(str, Enum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    OFF_TRACK = "off_track"
    ACHIEVED = "achieved"


@dataclass(frozen=True)
class StatusThresholds:
    """Fractions of the expected pace below which a goal is at risk / off track
    (Tability's convention: green at 70% of the expected pace or better)."""
    at_risk_below: float = 0.7
    off_track_below: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.off_track_below <= self.at_risk_below <= 1:
            raise ValueError("thresholds must satisfy 0 <= off_track_below <= at_risk_below <= 1")


def key_result_progress(kind: str, start: float, target: float, current: float) -> float:
    """0..1 (or above 1 on overshoot) for value-measured key results.

    ``stay_above`` / ``stay_below`` / ``milestone`` are met or not: 0 or 1.
    """
    if kind == "increase_to" or kind == "decrease_to":
        if target == start:
            raise ValueError("target equals start: progress is undefined")
        return max(0.0, (current - start) / (target - start))
    if kind == "stay_above":
        return 1.0 if current >= target else 0.0
    if kind == "stay_below":
        return 1.0 if current <= target else 0.0
    if kind == "milestone":
        return 1.0 if current >= target else 0.0
    raise ValueError(f"unknown key result kind {kind!r}; expected one of {', '.join(KINDS)}")


def weighted_mean(parts: Iterable[tuple[float | None, float]]) -> float | None:
    """Mean of (progress, weight) pairs, ignoring unmeasurable parts and zero weights."""
    total = weight_sum = 0.0
    for progress, weight in parts:
        if progress is None or weight <= 0:
            continue
        total += progress * weight
        weight_sum += weight
    return total / weight_sum if weight_sum else None


def objective_progress(key_results: Iterable[tuple[float, float]],
                       children: Iterable[float | None] = ()) -> float | None:
    """Weighted mean of the objective's own key results (progress, weight) and of its
    child objectives, each child counting with weight 1."""
    return weighted_mean([*key_results, *((child, 1.0) for child in children)])


def expected_fraction(start: datetime, due: datetime, now: datetime) -> float:
    """How much of the period has elapsed, 0..1. A zero-length period is all due at once."""
    if due <= start:
        return 1.0 if now >= due else 0.0
    return min(1.0, max(0.0, (now - start) / (due - start)))


def status(progress: float | None, start: datetime, due: datetime, now: datetime,
           thresholds: StatusThresholds = StatusThresholds()) -> Status | None:
    """On track / at risk / off track / achieved, from progress against the time elapsed."""
    if progress is None:
        return None
    return status_at(progress, expected_fraction(start, due, now), thresholds)


def status_at(progress: float | None, expected: float, thresholds: StatusThresholds = StatusThresholds()) -> Status | None:
    """``status`` once the fraction of the period elapsed is known (a roll-up computes it once per
    period, not once per goal)."""
    if progress is None:
        return None
    if progress >= 1:
        return Status.ACHIEVED
    if expected == 0:
        return Status.ON_TRACK  # nothing was expected yet
    pace = progress / expected
    if pace < thresholds.off_track_below:
        return Status.OFF_TRACK
    if pace < thresholds.at_risk_below:
        return Status.AT_RISK
    return Status.ON_TRACK
