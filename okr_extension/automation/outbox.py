"""The outbox: subjects' last states, and events written in the transaction of the change.

Every function takes the caller's connection: an event exists exactly when the change that
caused it was committed. Fan-out to the organisation's webhooks happens in the same statement,
so a delivery is owed from the moment of the commit, whatever happens to the process after.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage_plugin import clock, events

# The state row carries its goal's organisation (the distribution key), read from the goal: a goal
# that no longer exists has no state to lock.
_LOCK_STATE = text(
    "INSERT INTO automation_subject_state AS s (organisation_id, subject_type, subject_id)"
    " SELECT organisation_id, :type, :id FROM ("
    "   SELECT organisation_id FROM kpi WHERE :type = 'kpi' AND id = :id"
    "   UNION ALL SELECT organisation_id FROM key_result WHERE :type = 'key_result' AND id = :id"
    "   UNION ALL SELECT organisation_id FROM objective WHERE :type = 'objective' AND id = :id) goal"
    " ON CONFLICT (subject_type, subject_id, organisation_id) DO UPDATE SET subject_type = s.subject_type"
    " RETURNING state, transitions")
_SET_STATE = text(
    "UPDATE automation_subject_state SET state = :state, transitions = transitions + 1, updated = :now"
    " WHERE subject_type = :type AND subject_id = :id AND organisation_id = :organisation_id RETURNING transitions")
_FORGET_STATE = text("DELETE FROM automation_subject_state WHERE subject_type = :type AND subject_id = :id")
# The statement, the subject and the body are shared with the storage's item events.
CHANNEL, Subject, body_of = events.CHANNEL, events.Subject, events.body_of


async def lock_state(conn: AsyncConnection, subject_type: str, subject_id: uuid.UUID) -> str | None:
    """The subject's last recorded state, its row locked until the transaction ends: call it
    before computing the new state, so concurrent writers compare in turn, never both against
    the same old state."""
    row = (await conn.execute(_LOCK_STATE, {"type": subject_type, "id": subject_id})).first()
    return row.state if row else None


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
                                              "id": subject.id, "organisation_id": subject.organisation_id})
              ).scalar_one()
    recorded = []
    for kind in kinds:
        event_id = await record(conn, kind, subject, f"{kind}:{subject.id}:{number}",
                                {"from": before, "to": after}, data, now)
        if event_id is not None:
            recorded.append(event_id)
    return recorded


async def record(conn: AsyncConnection, kind: str, subject: Subject, key: str, transition_: dict | None,
                 data: dict, now: datetime | None = None, detail: dict | None = None) -> uuid.UUID | None:
    """Write one event (once per ``key``) and its deliveries; None if the key was used before."""
    event_id, parameters = events.record_parameters(kind, subject, key, transition_, data, now, detail)
    if (await conn.execute(events.RECORD, parameters)).one().seq is None:
        return None
    await conn.execute(events.NOTIFY)
    return event_id
