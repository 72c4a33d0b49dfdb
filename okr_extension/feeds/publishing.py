"""Published feeds: their secrets, management, and serving with a cache and conditional GET.

A feed's URL carries a random secret (256 bits); only its SHA-256 is stored, so
the URL is shown once, when the feed is created or rotated. Every request looks
the secret up (a revoked or rotated URL is 404 at once, in every process) and
reads the calendar's sync revision with it: the ETag and the cache key derive
from that state, so a 304 costs one indexed query and a changed calendar is
rebuilt by the first request that sees the new revision, once per process.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Optional

from sqlalchemy.ext.asyncio import AsyncEngine

from okr_extension import access
from okr_extension.auth import PUBLIC_FEED_ROUTE
from okr_extension.feeds import builder, goal_events, queries, selection
from okr_extension.feeds.options import FeedOptions, ValidationError, parse_options
from okr_extension.feeds.ownership import own_calendar
from okr_extension.links import service as links_service
from storage_plugin.writer import NotFound
from storage_plugin import clock

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")
FEED_PATH = PUBLIC_FEED_ROUTE
CONTENT_TYPE = "text/calendar; charset=utf-8"


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 43 characters


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


def feed_urls(origin: str, host: str, token: str) -> dict[str, str]:
    path = FEED_PATH.format(token=token)
    return {"url": origin + path, "webcal_url": f"webcal://{host}{path}"}


def feed_json(row) -> dict[str, Any]:
    return {
        "id": row.id, "kind": row.kind,
        "calendar": f"/{row.calendar_path}/" if row.calendar_path else None,
        "organisation": str(row.organisation_id) if row.organisation_id else None,
        "options": FeedOptions.from_json(row.options).to_json(),
        "created": row.created.isoformat(), "updated": row.updated.isoformat(),
        "rotated": row.rotated.isoformat() if row.rotated else None,
    }


# -- management (the owner, authenticated) -------------------------------------
GOALS_FEED_OPTIONS = {"name", "refresh_minutes"}


async def create_feed(engine: AsyncEngine, user: str, data: Any) -> tuple[Any, str]:
    """A new feed from ``{"calendar": ..., "options": {...}}`` or, for an organisation's goals,
    ``{"organisation": <id>, "options": {...}}``; returns its row and secret."""
    if not isinstance(data, dict):
        raise ValidationError([{"field": "body", "reason": "must be a JSON object"}])
    unknown = set(data) - {"calendar", "organisation", "options"}
    if unknown or ("calendar" in data) == ("organisation" in data):
        raise ValidationError([{"field": sorted(unknown)[0] if unknown else "calendar",
                                "reason": "send calendar (or organisation, for a goals feed) and options"}])
    options = parse_options(data.get("options") or {})
    if "organisation" in data and set(data.get("options") or {}) - GOALS_FEED_OPTIONS:
        raise ValidationError([{"field": "options", "reason": "a goals feed takes only name and refresh_minutes"}])
    async with engine.begin() as conn:
        await _check_goal(conn, user, options)
        if "organisation" in data:
            organisation_id = await member_organisation(conn, user, data["organisation"])
            values = {"kind": "goals", "collection_id": None, "organisation_id": organisation_id}
        else:
            calendar = await own_calendar(conn, user, data.get("calendar"))
            values = {"kind": "calendar", "collection_id": calendar.id, "organisation_id": None}
        token = new_token()
        await conn.execute(queries.FORGET_DEAD_FEED_TOKENS, {"owner": user})
        await conn.execute(queries.INSERT_FEED_TOKEN, {"owner": user, "token_hash": token_hash(token)})
        row = (await conn.execute(queries.INSERT_FEED, {
            "owner": user, **values, "token_hash": token_hash(token),
            "options": json.dumps(options.to_json())})).one()
    return row, token


async def _check_goal(conn, user: str, options: FeedOptions) -> None:
    """A goal filter names a goal of the user's organisations (projects are free names)."""
    if options.goal is None:
        return
    kind, goal_id = options.goal
    _, visible = await links_service.goal(conn, user, kind, goal_id)
    if not visible:
        raise ValidationError([{"field": "goal", "reason": f"no {kind.replace('_', ' ')} {goal_id} in your organisations"}])


async def member_organisation(conn, user: str, given: Any) -> uuid.UUID:
    """An organisation the user may publish the goals of (any member; viewers included, since
    they may read every goal)."""
    try:
        organisation_id = uuid.UUID(str(given))
    except ValueError:
        raise ValidationError([{"field": "organisation", "reason": "must be an organisation id"}]) from None
    if await access.role_of(conn, user, organisation_id) is None:
        raise NotFound(f"you are in no organisation {organisation_id}")
    return organisation_id


async def list_feeds(engine: AsyncEngine, user: str) -> list:
    async with engine.connect() as conn:
        return (await conn.execute(queries.LIST_FEEDS, {"owner": user})).all()


async def get_feed(engine: AsyncEngine, user: str, feed_id: int):
    async with engine.connect() as conn:
        row = (await conn.execute(queries.FEED_BY_ID, {"id": feed_id, "owner": user})).first()
    if row is None:
        raise NotFound(f"you have no feed {feed_id}")
    return row


