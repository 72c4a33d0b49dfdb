"""``planerix import caldav URL --user NAME``: every calendar and task list of a CalDAV account.

Discovery as clients do it (RFC 6764, RFC 4791): the URL's ``current-user-principal``
(or that of ``/.well-known/caldav``), the principal's ``calendar-home-set``, the
calendars in it; a URL that is itself a calendar imports just that one. Each
calendar's properties are kept (display name, colour, order, description,
component set, time zone), and each item its href and, when it is strong, its ETag:
Planerix serves the source server's ETag (migration 0019) until the item is next
written, so a client that synced with that server lists the same ETags and downloads
nothing. A weak or missing ETag gives way to Planerix's own (the SHA-256 of the text).

Each calendar is read whole (a Depth-1 listing, then ``calendar-multiget`` in
batches) and written in one transaction through ``writer.importing``; items already
stored with the same text are left alone. An interrupted import is simply run
again: finished calendars compare unchanged, the interrupted one is written whole.
Requests go through the feed fetcher's guard (no private addresses unless
``PLANERIX_ALLOW_PRIVATE_NETWORKS=1``), with its time and size limits.
"""
from __future__ import annotations

import asyncio
import base64
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Callable, Optional
from urllib.parse import unquote, urljoin, urlsplit

import aiohttp
from radicale import pathutils

from okr_extension.feeds import fetch
from okr_extension.feeds.settings import FeedSettings
from server.moving.radicale_import import (ImportReport, Imported, Skipped, SourceText, prepare_all,
                                          store_collection)
from server.xml_guard import XmlRefused, check_xml
from storage_plugin import accounts, writer
from storage_plugin.storage import Storage, is_strong_etag

D, C, ICAL = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}", "{http://apple.com/ns/ical/}"
# Source property → the key Radicale (and so the storage) keeps it under.
PROPERTIES = {f"{D}displayname": "D:displayname", f"{ICAL}calendar-color": "ICAL:calendar-color",
              f"{ICAL}calendar-order": "ICAL:calendar-order",
              f"{C}calendar-description": "C:calendar-description",
              f"{C}calendar-timezone": "C:calendar-timezone"}
COMPONENT_SET = f"{C}supported-calendar-component-set"
MULTIGET_BATCH = 100


class SourceError(Exception):
    """The account could not be read; nothing of the calendar concerned was written."""


@dataclass
class SourceCalendar:
    url: str
    name: str  # the last path segment: the calendar's name under the target user
    props: dict[str, str]


@dataclass
class CaldavReport(ImportReport):
    etags_kept: int = 0
    etags_total: int = 0
    calendars: list[str] = field(default_factory=list)


def _propfind_body(names: list[str]) -> bytes:
    namespaces = {D: "D", C: "C", ICAL: "A"}
    props = "".join(f"<{namespaces[n[:n.index('}') + 1]]}:{n[n.index('}') + 1:]}/>" for n in names)
    return ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:A="http://apple.com/ns/ical/">'
            f"<D:prop>{props}</D:prop></D:propfind>").encode()


