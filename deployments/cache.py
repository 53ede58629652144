"""The caption cache node: a read-through, single-flight cache in front of the vision node.

Keyed by the image's SHA-256, the vision model's name and version, and the caption language, so
a model swap never serves a stale caption. Concurrent requests for the same uncached image share
one vision call. It is one deployment for all ingress replicas, so the hit rate holds as the
ingress scales out.
"""

from __future__ import annotations

import asyncio

from ray.serve.metrics import Counter, Gauge

from seethink.config import CacheConfig
from seethink.lru import BoundedCache

from .handles import ResilientHandle


class CaptionCache:
    """Captions by content hash; misses go to the vision deployment once per image."""

    def __init__(self, cfg: CacheConfig, vision):
        self.cfg = cfg
        self.vision = ResilientHandle(vision, "vision")  # a lost replica is retried once
        self.cache = BoundedCache(cfg.max_entries, cfg.max_bytes, cfg.ttl_s, cfg.policy)
        self._inflight: dict[tuple, asyncio.Task] = {}
        self._model: tuple[str, str] | None = None
        self.vision_calls = 0
        self._hits = Counter("seethink_cache_hits", description="Caption cache hits.")
        self._misses = Counter("seethink_cache_misses", description="Caption cache misses.")
        self._evictions = Counter("seethink_cache_evictions", description="Evicted captions.")
        self._size = Gauge("seethink_cache_entries", description="Captions held.")

    async def _model_key(self) -> tuple[str, str]:
        if self._model is None:
            info = await self.vision.info.remote()
            self._model = (info["name"], info["version"])
        return self._model

    async def caption(self, image_sha256: str, image: bytes, lang: str = "en") -> dict:
        """The caption for this image, from the cache or from one vision call.

        The vision call runs as its own task that every waiter (the first included) awaits
        shielded: a waiter that is cancelled never cancels the others' shared work.
        """
        key = (image_sha256, *(await self._model_key()), lang)
        if self.cfg.enabled:
            hit = self.cache.get(key)
            if hit is not None:
                self._hits.inc()
                return {**hit, "cache_hit": True}
            waiting = self._inflight.get(key)
            if waiting is not None:
                self._hits.inc()  # served without a vision call of its own
                return {**(await asyncio.shield(waiting)), "cache_hit": True}
        self._misses.inc()
        task = asyncio.ensure_future(self._fetch(key, image, lang))
        self._inflight[key] = task
        return {**(await asyncio.shield(task)), "cache_hit": False}

    async def _fetch(self, key: tuple, image: bytes, lang: str) -> dict:
        try:
            self.vision_calls += 1
            result = await self.vision.caption.remote(image, lang)
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
            "vision_calls": self.vision_calls,
        }
