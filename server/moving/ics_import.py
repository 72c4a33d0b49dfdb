"""``planerix import ics``: one or many VCALENDARs from a file or a URL into a calendar.

The body is split by UID into calendar objects (a master with its overrides) and
stored as the feed importer does (``okr_extension.feeds.importer``): each object
prepared as a PUT, new UIDs added, changed ones replaced at their href, unchanged
ones left alone (so a second run changes nothing), all in one transaction. Unlike a
subscription, the calendar stays writable and objects the body lacks are kept. A
URL is fetched as a feed is (size and time limits, no private addresses unless
``PLANERIX_ALLOW_PRIVATE_NETWORKS=1``).
"""
from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Optional

from sqlalchemy import select

from okr_extension.feeds import fetch
from okr_extension.feeds.importer import Changes, FeedInvalid, import_feed
from okr_extension.feeds.settings import FeedSettings
from storage_plugin import accounts, queries, writer
from storage_plugin.storage import Storage

_URL = re.compile(r"(?i)^(https?|webcals?)://")
_CALNAME = re.compile(r"(?m)^X-WR-CALNAME:([^\r\n]*)")


def read_source(source: str, settings: FeedSettings) -> tuple[bytes, Optional[str]]:
    """The body and declared charset of a file or URL; FeedInvalid or FetchError if unusable."""
    if _URL.match(source):
        return asyncio.run(_download(source, settings))
    path = Path(source)
    try:
        size = path.stat().st_size
        if size > settings.max_feed_bytes:
            raise FeedInvalid(f"{source} is {size} bytes; at most {settings.max_feed_bytes} bytes are "
                              "imported at once (PLANERIX_FEEDS_MAX_BYTES)")
        return path.read_bytes(), None
    except OSError as e:
        raise FeedInvalid(f"cannot read {source}: {e.strerror or e}") from None


async def _download(url: str, settings: FeedSettings) -> tuple[bytes, Optional[str]]:
    async with fetch.new_session(settings) as session:
        fetched = await fetch.fetch(session, url, settings)
    return fetched.body, fetched.charset


def _calendar_exists(storage: Storage, path: str) -> bool:
    with storage.connection() as conn:
        return conn.execute(queries.COLLECTION_BY_PATH, {"path": path, "owner": writer.owner_of(path)}).first() \
            is not None


def import_ics(storage: Storage, source: str, calendar: str,
               settings: Optional[FeedSettings] = None) -> Changes:
    """Import ``source`` into the calendar at ``calendar`` (``/NAME/CAL/``), created if missing."""
    settings = settings or FeedSettings.from_env()
    path = writer.calendar_path(calendar)
    owner = writer.owner_of(path)
    if "/" not in path:
        raise writer.Conflict(f"/{path}/ is a user's home: name a calendar, /{path}/NAME/")
    with storage.engine.connect() as conn:
        if conn.execute(select(accounts.account.c.name).where(accounts.account.c.name == owner)).first() is None:
            raise writer.NotFound(f"there is no user {owner!r} (planerix user add {owner})")
    body, charset = read_source(source, settings)
    if not _calendar_exists(storage, path):
        name = _CALNAME.search(body.decode("utf-8", "replace"))
        props = {"D:displayname": name.group(1).strip()} if name and name.group(1).strip() else {}
        writer.create_calendar(storage, owner, path, props)
    return import_feed(storage, owner, path, body, charset, max_lines=settings.max_feed_lines,
                       budget_seconds=settings.import_budget_seconds, one_off=True)
