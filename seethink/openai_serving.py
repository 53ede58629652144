"""The OpenAI chat-completions surface over the pipeline: parsing messages into a job, and
turning the pipeline's events into one ``ChatCompletion`` or a stream of SSE chunks.

Requests go through the same router and cascade as /infer. The route, domain, degraded flag,
disclaimer, timings and request id travel in the extension field ``seethink`` of the response
(and of the first, caption and last chunks of a stream). A client may send
``"seethink": {"route": "direct"|"cascade"|"auto"}`` to choose the route.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from .generation import ModelInputError
from .pipeline import CaptionEvent, Delta, Done, Event, LLMUnavailable, Meta
from .protocol import (
    Answer,
    APIError,
    ChatChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatMessage,
    ChunkChoice,
    ChunkDelta,
    Usage,
)

logger = logging.getLogger("ray.serve")

EXTENSION_FIELDS = (
    "route", "domain", "router", "confidence", "caption", "cache_hit", "answer_cache_hit",
    "degraded", "notice", "degraded_reason", "disclaimer", "disclaimer_reason", "consistency",
    "needs_review", "review_id", "timings_ms", "models", "request_id",
)  # fmt: skip
ROLES = ("system", "developer", "user", "assistant")


def parse_messages(
    messages: list[dict], max_messages: int, max_system_chars: int
) -> tuple[str, str | None, str | None, list[dict]]:
    """-> (question, image url or None, system prompt, earlier text turns).

    The last message must be the user's. Its text parts form the question and its one
    ``image_url`` part (if any) is the image; earlier turns are kept for text-only chats.
    """
    if len(messages) > max_messages:
        raise APIError(
            f"messages has {len(messages)} entries; the limit is {max_messages}",
            code="too_many_messages",
        )
    system = None
    history: list[dict] = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise APIError(f"messages[{i}] must be an object with a role", code="invalid_messages")
        if m["role"] not in ROLES:
            raise APIError(
                f"messages[{i}].role '{m['role'][:40]}' is not supported; expected one of: "
                + ", ".join(ROLES),
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
    if system and len(system) > max_system_chars:
        raise APIError(
            f"the system text is {len(system)} characters; the limit is {max_system_chars}",
            code="system_too_long",
        )
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
        if kind == "text" and isinstance(part.get("text", ""), str):
            texts.append(part.get("text", ""))
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
                f"messages[{idx}].content[{j}] must be a text part (with a string text) or an "
                "image_url part",
                code="invalid_messages",
            )
    return "\n".join(texts), images


def extension(answer: Answer) -> dict:
    """The ``seethink`` extension field of a finished answer."""
    data = answer.model_dump(include=set(EXTENSION_FIELDS))
    return {k: data.get(k) for k in EXTENSION_FIELDS}


def completion(answer: Answer, model: str) -> ChatCompletion:
    return ChatCompletion(
        id=f"chatcmpl-{answer.request_id}",
        created=int(time.time()),
        model=model,
        choices=[
            ChatChoice(message=ChatMessage(content=answer.text), finish_reason=answer.finish_reason)
        ],
        usage=answer.usage,
        seethink=extension(answer),
    )


def chunk(
    request_id: str,
    model: str,
    delta: ChunkDelta,
    finish: str | None = None,
    ext: dict | None = None,
    usage: Usage | None = None,
) -> str:
    body = ChatCompletionChunk(
        id=f"chatcmpl-{request_id}",
        created=int(time.time()),
        model=model,
        choices=[ChunkChoice(delta=delta, finish_reason=finish)],
        usage=usage,
        seethink=ext,
    )
    return f"data: {body.model_dump_json(exclude_none=True)}\n\n"


def sse_error(err: APIError, request_id: str) -> str:
    import json

    return f"data: {json.dumps(err.body(request_id), ensure_ascii=False)}\n\n"


async def sse_stream(
    events: AsyncIterator[Event],
    request_id: str,
    model: str,
    on_done: Callable[[Answer], None],
    on_cancel: Callable[[], None],
) -> AsyncIterator[str]:
    """Pipeline events as server-sent events; errors after the first byte are in-band."""
    try:
        async for ev in events:
            if isinstance(ev, Meta):
                ext = {"event": "meta", "route": ev.route, "domain": ev.domain,
                       "router_confidence": ev.router_confidence, "reason": ev.reason,
                       "request_id": request_id}  # fmt: skip
                yield chunk(request_id, model, ChunkDelta(role="assistant", content=""), ext=ext)
            elif isinstance(ev, CaptionEvent):
                ext = {"event": "caption", "caption": ev.caption, "cache_hit": ev.cache_hit}
                yield chunk(request_id, model, ChunkDelta(), ext=ext)
            elif isinstance(ev, Delta):
                yield chunk(request_id, model, ChunkDelta(content=ev.text))
            elif isinstance(ev, Done):
                on_done(ev.answer)
                ext = {"event": "done", **extension(ev.answer)}
                yield chunk(request_id, model, ChunkDelta(), finish=ev.answer.finish_reason,
                            ext=ext, usage=ev.answer.usage)  # fmt: skip
    except asyncio.CancelledError:
        on_cancel()
        logger.info("request %s: client went away; work cancelled", request_id)
        raise
    except LLMUnavailable:
        yield sse_error(APIError("the LLM is unavailable; try again later", 503,
                                 "llm_unavailable"), request_id)  # fmt: skip
    except APIError as e:
        yield sse_error(e, request_id)
    except ModelInputError:
        msg = "the vision model could not process this image and question"
        yield sse_error(APIError(msg, 400, "unusable_input"), request_id)
    except Exception:  # the stream has started: report in-band, never hang up silently
        logger.exception("request %s failed mid-stream", request_id)
        yield sse_error(APIError("internal error", 500, "internal_error"), request_id)
    yield "data: [DONE]\n\n"
