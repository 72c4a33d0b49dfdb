"""Link and unlink items through the storage's write path; read links, linked items, time
invested and the agenda from the index."""
from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension import access
from okr_extension.api import pagination
from okr_extension.api.problems import Problem
from okr_extension.links import queries
from okr_extension.models import links as models
from okr_extension.tables import key_result, kpi, objective
from storage_plugin import directory, links, sharing, writer
from storage_plugin.storage import Storage

GOAL_TABLES = {"key_result": (key_result, "title"), "objective": (objective, "title"), "kpi": (kpi, "name")}


def target_id_of(kind: str, raw: str) -> str:
    try:
        return links.normalize_target(kind, raw)
    except ValueError as e:
        raise Problem(422, f"invalid target_id: {e}", errors=[{"field": "target_id", "message": str(e)}]) from None


async def goals(conn: AsyncConnection, user: str, targets) -> dict[tuple[str, str], tuple]:
    """(title, visible) of each (kind, id) link target, one query per goal table: a goal outside
    your organisations is as invisible as a missing one. Projects are names: always yours."""
    targets = set(targets)
    found = {}
    mine = access.organisations_of(user)
    for kind, (table, title) in GOAL_TABLES.items():
        ids = [uuid.UUID(target_id) for target_kind, target_id in targets if target_kind == kind]
        if ids:
            rows = await conn.execute(sa.select(table.c.id, table.c[title].label("title"),
                                                table.c.organisation_id.in_(mine).label("visible"))
                                      .where(table.c.id.in_(ids)))
            found.update({(kind, str(row.id)): (row.title if row.visible else None, row.visible)
                          for row in rows})
    return {(kind, target_id): (target_id, True) if kind == "project"
            else found.get((kind, target_id), (None, False)) for kind, target_id in targets}


async def goal(conn: AsyncConnection, user: str, kind: str, target_id: str):
    return (await goals(conn, user, [(kind, target_id)]))[kind, target_id]


async def require_goal(conn: AsyncConnection, user: str, kind: str, target_id: str) -> str:
    title, visible = await goal(conn, user, kind, target_id)
    if not visible:
        raise Problem(422, f"invalid target_id: no {kind.replace('_', ' ')} {target_id} in your organisations",
                      errors=[{"field": "target_id", "message": "no such goal in your organisations"}])
    return title


def link_entry(row, known: dict) -> dict:
    title, visible = known[row.target_kind, row.target_id]
    return {"target_kind": row.target_kind, "target_id": row.target_id, "weight": row.weight,
            "title": title, "dangling": not visible}


async def goal_links(conn: AsyncConnection, user: str, rows) -> list[dict]:
    known = await goals(conn, user, ((row.target_kind, row.target_id) for row in rows))
    return [link_entry(row, known) for row in rows]


def _rewrite(storage: Storage, user: str, ref, kind: str, target_id: str, weight: float | None,
             label: str | None, if_match: str | None) -> writer.Written:
    """In one locked transaction: find the item, rewrite its text, store it as a PUT would."""
    path = writer.calendar_path(ref.calendar)
    with writer.editing(storage, user, path) as calendar:
        row = calendar.connection.execute(
            queries.ITEM_BY_UID if ref.uid is not None else queries.ITEM_BY_HREF,
            {"path": path, "uid": ref.uid, "href": ref.href}).first()
        if row is None:
            raise writer.NotFound(f"no item {ref.uid or ref.href!r} in /{path}/")
        current = calendar.get(row.href)
        linked = calendar.connection.execute(queries.LINKS_OF_ITEM, {"path": path, "href": row.href}).all()
        if weight is None and not any(l.target_kind == kind and l.target_id == target_id for l in linked):
            raise writer.NotFound(f"the item is not linked to {kind.replace('_', ' ')} {target_id}")
        text = links.rewrite(current.text, current.component, kind, target_id, weight=weight, label=label)
        return calendar.put(text, row.href, if_match=if_match or current.etag)


async def change_link(storage: Storage, engine, user: str, ref, kind: str, target_id: str,
                      weight: float | None, if_match: str | None) -> dict:
    target_id = target_id_of(kind, target_id)
    async with engine.begin() as conn:
        label = await require_goal(conn, user, kind, target_id) if weight is not None else None
    try:
        written = await asyncio.to_thread(_rewrite, storage, user, ref, kind, target_id, weight, label, if_match)
    except writer.WriteError as e:
        raise Problem(e.status, e.reason) from None
    path = writer.calendar_path(ref.calendar)
    async with engine.begin() as conn:
        rows = (await conn.execute(queries.LINKS_OF_ITEM, {"path": path, "href": written.href})).all()
        uid = (await conn.execute(queries.ITEM_BY_HREF, {"path": path, "href": written.href})).first().uid
        return {"calendar": f"/{path}/", "href": written.href, "uid": uid, "etag": written.etag,
                "links": await goal_links(conn, user, rows)}


