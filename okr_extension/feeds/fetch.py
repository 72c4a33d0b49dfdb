"""Fetch an external iCalendar feed: conditional, time-limited, size-limited, and kept
off the server's own network.

Redirects are followed here (at most ``max_redirects``), so every hop is checked;
host names are resolved through a resolver that drops loopback, private,
link-local and other non-global addresses unless the settings allow them.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
import unicodedata
from dataclasses import dataclass
from typing import Optional
from urllib.parse import urljoin, urlsplit, urlunsplit

import aiohttp
from aiohttp.abc import AbstractResolver

from okr_extension.feeds.settings import FeedSettings

USER_AGENT = "Planerix-feed-import/1"
MAX_URL_LENGTH = 2048


class FetchError(Exception):
    """The feed could not be fetched; the message says why (it is shown in the status)."""


@dataclass(frozen=True)
class Fetched:
    not_modified: bool
    body: bytes = b""
    charset: Optional[str] = None
    etag: Optional[str] = None
    last_modified: Optional[str] = None


def normalize_url(url: str) -> str:
    """The http(s) URL to fetch; ``webcal://`` and ``webcals://`` mean HTTPS. ValueError if unusable."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("give the feed's http://, https:// or webcal:// URL")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(unicodedata.category(c) == "Cc" for c in url):
        raise ValueError("the URL contains control characters (percent-encode them)")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("webcal", "webcals"):
        scheme = "https"
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme {parts.scheme!r}: use http, https or webcal")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    try:
        parts.port
    except ValueError as e:
        raise ValueError(f"invalid port: {e}") from None
    return urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, ""))


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class NonPublicHost(OSError):
    """The host is, or resolves only to, loopback, private or other non-public addresses."""


async def public_addresses(resolver: AbstractResolver, host: str, port: int = 0,
                           family: int = socket.AF_UNSPEC) -> list[dict]:
    """``host``'s addresses that are public; NonPublicHost when it has none. A name is resolved
    the way the operating system does for the fetch, so every spelling of an address
    (``localhost``, ``127.1``, ``0x7f000001``, ``2130706433``, ``0177.0.0.1``) meets the same rule."""
    if _is_address(host):
        results = [{"hostname": host, "host": host, "port": port, "family": family, "proto": 0, "flags": 0}]
    else:  # a name, or an address only the resolver understands
        results = await resolver.resolve(host, port, family)
    public = [r for r in results if _is_public(r["host"])]
    if not public:
        raise NonPublicHost(f"{host} is or resolves only to loopback, private or non-public addresses; "
                            "Planerix fetches feeds only from the public internet")
    return public


async def check_host(url: str, settings: FeedSettings) -> None:
    """Refuse (ValueError) a URL whose host is or resolves only to non-public addresses: at
    registration and before every fetch and redirect. A name that does not resolve now passes;
    fetching it reports the error."""
    if settings.allow_private_networks:
        return
    host = urlsplit(url).hostname or ""
    resolver = aiohttp.ThreadedResolver()
    try:
        await public_addresses(resolver, host)
    except NonPublicHost as e:
        raise ValueError(str(e)) from None
    except OSError:
        return
    finally:
        await resolver.close()


class PublicOnlyResolver(AbstractResolver):
    """Resolves like the default resolver, then keeps only public addresses."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):
        return await public_addresses(self._inner, host, port, family)

    async def close(self) -> None:
        await self._inner.close()


def new_session(settings: FeedSettings) -> aiohttp.ClientSession:
    resolver = None if settings.allow_private_networks else PublicOnlyResolver()
    connector = aiohttp.TCPConnector(resolver=resolver, limit=settings.concurrency * 2)
    return aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT},
                                 auto_decompress=True)


async def fetch(session: aiohttp.ClientSession, url: str, settings: FeedSettings, *,
                etag: Optional[str] = None, last_modified: Optional[str] = None) -> Fetched:
    """GET ``url`` with the validators of the last good response; FetchError on any failure."""
    headers = {"Accept": "text/calendar, text/plain;q=0.5, */*;q=0.1"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    timeout = aiohttp.ClientTimeout(total=settings.fetch_timeout_seconds)
    try:
        async with asyncio.timeout(settings.fetch_timeout_seconds):
            for _ in range(settings.max_redirects + 1):
                try:
                    url = normalize_url(url)
                    await check_host(url, settings)
                except ValueError as e:
                    raise FetchError(f"refused {url}: {e}") from None
                async with session.get(url, headers=headers, timeout=timeout,
                                       allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                        url = urljoin(url, response.headers["Location"])
                        continue
                    return await _read(response, settings)
            raise FetchError(f"more than {settings.max_redirects} redirects")
    except TimeoutError:
        raise FetchError(f"no complete answer within {settings.fetch_timeout_seconds:g} s") from None
    except aiohttp.ClientConnectorError as e:
        raise FetchError(f"cannot connect to {e.host}:{e.port}: {e.os_error or e}") from None
    except aiohttp.ClientError as e:
        raise FetchError(f"network error: {type(e).__name__}: {e}") from None


async def _read(response: aiohttp.ClientResponse, settings: FeedSettings) -> Fetched:
    if response.status == 304:
        return Fetched(True, etag=response.headers.get("ETag"),
                       last_modified=response.headers.get("Last-Modified"))
    if response.status != 200:
        raise FetchError(f"HTTP {response.status} {response.reason or ''}".rstrip())
    limit = settings.max_feed_bytes
    declared = response.content_length
    if declared is not None and declared > limit:
        raise FetchError(f"the feed is {declared} bytes; at most {limit} bytes are imported")
    body = bytearray()
    async for chunk in response.content.iter_chunked(65536):
        body += chunk
        if len(body) > limit:
            raise FetchError(f"the feed is larger than {limit} bytes (the import limit)")
    return Fetched(False, bytes(body), response.charset, response.headers.get("ETag"),
                   response.headers.get("Last-Modified"))