class Source:
    """One CalDAV account, read over HTTP with the feed fetcher's guard and limits."""

    def __init__(self, session: aiohttp.ClientSession, settings: FeedSettings, user: str, password: str) -> None:
        self._session = session
        self._settings = settings
        self._authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")

    async def request(self, method: str, url: str, body: bytes = b"", depth: Optional[str] = None,
                      ) -> tuple[int, bytes, str]:
        """(status, body, final URL) after following redirects, each hop checked."""
        headers = {"Content-Type": "application/xml; charset=utf-8"}
        if depth is not None:
            headers["Depth"] = depth
        timeout = aiohttp.ClientTimeout(total=self._settings.fetch_timeout_seconds)
        origin = None
        for _ in range(self._settings.max_redirects + 1):
            try:
                url = fetch.normalize_url(url)
                await fetch.check_host(url, self._settings)
            except ValueError as e:
                raise SourceError(f"refused {url}: {e}") from None
            # The password goes to the server it was given for, not to where it redirects.
            origin = origin or urlsplit(url)[:2]
            if urlsplit(url)[:2] == origin:
                headers["Authorization"] = self._authorization
            else:
                headers.pop("Authorization", None)
            try:
                async with self._session.request(method, url, data=body, headers=headers,
                                                 timeout=timeout, allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                        url = urljoin(url, response.headers["Location"])
                        continue
                    data = await response.content.read(self._settings.max_feed_bytes + 1)
                    if len(data) > self._settings.max_feed_bytes:
                        raise SourceError(f"{method} {url}: the answer is larger than "
                                          f"{self._settings.max_feed_bytes} bytes (PLANERIX_FEEDS_MAX_BYTES)")
                    return response.status, data, url
            except (aiohttp.ClientError, TimeoutError) as e:
                raise SourceError(f"{method} {url}: {type(e).__name__}: {e}") from None
        raise SourceError(f"more than {self._settings.max_redirects} redirects from {url}")

    async def multistatus(self, method: str, url: str, body: bytes, depth: str) -> list[tuple[str, ET.Element]]:
        """(absolute URL, response element) of a 207 answer."""
        status, data, final = await self.request(method, url, body, depth)
        if status == 401:
            raise SourceError(f"{url}: the server refused the user name or password (401)")
        if status != 207:
            raise SourceError(f"{method} {url}: HTTP {status} instead of a multistatus (207)")
        try:
            check_xml(data)
            root = ET.fromstring(data)
        except (XmlRefused, ET.ParseError) as e:
            raise SourceError(f"{method} {url}: unreadable answer: {e}") from None
        return [(urljoin(final, r.findtext(f"{D}href") or ""), r) for r in root.iter(f"{D}response")]

    async def properties(self, url: str, names: list[str], depth: str = "0") -> list[tuple[str, dict]]:
        """(URL, {property: element}) of the properties found (status 200)."""
        found = []
        for href, response in await self.multistatus("PROPFIND", url, _propfind_body(names), depth):
            props = {}
            for propstat in response.iter(f"{D}propstat"):
                if " 200 " in f"{propstat.findtext(f'{D}status') or ''} ":
                    for prop in propstat.find(f"{D}prop") or []:
                        props[prop.tag] = prop
            found.append((href, props))
        return found


def _href_in(element: Optional[ET.Element], base: str) -> Optional[str]:
    href = element.findtext(f"{D}href") if element is not None else None
    return urljoin(base, href.strip()) if href else None


async def discover(source: Source, url: str) -> list[SourceCalendar]:
    """The account's calendars and task lists, found from ``url`` as clients find them."""
    wanted = [f"{D}current-user-principal", f"{D}resourcetype", f"{C}calendar-home-set"]
    try:
        start = await source.properties(url, wanted)
    except SourceError:
        if urlsplit(url).path not in ("", "/"):
            raise
        start = await source.properties(urljoin(url, "/.well-known/caldav"), wanted)
    here, props = start[0] if start else (url, {})
    if props.get(f"{D}resourcetype") is not None and props[f"{D}resourcetype"].find(f"{C}calendar") is not None:
        return [await _calendar(source, here)]
    home = _href_in(props.get(f"{C}calendar-home-set"), here)
    if home is None:
        principal = _href_in(props.get(f"{D}current-user-principal"), here)
        if principal is None:
            raise SourceError(f"{url} names no current-user-principal: give the calendar home's URL")
        found = await source.properties(principal, [f"{C}calendar-home-set"])
        home = _href_in(found[0][1].get(f"{C}calendar-home-set") if found else None, principal)
        if home is None:
            raise SourceError(f"the principal {principal} has no calendar-home-set")
    calendars = []
    listing = await source.properties(home, [f"{D}resourcetype", *PROPERTIES, COMPONENT_SET], depth="1")
    for href, props in listing:
        kind = props.get(f"{D}resourcetype")
        if kind is not None and kind.find(f"{C}calendar") is not None and href.rstrip("/") != home.rstrip("/"):
            calendars.append(_calendar_of(href, props))
    return calendars


async def _calendar(source: Source, url: str) -> SourceCalendar:
    found = await source.properties(url, [*PROPERTIES, COMPONENT_SET])
    return _calendar_of(url, found[0][1] if found else {})


def _calendar_of(url: str, props: dict) -> SourceCalendar:
    kept = {"tag": "VCALENDAR"}
    for name, key in PROPERTIES.items():
        if props.get(name) is not None and (props[name].text or "").strip():
            kept[key] = props[name].text.strip() if key != "C:calendar-timezone" else props[name].text
    components = props.get(COMPONENT_SET)
    if components is not None:
        names = [c.get("name") for c in components.iter(f"{C}comp") if c.get("name")]
        if names:
            kept["C:supported-calendar-component-set"] = ",".join(names)
    name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    return SourceCalendar(url, name, kept)


async def read_items(source: Source, calendar: SourceCalendar,
                     progress: Callable[[int, int], None]) -> list[tuple[str, Optional[str], str]]:
    """(href, strong source ETag or None, text) of every item of ``calendar``."""
    listing = await source.properties(calendar.url, [f"{D}getetag", f"{D}resourcetype"], depth="1")
    members = [href for href, props in listing
               if href.rstrip("/") != calendar.url.rstrip("/")
               and (props.get(f"{D}resourcetype") is None
                    or props[f"{D}resourcetype"].find(f"{D}collection") is None)]
    items = []
    for start in range(0, len(members), MULTIGET_BATCH):
        batch = members[start:start + MULTIGET_BATCH]
        hrefs = "".join(f"<D:href>{_xml_text(urlsplit(h).path)}</D:href>" for h in batch)
        body = ('<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget xmlns:D="DAV:" '
                'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>'
                f"{hrefs}</C:calendar-multiget>").encode()
        for href, response in await source.multistatus("REPORT", calendar.url, body, "1"):
            text = response.findtext(f".//{C}calendar-data")
            etag = (response.findtext(f".//{D}getetag") or "").strip()
            name = unquote(urlsplit(href).path.rsplit("/", 1)[-1])
            items.append((name, etag if etag.startswith('"') else None, text))
        progress(min(start + MULTIGET_BATCH, len(members)), len(members))
    return items


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


async def _import(storage: Storage, url: str, user: str, password: str, into: str,
                  settings: FeedSettings, progress: Callable[[str, int, int], None]) -> CaldavReport:
    report = CaldavReport()
    async with fetch.new_session(settings) as session:
        source = Source(session, settings, user, password)
        calendars = await discover(source, url)
        if accounts.add_without_password(storage.engine, into):
            report.new_users.append(into)
        for calendar in calendars:
            path = f"{into}/{calendar.name}"
            report.calendars.append(path)
            if not pathutils.is_safe_filesystem_path_component(calendar.name):
                report.skipped.append(Skipped(calendar.url, "the calendar's name cannot be a path segment"))
                continue
            try:
                items = await read_items(source, calendar, lambda done, total: progress(path, done, total))
            except SourceError as e:
                report.skipped.append(Skipped(f"/{path}/", f"{e}; nothing of it was imported"))
                continue
            result = Imported(path, "VCALENDAR")
            prepared = await asyncio.to_thread(_prepare, storage, path, items, report, result)
            await asyncio.to_thread(store_collection, storage, path, calendar.props, prepared, report, result)
    await asyncio.to_thread(accounts.ensure_homes, storage.engine, report.new_users)
    return report


def _prepare(storage: Storage, path: str, items, report: CaldavReport,
             result: Imported) -> list[writer.PreparedPut]:
    texts = []
    for href, etag, text in sorted(items, key=lambda i: i[0]):
        strong = etag if etag is not None and is_strong_etag(etag) else None
        texts.append(SourceText(href, text, None if text is not None else
                                "the server sent no calendar data for it", strong))
    prepared = prepare_all(storage, path, "VCALENDAR", texts, report, result)
    report.etags_total += len(prepared) + result.unchanged
    report.etags_kept += result.etags_kept
    return prepared


def import_caldav(storage: Storage, url: str, user: str, password: str, into: Optional[str] = None,
                  settings: Optional[FeedSettings] = None,
                  progress: Callable[[str, int, int], None] = lambda path, done, total: None) -> CaldavReport:
    """Import the calendars of ``user`` at ``url`` as the calendars of ``into`` (default: ``user``)."""
    into = accounts.check_name(into or user)
    return asyncio.run(_import(storage, url, user, password, into, settings or FeedSettings.from_env(),
                               progress))
