"""gzip of CalDAV answers at a fast level.

Radicale compresses every answer a client accepts gzip for at zlib's default level (6):
16 ms of CPU for a 1 MB week of calendar data, more than the rest of the request. Level 1
takes a third of that for answers about a fifth larger, and ISA-L's level 1 (the ``isal``
package, the same deflate format) a quarter of zlib's level 1 for answers a little smaller:
1.1 ms for that week. Planerix takes the request's ``Accept-Encoding: gzip`` away from
Radicale and compresses the finished answer itself.

Each chunk of an answer is deflated on its own, ending on a byte boundary with an empty
dictionary (a full flush), and the pieces follow each other in one gzip member (as pigz
writes them): a chunk that names its bytes (``storage_plugin.rendered.Group``, a group of a
calendar-query's members by their row versions) is deflated once per process and its deflated
form kept (``DEFLATED``). A calendar renamed, or one event of a week edited, then costs the
deflating of one group, not of the whole megabyte. Chunks of tens of KB lose almost nothing to
the restart: deflate looks back 32 KB at most.
"""
from __future__ import annotations

import struct
import zlib

from storage_plugin.kept import Kept

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


# gzip's header (deflate, no name, no time, unknown system), and the final empty block that
# closes the deflate stream after the last full flush.
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_LAST_BLOCK = b"\x03\x00"
# Deflated chunks by the key that names their bytes, bounded by their bytes.
DEFLATED: Kept[bytes] = Kept(32 * 1024 * 1024, len)


def compress(headers: list[tuple[str, str]], chunks) -> tuple[list[tuple[str, str]], list[bytes]]:
    """The headers and body of an answer, gzipped unless smaller than ``MIN_SIZE`` (the body is
    read whole first)."""
    chunks = list(chunks)
    if any(name.lower() == "content-encoding" for name, _ in headers) or sum(map(len, chunks)) < MIN_SIZE:
        return headers, plain(chunks)
    body, crc, size = [_HEADER], 0, 0
    for chunk in chunks:
        key = getattr(chunk, "key", None)
        deflated = DEFLATED.get(key) if key is not None else None
        if deflated is None:
            compressor = _deflate.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
            deflated = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
            if key is not None:
                DEFLATED.put(key, deflated)
        body.append(deflated)
        crc, size = _deflate.crc32(chunk, crc), size + len(chunk)
    body.append(_LAST_BLOCK + struct.pack("<II", crc, size & 0xFFFFFFFF))
    length = sum(len(part) for part in body)
    headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
    return headers + [("Content-Encoding", "gzip"), ("Content-Length", str(length))], body


def plain(chunks: list) -> list[bytes]:
    """``chunks`` as ``bytes`` (a WSGI server writes nothing else: wsgiref asserts the type),
    a named chunk copied."""
    return [chunk if type(chunk) is bytes else bytes(chunk) for chunk in chunks]
