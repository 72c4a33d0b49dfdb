"""The organisation overview: the objective tree with progress, tracking, owner, due date and the
confidence of the latest check-in, filtered and sorted by risk.

A page shows a bounded part of the tree whatever the organisation's size: ``PAGE_ROOTS`` top-level
objectives (worst first) with their aligned objectives down to ``SHOWN_DEPTH`` levels and at most
``SHOWN_CHILDREN`` per objective; what is left out is counted on its parent's row, which links to
the objective's own page. Filters match across every objective (a flat list, paged the same way).
Queries are a fixed number (the rights check, the organisation, the roll-up's few, members,
squads, the confidences of the rows shown); progress and tracking are the API's roll-up
(``rollup.assess_organisation``), not a second copy.
"""
from __future__ import annotations

import dataclasses
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension import access
from okr_extension.goals import rollup
from okr_extension.goals.crud import UNDATED
from okr_extension.sharing import service as sharing_service
from okr_extension.web.render import Paged
from okr_extension.tables import check_in, key_result, membership, organisation
from storage_plugin import clock

# Worst first: what needs the lead's attention on Monday comes at the top.
RISK_ORDER = {"off_track": 0, "at_risk": 1, "on_track": 2, None: 3, "achieved": 4}
TRACKING_LABELS = {"off_track": "Off track", "at_risk": "At risk", "on_track": "On track",
                   "achieved": "Achieved", None: "No status"}


@dataclass
class Node:
    objective: dict
    confidence: float | None = None
    hidden: int = 0  # aligned objectives below this one that the page leaves out


@dataclass
class Overview(Paged):
    organisation: object
    role: str
    members: list[str]
    squads: list                  # (id, name, members) of the organisation's squads, for the filter
    rows: list[tuple[Node, int]]  # this page of the tree in reading order, with each one's depth
    filtered: bool                # (filtered: the matching objectives, flat)
    count: int                    # objectives in the organisation
    matching: int                 # top-level objectives (or, filtered, matches) over all pages
    offset: int
    limit: int

    def total_rows(self) -> int:
        return self.matching


def risk_key(item: dict) -> tuple:
    return (RISK_ORDER.get(item["tracking"], 3), item["due_date"] or UNDATED, item["title"].lower(), str(item["id"]))


async def my_organisations(conn: AsyncConnection, user: str) -> list:
    return (await conn.execute(
        sa.select(organisation.c.id, organisation.c.name, membership.c.role)
        .join(membership, membership.c.organisation_id == organisation.c.id)
        
        .where(access.memberships_of(user)).order_by(organisation.c.name, organisation.c.id))).all()


async def organisation_name(conn: AsyncConnection, organisation_id: uuid.UUID) -> str | None:
    return (await conn.execute(sa.select(organisation.c.name).where(organisation.c.id == organisation_id))).scalar()


async def latest_confidence(conn: AsyncConnection, column: sa.Column, where: sa.ColumnElement) -> dict:
    """Confidence of the newest check-in per objective or key result (``column`` says which) among
    the key results ``where`` selects (one query, whatever their number)."""
    newest_first = sa.func.row_number().over(partition_by=column,
                                             order_by=(check_in.c.created.desc(), check_in.c.id.desc()))
    ranked = (sa.select(column.label("owner_id"), check_in.c.confidence, newest_first.label("rank"))
              .select_from(check_in.join(key_result, key_result.c.id == check_in.c.key_result_id))
              .where(where).subquery())
    rows = (await conn.execute(sa.select(ranked.c.owner_id, ranked.c.confidence).where(ranked.c.rank == 1))).all()
    return {row.owner_id: row.confidence for row in rows}


# What one page shows: bounded, so its rendering and its bytes do not grow with the organisation.
PAGE_ROOTS = 25      # top-level objectives (or, filtered, matching objectives) per page
SHOWN_DEPTH = 2      # levels of aligned objectives under each top-level one
SHOWN_CHILDREN = 10  # aligned objectives shown under one objective (worst first)


