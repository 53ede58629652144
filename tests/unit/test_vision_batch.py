"""The vision node's continuous batching (seethink/batcher.py): one bad item fails alone."""

from __future__ import annotations

import asyncio

import pytest

from deployments.vision import Vision
from seethink.config import load_config
from seethink.generation import ModelInputError
from tests.fakes.handles import FakeVisionBackend
from tests.helpers import png_bytes


def test_a_batch_with_one_bad_item_answers_the_others_and_fails_only_that_one():
    cfg = load_config("cpu", {"vision": {"max_batch_size": 8, "batch_wait_timeout_s": 0.05}})
    backend = FakeVisionBackend(fail_on="BAD")
    vision = Vision(cfg.vision, backend)
    image = png_bytes()

    async def burst():
        prompts = [f"good {i}" for i in range(7)] + ["BAD input"]
        return await asyncio.gather(
            *(vision.answer(image, p) for p in prompts), return_exceptions=True
        )

    results = asyncio.run(burst())
    assert vision.max_batch == 8, "the eight calls were not gathered into one batch"
    assert isinstance(results[-1], ModelInputError)
    assert all(isinstance(r, dict) and r["text"].startswith("a red box") for r in results[:-1])
    assert vision.isolated == 8  # the failed batch was retried item by item


def test_verify_is_batched_and_returns_probabilities():
    cfg = load_config("cpu", {"vision": {"max_batch_size": 4, "batch_wait_timeout_s": 0.05}})
    vision = Vision(cfg.vision, FakeVisionBackend(yes=0.7))

    async def burst():
        return await asyncio.gather(*(vision.verify(png_bytes(), f"q{i}") for i in range(4)))

    assert asyncio.run(burst()) == [pytest.approx(0.7)] * 4
    assert vision.max_batch == 4
