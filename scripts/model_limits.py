"""The models' own throughput, in-process, at the graph's token budgets: the limit to compare with.

No server, no HTTP, no Ray: the vision model is called as ``TransformersVision.generate`` (the
graph's vision node's own code) on distinct 320x240 images in batches; the chat model runs in
vLLM's ``AsyncLLM`` in this process with the same engine arguments as the profile's llm node.

    flock /tmp/seethink-heavy.lock .venv/bin/python scripts/model_limits.py
    .venv/bin/python scripts/model_limits.py --json limits.json --vision-batches 1,8,16

Rows: vision images/s at each batch size (16 new tokens), LLM requests/s at 1 and 32 concurrent
requests (32 tokens at most, greedy, the cascade's prompt shape).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchlib import (  # noqa: E402
    IMAGE_SIZE,
    QUESTION,
    ImageSeeds,
    caption_prompt,
    cascade_messages,
    foreign_cpu_s,
    make_image,
)


def vision_limits(
    profile: str, batches: list[int], window_s: float, windows: int, seeds: ImageSeeds
) -> tuple[list[dict], float]:
    """images/s of ``generate`` at each batch size, on distinct images."""
    from deployments.vision_backends import TransformersVision
    from seethink.checkpoints import checkpoint_version, resolve_model_path
    from seethink.config import load_config
    from seethink.images import decode_image

    cfg = load_config(profile).vision
    path = resolve_model_path(cfg.model)
    t = time.perf_counter()
    # compiled as the profile's vision node compiles it (vision.compile): load_s includes that
    backend = TransformersVision(
        path, cfg.model, checkpoint_version(path), dtype=cfg.dtype, compile=cfg.compile
    )
    load_s = time.perf_counter() - t
    prompt = caption_prompt("en")
    rows = []
    for b in batches:

        def batch(b: int = b) -> list:
            return [decode_image(make_image(s)) for s in seeds.take(b)]

        backend.generate(batch(), [prompt] * b, cfg.max_new_tokens)  # warm-up, untimed
        rates, calls, tokens, busy_all = [], 0, 0, 0.0
        # Several short windows, best one reported: on 2 shared cores any other process halves
        # an OpenMP step or worse, and the limit is what the model can do when left alone.
        foreign = []
        for _ in range(windows):
            n = 0
            busy = 0.0
            f0, w0 = foreign_cpu_s(), time.perf_counter()
            while n < 2 or busy < window_s:
                images = batch()  # decoding is the server's job, not the model's: untimed
                t = time.perf_counter()
                out = backend.generate(images, [prompt] * b, cfg.max_new_tokens)
                busy += time.perf_counter() - t
                n += 1
                tokens += sum(g.num_tokens for g in out)
            rates.append(n * b / busy)
            foreign.append(max(0.0, foreign_cpu_s() - f0) / (time.perf_counter() - w0))
            calls += n
            busy_all += busy
        rows.append(
            {
                "model": "vision",
                "batch": b,
                "items": calls * b,
                "per_s": max(rates),
                "median_per_s": statistics.median(rates),
                "windows": [round(r, 1) for r in rates],
                # cores other users of the machine took in each window
                "foreign_cores": [round(f, 2) for f in foreign],
                "ms_per_call": b / max(rates) * 1000,
                "mean_new_tokens": tokens / (calls * b),
                "max_new_tokens": cfg.max_new_tokens,
            }
        )
        print(
            f"  vision batch {b:>2}: {rows[-1]['windows']} images/s, "
            f"foreign cores {rows[-1]['foreign_cores']}",
            flush=True,
        )
    del backend
    gc.collect()
    return rows, load_s


def _llm_env(cfg) -> None:
    # vLLM reads these at import and engine start; same values as the profile's llm node.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if cfg.device != "gpu":
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(cfg.cpu_kvcache_space_gib)
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = "nobind"
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"


async def _llm_limits(
    profile: str, concurrencies: list[int], rounds: int, windows: int
) -> tuple[list, float]:
    from seethink.checkpoints import resolve_model_path
    from seethink.config import load_config

    cfg = load_config(profile).llm
    _llm_env(cfg)
    from vllm import SamplingParams
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.v1.engine.async_llm import AsyncLLM

    path = resolve_model_path(cfg.model)
    t = time.perf_counter()
    args = AsyncEngineArgs(
        model=path,
        max_model_len=cfg.max_model_len,
        dtype=cfg.dtype,
        enforce_eager=cfg.enforce_eager,
        **cfg.engine_kwargs,
    )
    engine = AsyncLLM.from_engine_args(args)
    load_s = time.perf_counter() - t
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(path)  # the one whose chat template vLLM applies
        params = SamplingParams(max_tokens=cfg.max_tokens, temperature=cfg.temperature)

        def prompt(i: int) -> str:
            # the cascade's chat: system prompt + caption and question (a 16-token-ish caption)
            caption = f"a photo of a red box and a blue box on a grey table, number {i}"
            msgs = cascade_messages(caption, QUESTION)
            return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)

        async def one(i: int) -> int:
            final = None
            async for out in engine.generate(prompt(i), params, f"limit-{uuid.uuid4().hex}"):
                final = out
            return len(final.outputs[0].token_ids) if final else 0

        await asyncio.gather(*(one(i) for i in range(4)))  # warm-up, untimed
        rows = []
        for c in concurrencies:
            n = max(c * rounds, 16)
            rates, tokens, foreign = [], 0, []
            for _ in range(windows):
                counter = iter(range(n))

                async def client(counter=counter) -> None:
                    nonlocal tokens
                    for i in counter:
                        got = await one(i)  # not `tokens += await ...`: that reads first
                        tokens += got

                t, f0 = time.perf_counter(), foreign_cpu_s()
                await asyncio.gather(*(client() for _ in range(c)))
                wall = time.perf_counter() - t
                rates.append(n / wall)
                foreign.append(max(0.0, foreign_cpu_s() - f0) / wall)
            rows.append(
                {
                    "model": "llm",
                    "concurrency": c,
                    "items": n * windows,
                    "per_s": max(rates),
                    "median_per_s": statistics.median(rates),
                    "windows": [round(r, 1) for r in rates],
                    "foreign_cores": [round(f, 2) for f in foreign],
                    "mean_new_tokens": tokens / (n * windows),
                    "max_new_tokens": cfg.max_tokens,
                }
            )
            print(
                f"  llm concurrency {c:>2}: {rows[-1]['windows']} requests/s, "
                f"foreign cores {rows[-1]['foreign_cores']}",
                flush=True,
            )
        return rows, load_s
    finally:
        engine.shutdown()
        engine = None  # its __del__ at interpreter exit would call shutdown again, noisily
        gc.collect()


def measure(
    profile: str = "cpu",
    vision_batches: tuple[int, ...] = (1, 8, 16),
    llm_concurrency: tuple[int, ...] = (1, 32),
    window_s: float = 1.0,
    windows: int = 3,
    llm_rounds: int = 2,
) -> dict:
    """Both models' limits; a JSON-ready dict (``vision`` and ``llm`` row lists, load times)."""
    seeds = ImageSeeds(start=10_000_000)
    print("measuring the vision model in-process ...", flush=True)
    vision, vision_load = vision_limits(profile, list(vision_batches), window_s, windows, seeds)
    print("measuring the LLM in-process (vLLM AsyncLLM) ...", flush=True)
    llm, llm_load = asyncio.run(_llm_limits(profile, list(llm_concurrency), llm_rounds, windows))
    return {
        "profile": profile,
        "image_size": list(IMAGE_SIZE),
        "vision": vision,
        "llm": llm,
        "vision_load_s": vision_load,
        "llm_engine_start_s": llm_load,
    }


