"""Goal arithmetic: key result and objective progress, status against time, KPI health."""
from datetime import datetime, timezone

import pytest

from okr_extension.domain import kpi, progress
from okr_extension.domain.progress import Status, StatusThresholds

UTC = timezone.utc
JAN = datetime(2026, 1, 1, tzinfo=UTC)
APR = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.mark.parametrize("kind, start, target, current, expected", [
    ("increase_to", 0, 200, 50, 0.25),
    ("increase_to", 100, 200, 250, 1.5),      # overshoot is kept
    ("increase_to", 100, 200, 80, 0.0),       # below the start is no progress, not negative
    ("decrease_to", 40, 10, 25, 0.5),
    ("decrease_to", 40, 10, 0, 40 / 30),      # overshoot of a decrease
    ("decrease_to", 40, 10, 55, 0.0),
    ("stay_above", 0, 99.5, 99.5, 1.0),
    ("stay_above", 0, 99.5, 99.4, 0.0),
    ("stay_below", 0, 300, 300, 1.0),
    ("stay_below", 0, 300, 301, 0.0),
    ("milestone", 0, 1, 0, 0.0),
    ("milestone", 0, 1, 1, 1.0),
])
def test_key_result_progress_by_kind(kind, start, target, current, expected):
    assert progress.key_result_progress(kind, start, target, current) == pytest.approx(expected)


def test_key_result_progress_refuses_undefined_cases():
    with pytest.raises(ValueError, match="target equals start"):
        progress.key_result_progress("increase_to", 5, 5, 7)
    with pytest.raises(ValueError, match="unknown key result kind"):
        progress.key_result_progress("double_it", 0, 1, 1)


def test_objective_progress_is_the_weighted_mean_with_children_counting_once():
    assert progress.objective_progress([(0.5, 1), (1.0, 3)]) == pytest.approx(0.875)
    assert progress.objective_progress([(0.5, 1)], children=[1.0]) == pytest.approx(0.75)
    assert progress.objective_progress([(0.2, 0), (0.6, 2)]) == pytest.approx(0.6)  # weight 0 ignored
    assert progress.objective_progress([], children=[None, 0.4]) == pytest.approx(0.4)


def test_an_objective_without_key_results_has_no_progress():
    assert progress.objective_progress([]) is None
    assert progress.status(None, JAN, APR, JAN) is None


TEN_DAYS = (JAN, datetime(2026, 1, 11, tzinfo=UTC))
HALF_TIME = datetime(2026, 1, 6, tzinfo=UTC)


@pytest.mark.parametrize("value, now, expected", [
    (1.0, JAN, Status.ACHIEVED),
    (0.0, JAN, Status.ON_TRACK),                      # nothing expected yet
    (0.35, HALF_TIME, Status.ON_TRACK),                # pace exactly 0.7
    (0.34, HALF_TIME, Status.AT_RISK),
    (0.25, HALF_TIME, Status.AT_RISK),                 # pace exactly 0.5
    (0.24, HALF_TIME, Status.OFF_TRACK),
    (0.9, datetime(2026, 6, 1, tzinfo=UTC), Status.ON_TRACK),  # overdue: pace against 100%
    (0.6, datetime(2026, 6, 1, tzinfo=UTC), Status.AT_RISK),
])
def test_status_from_pace(value, now, expected):
    assert progress.status(value, *TEN_DAYS, now) is expected


def test_zero_length_period_is_due_all_at_once():
    assert progress.status(0.0, APR, APR, datetime(2026, 3, 31, tzinfo=UTC)) is Status.ON_TRACK
    assert progress.status(0.0, APR, APR, APR) is Status.OFF_TRACK
    assert progress.status(1.0, APR, APR, APR) is Status.ACHIEVED


def test_thresholds_are_configurable_and_checked():
    strict = StatusThresholds(at_risk_below=0.9, off_track_below=0.8)
    assert progress.status(0.42, *TEN_DAYS, HALF_TIME, strict) is Status.AT_RISK
    assert progress.status(0.42, *TEN_DAYS, HALF_TIME) is Status.ON_TRACK
    with pytest.raises(ValueError):
        StatusThresholds(at_risk_below=0.4, off_track_below=0.6)


@pytest.mark.parametrize("period, start", [
    ("daily", datetime(2026, 11, 18, tzinfo=UTC)),
    ("weekly", datetime(2026, 11, 16, tzinfo=UTC)),     # Monday
    ("monthly", datetime(2026, 11, 1, tzinfo=UTC)),
    ("quarterly", datetime(2026, 10, 1, tzinfo=UTC)),
    ("yearly", datetime(2026, 1, 1, tzinfo=UTC)),
])
def test_period_start(period, start):
    assert kpi.period_start(datetime(2026, 11, 18, 15, 30, tzinfo=UTC), period) == start


def test_next_period_steps_calendar_months():
    assert kpi.next_period(datetime(2026, 1, 31, tzinfo=UTC), "monthly") == datetime(2026, 2, 28, tzinfo=UTC)
    assert kpi.next_period(datetime(2026, 10, 1, tzinfo=UTC), "quarterly") == datetime(2027, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="unknown period"):
        kpi.next_period(JAN, "fortnightly")


@pytest.mark.parametrize("aggregation, expected", [
    ("sum", 12.0), ("avg", 3.0), ("last", 5.0), ("min", 1.0), ("max", 5.0)])
def test_aggregations(aggregation, expected):
    assert kpi.aggregate([4, 2, 1, 5], aggregation) == expected
    assert kpi.aggregate([], aggregation) is None


@pytest.mark.parametrize("value, higher_is_better, expected", [
    (95, True, kpi.Health.GREEN), (90, True, kpi.Health.GREEN), (85, True, kpi.Health.YELLOW),
    (80, True, kpi.Health.YELLOW), (79, True, kpi.Health.RED),
    (95, False, kpi.Health.RED), (90, False, kpi.Health.YELLOW), (80, False, kpi.Health.GREEN),
])
def test_health_by_direction(value, higher_is_better, expected):
    warn, alarm = (90, 80) if higher_is_better else (80, 90)
    assert kpi.health(value, warn, alarm, higher_is_better) is expected


def test_health_refuses_thresholds_in_the_wrong_order():
    with pytest.raises(ValueError):
        kpi.health(1, warn=80, alarm=90, higher_is_better=True)
    assert kpi.health(None, 80, 90, False) is None


def test_trend_is_the_slope_per_period_skipping_empty_periods():
    assert kpi.trend([10, 12, None, 16]) == pytest.approx(2.0)
    assert kpi.trend([5, None]) is None