async def item_links(conn: AsyncConnection, user: str, ref: models.ItemParams) -> dict:
    path = writer.calendar_path(ref.calendar)
    if await conn.run_sync(sharing.access_of, user, path) not in ("owner", "read-write", "read"):
        raise Problem(404, f"no calendar /{path}/ of yours or shared with you")
    row = (await conn.execute(queries.ITEM_BY_UID if ref.uid is not None else queries.ITEM_BY_HREF,
                              {"path": path, "uid": ref.uid, "href": ref.href})).first()
    if row is None:
        raise Problem(404, f"no item {ref.uid or ref.href!r} in /{path}/")
    rows = (await conn.execute(queries.LINKS_OF_ITEM, {"path": path, "href": row.href})).all()
    return {"calendar": f"/{path}/", "href": row.href, "uid": row.uid, "etag": row.etag,
            "links": await goal_links(conn, user, rows)}


async def linked_items(conn: AsyncConnection, user: str, query: models.TargetParams) -> dict:
    kind, target_id = query.target_kind, target_id_of(query.target_kind, query.target_id)
    # A goal outside your organisations answers as one that does not exist: dangling, untitled.
    title, visible = await goal(conn, user, kind, target_id)
    after = pagination.decode_cursor(query.cursor, "item")[1] if query.cursor else 0
    if not isinstance(after, int):
        raise Problem(422, "invalid cursor: pass the next_cursor of the previous page unchanged")
    rows = (await conn.execute(queries.LINKED_ITEMS, {"kind": kind, "target": target_id, "user": user,
                                                      "after": after, "limit": query.limit + 1})).all()
    rows, next_cursor = pagination.split_page(rows, query.limit, "item", lambda row: row.item_id, "item_id")
    items = [{**row._mapping, "calendar": f"/{row.calendar}/"} for row in rows]
    return {"target_kind": kind, "target_id": target_id, "title": title, "dangling": not visible,
            "items": items, "next_cursor": next_cursor}


async def task_progress(conn: AsyncConnection, key_result_ids) -> dict[str, float | None]:
    """Weighted completion of the tasks linked to each key result (all of them, whoever asks)."""
    ids = [str(i) for i in key_result_ids]
    if not ids:
        return {}
    rows = await conn.execute(queries.TASK_PROGRESS, {"targets": ids})
    return {row.target_id: None if row.progress is None else float(row.progress) for row in rows}


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def _check_range(start: datetime, end: datetime, max_days: int) -> None:
    if end <= start:
        raise Problem(422, "invalid query: end must be after start", errors=[{"field": "end", "message": "must be after start"}])
    if (end - start).days > max_days:
        raise Problem(422, f"invalid query: at most {max_days} days at once")


async def time_invested(conn: AsyncConnection, user: str, query: models.TimeParams) -> dict:
    _check_range(query.start, query.end, 3700)
    target_id = target_id_of(query.target_kind, query.target_id)
    _, visible = await goal(conn, user, query.target_kind, target_id)
    kinds, targets = [query.target_kind], [target_id]
    if query.target_kind == "objective" and visible:  # an objective's time includes its key results'
        for kr_id in (await conn.execute(sa.select(key_result.c.id).where(
                key_result.c.objective_id == uuid.UUID(target_id)))).scalars():
            kinds.append("key_result")
            targets.append(str(kr_id))
    rows = (await conn.execute(queries.TIME_INVESTED, {
        "kinds": kinds, "targets": targets, "user": user,
        "start": _seconds(query.start), "end": _seconds(query.end)})).all()
    weeks = [{"week_start": row.week.replace(tzinfo=timezone.utc), "hours": float(row.hours),
              "occurrences": row.occurrences} for row in rows]
    return {"target_kind": query.target_kind, "target_id": target_id, "start": query.start, "end": query.end,
            "total_hours": sum(w["hours"] for w in weeks), "weeks": weeks}


def mark_conflicts(entries: list[dict]) -> None:
    """Each event lists the indexes of the events it overlaps (a sweep over start order)."""
    events = sorted((i for i, e in enumerate(entries) if e["kind"] == "event"), key=lambda i: entries[i]["start"])
    active: list[int] = []
    for i in events:
        active = [j for j in active if entries[j]["end"] > entries[i]["start"]]
        for j in active:
            entries[i]["conflicts"].append(j)
            entries[j]["conflicts"].append(i)
        active.append(i)


_ATTENDEE = re.compile(r"^ATTENDEE((?:;[^:]*)?):(.*)$", re.IGNORECASE | re.MULTILINE)