async def update_feed(engine: AsyncEngine, user: str, feed_id: int, data: Any):
    if not isinstance(data, dict) or set(data) - {"options"} or not isinstance(data.get("options"), dict):
        raise ValidationError([{"field": "options", "reason": "send {\"options\": {...}} with the options to change"}])
    async with engine.begin() as conn:
        row = (await conn.execute(queries.FEED_BY_ID, {"id": feed_id, "owner": user})).first()
        if row is None:
            raise NotFound(f"you have no feed {feed_id}")
        if row.kind == "goals" and set(data["options"]) - GOALS_FEED_OPTIONS:
            raise ValidationError([{"field": "options", "reason": "a goals feed takes only name and refresh_minutes"}])
        options = FeedOptions.from_json(row.options).merged(data["options"])
        await _check_goal(conn, user, options)
        return (await conn.execute(queries.UPDATE_FEED_OPTIONS, {
            "id": feed_id, "owner": user, "options": json.dumps(options.to_json())})).one()


async def _own_token(conn, user: str, feed_id: int) -> bytes:
    """The feed's token hash, the feed locked until the transaction ends."""
    old = (await conn.execute(queries.FEED_TOKEN_FOR_UPDATE, {"id": feed_id, "owner": user})).scalar()
    if old is None:
        raise NotFound(f"you have no feed {feed_id}")
    return old


async def rotate_feed(engine: AsyncEngine, user: str, feed_id: int) -> tuple[Any, str]:
    token = new_token()
    async with engine.begin() as conn:
        old = await _own_token(conn, user, feed_id)
        await conn.execute(queries.INSERT_FEED_TOKEN, {"owner": user, "token_hash": token_hash(token)})
        row = (await conn.execute(queries.ROTATE_FEED, {
            "id": feed_id, "owner": user, "token_hash": token_hash(token)})).one()
        await conn.execute(queries.DELETE_FEED_TOKEN, {"owner": user, "token_hash": old})
    return row, token


async def revoke_feed(engine: AsyncEngine, user: str, feed_id: int) -> None:
    async with engine.begin() as conn:  # the feed goes with its token (ON DELETE CASCADE)
        old = await _own_token(conn, user, feed_id)
        await conn.execute(queries.DELETE_FEED_TOKEN, {"owner": user, "token_hash": old})


# -- serving (anyone holding the secret URL) -----------------------------------
@dataclass(frozen=True)
class Validators:
    etag: str  # of the identity encoding; the gzip encoding's is etag + "-gzip"
    last_modified: datetime


@dataclass(frozen=True)
class CachedFeed:
    key: str
    built: builder.BuiltFeed
    validators: Validators

    @property
    def size(self) -> int:
        return len(self.built.body) + len(self.built.gzipped)


class FeedCache:
    """Built feeds of this process by feed id, least recently used first out, within a byte budget."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._entries: OrderedDict[int, CachedFeed] = OrderedDict()
        self._bytes = 0
        self.builds = 0  # how many feeds this process has built (observability, tests)

    def get(self, feed_id: int, key: str) -> Optional[CachedFeed]:
        entry = self._entries.get(feed_id)
        if entry is None or entry.key != key:
            return None
        self._entries.move_to_end(feed_id)
        return entry

    def put(self, feed_id: int, entry: CachedFeed) -> None:
        self.discard(feed_id)
        if entry.size > self._max_bytes:
            return
        self._entries[feed_id] = entry
        self._bytes += entry.size
        while self._bytes > self._max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size

    def discard(self, feed_id: int) -> None:
        old = self._entries.pop(feed_id, None)
        if old is not None:
            self._bytes -= old.size


def state_key(state, window: Optional[selection.Window], origin: str = "") -> str:
    """Everything the feed's content depends on; its hash is the ETag."""
    parts = [builder.BUILDER_VERSION, state.id, state.updated.isoformat(), state.collection_id,
             state.revision, window.anchor.date().isoformat() if window else "-",
             origin if state.kind == "goals" else "-"]
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def validators_of(state, window: Optional[selection.Window], origin: str = "") -> Validators:
    moments = [state.modified, state.updated] + ([window.anchor] if window else [])
    return Validators(f'"{state_key(state, window, origin)}"', max(moments).replace(microsecond=0))


def _bare_etags(header: str) -> set[str]:
    tags = set()
    for tag in header.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag.endswith('-gzip"'):
            tag = tag[:-len('-gzip"')] + '"'
        tags.add(tag)
    return tags


def not_modified(validators: Validators, if_none_match: Optional[str],
                 if_modified_since: Optional[str]) -> bool:
    """RFC 9110 §13.1: If-None-Match (weak comparison) decides; else If-Modified-Since."""
    if if_none_match:
        tags = _bare_etags(if_none_match)
        return "*" in tags or validators.etag in tags
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
        return validators.last_modified <= since
    return False


@dataclass(frozen=True)
class FeedResponse:
    status: int  # 200, 304 or 404
    headers: dict[str, str]
    body: bytes = b""


