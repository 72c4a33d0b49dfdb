"""A bounded, thread-safe store of answers kept per process (least recently used first out),
bounded by the total size of what it keeps; the answer caches of free-busy
(storage_plugin.freebusy) and of REPORTs (server.answer_cache) are two of them."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Generic, Hashable, Optional, TypeVar

V = TypeVar("V")


class Kept(Generic[V]):
    def __init__(self, max_size: int, size_of: Callable[[V], int], max_one: Optional[int] = None) -> None:
        """``size_of(value)`` counts toward ``max_size``, and every value counts at least 1 (its key
        takes memory too: empty values would otherwise be kept without bound); a value larger than
        ``max_one`` (default: a quarter of the whole) is not kept, as it would push out everything else."""
        self.max_size, self.size_of = max_size, size_of
        self.max_one = max_size // 4 if max_one is None else min(max_one, max_size)
        self._kept: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Optional[V]:
        with self._lock:
            return self._take(key)

    def get_many(self, keys: list) -> list[Optional[V]]:
        """``get`` of each key, under one lock."""
        with self._lock:
            return [self._take(key) for key in keys]

    def _take(self, key: Hashable) -> Optional[V]:
        kept = self._kept.get(key)
        if kept is None:
            return None
        self._kept.move_to_end(key)
        return kept[0]

    def put(self, key: Hashable, value: V) -> None:
        size = max(1, self.size_of(value))
        if size > self.max_one:
            return
        with self._lock:
            old = self._kept.pop(key, None)
            self._size += size - (old[1] if old is not None else 0)
            self._kept[key] = (value, size)
            while self._size > self.max_size:
                _, (_, dropped) = self._kept.popitem(last=False)
                self._size -= dropped

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._size = 0

    def __len__(self) -> int:
        return len(self._kept)