def _partstat_of(text: str, addresses: set[str]) -> str | None:
    """The PARTSTAT of the first ATTENDEE line naming one of ``addresses`` (None: not an attendee)."""
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    for params, value in _ATTENDEE.findall(unfolded):
        if value.strip().lower() in addresses:
            found = re.search(r";PARTSTAT=([^;:]+)", params, re.IGNORECASE)
            return found.group(1).upper() if found else "NEEDS-ACTION"
    return None


async def assigned_tasks(conn: AsyncConnection, user: str, query: models.MyTasksParams) -> dict:
    """The tasks assigned to the user (an ATTENDEE with one of their addresses, RFC 5545) in every
    list they may read, with their goals."""
    addresses = {a.lower() for a in (await conn.execute(directory.select_addresses(user))).scalars()
                 if a.lower().startswith("mailto:")}
    if not addresses:
        return {"items": [], "truncated": False}
    limit = models.AGENDA_LIMIT
    rows = (await conn.execute(queries.ASSIGNED_TASKS, {
        "user": user, "completed": query.completed, "limit": limit + 1,
        "patterns": [f"%{directory.like_escaped(a)}%" for a in sorted(addresses)]})).all()
    truncated, rows = len(rows) > limit, rows[:limit]
    mine = [(row, _partstat_of(row.text, addresses)) for row in rows]
    mine = [(row, partstat) for row, partstat in mine if partstat is not None]
    link_rows = (await conn.execute(queries.LINKS_OF_ITEMS, {"ids": [row.item_id for row, _ in mine]})).all()
    known = await goals(conn, user, ((row.target_kind, row.target_id) for row in link_rows))
    links_by_item: dict[int, list] = {}
    for row in link_rows:
        links_by_item.setdefault(row.item_id, []).append(link_entry(row, known))
    return {"truncated": truncated, "items": [
        {"calendar": f"/{row.calendar}/", "href": row.href, "uid": row.uid, "title": row.summary,
         "status": row.status, "percent_complete": row.percent_complete, "due": row.due, "partstat": partstat,
         "links": links_by_item.get(row.item_id, [])} for row, partstat in mine]}


async def agenda(conn: AsyncConnection, user: str, query: models.RangeParams) -> dict:
    _check_range(query.start, query.end, 370)
    # One row more than shown tells whether the range holds more than the limit.
    limit = models.AGENDA_LIMIT
    span = {"user": user, "start": _seconds(query.start), "end": _seconds(query.end), "limit": limit + 1}
    events = (await conn.execute(queries.AGENDA_EVENTS, span)).all()
    tasks = (await conn.execute(queries.AGENDA_TASKS, span)).all()
    truncated = len(events) > limit or len(tasks) > limit
    events, tasks = events[:limit], tasks[:limit]
    item_ids = list({row.item_id for row in (*events, *tasks)})
    link_rows = (await conn.execute(queries.LINKS_OF_ITEMS, {"ids": item_ids})).all()
    known = await goals(conn, user, ((row.target_kind, row.target_id) for row in link_rows))
    links_by_item: dict[int, list] = {}
    for row in link_rows:
        links_by_item.setdefault(row.item_id, []).append(link_entry(row, known))

    entries = []
    for row in events:
        entries.append({"kind": "event", "start": _moment(row.start), "end": _moment(row.end), "title": row.summary,
                        "calendar": f"/{row.calendar}/", "href": row.href, "uid": row.uid,
                        "links": links_by_item.get(row.item_id, []), "conflicts": []})
    for row in tasks:
        entries.append({"kind": "task", "start": row.due, "end": None, "title": row.summary,
                        "calendar": f"/{row.calendar}/", "href": row.href, "uid": row.uid,
                        "links": links_by_item.get(row.item_id, []), "conflicts": []})
    entries += await _deadlines(conn, user, query.start, query.end)
    entries.sort(key=lambda e: (e["start"], e["kind"]))
    mark_conflicts(entries)
    return {"start": query.start, "end": query.end, "entries": entries,
            "truncated": truncated}


async def _deadlines(conn: AsyncConnection, user: str, start: datetime, end: datetime) -> list[dict]:
    mine = access.organisations_of(user)
    out = []
    for kind, table, title, column in (("objective_due", objective, "title", "due_date"),
                                       ("key_result_due", key_result, "title", "due_date"),
                                       ("kpi_review", kpi, "name", "next_review")):
        rows = await conn.execute(sa.select(table.c.id, table.c[title].label("title"), table.c[column].label("day"))
                                  .where(table.c.organisation_id.in_(mine), table.c[column] >= start.date(),
                                         table.c[column] <= end.date()))
        for row in rows:
            moment = datetime.combine(row.day, datetime.min.time(), timezone.utc)
            if start <= moment < end:
                out.append({"kind": kind, "start": moment, "end": None, "title": row.title,
                            "goal_id": str(row.id), "links": [], "conflicts": []})
    return out
