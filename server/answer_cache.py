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
import threading
from collections import OrderedDict
from typing import Optional

MAX_BYTES = 32 * 1024 * 1024
MAX_ANSWER_BYTES = 8 * 1024 * 1024  # a bigger answer would push out everything else


def key_of(user: str, url_path: str, depth: str, calendar_etag: str, body: bytes, encoding: str,
           gzip: bool) -> tuple:
    return (user, url_path, depth, calendar_etag, hashlib.blake2b(body, digest_size=16).digest(), encoding, gzip)


class Answers:
    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._kept: OrderedDict[tuple, tuple[list[bytes], int, bool]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Optional[tuple[list[bytes], int, bool]]:
        """(the answer's chunks, VEVENT lines its texts hold, whether the chunks are gzipped) or None."""
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
            return kept

    def put(self, key: tuple, chunks: list[bytes], vevents: int, gzipped: bool = False) -> None:
        size = sum(len(chunk) for chunk in chunks)
        if size > min(MAX_ANSWER_BYTES, self.max_bytes):
            return
        with self._lock:
            old = self._kept.pop(key, None)
            if old is not None:
                self._bytes -= sum(len(chunk) for chunk in old[0])
            self._kept[key] = (list(chunks), vevents, gzipped)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (dropped, _, _) = self._kept.popitem(last=False)
                self._bytes -= sum(len(chunk) for chunk in dropped)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._kept)


ANSWERS = Answers()