def _headers(validators: Validators, gzipped: bool) -> dict[str, str]:
    headers = {
        "ETag": validators.etag[:-1] + '-gzip"' if gzipped else validators.etag,
        "Last-Modified": format_datetime(validators.last_modified, usegmt=True),
        # The URL is a secret: no shared caches, and revalidate every time (revocation is immediate).
        "Cache-Control": "private, no-cache",
        "Vary": "Accept-Encoding",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return headers


def accepts_gzip(accept_encoding: str) -> bool:
    for coding in accept_encoding.split(","):
        name, _, params = coding.strip().partition(";")
        if name.strip().lower() in ("gzip", "x-gzip"):
            q = params.strip().lower()
            try:
                return not (q.startswith("q=") and float(q[2:]) == 0)
            except ValueError:
                return False
    return False


NOT_FOUND = FeedResponse(404, {"Cache-Control": "no-store"})


async def calendar_source(conn, state, options: FeedOptions, window: Optional[selection.Window],
                          origin: str) -> tuple[list, builder.FeedMeta]:
    """The items and calendar properties of a feed of kind ``calendar``."""
    rows = await selection.load_items(conn, state.collection_id, options, window)
    meta = builder.FeedMeta(
        calname=options.name or state.props.get("D:displayname") or state.path.rsplit("/", 1)[-1],
        description=state.props.get("C:calendar-description"),
        refresh_minutes=options.refresh_minutes, free_busy=options.free_busy,
        uid_salt=f"planerix-feed-{state.id}")
    return rows, meta


async def goals_source(conn, state, options: FeedOptions, window: Optional[selection.Window],
                       origin: str) -> tuple[list, builder.FeedMeta]:
    """All-day events for the organisation's objective and key-result due dates and its KPI
    reviews (recurring by the KPI's period), each with a URL back to the goal."""
    rows = (await conn.execute(queries.GOAL_DATES, {"org": state.organisation_id})).all()
    meta = builder.FeedMeta(calname=options.name or f"{state.organisation_name} goals", description=None,
                            refresh_minutes=options.refresh_minutes, free_busy=False,
                            uid_salt=f"planerix-feed-{state.id}")
    return [goal_events.event_of(row, origin) for row in rows], meta


# What each kind of feed (published_feed.kind) is built from, inside the build's snapshot.
SOURCES = {"calendar": calendar_source, "goals": goals_source}


class Publisher:
    """Answers requests for secret feed URLs (one per application)."""

    def __init__(self, engine: AsyncEngine, cache: FeedCache) -> None:
        self._engine = engine
        self.cache = cache
        self._locks: dict[int, asyncio.Lock] = {}

    async def serve(self, token: str, *, if_none_match: Optional[str] = None,
                    if_modified_since: Optional[str] = None, gzip_ok: bool = False,
                    now: Optional[datetime] = None, origin: str = "") -> FeedResponse:
        if not TOKEN_RE.fullmatch(token):
            return NOT_FOUND
        now = now or clock.now()
        async with self._engine.connect() as conn:
            state = (await conn.execute(queries.FEED_STATE_BY_TOKEN,
                                        {"token_hash": token_hash(token)})).first()
        if state is None:
            return NOT_FOUND
        window = selection.window_for(FeedOptions.from_json(state.options), now)
        validators = validators_of(state, window, origin)
        if not_modified(validators, if_none_match, if_modified_since):
            headers = _headers(validators, gzip_ok)
            headers.pop("Content-Encoding", None)
            return FeedResponse(304, headers)
        entry = self.cache.get(state.id, state_key(state, window, origin)) or await self._build(state.id, now, origin)
        if entry is None:  # revoked while we were building
            return NOT_FOUND
        headers = _headers(entry.validators, gzip_ok)
        headers["Content-Type"] = CONTENT_TYPE
        headers["Content-Disposition"] = 'inline; filename="calendar.ics"'
        return FeedResponse(200, headers, entry.built.gzipped if gzip_ok else entry.built.body)

    async def _build(self, feed_id: int, now: datetime, origin: str) -> Optional[CachedFeed]:
        lock = self._locks.setdefault(feed_id, asyncio.Lock())
        async with lock:  # concurrent misses of one feed build it once
            async with self._engine.connect() as conn:
                # One snapshot: the revision in the key is the one the items come from.
                conn = await conn.execution_options(isolation_level="REPEATABLE READ")
                async with conn.begin():
                    state = (await conn.execute(queries.FEED_STATE_BY_ID, {"id": feed_id})).first()
                    if state is None:
                        return None
                    options = FeedOptions.from_json(state.options)
                    window = selection.window_for(options, now)
                    key = state_key(state, window, origin)
                    cached = self.cache.get(feed_id, key)
                    if cached is not None:
                        return cached
                    rows, meta = await SOURCES[state.kind](conn, state, options, window, origin)
            built = await asyncio.to_thread(builder.build, rows, meta)
            entry = CachedFeed(key, built, validators_of(state, window, origin))
            self.cache.put(feed_id, entry)
            self.cache.builds += 1
        return entry
