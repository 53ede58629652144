"""Latency of one in-process decision, as the router deployment makes it.

Usage::

    python -m routing.bench [FILE.jsonl ...] [--router classifier] [--rounds 5]

Times ``router.classify(prompt)`` one call at a time (the deployment classifies one question per
request) over the prompts of the given files (default: the hand-written dev split and
``independent.jsonl``), ``--rounds`` times each, after a warm-up pass; and
``answer_domain(answer)`` on 300-character answers. Prints p50 / p90 / p99 / max in microseconds,
twice: by the wall clock, which includes whatever else the machine is doing (on a busy shared
machine, waits for a core), and by the thread's CPU clock, which counts only this call's work
(what a dedicated core would see, less cache effects); and once more on the CPU clock with the
scorer's word cache emptied before every call. The prompts repeat (rounds), so the warm rows are
the word cache's best case; the cold row is its worst (every word new).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from routing.answer import answer_domain
from routing.registry import available_routers, load_router
from routing.train import DATA_DIR, VOICES_DEV_PATH, load_jsonl

DEFAULT_FILES = (VOICES_DEV_PATH, DATA_DIR / "independent.jsonl")
ANSWERS = (
    ("这可能是湿疹，建议就医，不要自行服用抗生素。图里还有一只猫在沙发上。" * 10)[:300],
    ("The image shows a kitchen with a wooden table, chairs and a window. " * 5)[:300],
    ("This looks like shingles. Antiviral medication works best early, so see a doctor. " * 4)[
        :300
    ],
)


def timings(
    fn: Callable[[str], object], texts: list[str], rounds: int, cpu: bool = False
) -> list[float]:
    """Microseconds per call of ``fn`` on every text, ``rounds`` times (after one warm-up)."""
    for t in texts:
        fn(t)
    out = []
    clock = time.thread_time if cpu else time.perf_counter
    for _ in range(rounds):
        for t in texts:
            t0 = clock()
            fn(t)
            out.append((clock() - t0) * 1e6)
    return out


def cold_timings(fn: Callable[[str], object], texts: list[str], rounds: int) -> list[float]:
    """Like :func:`timings` on the thread's CPU clock, with the scorer's word cache emptied
    before every call (outside the timed part): a question whose words were never seen."""
    from routing.fastlinear import clear_word_cache

    out = []
    for _ in range(rounds):
        for t in texts:
            clear_word_cache()
            t0 = time.thread_time()
            fn(t)
            out.append((time.thread_time() - t0) * 1e6)
    return out


def summary(micros: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max of a list of microsecond timings."""
    qs = statistics.quantiles(micros, n=100, method="inclusive")
    return {"p50": statistics.median(micros), "p90": qs[89], "p99": qs[98], "max": max(micros)}


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description="Per-decision latency of a router, in-process.")
    ap.add_argument("files", type=Path, nargs="*", default=list(DEFAULT_FILES))
    ap.add_argument("--router", default="classifier", choices=available_routers())
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)

    prompts = [r["prompt"] for f in args.files for r in load_jsonl(f)]
    router = load_router(args.router)
    answers = list(ANSWERS) * 100
    rows = {}
    for clock, cpu in (("wall", False), ("cpu", True)):
        rows[f"{args.router}.classify, {clock} ({len(prompts)} prompts x {args.rounds})"] = summary(
            timings(router.classify, prompts, args.rounds, cpu)
        )
        rows[f"answer_domain, {clock} ({len(answers)} 300-char answers x {args.rounds})"] = summary(
            timings(answer_domain, answers, args.rounds, cpu)
        )
    rows[f"{args.router}.classify, cpu, cold word cache"] = summary(
        cold_timings(router.classify, prompts, args.rounds)
    )
    width = max(len(k) for k in rows)
    print(f"{'us per call':<{width}}  {'p50':>7}  {'p90':>7}  {'p99':>7}  {'max':>8}")
    for name, s in rows.items():
        print(
            f"{name:<{width}}  {s['p50']:7.1f}  {s['p90']:7.1f}  {s['p99']:7.1f}  {s['max']:8.1f}"
        )


if __name__ == "__main__":
    main()
