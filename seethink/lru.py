"""A bounded in-memory cache: LRU or LFU eviction, bounds on entries and bytes, per-entry TTL."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Literal


@dataclass
class _Entry:
    value: Any
    size: int
    expires: float
    hits: int = 0


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    expirations: int = 0


class BoundedCache:
    """Evicts by ``policy`` until both ``max_entries`` and ``max_bytes`` hold.

    LRU keeps entries in recency order (OrderedDict, O(1)). LFU evicts the least-hit entry,
    oldest first among equals; the scan is O(n) but only runs on eviction.
    """

    def __init__(
        self,
        max_entries: int,
        max_bytes: int,
        ttl_s: float,
        policy: Literal["lru", "lfu"] = "lru",
        clock: Callable[[], float] = time.monotonic,
    ):
        if policy not in ("lru", "lfu"):
            raise ValueError(f"unknown cache policy '{policy}'; expected one of: lru, lfu")
        self.max_entries, self.max_bytes, self.ttl_s = max_entries, max_bytes, ttl_s
        self.policy = policy
        self._clock = clock
        self._data: OrderedDict[Hashable, _Entry] = OrderedDict()
        self.bytes = 0
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Hashable) -> Any | None:
        e = self._data.get(key)
        if e is None:
            self.stats.misses += 1
            return None
        if e.expires <= self._clock():
            self._remove(key)
            self.stats.expirations += 1
            self.stats.misses += 1
            return None
        e.hits += 1
        self._data.move_to_end(key)
        self.stats.hits += 1
        return e.value

    def put(self, key: Hashable, value: Any, size: int) -> None:
        if key in self._data:
            self._remove(key)
        if size > self.max_bytes:
            return  # would evict everything and still not fit
        self._data[key] = _Entry(value, size, self._clock() + self.ttl_s)
        self.bytes += size
        while len(self._data) > self.max_entries or self.bytes > self.max_bytes:
            self._evict_one(protect=key)

    def _evict_one(self, protect: Hashable) -> None:
        if self.policy == "lru":
            victim = next(k for k in self._data if k != protect)
        else:
            victim = min((k for k in self._data if k != protect), key=lambda k: self._data[k].hits)
        self._remove(victim)
        self.stats.evictions += 1

    def _remove(self, key: Hashable) -> None:
        e = self._data.pop(key)
        self.bytes -= e.size
