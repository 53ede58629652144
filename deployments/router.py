"""The router node: a small CPU deployment that decides look (direct) or think (cascade)."""

from __future__ import annotations

from seethink.config import RouterNodeConfig


class Router:
    """Serves one registered router from ``routing`` (the trained classifier by default)."""

    def __init__(self, cfg: RouterNodeConfig):
        from routing import load_router

        kwargs: dict = {
            "unsure_route": cfg.unsure_route,
            "cascade_keywords": cfg.cascade_keywords,
            "direct_keywords": cfg.direct_keywords,
        }
        if cfg.threshold is not None:
            kwargs["threshold"] = cfg.threshold
        self.router = load_router(cfg.name, **kwargs)

    async def classify(self, prompt: str) -> dict:
        """The decision for one question, as a plain dict (route, domain, confidence, reason)."""
        return self.router.classify(prompt).model_dump()

    def info(self) -> dict:
        return {"name": f"router:{self.router.name}", "version": self.router.version}
