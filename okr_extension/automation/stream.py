"""The live event stream (Server-Sent Events) of the organisations a user belongs to.

Each event's SSE id is its stream position, drawn in commit order (see the migration), so a
client that reconnects with ``Last-Event-ID`` gets exactly the events committed after the last
one it saw: no gap, no repeat. Without it, the stream starts at the present.
"""
from __future__ import annotations

import asyncio
import json
import uuid
from typing import Optional

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from okr_extension import access
from okr_extension.api.problems import Problem
from okr_extension.automation.tables import automation_event

PAGE = 200
POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0


def scope(user: str, organisation_id: Optional[uuid.UUID], kinds: Optional[list[str]]) -> list:
    """What the user may read: events of their organisations (all roles read goals)."""
    clauses = [automation_event.c.organisation_id.in_(access.organisations_of(user)),
               automation_event.c.position.is_not(None)]
    if organisation_id is not None:
        clauses.append(automation_event.c.organisation_id == organisation_id)
    if kinds:
        clauses.append(automation_event.c.kind.in_(kinds))
    return clauses


def last_event_id(request: web.Request, query_value: Optional[int]) -> Optional[int]:
    raw = request.headers.get("Last-Event-ID")
    if raw is None:
        return query_value
    try:
        value = int(raw.strip())
    except ValueError:
        raise Problem(400, "Last-Event-ID must be the id of an event this stream sent (a whole number)") from None
    if not 0 <= value < 2 ** 63:
        raise Problem(400, "Last-Event-ID is out of range")
    return value


async def current_position(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(sa.select(sa.func.coalesce(sa.func.max(automation_event.c.position), 0)))
                ).scalar_one()


async def events_after(engine: AsyncEngine, clauses: list, position: int) -> list:
    async with engine.connect() as conn:
        return (await conn.execute(
            sa.select(automation_event.c.position, automation_event.c.kind, automation_event.c.body)
            .where(automation_event.c.position > position, *clauses)
            .order_by(automation_event.c.position).limit(PAGE))).all()


def frame(row) -> bytes:
    data = json.dumps(row.body, separators=(",", ":"), ensure_ascii=False)
    return f"id: {row.position}\nevent: {row.kind}\ndata: {data}\n\n".encode()


async def serve(request: web.Request, engine: AsyncEngine, closing: asyncio.Event, clauses: list,
                position: Optional[int], max_seconds: float) -> web.StreamResponse:
    if position is None:
        position = await current_position(engine)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    await response.write(b"retry: 2000\n\n")
    quiet = 0.0
    deadline = asyncio.get_running_loop().time() + max_seconds
    while not closing.is_set() and asyncio.get_running_loop().time() < deadline:
        rows = await events_after(engine, clauses, position)
        for row in rows:
            await response.write(frame(row))
            position = row.position
        if len(rows) == PAGE:
            continue
        try:
            await asyncio.wait_for(closing.wait(), POLL_SECONDS)
        except TimeoutError:
            pass
        quiet = 0.0 if rows else quiet + POLL_SECONDS
        if quiet >= HEARTBEAT_SECONDS:  # a comment keeps proxies from closing an idle stream
            await response.write(b": keep-alive\n\n")
            quiet = 0.0
    return response
