"""Test doubles for unit tests of the pipeline: handle-shaped wrappers and fake backends.

They implement the real interfaces (``ChatBackend``, ``VisionBackend``) and never stand in for
the real path in the tests that claim it works (those boot the real graph).
"""

from __future__ import annotations

import asyncio

from deployments.llm import ChatBackend, ChatDelta
from deployments.vision_backends import Generation, VisionBackend


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

    def __init__(self, yes: float = 0.9):
        self.yes = yes
        self.calls = 0

    def generate(self, images, prompts, max_new_tokens):
        self.calls += 1
        return [Generation(f"a red box ({p[:10]})", 0.5, 3) for p in prompts]

    def yes_probability(self, image, question):
        return self.yes


class FakeChat(ChatBackend):
    """Streams a fixed answer; ``mode`` makes it fail or stall like a sick LLM."""

    model_id = "fake-llm"

    def __init__(self, answer: str = "a red box, probably", mode: str = "ok"):
        self.answer, self.mode, self.calls = answer, mode, 0

    async def complete(self, messages, max_tokens, temperature):
        raise NotImplementedError

    async def stream(self, messages, max_tokens, temperature):
        self.calls += 1
        if self.mode == "fail":
            raise RuntimeError("engine dead")
        if self.mode == "stall":
            await asyncio.sleep(3600)
        for word in self.answer.split(" "):
            yield ChatDelta(word + " ", logprobs=[-0.1])
        yield ChatDelta("", finish_reason="stop")
        yield ChatDelta("", usage={"prompt_tokens": 10, "completion_tokens": 4})
