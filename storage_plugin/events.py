"""The event outbox's one write: an event and its webhook deliveries, in the caller's transaction.

Both sides write events: the goals API (``okr_extension.automation.outbox``, asynchronously) and
the storage, for calendar items linked to goals (``item_events``, synchronously, inside the very
transaction of the CalDAV write). The statement and the body's shape live here, once; the tables
are the automation's (okr migrations 0005-0007).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text

from . import clock

CHANNEL = "planerix_events"  # NOTIFY'd on commit of an event: delivery workers wake up

# The event, then one pending delivery per matching enabled webhook. ON CONFLICT: a key already
# used means this very transition was recorded; nothing more is owed.
RECORD = text(
    "WITH event AS ("
    "  INSERT INTO automation_event (id, idempotency_key, kind, organisation_id, subject_type, subject_id,"
    "    goal_ids, body, occurred)"
    "  VALUES (:id, :key, :kind, :organisation_id, :subject_type, :subject_id, :goal_ids,"
    "    CAST(:body AS jsonb), :now)"
    "  ON CONFLICT (organisation_id, idempotency_key) DO NOTHING RETURNING seq),"
    " deliveries AS ("
    "  INSERT INTO webhook_delivery (webhook_id, event_seq, organisation_id, next_attempt, created)"
    "  SELECT w.id, event.seq, w.organisation_id, :now, :now FROM event, webhook w"
    "  WHERE w.organisation_id = :organisation_id AND w.enabled AND :kind = ANY(w.kinds)"
    "    AND (w.goal_id IS NULL OR w.goal_id = ANY(:goal_ids))"
    "  RETURNING 1)"
    " SELECT (SELECT seq FROM event) AS seq, (SELECT count(*) FROM deliveries) AS deliveries")
NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', '')")


@dataclass(frozen=True)
class Subject:
    type: str                 # "kpi", "key_result", "objective", "webhook", "task", "item"
    id: uuid.UUID | str       # a task's or item's is "<calendar path>/<href>"
    organisation_id: uuid.UUID
    href: str                 # its place in the API (a task's or item's: in CalDAV)
    goal_ids: tuple[uuid.UUID, ...] = ()  # further goals it belongs to (objectives above it, linked goals)

    def goals(self) -> tuple[uuid.UUID, ...]:
        """What a webhook's goal filter matches: the subject if it is a goal, and ``goal_ids``."""
        own = (self.id,) if isinstance(self.id, uuid.UUID) and self.type != "webhook" else ()
        return own + self.goal_ids


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


def record_parameters(kind: str, subject: Subject, key: str, transition_: dict | None, data: dict,
                      now: datetime | None = None, detail: dict | None = None) -> tuple[uuid.UUID, dict]:
    """The new event's id and the parameters of ``RECORD`` for it."""
    now = now or clock.now()
    event_id = uuid.uuid4()
    body = body_of(event_id, kind, subject, transition_, data, now, detail)
    return event_id, {"id": event_id, "key": key, "kind": kind, "organisation_id": subject.organisation_id,
                      "subject_type": subject.type, "subject_id": str(subject.id),
                      "goal_ids": [*subject.goals()], "body": json.dumps(body), "now": now}


def record(conn, kind: str, subject: Subject, key: str, transition_: dict | None, data: dict,
           now: datetime | None = None) -> uuid.UUID | None:
    """Write one event (once per ``key``) and its deliveries on a synchronous connection; None if
    the key was used before."""
    event_id, parameters = record_parameters(kind, subject, key, transition_, data, now)
    if conn.execute(RECORD, parameters).one().seq is None:
        return None
    conn.execute(NOTIFY)
    return event_id
