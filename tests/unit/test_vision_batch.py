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


def test_a_recheck_finds_its_image_decoded_processed_and_encoded_and_answers_the_same():
    # the real (tiny) transformers backend: the cascade's yes/no re-check sends the bytes its
    # caption was made from; the node decodes them once, and the image processor and the
    # vision encoder run once
    from deployments.vision import make_backend

    cfg = load_config("cpu")
    backend = make_backend(cfg.vision)
    calls, encoded = [], []
    processor = backend.image_processor
    encoder = backend.model.model.get_image_features

    def counting(*args, **kwargs):
        calls.append(len(kwargs["images"]))
        return processor(*args, **kwargs)

    def counting_encoder(pixels, grid, **kwargs):
        encoded.append(len(grid))
        return encoder(pixels, grid, **kwargs)

    backend.image_processor = counting
    backend.model.model.get_image_features = counting_encoder
    vision = Vision(cfg.vision, backend)
    cold = Vision(cfg.vision, make_backend(cfg.vision))
    image, claim = png_bytes(seed=41), "Is there a red box? Answer yes or no."

    async def cascade(node):
        caption = await node.caption(image, "en")
        return caption, await node.verify(image, claim), await node.verify(image, claim)

    caption, p1, p2 = asyncio.run(cascade(vision))
    assert calls == [1], "the image went through the processor more than once"
    assert encoded == [1], "the image went through the vision encoder more than once"
    assert vision.stats()["decoded_hits"] == 2
    ref_caption, ref_p, _ = asyncio.run(cascade(cold))
    assert (caption, p1, p2) == (ref_caption, ref_p, ref_p)


def test_decoded_images_are_bounded_in_bytes(monkeypatch):
    import deployments.vision as vision_mod

    monkeypatch.setattr(vision_mod, "DECODED_MAX_BYTES", 20_000_000)
    cfg = load_config("cpu")
    vision = Vision(cfg.vision, FakeVisionBackend())

    async def many():
        for i in range(40):
            await vision.caption(png_bytes(seed=100 + i, size=(320, 240)), "en")

    asyncio.run(many())
    kept = vision._decoded
    # each 320x240 image counts its decoded pixels, the processor's patches and the encoder's
    # features
    assert kept.bytes <= 20_000_000 and 0 < len(kept) < 40
    assert len(kept) <= 20_000_000 // (320 * 240 * vision_mod.DECODED_BYTES_PER_PIXEL)


def test_a_direct_answers_image_is_not_kept_but_a_captioned_one_is_found():
    # a direct answer is never re-checked: its decoded image would only push the cascades'
    # images out before their re-checks; an image a caption was made from is still found
    cfg = load_config("cpu")
    vision = Vision(cfg.vision, FakeVisionBackend())
    captioned = png_bytes(seed=300)

    async def mixed():
        await vision.caption(captioned, "en")
        for i in range(5):
            await vision.answer(png_bytes(seed=310 + i), "what?")
        await vision.answer(captioned, "what?")  # the fallback's answer after a caption
        return await vision.verify(captioned, "yes?")

    asyncio.run(mixed())
    assert len(vision._decoded) == 1 and captioned in vision._decoded._data
    assert vision.stats()["decoded_hits"] == 2


def test_captions_are_kept_and_concurrent_requests_for_one_image_share_one_run():
    cfg = load_config("cpu", {"vision": {"max_batch_size": 8}})
    backend = FakeVisionBackend()
    vision = Vision(cfg.vision, backend, cfg.cache)
    image = png_bytes(seed=7)

    async def burst(lang="en", n=6):
        return await asyncio.gather(*(vision.caption(image, lang) for _ in range(n)))

    first = asyncio.run(burst())
    assert backend.calls == 1 and sum(not r["cache_hit"] for r in first) == 1
    assert len({r["text"] for r in first}) == 1
    again = asyncio.run(burst(n=1))[0]
    assert again["cache_hit"] and again["text"] == first[0]["text"] and backend.calls == 1
    assert not asyncio.run(burst("zh", n=1))[0]["cache_hit"]  # a caption per language
    assert backend.calls == 2
    stats = vision.stats()["cache"]
    assert stats["runs"] == 2 and stats["entries"] == 2 and stats["hits"] == 1


def test_with_the_cache_off_every_caption_is_made():
    cfg = load_config("cpu", {"cache": {"enabled": False}})
    backend = FakeVisionBackend()
    vision = Vision(cfg.vision, backend, cfg.cache)

    async def twice():
        for _ in range(2):
            assert not (await vision.caption(png_bytes(seed=8)))["cache_hit"]

    asyncio.run(twice())
    assert backend.calls == 2 and vision.stats()["cache"]["entries"] == 0


