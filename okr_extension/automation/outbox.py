"""The outbox: subjects' last states, and events written in the transaction of the change.

Every function takes the caller's connection: an event exists exactly when the change that
caused it was committed. Fan-out to the organisation's webhooks happens in the same statement,
so a delivery is owed from the moment of the commit, whatever happens to the process after.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage_plugin import clock

CHANNEL = "planerix_events"  # NOTIFY'd on commit of an event: delivery workers wake up

_LOCK_STATE = text(
    "INSERT INTO automation_subject_state AS s (subject_type, subject_id) VALUES (:type, :id)"
    " ON CONFLICT (subject_type, subject_id) DO UPDATE SET subject_type = s.subject_type"
    " RETURNING state, transitions")
_SET_STATE = text(
    "UPDATE automation_subject_state SET state = :state, transitions = transitions + 1, updated = :now"
    " WHERE subject_type = :type AND subject_id = :id RETURNING transitions")
_FORGET_STATE = text("DELETE FROM automation_subject_state WHERE subject_type = :type AND subject_id = :id")
# The event, then one pending delivery per matching enabled webhook. ON CONFLICT: a key already
# used means this very transition was recorded; nothing more is owed.
_RECORD = text(
    "WITH event AS ("
    "  INSERT INTO automation_event (id, idempotency_key, kind, organisation_id, subject_type, subject_id,"
    "    goal_ids, body, occurred)"
    "  VALUES (:id, :key, :kind, :organisation_id, :subject_type, :subject_id, :goal_ids,"
    "    CAST(:body AS jsonb), :now)"
    "  ON CONFLICT (idempotency_key) DO NOTHING RETURNING seq),"
    " deliveries AS ("
    "  INSERT INTO webhook_delivery (webhook_id, event_seq, next_attempt, created)"
    "  SELECT w.id, event.seq, :now, :now FROM event, webhook w"
    "  WHERE w.organisation_id = :organisation_id AND w.enabled AND :kind = ANY(w.kinds)"
    "    AND (w.goal_id IS NULL OR w.goal_id = ANY(:goal_ids))"
    "  RETURNING 1)"
    " SELECT (SELECT seq FROM event) AS seq, (SELECT count(*) FROM deliveries) AS deliveries")
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', '')")


@dataclass(frozen=True)
class Subject:
    type: str                 # "kpi", "key_result", "objective", "webhook", "task"
    id: uuid.UUID | str       # a task's is "<calendar path>/<href>"
    organisation_id: uuid.UUID
    href: str                 # its place in the API (a task's: in CalDAV)
    goal_ids: tuple[uuid.UUID, ...] = ()  # further goals it belongs to (objectives above it, linked goals)

    def goals(self) -> tuple[uuid.UUID, ...]:
        """What a webhook's goal filter matches: the subject if it is a goal, and ``goal_ids``."""
        own = (self.id,) if isinstance(self.id, uuid.UUID) and self.type != "webhook" else ()
        return own + self.goal_ids


async def lock_state(conn: AsyncConnection, subject_type: str, subject_id: uuid.UUID) -> str | None:
    """The subject's last recorded state, its row locked until the transaction ends: call it
    before computing the new state, so concurrent writers compare in turn, never both against
    the same old state."""
    row = (await conn.execute(_LOCK_STATE, {"type": subject_type, "id": subject_id})).one()
    return row.state


async def forget(conn: AsyncConnection, subject_type: str, subject_id: uuid.UUID) -> None:
    await conn.execute(_FORGET_STATE, {"type": subject_type, "id": subject_id})


async def transition(conn: AsyncConnection, subject: Subject, before: str | None, after: str | None,
                     kinds: list[str], data: dict) -> list[uuid.UUID]:
    """Record ``after`` as the subject's state and, if it changed, the events ``kinds``
    (each keyed by kind, subject and transition number). Returns the new events' ids."""
    if after == before:
        return []
    now = clock.now()
    number = (await conn.execute(_SET_STATE, {"state": after, "now": now, "type": subject.type,
                                              "id": subject.id})).scalar_one()
    recorded = []
    for kind in kinds:
        event_id = await record(conn, kind, subject, f"{kind}:{subject.id}:{number}",
                                {"from": before, "to": after}, data, now)
        if event_id is not None:
            recorded.append(event_id)
    return recorded


def body_of(event_id: uuid.UUID, kind: str, subject: Subject, transition_: dict | None, data: dict,
            now: datetime, detail: dict | None = None) -> dict:
    """The JSON every receiver gets (webhooks, the event stream): ``transition`` for state changes,
    ``detail`` for what the time-driven evaluator found (a due date, a period, a silence)."""
    body = {"id": str(event_id), "kind": kind, "occurred_at": now.isoformat(),
            "organisation_id": str(subject.organisation_id),
            "subject": {"type": subject.type, "id": str(subject.id), "href": subject.href},
            "transition": transition_, "data": data}
    if detail is not None:
        body["detail"] = detail
    return body


async def record(conn: AsyncConnection, kind: str, subject: Subject, key: str, transition_: dict | None,
                 data: dict, now: datetime | None = None, detail: dict | None = None) -> uuid.UUID | None:
    """Write one event (once per ``key``) and its deliveries; None if the key was used before."""
    now = now or clock.now()
    event_id = uuid.uuid4()
    body = body_of(event_id, kind, subject, transition_, data, now, detail)
    row = (await conn.execute(_RECORD, {
        "id": event_id, "key": key, "kind": kind, "organisation_id": subject.organisation_id,
        "subject_type": subject.type, "subject_id": str(subject.id),
        "goal_ids": [*subject.goals()], "body": json.dumps(body), "now": now})).one()
    if row.seq is None:
        return None
    await conn.execute(_NOTIFY)
    return event_id