def summary(limits: dict) -> dict:
    """The best rates: vision images/s, LLM requests/s, and a cascade estimate on shared CPUs."""
    v = max((r["per_s"] for r in limits["vision"]), default=0.0)
    llm = max((r["per_s"] for r in limits["llm"]), default=0.0)
    # On one box both models share the cores: a cascade costs one caption plus one answer.
    both = 1 / (1 / v + 1 / llm) if v and llm else 0.0
    return {"vision_best": v, "llm_best": llm, "min": min(v, llm), "cascade_shared_cpu": both}


def _best_foreign(row: dict) -> float:
    """Foreign cores during the window whose rate is reported (0 when not recorded)."""
    f = row.get("foreign_cores") or [0.0]
    return f[row["windows"].index(max(row["windows"]))] if len(f) == len(row["windows"]) else f[0]


def print_limits(limits: dict) -> None:
    print(f"\nmodel limits, in-process ({limits['profile']} profile, 320x240 images)\n")
    print(
        "| model  | batch / concurrent | best/s | median/s | ms per call | mean new tokens |"
        " foreign cores (best window) |"
    )
    print(
        "|--------|--------------------|--------|----------|-------------|-----------------|"
        "-----------------------------|"
    )
    for r in limits["vision"]:
        print(
            f"| vision | batch {r['batch']:>12} | {r['per_s']:>6.1f} | {r['median_per_s']:>8.1f} |"
            f" {r['ms_per_call']:>11.1f} |"
            f" {r['mean_new_tokens']:>7.1f} of {r['max_new_tokens']:<5} |"
            f" {_best_foreign(r):>27.2f} |"
        )
    for r in limits["llm"]:
        print(
            f"| llm    | concurrent {r['concurrency']:>7} | {r['per_s']:>6.1f} |"
            f" {r['median_per_s']:>8.1f} | {'':>11} |"
            f" {r['mean_new_tokens']:>7.1f} of {r['max_new_tokens']:<5} |"
            f" {_best_foreign(r):>27.2f} |"
        )
    s = summary(limits)
    print(
        f"\nbest: vision {s['vision_best']:.0f} images/s, llm {s['llm_best']:.0f} requests/s; "
        f"a cascade on the same cores at most ~{s['cascade_shared_cpu']:.0f}/s "
        f"(1 / (1/vision + 1/llm)); model load {limits['vision_load_s']:.1f} s, "
        f"engine start {limits['llm_engine_start_s']:.1f} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--profile", default="cpu", help="whose models and budgets (default cpu)")
    ap.add_argument("--vision-batches", default="1,8,16")
    ap.add_argument("--llm-concurrency", default="1,32")
    ap.add_argument("--window", type=float, default=1.0, help="seconds per vision window")
    ap.add_argument("--windows", type=int, default=3, help="windows per row; the best is kept")
    ap.add_argument("--json", help="write the results here as JSON")
    args = ap.parse_args()
    limits = measure(
        args.profile,
        tuple(int(b) for b in args.vision_batches.split(",")),
        tuple(int(c) for c in args.llm_concurrency.split(",")),
        args.window,
        args.windows,
    )
    limits["summary"] = summary(limits)
    print_limits(limits)
    if args.json:
        Path(args.json).write_text(json.dumps(limits, indent=2))


if __name__ == "__main__":
    main()
