"""One request through an ASGI app in-process: how a batch line gets exactly the online path
(validation, routing, caches, cascade, disclaimers, error shapes) without a network hop."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx


async def call_app(app: Any, method: str, url: str, body: dict | str) -> dict:
    """``{"status_code", "body", "request_id"}`` of ``method url`` with a JSON ``body``."""
    content = body if isinstance(body, str) else json.dumps(body)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        r = await client.request(
            method,
            url,
            content=content,
            headers={"content-type": "application/json", BATCH_LINE_HEADER: "1"},
        )
    try:
        out = r.json()
    except ValueError:
        out = {
            "error": {"message": r.text[:1000], "type": "server_error", "code": "invalid_response"}
        }
    return {"status_code": r.status_code, "body": out, "request_id": r.headers.get("x-request-id")}


BATCH_LINE_HEADER = "x-seethink-batch-line"
# Requests that are not online work: batch lines themselves, the Batch API, probes.
_NOT_ONLINE = ("/v1/files", "/v1/batches", "/healthz", "/readyz")


class OnlineLoad:
    """Online requests in flight on this replica, and when the last one ended: batch lines
    wait for a quiet moment, so online traffic keeps priority (bounded, so batches never
    starve)."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.last_end = 0.0

    def quiet_for(self) -> float:
        """Seconds since the replica last had an online request in flight (0 while busy)."""
        return 0.0 if self.in_flight else time.monotonic() - self.last_end

    async def wait_quiet(self, quiet_s: float, max_wait_s: float) -> float:
        """Wait until no online request has been in flight for ``quiet_s`` (at most
        ``max_wait_s``); returns the seconds waited."""
        t0 = time.monotonic()
        while self.quiet_for() < quiet_s and time.monotonic() - t0 < max_wait_s:
            await asyncio.sleep(0.01)
        return time.monotonic() - t0


class OnlineLoadMiddleware:
    """Counts online HTTP requests into an :class:`OnlineLoad` (pure ASGI)."""

    def __init__(self, app: Any, load: OnlineLoad) -> None:
        self.app, self.load = app, load

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or _not_online(scope):
            return await self.app(scope, receive, send)
        self.load.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.load.in_flight -= 1
            self.load.last_end = time.monotonic()


def _not_online(scope) -> bool:
    if scope.get("path", "").startswith(_NOT_ONLINE):
        return True
    return any(k == BATCH_LINE_HEADER.encode() for k, _ in scope.get("headers", ()))
