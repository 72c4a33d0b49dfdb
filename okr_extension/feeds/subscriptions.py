"""Subscriptions to external feeds: registration, status, changes, removal.

Registering creates the target calendar through ``storage_plugin.writer``
(read-only for CalDAV clients) and the subscription row in one transaction;
the first fetch is due at once. Removing a subscription deletes its calendar.
"""
from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any, Optional
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncEngine

from okr_extension.feeds import fetch, queries
from okr_extension.feeds.options import ValidationError, display_name
from okr_extension.feeds.ownership import own_calendar_path
from okr_extension.feeds.settings import FeedSettings
from storage_plugin import clock, writer
from storage_plugin.storage import Storage
from storage_plugin.writer import NotFound

DEFAULT_REFRESH_SECONDS = 3600
_COLOR = re.compile(r"#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?")
_FIELDS = ("url", "calendar", "displayname", "color", "refresh_interval")


def redacted(url: str) -> str:
    """The URL without user name and password (for texts other people may see)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _iso(moment: Optional[datetime]) -> Optional[str]:
    return moment.isoformat() if moment else None


def subscription_json(row, now: Optional[datetime] = None) -> dict[str, Any]:
    now = now or clock.now()
    if row.lease_until is not None and row.lease_until > now:
        state = "refreshing"
    elif row.consecutive_failures:
        state = "failing"
    elif row.last_success is None:
        state = "pending"
    else:
        state = "ok"
    return {
        "id": row.id, "url": row.url, "calendar": f"/{row.calendar_path}/",
        "displayname": (row.props or {}).get("D:displayname"),
        "refresh_interval": row.refresh_seconds, "created": _iso(row.created),
        "status": {
            "state": state, "item_count": row.item_count, "next_run": _iso(row.next_run),
            "last_attempt": _iso(row.last_attempt), "last_success": _iso(row.last_success),
            "last_error": row.last_error, "last_error_at": _iso(row.last_error_at),
            "consecutive_failures": row.consecutive_failures, "last_changes": row.last_changes,
        },
    }


def _check_fields(data: Any, allowed: tuple[str, ...]) -> dict:
    if not isinstance(data, dict):
        raise ValidationError([{"field": "body", "reason": "must be a JSON object"}])
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValidationError([{"field": unknown[0], "reason": f"unknown field; known: {', '.join(allowed)}"}])
    return data


async def _validated(data: dict, settings: FeedSettings, errors: list) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "url" in data:
        try:
            values["url"] = fetch.normalize_url(data["url"])
            await fetch.check_host(values["url"], settings)  # the fetcher's own rule, resolved now
        except ValueError as e:
            errors.append({"field": "url", "reason": str(e)})
    if "refresh_interval" in data:
        value = data["refresh_interval"]
        low, high = max(1, settings.min_refresh_seconds), settings.max_refresh_seconds
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors.append({"field": "refresh_interval",
                           "reason": f"must be a whole number of seconds from {low} to {high}"})
        else:
            values["refresh_interval"] = value
    if "displayname" in data:
        try:
            values["displayname"] = display_name(data["displayname"])
        except ValueError as e:
            errors.append({"field": "displayname", "reason": str(e)})
    if "color" in data:
        color = data["color"]
        if color is None or isinstance(color, str) and _COLOR.fullmatch(color):
            values["color"] = color
        else:
            errors.append({"field": "color", "reason": "must be a colour like #3366FF or #3366FFFF"})
    return values


def _props(values: dict) -> dict[str, Optional[str]]:
    props = {}
    if "displayname" in values:
        props["D:displayname"] = values["displayname"]
    if "color" in values:
        props["ICAL:calendar-color"] = values["color"]
    return props


async def create(engine: AsyncEngine, storage: Storage, settings: FeedSettings, user: str, data: Any):
    data = _check_fields(data, _FIELDS)
    errors: list = []
    for required in ("url", "calendar"):
        if required not in data:
            errors.append({"field": required, "reason": "required"})
    values = await _validated(data, settings, errors)
    path = None
    if "calendar" in data:
        try:
            path = own_calendar_path(user, data["calendar"])
        except ValidationError as e:
            errors.extend(e.errors)
    if errors:
        raise ValidationError(errors)
    refresh = values.get("refresh_interval", max(DEFAULT_REFRESH_SECONDS, settings.min_refresh_seconds))
    props = {"D:displayname": path.rsplit("/", 1)[-1],
             "C:calendar-description": f"Subscribed from {redacted(values['url'])}"}
    props.update({k: v for k, v in _props(values).items() if v is not None})

    def insert(conn, collection_id: int) -> int:
        return conn.execute(queries.INSERT_SUBSCRIPTION, {
            "owner": user, "collection_id": collection_id, "url": values["url"],
            "refresh_seconds": refresh}).scalar_one()

    subscription_id = await asyncio.to_thread(
        writer.create_calendar, storage, user, path, props, read_only=True, then=insert)
    return await get(engine, user, subscription_id)


async def list_all(engine: AsyncEngine, user: str) -> list:
    async with engine.connect() as conn:
        return (await conn.execute(queries.LIST_SUBSCRIPTIONS, {"owner": user})).all()


async def get(engine: AsyncEngine, user: str, subscription_id: int):
    async with engine.connect() as conn:
        row = (await conn.execute(queries.SUBSCRIPTION_BY_ID, {"id": subscription_id, "owner": user})).first()
    if row is None:
        raise NotFound(f"you have no subscription {subscription_id}")
    return row


async def update(engine: AsyncEngine, storage: Storage, settings: FeedSettings, user: str,
                 subscription_id: int, data: Any):
    data = _check_fields(data, ("url", "displayname", "color", "refresh_interval"))
    errors: list = []
    values = await _validated(data, settings, errors)
    if errors:
        raise ValidationError(errors)
    current = await get(engine, user, subscription_id)
    async with engine.begin() as conn:
        await conn.execute(queries.UPDATE_SUBSCRIPTION, {
            "id": subscription_id, "owner": user, "url": values.get("url", current.url),
            "refresh_seconds": values.get("refresh_interval", current.refresh_seconds)})
    props = _props(values)
    if props:
        await asyncio.to_thread(writer.update_properties, storage, user, current.calendar_path, props,
                                allow_read_only=True)
    return await get(engine, user, subscription_id)


async def request_refresh(engine: AsyncEngine, user: str, subscription_id: int) -> None:
    async with engine.begin() as conn:
        if (await conn.execute(queries.REQUEST_REFRESH, {"id": subscription_id, "owner": user})).first() is None:
            raise NotFound(f"you have no subscription {subscription_id}")


async def delete(engine: AsyncEngine, storage: Storage, user: str, subscription_id: int) -> None:
    row = await get(engine, user, subscription_id)
    # The subscription row goes with its calendar (ON DELETE CASCADE).
    await asyncio.to_thread(writer.delete_calendar, storage, user, row.calendar_path, allow_read_only=True)

