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

import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension import access
from okr_extension.goals import rollup
from okr_extension.goals.crud import UNDATED
from okr_extension.sharing import service as sharing_service
from okr_extension.tables import check_in, key_result, membership, organisation

# Worst first: what needs the lead's attention on Monday comes at the top.
RISK_ORDER = {"off_track": 0, "at_risk": 1, "on_track": 2, None: 3, "achieved": 4}
TRACKING_LABELS = {"off_track": "Off track", "at_risk": "At risk", "on_track": "On track",
                   "achieved": "Achieved", None: "No status"}


@dataclass
class Node:
    objective: dict
    confidence: float | None = None
    children: list["Node"] = field(default_factory=list)
    hidden: int = 0  # aligned objectives below this one that the page leaves out
    _descendants: int | None = None

    def descendants(self) -> int:
        if self._descendants is None:
            self._descendants = sum(1 + child.descendants() for child in self.children)
        return self._descendants


@dataclass
class Overview:
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

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.matching else None

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None


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


async def load(conn: AsyncConnection, user: str, organisation_id: uuid.UUID,
               owner: str | None = None, tracking: str | None = None,
               offset: int = 0, limit: int = PAGE_ROOTS, squad: int | None = None) -> Overview:
    role = await access.require_member(conn, user, organisation_id)
    org = (await conn.execute(sa.select(organisation).where(organisation.c.id == organisation_id))).one()
    items = await rollup.assess_organisation(conn, organisation_id)
    members = list((await conn.execute(sa.select(membership.c.account).where(
        membership.c.organisation_id == organisation_id).order_by(membership.c.account))).scalars())
    squads = await sharing_service.squads(conn, organisation_id)
    squad_members = next((set(s.members) for s in squads if s.id == squad), set()) if squad else None
    nodes = {item["id"]: Node(item) for item in items}
    filtered = bool(owner or tracking or squad)
    if filtered:
        roots = [node for node in nodes.values()
                 if (not owner or node.objective["owner"] == owner)
                 and (squad_members is None or node.objective["owner"] in squad_members)
                 and (not tracking or (node.objective["tracking"] or "none") == tracking)]
    else:
        roots = []
        for node in nodes.values():
            parent = nodes.get(node.objective["parent_id"])
            (parent.children if parent else roots).append(node)
    roots.sort(key=lambda node: risk_key(node.objective))
    on_page = roots[offset:offset + limit]
    rows = [(node, 0) for node in on_page] if filtered else list(_shown(on_page, 0))
    confidence = await latest_confidence(conn, key_result.c.objective_id, key_result.c.objective_id == sa.any_(
        sa.bindparam("shown", [node.objective["id"] for node, _ in rows], type_=ARRAY(UUID(as_uuid=True)))))
    for node, _ in rows:
        node.confidence = confidence.get(node.objective["id"])
    return Overview(org, role, members, squads, rows, filtered, len(items), len(roots), offset, limit)


def _shown(nodes: list[Node], depth: int):
    """The rows of these subtrees in reading order, worst first, within the page's bounds."""
    for node in nodes:
        yield node, depth
        children = sorted(node.children, key=lambda child: risk_key(child.objective))
        shown = children[:SHOWN_CHILDREN] if depth < SHOWN_DEPTH else []
        node.hidden = node.descendants() - sum(1 + child.descendants() for child in shown)
        yield from _shown(shown, depth + 1)
