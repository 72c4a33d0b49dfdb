"""Webhook subscriptions of an organisation (admins only), their delivery log, and replay."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from okr_extension import access
from okr_extension.api import pagination
from okr_extension.api.problems import Problem
from okr_extension.automation import signing
from okr_extension.automation.models import DeliveryQuery, ReplayRange, WebhookCreate, WebhookPatch
from okr_extension.automation.settings import AutomationSettings
from okr_extension.automation.tables import automation_event, webhook, webhook_delivery
from okr_extension.feeds import fetch
from okr_extension.goals.crud import invalid
from okr_extension.tables import key_result, kpi, objective
from storage_plugin import clock

MAX_REPLAY = 1000  # events one range replay may queue
PUBLIC_COLUMNS = [c for c in webhook.c if c.name != "secret"]


async def check_url(url: str, settings: AutomationSettings) -> str:
    """The URL as it will be called: http(s) only, and a public host unless private networks are allowed
    (the feeds' guard: the same rule and the same switch)."""
    if not url.lower().startswith(("http://", "https://")):
        raise invalid("url", "use an http:// or https:// URL")
    try:
        url = fetch.normalize_url(url)
        await fetch.check_host(url, settings)
    except ValueError as e:
        raise invalid("url", str(e)) from None
    return url


async def _check_goal(conn: AsyncConnection, organisation_id: uuid.UUID, goal_id: uuid.UUID | None) -> None:
    if goal_id is None:
        return
    for table in (objective, key_result, kpi):
        found = await conn.execute(sa.select(table.c.id).where(table.c.id == goal_id,
                                                               table.c.organisation_id == organisation_id))
        if found.first() is not None:
            return
    raise invalid("goal_id", f"no objective, key result or KPI {goal_id} in this organisation")


async def load_administered(conn: AsyncConnection, table: sa.Table, label: str, user: str, row_id: uuid.UUID,
                            for_update: bool = False):
    """A row of an organisation's automation (webhook, rule): 404 unless the user is a member,
    403 unless an admin or owner."""
    select = sa.select(table).where(table.c.id == row_id)
    row = (await conn.execute(select.with_for_update() if for_update else select)).first()
    role = await access.role_of(conn, user, row.organisation_id) if row else None
    if role is None:
        raise Problem(404, f"no such {label}: {row_id}")
    access.require_role(role, "admin", label)
    return row


async def _load(conn: AsyncConnection, user: str, webhook_id: uuid.UUID, for_update: bool = False):
    return await load_administered(conn, webhook, "webhook", user, webhook_id, for_update)


def public(row) -> dict:
    return {key: value for key, value in row._mapping.items() if key != "secret"}


async def create(conn: AsyncConnection, user: str, body: WebhookCreate, settings: AutomationSettings) -> dict:
    await access.require_member(conn, user, body.organisation_id, "admin", "organisation")
    url = await check_url(body.url, settings)
    await _check_goal(conn, body.organisation_id, body.goal_id)
    now = clock.now()
    row = (await conn.execute(sa.insert(webhook).values(
        organisation_id=body.organisation_id, url=url, kinds=sorted(set(body.kinds)), goal_id=body.goal_id,
        description=body.description, secret=signing.new_secret(), created_by=user, created=now,
        updated=now).returning(webhook))).one()
    return {**public(row), "secret": row.secret}


async def list_all(conn: AsyncConnection, user: str, organisation_id: uuid.UUID | None) -> list[dict]:
    """The webhooks of the organisations where the user is an admin or owner."""
    administered = access.organisations_of(user, access.ADMINISTERING)
    select = sa.select(*PUBLIC_COLUMNS).where(webhook.c.organisation_id.in_(administered))
    if organisation_id is not None:
        select = select.where(webhook.c.organisation_id == organisation_id)
    return [dict(row._mapping) for row in await conn.execute(select.order_by(webhook.c.created, webhook.c.id))]


async def get(conn: AsyncConnection, user: str, webhook_id: uuid.UUID) -> dict:
    return public(await _load(conn, user, webhook_id))


async def update(conn: AsyncConnection, user: str, webhook_id: uuid.UUID, patch: WebhookPatch,
                 settings: AutomationSettings) -> dict:
    row = await _load(conn, user, webhook_id, for_update=True)
    changes = patch.changes()
    for name in ("url", "kinds", "enabled"):
        if name in changes and changes[name] is None:
            raise invalid(name, "must not be null")
    if "url" in changes:
        changes["url"] = await check_url(changes["url"], settings)
    if "kinds" in changes:
        changes["kinds"] = sorted(set(changes["kinds"]))
    if "goal_id" in changes:
        await _check_goal(conn, row.organisation_id, changes["goal_id"])
    if changes.get("enabled"):
        changes |= {"disabled_reason": None, "failing_since": None}
    elif changes.get("enabled") is False:
        changes["disabled_reason"] = f"disabled by {user}"
    if changes:
        changes["updated"] = clock.now()
        row = (await conn.execute(sa.update(webhook).where(webhook.c.id == webhook_id).values(changes)
                                  .returning(webhook))).one()
    return public(row)


async def delete(conn: AsyncConnection, user: str, webhook_id: uuid.UUID) -> None:
    await _load(conn, user, webhook_id, for_update=True)
    await conn.execute(sa.delete(webhook).where(webhook.c.id == webhook_id))


_DELIVERY_COLUMNS = [*webhook_delivery.c, automation_event.c.id.label("event_id"),
                     automation_event.c.kind.label("event_kind")]


def _deliveries() -> sa.Select:
    return sa.select(*_DELIVERY_COLUMNS).select_from(
        webhook_delivery.join(automation_event, sa.and_(
            automation_event.c.seq == webhook_delivery.c.event_seq,
            automation_event.c.organisation_id == webhook_delivery.c.organisation_id)))


async def deliveries(conn: AsyncConnection, user: str, webhook_id: uuid.UUID,
                     query: DeliveryQuery) -> tuple[list[dict], str | None]:
    """Newest first."""
    await _load(conn, user, webhook_id)
    select = _deliveries().where(webhook_delivery.c.webhook_id == webhook_id)
    if query.state:
        select = select.where(webhook_delivery.c.state == query.state)
    select = pagination.page_query(select, webhook_delivery.c.created, webhook_delivery.c.id, "-created",
                                   True, query.cursor, query.limit)
    rows, cursor = pagination.split_page((await conn.execute(select)).all(), query.limit, "-created",
                                         lambda row: row.created)
    return [_delivery_json(row) for row in rows], cursor


def _delivery_json(row) -> dict:
    item = dict(row._mapping)
    if item["state"] != "pending":
        item["next_attempt"] = None
    return item


_REPLAY = sa.text(
    "INSERT INTO webhook_delivery (webhook_id, event_seq, organisation_id, next_attempt, created, replay_of)"
    " SELECT :webhook_id, d.event_seq, d.organisation_id, :now, :now, d.id FROM webhook_delivery d"
    " WHERE d.id = :delivery_id AND d.webhook_id = :webhook_id RETURNING id")
_REPLAY_RANGE = sa.text(
    "INSERT INTO webhook_delivery (webhook_id, event_seq, organisation_id, next_attempt, created)"
    " SELECT w.id, e.seq, w.organisation_id, :now, :now FROM webhook w JOIN automation_event e"
    "   ON e.organisation_id = w.organisation_id AND e.kind = ANY(w.kinds)"
    "   AND (w.goal_id IS NULL OR w.goal_id = ANY(e.goal_ids))"
    " WHERE w.id = :webhook_id AND e.occurred >= :start AND e.occurred < :end"
    " ORDER BY e.seq RETURNING id")
_COUNT_RANGE = sa.text(
    "SELECT count(*) FROM webhook w JOIN automation_event e"
    "   ON e.organisation_id = w.organisation_id AND e.kind = ANY(w.kinds)"
    "   AND (w.goal_id IS NULL OR w.goal_id = ANY(e.goal_ids))"
    " WHERE w.id = :webhook_id AND e.occurred >= :start AND e.occurred < :end")


async def replay_one(conn: AsyncConnection, user: str, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> dict:
    """A new delivery of the same event (same event id: receivers de-duplicating see it as known)."""
    await _load(conn, user, webhook_id)
    new_id = (await conn.execute(_REPLAY, {"webhook_id": webhook_id, "delivery_id": delivery_id,
                                           "now": clock.now()})).scalar()
    if new_id is None:
        raise Problem(404, f"no delivery {delivery_id} of webhook {webhook_id}")
    row = (await conn.execute(_deliveries().where(webhook_delivery.c.id == new_id))).one()
    return _delivery_json(row)


async def replay_range(conn: AsyncConnection, user: str, webhook_id: uuid.UUID, body: ReplayRange) -> list:
    """Every event the webhook subscribes to that occurred in [start, end), delivered again
    (or for the first time, for events older than the webhook)."""
    await _load(conn, user, webhook_id)
    if body.end <= body.start:
        raise invalid("end", "must be after start")
    params = {"webhook_id": webhook_id, "start": body.start, "end": body.end, "now": clock.now()}
    count = (await conn.execute(_COUNT_RANGE, params)).scalar_one()
    if count > MAX_REPLAY:
        raise Problem(422, f"the range holds {count} events; replay at most {MAX_REPLAY} at once "
                           "(narrow the range)", errors=[{"field": "end", "message": "range too large"}])
    return [row.id for row in await conn.execute(_REPLAY_RANGE, params)]
