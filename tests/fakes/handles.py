"""Test doubles for unit tests of the pipeline and the HTTP app: handle-shaped wrappers and
fake backends.

They implement the real interfaces (``ChatBackend``, ``VisionBackend``) and never stand in for
the real path in the tests that claim it works (those boot the real graph).
"""

from __future__ import annotations

import asyncio

from seethink.generation import ChatBackend, ChatDelta, ChatError, Generation, VisionBackend


class _Method:
    def __init__(self, fn):
        self._fn = fn

    def remote(self, *args, **kwargs):
        result = self._fn(*args, **kwargs)
        if asyncio.iscoroutine(result):
            return result

        async def done():
            return result

        return done()


class FakeHandle:
    """Looks like a DeploymentHandle: ``handle.method.remote(...)`` is awaitable."""

    def __init__(self, target):
        self._target = target

    def __getattr__(self, name):
        return _Method(getattr(self._target, name))


class FakeVisionBackend(VisionBackend):
    name, version = "fake-vision", "v0"

    def __init__(self, yes: float = 0.9, fail_on: str | None = None):
        self.yes = yes
        self.fail_on = fail_on  # a prompt substring that makes generate raise
        self.calls = 0

    def generate(self, images, prompts, max_new_tokens):
        self.calls += 1
        if self.fail_on and any(self.fail_on in p for p in prompts):
            raise ValueError("the model cannot take this input")
        return [Generation(f"a red box ({p[:10]})", 0.5, 3) for p in prompts]

    def yes_probability(self, images, questions):
        return [self.yes for _ in questions]


class FakeChat(ChatBackend):
    """Streams a fixed answer; ``mode`` makes it fail, stall or refuse like a sick LLM."""

    model_id = "fake-llm"

    def __init__(self, answer: str = "a red box, probably", mode: str = "ok"):
        self.answer, self.mode, self.calls = answer, mode, 0

    async def info(self) -> dict:
        return {"name": self.model_id, "version": "fake-1"}

    async def check_health(self) -> None:
        if self.mode == "fail":
            raise ChatError("engine dead")

    async def stream(self, messages, max_tokens, temperature):
        self.calls += 1
        if self.mode == "fail":
            raise ChatError("engine dead")
        if self.mode == "refuse":
            raise ChatError("prompt too long for the context", caused_by_request=True, status=400)
        if self.mode == "stall":
            await asyncio.sleep(3600)
        words = self.answer.split(" ")
        for word in words[:max_tokens]:
            yield ChatDelta(word + " ", logprobs=[-0.1])
        yield ChatDelta("", finish_reason="length" if max_tokens < len(words) else "stop")
        yield ChatDelta("", usage={"prompt_tokens": 10, "completion_tokens": min(4, max_tokens)})


def unbatched_vision(cfg, backend: VisionBackend):
    """The real ``Vision`` node class with each call its own batch (no batcher queue)."""
    from deployments.vision import Vision, _as_dict

    class UnbatchedVision(Vision):
        async def _make_caption(self, image, lang):
            return _as_dict(self.backend.generate([None], ["describe"], 8)[0])

        async def answer(self, image, question):
            return _as_dict(self.backend.generate([None], [question], 8)[0])

        async def verify(self, image, question, image_sha256=None):
            return self.backend.yes_probability([None], [question])[0]

    return UnbatchedVision(cfg, backend)
