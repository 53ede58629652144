"""The caption cache: read-through and single-flight, inside each vision replica.

Keyed by the image's SHA-256, the vision model's name and version, and the caption language, so
a model swap never serves a stale caption. Concurrent requests for the same uncached image share
one caption run. Serve's router for the vision node (``deployments/affinity.py``) sends every
caption request for an image to the replica that owns it, so the hit rate holds as the vision
node scales out, and a cascade makes one hop for its caption instead of two (ingress to cache,
cache to vision).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ray.serve.metrics import Counter, Gauge

from seethink.config import CacheConfig
from seethink.lru import BoundedCache

MakeCaption = Callable[[bytes, str], Awaitable[dict]]


class CaptionCache:
    """Captions by content hash; a miss makes the caption once per image (``make``)."""

    def __init__(self, cfg: CacheConfig, make: MakeCaption, model: tuple[str, str]):
        self.cfg, self._make, self._model = cfg, make, model
        self.cache = BoundedCache(cfg.max_entries, cfg.max_bytes, cfg.ttl_s, cfg.policy)
        self._inflight: dict[tuple, asyncio.Task] = {}
        self.runs = 0  # captions made (misses that were not joined to one in flight)
        self._hits = Counter("seethink_cache_hits", description="Caption cache hits.")
        self._misses = Counter("seethink_cache_misses", description="Caption cache misses.")
        self._evictions = Counter("seethink_cache_evictions", description="Evicted captions.")
        self._size = Gauge("seethink_cache_entries", description="Captions held.")

    async def caption(self, image_sha256: str, image: bytes, lang: str = "en") -> dict:
        """The caption for this image, from the cache or from one run of ``make``.

        The run is its own task that every waiter (the first included) awaits shielded: a
        waiter that is cancelled never cancels the others' shared work.
        """
        key = (image_sha256, *self._model, lang)
        if self.cfg.enabled:
            hit = self.cache.get(key)
            if hit is not None:
                self._hits.inc()
                return {**hit, "cache_hit": True}
            waiting = self._inflight.get(key)
            if waiting is not None:
                self._hits.inc()  # served without a run of its own
                return {**(await asyncio.shield(waiting)), "cache_hit": True}
        self._misses.inc()
        task = asyncio.ensure_future(self._fetch(key, image, lang))
        self._inflight[key] = task
        return {**(await asyncio.shield(task)), "cache_hit": False}

    async def _fetch(self, key: tuple, image: bytes, lang: str) -> dict:
        try:
            self.runs += 1
            result = await self._make(image, lang)
        finally:
            self._inflight.pop(key, None)
        if self.cfg.enabled:
            before = self.cache.stats.evictions
            self.cache.put(key, result, len(result["text"].encode()) + 64)
            if self.cache.stats.evictions > before:
                self._evictions.inc(self.cache.stats.evictions - before)
            self._size.set(len(self.cache))
        return result

    def stats(self) -> dict:
        s = self.cache.stats
        return {
            "hits": s.hits,
            "misses": s.misses,
            "evictions": s.evictions,
            "entries": len(self.cache),
            "bytes": self.cache.bytes,
            "runs": self.runs,
        }