def _same(ours, ref, exact: bool) -> None:
    """The same tokens; the same log-probabilities exactly (eager) or to float32's last bits
    (compiled: fused kernels add in another order)."""
    if exact:
        assert ours == ref
    assert [(g.text, g.num_tokens, g.finish_reason) for g in ours] == [
        (g.text, g.num_tokens, g.finish_reason) for g in ref
    ]
    assert [g.confidence for g in ours] == pytest.approx([g.confidence for g in ref], rel=1e-5)


def _prompts_and_images():
    from seethink.images import decode_image

    prompts = ["Describe the image.", "What is in this picture?", "colour?",
               "Why is this here, and what should I do about it?"]  # fmt: skip

    def images(seed=0):
        return [decode_image(png_bytes(seed=seed + i, size=(64 + 32 * i, 48))) for i in range(4)]

    return prompts, images


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_the_serving_decoding_loop_answers_as_transformers_generate(compiled):
    # the real (tiny) GLM-4V: our greedy loop against transformers' own generate, on a batch
    # of different prompts (left padding), token for token and log-probability for
    # log-probability (exactly, unless the decoding step is compiled: vision.compile); then
    # again with some of the images already encoded
    from deployments.vision import make_backend

    cfg = load_config("cpu").vision.model_copy(update={"compile": compiled})
    backend = make_backend(cfg)
    assert backend.compiled is compiled
    prompts, images = _prompts_and_images()
    for n in (1, 4):
        ours = backend.generate(images()[:n], prompts[:n], 12)
        _same(ours, backend.generate_with_transformers(images()[:n], prompts[:n], 12), not compiled)
        assert all(g.num_tokens > 0 and 0 < g.confidence <= 1 for g in ours)
    held = images(10)
    backend.generate(held[:2], prompts[:2], 4)  # the first two are encoded now
    assert [hasattr(im, "_seethink_features") for im in held] == [True, True, False, False]
    assert not held[0]._seethink_features.requires_grad  # kept without an autograd graph
    # features made in another batch may differ in the last bits: the same tokens
    ours, ref = (
        backend.generate(held, prompts, 12),
        backend.generate_with_transformers(images(10), prompts, 12),
    )
    _same(ours, ref, exact=False)
    fresh = backend.yes_probability(images(10), prompts)
    assert backend.yes_probability(held, prompts) == pytest.approx(fresh, rel=1e-5)


def test_the_compiled_decoding_step_serves_any_batch_without_compiling_again():
    # compiled at start-up (a batch of one, a padded batch of two): whatever comes next (other
    # batch sizes, image sizes, prompt lengths, answer lengths) must not compile again, which
    # would stall a serving replica for seconds
    import torch

    from deployments.vision import make_backend
    from seethink.images import decode_image

    backend = make_backend(load_config("cpu").vision)  # the cpu profile compiles
    assert backend.compiled
    prompts, images = _prompts_and_images()
    eager = make_backend(load_config("cpu").vision.model_copy(update={"compile": False}))
    with torch._dynamo.config.patch(error_on_recompile=True):
        for n, seed, tokens in ((1, 20, 12), (3, 30, 16), (4, 40, 5), (2, 50, 16)):
            ours = backend.generate(images(seed)[:n], prompts[:n], tokens)
            _same(ours, eager.generate(images(seed)[:n], prompts[:n], tokens), exact=False)
        big = [png_bytes(seed=60 + i, size=(320, 240)) for i in range(16)]
        ours = backend.generate([decode_image(b) for b in big], prompts * 4, 16)
        _same(ours, eager.generate([decode_image(b) for b in big], prompts * 4, 16), exact=False)


def test_a_decoding_step_that_cannot_compile_stays_eager(monkeypatch, caplog):
    # a box without a C++ compiler, or a model torch.compile cannot trace: the replica still
    # starts and answers, eager, and says why in its log
    import torch

    from deployments.vision import make_backend

    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(torch, "compile", broken)
    backend = make_backend(load_config("cpu").vision)
    assert backend.compiled is False
    assert "compiling the decoding step failed" in caplog.text
    prompts, images = _prompts_and_images()
    assert backend.generate(images()[:2], prompts[:2], 6) == backend.generate_with_transformers(
        images()[:2], prompts[:2], 6
    )
