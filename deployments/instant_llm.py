"""An LLM node that answers at once with fixed tokens: no model, no compute.

A measuring tool for the ``instant`` profile (what the graph itself costs), never a default. It
speaks the same handle protocol as the LLM node (``LLMNode.complete`` answers a dict; Ray Serve
LLM's ``chat`` yields an OpenAI response object, or lists of SSE lines when streaming), so the
ingress's ``LLMServerChat`` and everything around it run unchanged.
"""

from __future__ import annotations

import json
import time
import uuid

WORDS = ("this ", "is ", "a ", "fixed ", "answer ", "from ", "the ", "instant ", "profile")


class InstantLLM:
    def __init__(self, model_id: str):
        # the same response class LLMServer returns (vLLM's protocol), imported at start
        from ray.serve.llm.openai_api_models import ChatCompletionResponse

        self._response_cls = ChatCompletionResponse
        self.model_id = model_id

    async def info(self) -> dict:
        return {"name": self.model_id, "version": "instant"}

    async def check_health(self) -> None:
        return None

    async def complete(self, messages, max_tokens, temperature) -> dict:
        """``LLMNode.complete``'s answer, at once."""
        n = max(1, min(int(max_tokens or len(WORDS)), len(WORDS)))
        return {
            "text": "".join(WORDS[:n]),
            "logprobs": [],
            "finish_reason": "length" if n < len(WORDS) else "stop",
            "usage": {"prompt_tokens": 8, "completion_tokens": n, "total_tokens": 8 + n},
        }

    async def chat(self, request, raw_request_info=None):
        n = max(1, min(int(request.max_tokens or len(WORDS)), len(WORDS)))
        finish = "length" if n < len(WORDS) else "stop"
        usage = {"prompt_tokens": 8, "completion_tokens": n, "total_tokens": 8 + n}
        if not request.stream:
            yield self._response_cls.model_validate(
                {
                    "model": self.model_id,
                    "choices": [{"index": 0, "finish_reason": finish,
                                 "message": {"role": "assistant", "content": "".join(WORDS[:n])}}],
                    "usage": usage,
                }
            )  # fmt: skip
            return
        rid, now = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

        def line(choices, usage=None) -> str:
            body = {"id": rid, "object": "chat.completion.chunk", "created": now,
                    "model": self.model_id, "choices": choices}  # fmt: skip
            if usage:
                body["usage"] = usage
            return f"data: {json.dumps(body)}\n\n"

        lines = [line([{"index": 0, "delta": {"content": w}, "finish_reason": None}])
                 for w in WORDS[:n]]  # fmt: skip
        lines.append(line([{"index": 0, "delta": {}, "finish_reason": finish}]))
        lines.append(line([], usage))
        lines.append("data: [DONE]\n\n")
        yield lines
