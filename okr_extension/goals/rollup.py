"""Progress and tracking of key results and objectives, computed on every read.

Objective progress needs the whole subtree (children's key results), so it loads the
objectives and key results of the subtrees concerned in two queries and rolls up in memory,
each subtree once: organisations hold hundreds to a few thousand goals, not millions. The
dashboard's overview assesses a whole organisation from only the columns the roll-up, its sort
and its filters need (``assess_organisation``), so its cost per objective stays a few microseconds,
and after a check-in brings that up to date from the changed key results alone (``reassess_key_results``).
"""
from __future__ import annotations

import collections
import functools
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension.domain import progress as domain
from okr_extension.links import service as links_service
from okr_extension.tables import key_result, objective, organisation
from storage_plugin import clock


def _moment(day: date | None, fallback: datetime | None = None, end_of_day: bool = False) -> datetime | None:
    if day is None:
        return fallback
    moment = datetime.combine(day, time(), timezone.utc)
    return moment + timedelta(days=1) if end_of_day else moment


def key_result_period(created: datetime, due_date: date | None, parent) -> tuple[datetime, datetime | None]:
    """From the objective's start (else the key result's creation) to the end of its due day (its
    own, else the objective's; None: open)."""
    return _moment(parent.start_date, created), _moment(due_date or parent.due_date, end_of_day=True)


def key_result_progress(kr, task_progress: dict[str, float | None]) -> float | None:
    """Value mode from the current value; tasks mode from the linked tasks' weighted completion
    (None while no task is linked)."""
    if kr.progress_mode == "tasks":
        return task_progress.get(str(kr.id))
    return domain.key_result_progress(kr.kind, kr.start_value, kr.target_value, kr.current_value)


async def _task_progress(conn: AsyncConnection, key_results) -> dict[str, float | None]:
    return await links_service.task_progress(conn, [kr.id for kr in key_results if kr.progress_mode == "tasks"])


def tracking(progress: float | None, start: datetime, due: datetime | None, now: datetime,
             thresholds: domain.StatusThresholds) -> str | None:
    return tracking_at(progress, None if due is None else domain.expected_fraction(start, due, now), thresholds)


_STATUS_NAMES = {status: status.value for status in domain.Status}


def tracking_at(progress: float | None, expected: float | None, thresholds: domain.StatusThresholds) -> str | None:
    """``tracking`` from the fraction of the period elapsed (None: the period is open)."""
    if progress is not None and progress >= 1:
        return domain.Status.ACHIEVED.value
    if expected is None:
        return None
    return _STATUS_NAMES.get(domain.status_at(progress, expected, thresholds))


@dataclass
class Tree:
    """Everything needed to roll up the objectives of some organisations."""
    objectives: dict[uuid.UUID, object]
    key_results: dict[uuid.UUID, list]
    children: dict[uuid.UUID, list[uuid.UUID]]
    thresholds: dict[uuid.UUID, domain.StatusThresholds]
    task_progress: dict[str, float | None]
    # Each subtree is rolled up once, however many of its ancestors are presented.
    rolled_up: dict[uuid.UUID, float | None] = field(default_factory=dict)

    def progress(self, objective_id: uuid.UUID, path: set | None = None) -> float | None:
        value = self.rolled_up.get(objective_id, _NOT_YET)
        if value is not _NOT_YET:
            return value
        path = set() if path is None else path  # the objectives being rolled up above this one
        if objective_id in path:  # the schema forbids cycles; never loop if one slipped in
            return None
        path.add(objective_id)
        own = [(key_result_progress(kr, self.task_progress), kr.weight)
               for kr in self.key_results.get(objective_id, ())]
        children = [self.progress(child, path) for child in self.children.get(objective_id, ())]
        path.discard(objective_id)
        value = self.rolled_up[objective_id] = domain.objective_progress(own, children)
        return value


_NOT_YET = object()


_IDS = ARRAY(UUID(as_uuid=True))
# The objectives below the given ones, themselves included (UNION: a row met twice is not
# walked again, so even a cycle that slipped in ends).
_SUBTREES = sa.text("""
    WITH RECURSIVE down(id, parent_id, organisation_id) AS (
        SELECT id, parent_id, organisation_id FROM objective WHERE id = ANY(:roots)
        UNION
        SELECT o.id, o.parent_id, o.organisation_id FROM objective o JOIN down ON o.parent_id = down.id)
    SELECT id, parent_id, organisation_id FROM down""").bindparams(sa.bindparam("roots", type_=_IDS))


