"""gzip of CalDAV answers at a fast level.

Radicale compresses every answer a client accepts gzip for at zlib's default level (6):
16 ms of CPU for a 1 MB week of calendar data, more than the rest of the request. Level 1
takes a third of that for answers about a fifth larger, and ISA-L's level 1 (the ``isal``
package, the same deflate format) a quarter of zlib's level 1 for answers a little smaller:
1.1 ms for that week. Planerix takes the request's ``Accept-Encoding: gzip`` away from
Radicale and compresses the finished answer itself.
"""
from __future__ import annotations

import zlib

try:
    from isal import isal_zlib as _deflate  # zlib's interface, levels 0-3
except ImportError:  # a platform without its wheels: zlib's fastest level
    _deflate = zlib

LEVEL = 1
# Smaller answers go as they are (identity): a few hundred bytes fit one packet either way, and
# compressing and inflating them costs both ends more than the bytes saved (an event's GET, a
# Depth-0 PROPFIND).
MIN_SIZE = 1024


def take_gzip(environ) -> bool:
    """Whether the client accepts gzip; Radicale then sees an Accept-Encoding without it."""
    offered = [value.strip() for value in environ.get("HTTP_ACCEPT_ENCODING", "").split(",")]
    if "gzip" not in offered:
        return False
    environ["HTTP_ACCEPT_ENCODING"] = ", ".join(value for value in offered if value and value != "gzip")
    return True


def compress(headers: list[tuple[str, str]], chunks) -> tuple[list[tuple[str, str]], list[bytes]]:
    """The headers and body of an answer, gzipped unless smaller than ``MIN_SIZE`` (the body is
    read whole first)."""
    chunks = list(chunks)
    if any(name.lower() == "content-encoding" for name, _ in headers) or sum(map(len, chunks)) < MIN_SIZE:
        return headers, chunks
    compressor = _deflate.compressobj(LEVEL, wbits=16 + zlib.MAX_WBITS)
    body = [compressor.compress(chunk) for chunk in chunks]
    body.append(compressor.flush())
    length = sum(len(part) for part in body)
    headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
    return headers + [("Content-Encoding", "gzip"), ("Content-Length", str(length))], body