@dataclass(frozen=True)
class Snapshot:
    """An organisation's objectives rolled up and sorted by risk (what every page of its overview
    and every filter reads)."""
    items: dict[uuid.UUID, dict]              # assessed objectives (``rollup.assess_organisation``)
    ordered: list[uuid.UUID]                  # all of them, worst first (filters keep this order)
    roots: list[uuid.UUID]                    # top-level ones, worst first
    children: dict[uuid.UUID, list[uuid.UUID]]  # aligned ones, worst first
    descendants: dict[uuid.UUID, int]         # objectives below each (reachable from a root)


def _rows(key: str, rows: str) -> str:
    """How many rows and an order-free sum of a 64-bit hash of each row's key and xmin (which
    every insert or update changes): any change, addition or deletion changes it."""
    return f"(SELECT count(*) || ':' || coalesce(sum(hashtextextended({key} || ':' || CAST(xmin AS text), 0)), 0)" \
           f" FROM {rows})"


# Everything the roll-up reads, fingerprinted in the database (well under a millisecond for
# thousands of objectives): the organisation's objectives and key results (check-ins and KPI
# sources write the key result), its thresholds, the linked tasks' totals of its key results, and
# who counts as its members for those tasks.
_FINGERPRINT = sa.text("SELECT ARRAY[" + ", ".join((
    _rows("CAST(id AS text)", "objective WHERE organisation_id = :org"),
    _rows("CAST(id AS text)", "key_result WHERE organisation_id = :org"),
    _rows("CAST(id AS text)", "organisation WHERE id = :org"),
    _rows("target_id || ':' || owner",
          "link_total WHERE target_kind = 'key_result' AND target_id IN"
          " (SELECT CAST(id AS text) FROM key_result WHERE organisation_id = :org)"),
    _rows("account", "membership WHERE organisation_id = :org"),
    _rows("account", "team_account WHERE organisation_id = :org"))) + "]")
KEY_RESULTS_PART = 1  # the fingerprint of the key results: a check-in changes it alone
# Per process, the snapshots of the organisations looked at last. A request reuses one only while
# the database's fingerprint and the minute (tracking moves with time) are the same, so every
# process shows what a fresh roll-up would, at most a minute behind the clock's own effect. When
# only the key results changed that minute (a check-in), the roll-up is brought up to date from
# the kept one (``rollup.reassess_key_results``) instead of being made again.
_SNAPSHOTS: OrderedDict[uuid.UUID, tuple[tuple, rollup.Assessment, Snapshot]] = OrderedDict()
SNAPSHOTS_KEPT = 64


def _only_key_results_differ(kept: tuple, key: tuple) -> bool:
    (kept_parts, kept_minute), (parts, minute) = kept, key
    return kept_minute == minute and all(
        old == new for part, (old, new) in enumerate(zip(kept_parts, parts)) if part != KEY_RESULTS_PART)


async def snapshot(conn: AsyncConnection, organisation_id: uuid.UUID) -> Snapshot:
    key = (tuple((await conn.execute(_FINGERPRINT, {"org": organisation_id})).scalar()),
           clock.now().replace(second=0, microsecond=0))
    kept = _SNAPSHOTS.get(organisation_id)
    if kept and kept[0] == key:
        _SNAPSHOTS.move_to_end(organisation_id)
        return kept[2]
    if kept and _only_key_results_differ(kept[0], key):
        assessment = await rollup.reassess_key_results(conn, kept[1], organisation_id)
        made = _resorted(kept[2], kept[1].items, assessment.items)
    else:
        assessment = await rollup.assess_organisation(conn, organisation_id)
        made = _sorted(assessment.items)
    _SNAPSHOTS[organisation_id] = (key, assessment, made)
    _SNAPSHOTS.move_to_end(organisation_id)
    while len(_SNAPSHOTS) > SNAPSHOTS_KEPT:
        _SNAPSHOTS.popitem(last=False)
    return made