async def load_tree(conn: AsyncConnection, roots) -> Tree:
    """What rolling up the objective rows ``roots`` needs: their subtrees and those key results, in
    a fixed number of queries (one objective's page costs its subtree, not its organisation)."""
    rows = (await conn.execute(_SUBTREES, {"roots": [r.id for r in roots]})).all()
    key_results = (await conn.execute(sa.select(key_result).where(
        key_result.c.objective_id == sa.any_(sa.bindparam("ids", [row.id for row in rows], type_=_IDS))))).all()
    return await _tree(conn, rows, key_results)


async def _tree(conn: AsyncConnection, objective_rows, key_result_rows) -> Tree:
    objectives = {row.id: row for row in objective_rows}
    key_results: dict[uuid.UUID, list] = {}
    for kr in key_result_rows:
        key_results.setdefault(kr.objective_id, []).append(kr)
    children: dict[uuid.UUID, list[uuid.UUID]] = {}
    for row in objectives.values():
        if row.parent_id is not None and row.parent_id in objectives:
            children.setdefault(row.parent_id, []).append(row.id)
    organisation_ids = list({row.organisation_id for row in objectives.values()})
    return Tree(objectives, key_results, children, await thresholds_of(conn, organisation_ids),
                await _task_progress(conn, key_result_rows))


# What the overview shows, sorts and filters by, and what the roll-up reads: no descriptions,
# no timestamps it does not use.
OVERVIEW_COLUMNS = (objective.c.id, objective.c.parent_id, objective.c.organisation_id, objective.c.title,
                    objective.c.owner, objective.c.start_date, objective.c.due_date, objective.c.created)
ROLLUP_KEY_RESULT_COLUMNS = (key_result.c.id, key_result.c.objective_id, key_result.c.kind,
                             key_result.c.start_value, key_result.c.target_value, key_result.c.current_value,
                             key_result.c.weight, key_result.c.progress_mode)


@dataclass(frozen=True)
class Assessment:
    """An organisation's objectives assessed (``items``, in the order of ``rows``) and what they
    were rolled up from, so that a change to key results alone re-rolls only what it touches."""
    items: list[dict]
    rows: list                              # the objectives (``OVERVIEW_COLUMNS``)
    key_results: dict[uuid.UUID, tuple]     # (``ROLLUP_KEY_RESULT_COLUMNS``) by id
    tree: Tree


async def assess_organisation(conn: AsyncConnection, organisation_id: uuid.UUID) -> Assessment:
    """Every objective of the organisation with its progress and tracking (those of
    ``present_objectives``), carrying only ``OVERVIEW_COLUMNS``: two narrow queries and one pass."""
    rows = _plain(await conn.execute(sa.select(*OVERVIEW_COLUMNS)
                                     .where(objective.c.organisation_id == organisation_id)))
    key_results = await _key_results_of(conn, organisation_id)
    tree = await _tree(conn, rows, key_results)
    return Assessment(_assessed(tree, rows), rows, {kr.id: kr for kr in key_results}, tree)


async def reassess_key_results(conn: AsyncConnection, before: Assessment, organisation_id: uuid.UUID) -> Assessment:
    """``assess_organisation`` when nothing it reads has changed since ``before`` (made the same
    minute: tracking moves with the clock) but the organisation's key results. An objective's
    progress depends only on its own key results and on its children's progress, so only the
    objectives of the key results changed or added, and those above them, are rolled up again;
    the objectives, thresholds and task totals are ``before``'s. Only the changed key results are
    read (by version); a deletion, or a key result measured by tasks among them, makes it again."""
    rows = (await conn.execute(_CHANGED_KEY_RESULTS, {
        "org": organisation_id, "known": [kr.version for kr in before.key_results.values()]})).all()
    make = _record(_KEY_RESULT_FIELDS)._make
    changed = [make(row[1:]) for row in rows if row.id is not None]
    added = sum(1 for kr in changed if kr.id not in before.key_results)
    versions = changed + [before.key_results[kr.id] for kr in changed if kr.id in before.key_results]
    if (len(before.key_results) + added != rows[0].total  # some were deleted
            or any(kr.progress_mode == "tasks" for kr in versions)):  # task totals were read for the others only
        return await assess_organisation(conn, organisation_id)
    now_by_id = {**before.key_results, **{kr.id: kr for kr in changed}}
    key_results = now_by_id.values()
    touched = {kr.objective_id for kr in versions}
    stale: set[uuid.UUID] = set()
    for objective_id in touched:
        while objective_id in before.tree.objectives and objective_id not in stale:
            stale.add(objective_id)
            objective_id = before.tree.objectives[objective_id].parent_id
    grouped = {objective_id: krs for objective_id, krs in before.tree.key_results.items() if objective_id not in touched}
    for kr in key_results:
        if kr.objective_id in touched:
            grouped.setdefault(kr.objective_id, []).append(kr)
    tree = Tree(before.tree.objectives, grouped, before.tree.children, before.tree.thresholds,
                before.tree.task_progress, {oid: value for oid, value in before.tree.rolled_up.items() if oid not in stale})
    again = {item["id"]: item for item in _assessed(tree, [row for row in before.rows if row.id in stale])}
    return Assessment([again.get(item["id"], item) for item in before.items], before.rows, now_by_id, tree)


