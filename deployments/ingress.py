"""The HTTP ingress deployment: the app from ``seethink.api`` over this graph's handles.

Everything about the HTTP contract lives in ``seethink/api.py`` (testable without Ray); this
module only wires Ray Serve handles, configured once, and Prometheus metrics into it.
"""

from __future__ import annotations

from fastapi import FastAPI
from ray import serve
from ray.serve.metrics import Counter, Histogram

from seethink.api import Handles, Metrics, make_app
from seethink.auth import host_allowed
from seethink.batch.asgi import OnlineLoad, OnlineLoadMiddleware, call_app
from seethink.config import SeethinkConfig
from seethink.protocol import Answer

from .handles import ResilientHandle, on_this_loop, transport
from .llm import LLMServerChat, served_model_id


class ServeMetrics(Metrics):
    """The app's metrics as Ray metrics (exported on Ray's Prometheus endpoint)."""

    def __init__(self) -> None:
        self.cancelled_streams = 0
        self._requests = Counter(
            "seethink_requests", description="Requests by route.", tag_keys=("route", "endpoint")
        )
        self._fallbacks = Counter("seethink_fallbacks", description="Degraded answers.")
        self._reviews = Counter("seethink_needs_review", description="Answers sent to review.")
        self._review_failures = Counter(
            "seethink_review_store_failures", description="Review cases that could not be stored."
        )
        self._cancelled = Counter(
            "seethink_cancelled_streams", description="Streams whose client went away."
        )
        self._stage = Histogram(
            "seethink_stage_latency_ms",
            description="Latency per pipeline stage.",
            boundaries=[1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000],
            tag_keys=("stage",),
        )

    def request(self, route: str, endpoint: str) -> None:
        self._requests.inc(tags={"route": route, "endpoint": endpoint})

    def observe(self, answer: Answer, endpoint: str) -> None:
        self.request(answer.route, endpoint)
        if answer.degraded:
            self._fallbacks.inc()
        if answer.needs_review:
            self._reviews.inc()
        for stage, ms in answer.timings_ms.items():
            self._stage.observe(ms, tags={"stage": stage})

    def review_failure(self) -> None:
        self._review_failures.inc()

    def cancelled(self) -> None:
        self.cancelled_streams += 1
        self._cancelled.inc()


@serve.ingress()
class Ingress:
    """HTTP front of the graph; one app (and pipeline) per replica over shared handles."""

    def __init__(self, cfg: SeethinkConfig, router, vision, review, llm, batch=None):
        llm = on_this_loop(llm)
        chat = LLMServerChat(llm, served_model_id(cfg.llm))
        self._llm = llm
        self.metrics = ServeMetrics()
        # handles configured once: overload is a clean 503/429, a lost replica is retried once
        self.handles = Handles(
            router=ResilientHandle(router, "router"),
            vision=ResilientHandle(vision, "vision"),
            review=ResilientHandle(review, "review", no_retry=("add",)),
            chat=chat,
            llm_health=chat.check_health,
            batch=batch,
        )
        self.cfg = cfg
        self.online = OnlineLoad()

    def __serve_build_asgi_app__(self) -> FastAPI:
        # Serve keeps the built app as the (read-only) ``self.app`` property
        app = make_app(self.cfg, self.handles, self.metrics)
        # online requests in flight, so batch lines can give them the right of way
        app.add_middleware(OnlineLoadMiddleware, load=self.online)
        return app

    async def run_line(self, method: str, url: str, body: dict | str) -> dict:
        """One batch line through this replica's own app, as if it came over HTTP:
        ``{"status_code", "body", "request_id"}``. Batch lines were authorised when the batch
        was created and come from inside the cluster, so with API keys on, or a Host allow-list
        without localhost, they go through a twin of the app without those two checks."""
        if getattr(self, "_line_app", None) is None:
            cfg = self.cfg
            keyed = bool(cfg.auth.api_keys or cfg.auth.key_file)
            if keyed or not host_allowed("localhost", cfg.server.allowed_hosts):
                cfg = cfg.model_copy(update={
                    "auth": cfg.auth.model_copy(update={"api_keys": [], "key_file": None}),
                    "server": cfg.server.model_copy(update={"allowed_hosts": ["*"]}),
                })  # fmt: skip
                self._line_app = make_app(cfg, self.handles, self.metrics)
            else:
                self._line_app = getattr(self, "app", None) or make_app(
                    cfg, self.handles, self.metrics
                )
        b = self.cfg.batch
        await self.online.wait_quiet(b.online_quiet_s, b.online_max_wait_s)
        return await call_app(self._line_app, method, url, body)

    def stats(self) -> dict:
        """Counters for tests and operators (a handle call, not an HTTP route)."""
        h = self.handles
        return {
            "cancelled_streams": self.metrics.cancelled_streams,
            "handles": {
                **{n: getattr(h, n).transport for n in ("router", "vision", "review")},
                "llm": transport(self._llm),
            },
        }
