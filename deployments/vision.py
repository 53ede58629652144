"""The vision node: looks at images, captions them and answers perception questions.

Concurrent requests to one replica are gathered into batches by ``@serve.batch`` and run as one
``generate`` call; batch size and wait come from the profile, not from the decorator.
"""

from __future__ import annotations

import logging

from ray import serve

from seethink.checkpoints import checkpoint_version, resolve_model_path
from seethink.config import VisionConfig
from seethink.images import decode_image

from .vision_backends import (
    CAPTION_PROMPTS,
    Generation,
    TransformersVision,
    VisionBackend,
    VLLMVision,
    run_blocking,
)

logger = logging.getLogger("ray.serve")


def make_backend(cfg: VisionConfig) -> VisionBackend:
    """The backend the profile names, loaded from the resolved model path."""
    path = resolve_model_path(cfg.model)
    name = cfg.model_name or cfg.model
    version = checkpoint_version(path)
    if cfg.backend == "vllm":
        kwargs = {"gpu_memory_utilization": cfg.gpu_memory_utilization or 0.9, **cfg.engine_kwargs}
        return VLLMVision(path, name, version, kwargs)
    return TransformersVision(path, name, version, dtype=cfg.dtype, gpu_share=cfg.num_gpus)


class Vision:
    """Caption and answer over one ``VisionBackend`` (transformers, vLLM, or a test double)."""

    def __init__(self, cfg: VisionConfig, backend: VisionBackend | None = None):
        self.cfg = cfg
        self.backend = backend or make_backend(cfg)
        self._batched.set_max_batch_size(cfg.max_batch_size)
        self._batched.set_batch_wait_timeout_s(cfg.batch_wait_timeout_s)
        self.calls = 0  # generate() calls made; batches, not requests
        self.items = 0  # requests served
        self.max_batch = 0

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.01)
    async def _batched(self, images: list[bytes], prompts: list[str]) -> list[Generation]:
        self.calls += 1
        self.items += len(images)
        self.max_batch = max(self.max_batch, len(images))
        decoded = [decode_image(b) for b in images]
        return await run_blocking(self.backend.generate, decoded, prompts, self.cfg.max_new_tokens)

    async def caption(self, image: bytes, lang: str = "en") -> dict:
        """A description of the image (the cascade's input to the LLM)."""
        g = await self._batched(image, CAPTION_PROMPTS.get(lang, CAPTION_PROMPTS["en"]))
        return _as_dict(g)

    async def answer(self, image: bytes, question: str) -> dict:
        """The vision model's own answer to a question about the image (the direct route)."""
        return _as_dict(await self._batched(image, question))

    async def verify(self, image: bytes, question: str) -> float:
        """P(yes) for a yes/no question about the image, from token probabilities."""
        return await run_blocking(self.backend.yes_probability, decode_image(image), question)

    def info(self) -> dict:
        return {"name": self.backend.name, "version": self.backend.version}

    def stats(self) -> dict:
        return {"calls": self.calls, "items": self.items, "max_batch": self.max_batch}


def _as_dict(g: Generation) -> dict:
    return {"text": g.text, "confidence": g.confidence, "num_tokens": g.num_tokens}
