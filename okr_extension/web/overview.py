"""The organisation overview: the objective tree with progress, tracking, owner, due date and the
confidence of the latest check-in, filtered and sorted by risk.

Everything comes from a fixed number of queries whatever the number of objectives (the rights
check, the organisation, its objectives, the roll-up's own few, latest confidences, members):
progress and tracking are the API's (``rollup.present_objectives``), not a second copy.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension import access
from okr_extension.goals import rollup
from okr_extension.goals.crud import UNDATED
from okr_extension.sharing import service as sharing_service
from okr_extension.tables import check_in, key_result, membership, objective, organisation

# Worst first: what needs the lead's attention on Monday comes at the top.
RISK_ORDER = {"off_track": 0, "at_risk": 1, "on_track": 2, None: 3, "achieved": 4}
TRACKING_LABELS = {"off_track": "Off track", "at_risk": "At risk", "on_track": "On track",
                   "achieved": "Achieved", None: "No status"}


@dataclass
class Node:
    objective: dict
    confidence: float | None
    children: list["Node"] = field(default_factory=list)


@dataclass
class Overview:
    organisation: object
    role: str
    members: list[str]
    squads: list                  # (id, name, members) of the organisation's squads, for the filter
    rows: list[tuple[Node, int]]  # this page of the tree in reading order, with each one's depth
    filtered: bool                # (filtered: the matching objectives, flat)
    count: int                    # objectives in the organisation
    matching: int                 # rows of the whole tree or filter, over all pages
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


# Rows a page shows: what is rendered and sent stays bounded however large the organisation.
PAGE_ROWS = 100


async def load(conn: AsyncConnection, user: str, organisation_id: uuid.UUID,
               owner: str | None = None, tracking: str | None = None,
               offset: int = 0, limit: int = PAGE_ROWS, squad: int | None = None) -> Overview:
    role = await access.require_member(conn, user, organisation_id)
    org = (await conn.execute(sa.select(organisation).where(organisation.c.id == organisation_id))).one()
    rows = (await conn.execute(sa.select(objective).where(objective.c.organisation_id == organisation_id))).all()
    items = await rollup.present_objectives(conn, rows, whole_organisation=True)
    confidence = await latest_confidence(conn, key_result.c.objective_id,
                                         key_result.c.organisation_id == organisation_id)
    members = list((await conn.execute(sa.select(membership.c.account).where(
        membership.c.organisation_id == organisation_id).order_by(membership.c.account))).scalars())
    squads = await sharing_service.squads(conn, organisation_id)
    squad_members = next((set(s.members) for s in squads if s.id == squad), set()) if squad else None
    nodes = {item["id"]: Node(item, confidence.get(item["id"])) for item in items}
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
    _sort(roots)
    ordered = list(_walk(roots, 0))
    return Overview(org, role, members, squads, ordered[offset:offset + limit], filtered, len(items),
                    len(ordered), offset, limit)


def _walk(nodes: list[Node], depth: int):
    for node in nodes:
        yield node, depth
        yield from _walk(node.children, depth + 1)


def _sort(nodes: list[Node]) -> None:
    nodes.sort(key=lambda node: risk_key(node.objective))
    for node in nodes:
        _sort(node.children)
