"""The OpenAI chat-completions shape: request parsing and response/chunk building.

Requests go through the same router and cascade as /infer. The route, domain, degraded flag,
disclaimer, timings and request id travel in the extension field ``seethink`` of the response
(and of the first, caption and last chunks of a stream). A client may send
``"seethink": {"route": "direct"|"cascade"|"auto"}`` to choose the route.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .protocol import APIError

GRAPH_MODEL = "seethink"


class SeethinkOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    route: Literal["auto", "direct", "cascade"] = "auto"


class ChatRequest(BaseModel):
    """The subset of the OpenAI request we act on; other OpenAI fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = GRAPH_MODEL
    messages: list[dict[str, Any]] = Field(..., min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(None, ge=1, le=4096)
    temperature: float | None = Field(None, ge=0, le=2)
    n: int = Field(1, ge=1, le=1)
    stream_options: dict[str, Any] | None = None
    seethink: SeethinkOptions = Field(default_factory=SeethinkOptions)


def parse_messages(messages: list[dict]) -> tuple[str, str | None, str | None, list[dict]]:
    """-> (question, image url or None, system prompt, earlier text turns).

    The last message must be the user's. Its text parts form the question and its one
    ``image_url`` part (if any) is the image; earlier turns are kept for text-only chats.
    """
    system = None
    history: list[dict] = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m:
            raise APIError(f"messages[{i}] must be an object with a role", code="invalid_messages")
        if m["role"] not in ("system", "user", "assistant", "developer"):
            raise APIError(
                f"messages[{i}].role '{m['role']}' is not supported; expected one of: "
                "system, developer, user, assistant",
                code="invalid_messages",
            )
    last = messages[-1]
    if last["role"] != "user":
        raise APIError("the last message must have role 'user'", code="invalid_messages")
    text, images = _content(last.get("content"), len(messages) - 1)
    if len(images) > 1:
        raise APIError(
            f"one image per request is supported; the last message has {len(images)}",
            code="too_many_images",
        )
    for i, m in enumerate(messages[:-1]):
        t, imgs = _content(m.get("content"), i)
        if imgs:
            raise APIError(
                f"messages[{i}] has an image; only the last user message may carry one",
                code="invalid_messages",
            )
        if m["role"] in ("system", "developer"):
            system = (system + "\n" if system else "") + t
        else:
            history.append({"role": m["role"], "content": t})
    if not text.strip():
        raise APIError("the last user message has no text question", code="missing_prompt")
    return text, (images[0] if images else None), system, history


def _content(content: Any, idx: int) -> tuple[str, list[str]]:
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise APIError(
            f"messages[{idx}].content must be a string or a list of parts", code="invalid_messages"
        )
    texts, images = [], []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind == "image_url":
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            if not isinstance(url, str) or not url:
                raise APIError(
                    f"messages[{idx}].content[{j}].image_url.url is missing",
                    code="invalid_image_url",
                )
            images.append(url)
        else:
            raise APIError(
                f"messages[{idx}].content[{j}].type '{kind}' is not supported; expected one of: "
                "text, image_url",
                code="invalid_messages",
            )
    return "\n".join(texts), images


def extension(res: dict) -> dict:
    """The ``seethink`` extension field of a finished answer."""
    keys = (
        "route",
        "domain",
        "router",
        "confidence",
        "caption",
        "cache_hit",
        "degraded",
        "notice",
        "disclaimer",
        "consistency",
        "needs_review",
        "review_id",
        "timings_ms",
        "models",
        "request_id",
    )
    return {k: res.get(k) for k in keys}


def completion(res: dict, model: str) -> dict:
    return {
        "id": f"chatcmpl-{res['request_id']}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": res["text"]},
                "finish_reason": "stop",
            }
        ],
        "usage": res["usage"],
        "seethink": extension(res),
    }


def chunk(
    request_id: str,
    model: str,
    delta: dict,
    finish: str | None = None,
    ext: dict | None = None,
    usage: dict | None = None,
) -> str:
    body: dict[str, Any] = {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if ext is not None:
        body["seethink"] = ext
    if usage is not None:
        body["usage"] = usage
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def sse_error(err: APIError) -> str:
    return f"data: {json.dumps(err.body(), ensure_ascii=False)}\n\n"