# A key result's version: every update gives its row a new xmin (as the overview's fingerprint has it).
_VERSION = "hashtextextended(CAST(key_result.id AS text) || ':' || CAST(key_result.xmin AS text), 0)"
_KEY_RESULT_FIELDS = (*(column.name for column in ROLLUP_KEY_RESULT_COLUMNS), "version")
# The organisation's key results whose version is not among ``known`` (changed or added), and how
# many it has (so deletions show), read in one statement: one snapshot of the table.
_CHANGED_KEY_RESULTS = sa.text(f"""
    WITH current AS (SELECT {", ".join(_KEY_RESULT_FIELDS[:-1])}, {_VERSION} AS version
                     FROM key_result WHERE organisation_id = :org)
    SELECT counted.total, changed.* FROM (SELECT count(*) AS total FROM current) AS counted
    LEFT JOIN (SELECT * FROM current WHERE version NOT IN (SELECT unnest(:known))) AS changed ON true
""").bindparams(sa.bindparam("known", type_=ARRAY(sa.BigInteger)), sa.bindparam("org", type_=UUID(as_uuid=True))).columns(
    sa.column("total", sa.BigInteger), *(sa.column(column.name, column.type) for column in ROLLUP_KEY_RESULT_COLUMNS),
    sa.column("version", sa.BigInteger))


async def _key_results_of(conn: AsyncConnection, organisation_id: uuid.UUID) -> list:
    return _plain(await conn.execute(sa.select(*ROLLUP_KEY_RESULT_COLUMNS, sa.literal_column(_VERSION).label("version"))
                                     .where(key_result.c.organisation_id == organisation_id)))


@functools.lru_cache(maxsize=16)
def _record(fields: tuple[str, ...]) -> type:
    return collections.namedtuple("Record", fields)


def _plain(result) -> list:
    """The rows as named tuples: the roll-up reads every field of thousands of rows, and a named
    tuple's fields are several times cheaper to read than a SQLAlchemy row's."""
    make = _record(tuple(result.keys()))._make
    return [make(row) for row in result]


async def thresholds_of(conn: AsyncConnection, organisation_ids: list[uuid.UUID]) -> dict:
    rows = await conn.execute(sa.select(organisation.c.id, organisation.c.at_risk_below,
                                        organisation.c.off_track_below)
                              .where(organisation.c.id.in_(organisation_ids)))
    return {row.id: domain.StatusThresholds(row.at_risk_below, row.off_track_below) for row in rows}


async def present_objectives(conn: AsyncConnection, rows) -> list[dict]:
    return _assessed(await load_tree(conn, rows), rows)


def _assessed(tree: Tree, rows) -> list[dict]:
    now = clock.now()
    # Objectives share a few periods: how much of each has elapsed is worked out once.
    elapsed: dict[tuple, float | None] = {}
    out = []
    for row in rows:
        value = tree.progress(row.id)
        period = (row.start_date, row.created if row.start_date is None else None, row.due_date)
        expected = elapsed.get(period, _NOT_YET)
        if expected is _NOT_YET:
            expected = elapsed[period] = None if row.due_date is None else domain.expected_fraction(
                _moment(row.start_date, row.created), _moment(row.due_date, end_of_day=True), now)
        item = dict(zip(row._fields, row))
        item["progress"] = value
        item["tracking"] = tracking_at(value, expected, tree.thresholds[row.organisation_id])
        out.append(item)
    return out


async def present_key_results(conn: AsyncConnection, rows) -> list[dict]:
    parents = {row.id: row for row in await conn.execute(
        sa.select(objective.c.id, objective.c.start_date, objective.c.due_date)
        .where(objective.c.id.in_({row.objective_id for row in rows})))}
    thresholds = await thresholds_of(conn, list({row.organisation_id for row in rows}))
    tasks = await _task_progress(conn, rows)
    now = clock.now()
    out = []
    for row in rows:
        parent = parents[row.objective_id]
        value = key_result_progress(row, tasks)
        start, due = key_result_period(row.created, row.due_date, parent)
        source = {"kpi": row.source_kpi_id, "aggregation": row.source_aggregation} if row.source_kpi_id else None
        out.append({**row._mapping, "source": source, "progress": value,
                    "tracking": tracking(value, start, due, now, thresholds[row.organisation_id])})
    return out