def _resorted(kept: Snapshot, kept_items: list[dict], items: list[dict]) -> Snapshot:
    """``_sorted(items)`` when ``items`` are ``kept_items`` with some rolled up again (the others the
    same objects): the order depends only on each one's ``risk_key`` and parent, so while no
    re-rolled one's key moved, the kept order stands."""
    again = [item for item, before in zip(items, kept_items) if item is not before]
    if any(risk_key(item) != risk_key(kept.items[item["id"]]) or item["parent_id"] != kept.items[item["id"]]["parent_id"]
           for item in again):
        return _sorted(items)
    return dataclasses.replace(kept, items={**kept.items, **{item["id"]: item for item in again}})


def _sorted(items: list[dict]) -> Snapshot:
    by_id = {item["id"]: item for item in items}
    ordered = sorted(by_id, key=lambda item_id: risk_key(by_id[item_id]))
    roots, children = [], {}
    for item_id in ordered:
        parent = by_id[item_id]["parent_id"]
        if parent in by_id:
            children.setdefault(parent, []).append(item_id)
        else:
            roots.append(item_id)
    descendants: dict[uuid.UUID, int] = {}

    def count(item_id: uuid.UUID) -> int:
        descendants[item_id] = sum(1 + count(child) for child in children.get(item_id, []))
        return descendants[item_id]
    for root in roots:
        count(root)
    return Snapshot(by_id, ordered, roots, children, descendants)


async def load(conn: AsyncConnection, user: str, organisation_id: uuid.UUID,
               owner: str | None = None, tracking: str | None = None,
               offset: int = 0, limit: int = PAGE_ROOTS, squad: int | None = None) -> Overview:
    role = await access.require_member(conn, user, organisation_id)
    org = (await conn.execute(sa.select(organisation).where(organisation.c.id == organisation_id))).one()
    tree = await snapshot(conn, organisation_id)
    members = list((await conn.execute(sa.select(membership.c.account).where(
        membership.c.organisation_id == organisation_id).order_by(membership.c.account))).scalars())
    squads = await sharing_service.squads(conn, organisation_id)
    squad_members = next((set(s.members) for s in squads if s.id == squad), set()) if squad else None
    filtered = bool(owner or tracking or squad)
    if filtered:
        roots = [item_id for item_id in tree.ordered
                 if (not owner or tree.items[item_id]["owner"] == owner)
                 and (squad_members is None or tree.items[item_id]["owner"] in squad_members)
                 and (not tracking or (tree.items[item_id]["tracking"] or "none") == tracking)]
        rows = [(Node(tree.items[item_id]), 0) for item_id in roots[offset:offset + limit]]
    else:
        roots = tree.roots
        rows = list(_shown(tree, roots[offset:offset + limit], 0))
    confidence = await latest_confidence(conn, key_result.c.objective_id, key_result.c.objective_id == sa.any_(
        sa.bindparam("shown", [node.objective["id"] for node, _ in rows], type_=ARRAY(UUID(as_uuid=True)))))
    for node, _ in rows:
        node.confidence = confidence.get(node.objective["id"])
    return Overview(org, role, members, squads, rows, filtered, len(tree.items), len(roots), offset, limit)


def _shown(tree: Snapshot, ids: list[uuid.UUID], depth: int):
    """The rows of these subtrees in reading order, worst first, within the page's bounds."""
    for item_id in ids:
        shown = tree.children.get(item_id, [])[:SHOWN_CHILDREN] if depth < SHOWN_DEPTH else []
        hidden = tree.descendants[item_id] - sum(1 + tree.descendants[child] for child in shown)
        yield Node(tree.items[item_id], hidden=hidden), depth
        yield from _shown(tree, shown, depth + 1)
