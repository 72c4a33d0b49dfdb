"""Settings: personal tokens, published ICS feeds and calendar subscriptions, through the same
functions as their REST handlers (the secret of a token or a feed is shown once, when made)."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from aiohttp import web

from okr_extension import tokens
from okr_extension.feeds import publishing, subscriptions
from okr_extension.feeds.runtime import FEEDS
from okr_extension.keys import ENGINE
from okr_extension.models.tokens import TokenCreate
from okr_extension.transactions import transaction
from okr_extension.web import overview

_MY_CALENDARS = sa.text("SELECT path FROM collection WHERE split_part(path, '/', 1) = :user"
                        " AND tag = 'VCALENDAR' ORDER BY path")


async def load(request: web.Request, user: str) -> dict:
    engine = request.app[ENGINE]
    async with transaction(request) as conn:
        my_tokens = await tokens.list_mine(conn, user)
        calendars = list((await conn.execute(_MY_CALENDARS, {"user": user})).scalars())
        organisations = await overview.my_organisations(conn, user)
    feeds = [publishing.feed_json(row) for row in await publishing.list_feeds(engine, user)]
    subscribed = [subscriptions.subscription_json(row) for row in await subscriptions.list_all(engine, user)]
    return {"tokens": my_tokens, "feeds": feeds, "subscriptions": subscribed, "calendars": calendars,
            "organisations": organisations}


async def create_token(request: web.Request, user: str, body: TokenCreate) -> dict:
    async with transaction(request) as conn:
        return await tokens.create(conn, user, body)


async def revoke_token(request: web.Request, user: str, token_id: uuid.UUID) -> None:
    async with transaction(request) as conn:
        await tokens.revoke(conn, user, token_id)


def feed_source(source: str, name: str) -> dict:
    """The form's "calendar:/alice/work/" or "organisation:<id>" as the feeds API's body."""
    kind, _, value = source.partition(":")
    options = {"name": name} if name else {}
    if kind == "organisation":
        return {"organisation": value, "options": options}
    return {"calendar": value, "options": options}


def secret_urls(request: web.Request, token: str) -> dict[str, str]:
    return publishing.feed_urls(f"{request.scheme}://{request.host}", request.host, token)


async def create_feed(request: web.Request, user: str, source: str, name: str) -> dict:
    row, token = await publishing.create_feed(request.app[ENGINE], user, feed_source(source, name))
    return {**publishing.feed_json(row), **secret_urls(request, token)}


async def rotate_feed(request: web.Request, user: str, feed_id: int) -> dict:
    row, token = await publishing.rotate_feed(request.app[ENGINE], user, feed_id)
    return {**publishing.feed_json(row), **secret_urls(request, token)}


async def revoke_feed(request: web.Request, user: str, feed_id: int) -> None:
    await publishing.revoke_feed(request.app[ENGINE], user, feed_id)
    request.app[FEEDS].publisher.cache.discard(feed_id)
