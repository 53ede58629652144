"""The vision node: looks at images, captions them and answers perception questions.

Concurrent requests to one replica are gathered into batches and run as one ``generate`` call:
continuous batching (``seethink/batcher.py``), each batch formed when the model is free, from
everything that queued while the last one ran; batch size and idle wait come from the profile.
A batch that raises is retried item by item, so one bad input fails only its own request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging

from seethink.batcher import ContinuousBatcher
from seethink.checkpoints import checkpoint_version, resolve_model_path
from seethink.config import CacheConfig, VisionConfig
from seethink.generation import Generation, ModelInputError, VisionBackend
from seethink.images import decode_image
from seethink.lru import BoundedCache
from seethink.priority import compute_executor
from seethink.prompts import CAPTION_PROMPTS

from .cache import CaptionCache
from .vision_backends import InstantVision, TransformersVision, VLLMVision, run_blocking

logger = logging.getLogger("ray.serve")

# Decoded images kept by their bytes: a cascade's yes/no re-check sends the image its caption
# was made from about a second earlier, and finds it decoded (and, with the transformers
# backend, already through the image processor and the vision encoder). Bounded in bytes, so
# large images on the GPU profiles cannot pile up: each entry counts its compressed bytes, the
# decoded RGB image (3 bytes a pixel), what the image processor keeps on it (float32 patches of
# two frames: 24 bytes a pixel, at about the image's own size; the processor never enlarges
# large images) and the encoder's features (one vector of the text model's width per 28x28
# pixels: 4096 x 2 bytes / 784, about 10.5 bytes a pixel, for GLM-4.6V-Flash in bf16). The
# time-to-live drops what no re-check asks for.
DECODED_MAX_ENTRIES = 256
DECODED_MAX_BYTES = 96 * 1024 * 1024
DECODED_TTL_S = 60.0
DECODED_BYTES_PER_PIXEL = 3 + 24 + 11


def make_backend(cfg: VisionConfig) -> VisionBackend:
    """The backend the profile names, loaded from the resolved model path."""
    if cfg.backend == "instant":
        return InstantVision()
    path = resolve_model_path(cfg.model)
    name = cfg.model_name or cfg.model
    version = checkpoint_version(path)
    if cfg.backend == "vllm":
        kwargs = {"gpu_memory_utilization": cfg.gpu_memory_utilization or 0.9, **cfg.engine_kwargs}
        return VLLMVision(path, name, version, kwargs)
    return TransformersVision(
        path, name, version, dtype=cfg.dtype, gpu_share=cfg.num_gpus, compile=cfg.compile
    )


class Vision:
    """Caption, answer and verify over one ``VisionBackend`` (transformers, vLLM, instant or a
    test double); the captions it made are kept (``cache``)."""

    def __init__(
        self,
        cfg: VisionConfig,
        backend: VisionBackend | None = None,
        cache: CacheConfig | None = None,
    ):
        self.cfg = cfg
        self.backend = backend or make_backend(cfg)
        if self.backend.compiled:
            logger.info("vision: decoding step compiled in %.1f s", self.backend.compile_s)
        self.captions = CaptionCache(
            cache or CacheConfig(), self._make_caption, (self.backend.name, self.backend.version)
        )
        # one model: a caption batch and a yes/no batch take turns on it (seethink/batcher.py)
        model = asyncio.Lock()
        self._generate = ContinuousBatcher(
            self._generate_batch, cfg.max_batch_size, cfg.batch_wait_timeout_s, model, "generate"
        )
        self._verify = ContinuousBatcher(
            self._verify_batch, cfg.max_batch_size, cfg.batch_wait_timeout_s, model, "verify"
        )
        self.isolated = 0  # items retried alone after their batch failed
        # the model's one thread (the batchers run one batch at a time), at the profile's
        # priority: on a CPU box the replicas' plumbing goes first (seethink/priority.py)
        self._executor = compute_executor(cfg.nice, "vision-model")
        self._decoded = BoundedCache(DECODED_MAX_ENTRIES, DECODED_MAX_BYTES, DECODED_TTL_S, "lru")

    def _decode(self, data: bytes, keep: bool):
        """The image for these bytes, decoded once while it is kept (``DECODED_*``). Only
        images a re-check may ask for again are kept (``keep``: captions and re-checks); a
        direct answer's image is not, so a stream of direct requests cannot push out the
        cascades' images before their re-checks."""
        image = self._decoded.get(data)
        if image is None:
            image = decode_image(data)
            if keep:
                kept = image.width * image.height * DECODED_BYTES_PER_PIXEL
                self._decoded.put(data, image, len(data) + kept)
        return image

    async def _generate_batch(
        self, items: list[tuple[bytes, str, bool]]
    ) -> list[Generation | Exception]:
        return await self._isolated(
            lambda ims, ps: self.backend.generate(ims, ps, self.cfg.max_new_tokens),
            [(image, keep) for image, _, keep in items],
            [p for _, p, _ in items],
        )

    async def _verify_batch(self, items: list[tuple[bytes, str]]) -> list[float | Exception]:
        images, questions = [(i, True) for i, _ in items], [q for _, q in items]
        return await self._isolated(self.backend.yes_probability, images, questions)

    async def _isolated(self, fn, images: list[tuple[bytes, bool]], texts: list[str]) -> list:
        """Run ``fn`` on the batch; if it raises, run each item alone so only bad ones fail.
        ``images`` are (bytes, keep the decoded image) pairs."""
        try:
            return await run_blocking(
                fn, [self._decode(*i) for i in images], texts, executor=self._executor
            )
        except Exception as e:
            if len(images) == 1:
                return [_as_input_error(e)]
        out: list = []
        for item, text in zip(images, texts, strict=True):
            self.isolated += 1
            try:
                out.extend(
                    await run_blocking(fn, [self._decode(*item)], [text], executor=self._executor)
                )
            except Exception as e:  # this item alone is bad
                out.append(_as_input_error(e))
        return out

    async def caption(
        self, image: bytes, lang: str = "en", image_sha256: str | None = None
    ) -> dict:
        """A description of the image (the cascade's input to the LLM), with ``cache_hit``:
        from this replica's caption cache, or made once however many ask at the same time.

        Callers name the image (``image_sha256``, which they have already computed): Serve's
        router for this node sends it to the replica that owns it (``deployments/affinity.py``).
        """
        sha = image_sha256 or hashlib.sha256(image).hexdigest()
        return await self.captions.caption(sha, image, lang)

    async def _make_caption(self, image: bytes, lang: str) -> dict:
        prompt = CAPTION_PROMPTS.get(lang, CAPTION_PROMPTS["en"])
        return _as_dict(_raise(await self._generate.submit(image, prompt, True)))

    async def answer(self, image: bytes, question: str) -> dict:
        """The vision model's own answer to a question about the image (the direct route)."""
        return _as_dict(_raise(await self._generate.submit(image, question, False)))

    async def verify(self, image: bytes, question: str, image_sha256: str | None = None) -> float:
        """P(yes) for a yes/no question about the image, from one batched forward pass.

        ``image_sha256`` only routes: a cascade's re-check goes to the replica that made the
        image's caption and still holds it decoded."""
        return float(_raise(await self._verify.submit(image, question)))

    def info(self) -> dict:
        return {"name": self.backend.name, "version": self.backend.version}

    @property
    def max_batch(self) -> int:
        return max(self._generate.largest, self._verify.largest)

    def stats(self, image_sha256: str | None = None) -> dict:
        """This replica's counters; ``image_sha256`` asks the replica that owns that image."""
        batchers = (self._generate, self._verify)
        return {
            "calls": sum(b.batches for b in batchers),  # backend calls: batches, not requests
            "items": sum(b.items for b in batchers),  # requests served
            "max_batch": self.max_batch,
            "isolated": self.isolated,
            "decoded_hits": self._decoded.stats.hits,
            "compiled": self.backend.compiled,  # vision.compile took
            "cache": self.captions.stats(),
        }


def _as_input_error(e: Exception) -> Exception:
    logger.warning("vision input failed alone: %s: %s", type(e).__name__, e)
    return ModelInputError("the vision model could not process this image and question")


def _raise(result):
    if isinstance(result, Exception):
        raise result
    return result


def _as_dict(g: Generation) -> dict:
    return {
        "text": g.text,
        "confidence": g.confidence,
        "num_tokens": g.num_tokens,
        "finish_reason": g.finish_reason,
    }
