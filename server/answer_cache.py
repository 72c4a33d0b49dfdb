"""calendar-query and calendar-multiget answers kept per process, by the calendar's revision.

A REPORT's answer is a function of who asks, the URL path (with the prefix the server is
mounted under), the Depth header, the request body, the negotiated encoding and the calendar's
state, and every change of that state (an item written, moved or deleted, a PROPPATCH) gives
the calendar a new revision (its ETag, ``"<id>-<revision>"``) in the same transaction. So an
answer kept under the revision read at the start of a request is the answer a fresh read would
give as long as the revision is unchanged: several people or devices reading the same week, a
dashboard refreshing, a script polling, get the bytes (already gzipped) without the database
writing them again. Rights are checked before the lookup, on every request. A read that raced
with a write may keep newer bytes under the older revision;
no later request reads that revision again, so they are never served.

Per process, bounded by bytes (least recently used answers go first); every worker and node
keeps its own and reads the revision from the database, so none can serve an answer another
process's write made stale.
"""
from __future__ import annotations

import hashlib
from typing import Optional

from storage_plugin.kept import Kept

MAX_BYTES = 32 * 1024 * 1024
MAX_ANSWER_BYTES = 8 * 1024 * 1024  # a bigger answer would push out everything else


def key_of(user: str, url_path: str, depth: str, calendar_etag: str, body: bytes, encoding: str,
           gzip: bool) -> tuple:
    return (user, url_path, depth, calendar_etag, hashlib.blake2b(body, digest_size=16).digest(), encoding, gzip)


class Answers:
    """Kept answers: (chunks, VEVENT lines their texts hold, whether the chunks are gzipped)."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._kept: Kept[tuple[list[bytes], int, bool]] = Kept(
            max_bytes, lambda kept: sum(len(chunk) for chunk in kept[0]), MAX_ANSWER_BYTES)

    def get(self, key: tuple) -> Optional[tuple[list[bytes], int, bool]]:
        return self._kept.get(key)

    def put(self, key: tuple, chunks: list[bytes], vevents: int, gzipped: bool = False) -> None:
        self._kept.put(key, (list(chunks), vevents, gzipped))

    def clear(self) -> None:
        self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)


ANSWERS = Answers()
