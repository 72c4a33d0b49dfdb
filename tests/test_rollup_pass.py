"""The organisation roll-up's one pass (``rollup._assessed``): what it works out once per period and
carries as named tuples is what the per-goal rules (``rollup.tracking``, ``domain.objective_progress``)
give for each objective on its own."""
import uuid
from collections import namedtuple
from datetime import date, datetime, timedelta, timezone

from okr_extension.domain import progress as domain
from okr_extension.goals import rollup
from storage_plugin import clock

Objective = namedtuple("Objective", "id parent_id organisation_id title start_date due_date created")
KeyResult = namedtuple("KeyResult", "id objective_id kind start_value target_value current_value weight progress_mode")
NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
ORG = uuid.uuid4()


def _tree(objectives, key_results) -> rollup.Tree:
    by_parent: dict = {}
    for row in objectives:
        if row.parent_id is not None:
            by_parent.setdefault(row.parent_id, []).append(row.id)
    grouped: dict = {}
    for kr in key_results:
        grouped.setdefault(kr.objective_id, []).append(kr)
    return rollup.Tree({row.id: row for row in objectives}, grouped, by_parent,
                       {ORG: domain.StatusThresholds(0.7, 0.5)}, {})


def test_each_objective_is_assessed_as_the_per_goal_rules_say():
    periods = [(date(2026, 1, 1), date(2026, 12, 31)), (None, date(2026, 9, 30)), (None, date(2026, 9, 30)),
               (date(2026, 5, 1), None), (date(2026, 7, 1), date(2026, 8, 1))]
    objectives, key_results = [], []
    for n in range(40):
        start, due = periods[n % len(periods)]
        # Undated starts fall back to each objective's own creation: same dates, different periods.
        created = NOW - timedelta(days=10 + 7 * n)
        parent = objectives[n // 3].id if n >= 3 else None
        objectives.append(Objective(uuid.uuid4(), parent, ORG, f"O{n}", start, due, created))
        key_results.append(KeyResult(uuid.uuid4(), objectives[-1].id, "increase_to", 0.0, 100.0,
                                     float(n * 7 % 130), 1.0 + n % 2, "value"))
    with clock.frozen(NOW):
        assessed = rollup._assessed(_tree(objectives, key_results), objectives)
    fresh = _tree(objectives, key_results)
    trackings = set()
    for row, item in zip(objectives, assessed):
        own = [(domain.key_result_progress(kr.kind, kr.start_value, kr.target_value, kr.current_value), kr.weight)
               for kr in key_results if kr.objective_id == row.id]
        children = [fresh.progress(child.id) for child in objectives if child.parent_id == row.id]
        assert item["progress"] == domain.objective_progress(own, children)
        due = None if row.due_date is None else datetime.combine(row.due_date, datetime.min.time(), timezone.utc) + timedelta(days=1)
        start = row.created if row.start_date is None else datetime.combine(row.start_date, datetime.min.time(), timezone.utc)
        assert item["tracking"] == rollup.tracking(item["progress"], start, due, NOW, domain.StatusThresholds(0.7, 0.5))
        assert {key: item[key] for key in row._fields} == row._asdict()
        trackings.add(item["tracking"])
    assert len(trackings) >= 3  # the data reaches several statuses, not one


def test_a_cycle_that_slipped_in_ends_the_roll_up():
    a, b = uuid.uuid4(), uuid.uuid4()
    objectives = [Objective(a, b, ORG, "A", None, None, NOW), Objective(b, a, ORG, "B", None, None, NOW)]
    key_results = [KeyResult(uuid.uuid4(), a, "increase_to", 0.0, 10.0, 5.0, 1.0, "value")]
    with clock.frozen(NOW):
        assessed = rollup._assessed(_tree(objectives, key_results), objectives)
    # A counts its key result and B; B, rolled up below A, meets A again and stops there: nothing to measure.
    assert [item["progress"] for item in assessed] == [0.5, None]
