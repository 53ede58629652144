"""One request through an ASGI app in-process: how a batch line gets exactly the online path
(validation, routing, caches, cascade, disclaimers, error shapes) without a network hop."""

from __future__ import annotations

import json
from typing import Any

import httpx


async def call_app(app: Any, method: str, url: str, body: dict | str) -> dict:
    """``{"status_code", "body", "request_id"}`` of ``method url`` with a JSON ``body``."""
    content = body if isinstance(body, str) else json.dumps(body)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        r = await client.request(
            method, url, content=content, headers={"content-type": "application/json"}
        )
    try:
        out = r.json()
    except ValueError:
        out = {
            "error": {"message": r.text[:1000], "type": "server_error", "code": "invalid_response"}
        }
    return {"status_code": r.status_code, "body": out, "request_id": r.headers.get("x-request-id")}
