"""Compare a router with the keyword baseline on a labelled JSONL file.

Usage::

    python -m routing.evaluate FILE.jsonl [--router classifier] [--errors N]

Each line is ``{"prompt": ..., "route": "direct"|"cascade", "domain": ...}``. Prints route
accuracy, cascade precision/recall, the share of decisions made by the unsure policy, per-domain
precision and recall, and per-decision latency (p50/p99, microseconds, in-process
``classify()``), one column per router: the chosen router and the keyword baseline.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from routing.base import Router
from routing.decision import DOMAINS, RouteDecision
from routing.registry import available_routers, load_router
from routing.train import load_jsonl

BASELINE = "keywords"


def _ratio(num: int, den: int) -> str:
    return f"{num / den:.3f}" if den else "n/a"


def run(router: Router, rows: list[dict[str, str]]) -> tuple[list[RouteDecision], list[float]]:
    """Classify every row, timing each call in microseconds."""
    for r in rows[:20]:  # warm caches so the first calls don't skew p99
        router.classify(r["prompt"])
    decisions, micros = [], []
    for r in rows:
        t0 = time.perf_counter()
        d = router.classify(r["prompt"])
        micros.append((time.perf_counter() - t0) * 1e6)
        decisions.append(d)
    return decisions, micros


def metrics(
    rows: list[dict[str, str]], decisions: list[RouteDecision], micros: list[float]
) -> dict[str, str]:
    """Row label -> formatted value for one router."""
    out: dict[str, str] = {}
    n = len(rows)
    out["route accuracy"] = _ratio(sum(d.route == r["route"] for r, d in zip(rows, decisions)), n)
    tp = sum(d.route == r["route"] == "cascade" for r, d in zip(rows, decisions))
    out["cascade precision"] = _ratio(tp, sum(d.route == "cascade" for d in decisions))
    out["cascade recall"] = _ratio(tp, sum(r["route"] == "cascade" for r in rows))
    unsure = sum(d.reason.startswith("unsure") for d in decisions)
    out["unsure (policy) rate"] = _ratio(unsure, n)
    out["domain accuracy"] = _ratio(
        sum(d.domain == r["domain"] for r, d in zip(rows, decisions)), n
    )
    for dom in DOMAINS:
        hit = sum(d.domain == r["domain"] == dom for r, d in zip(rows, decisions))
        out[f"{dom} precision"] = _ratio(hit, sum(d.domain == dom for d in decisions))
        out[f"{dom} recall"] = _ratio(hit, sum(r["domain"] == dom for r in rows))
    qs = statistics.quantiles(micros, n=100, method="inclusive") if len(micros) > 1 else micros * 99
    out["latency p50 (us)"] = f"{statistics.median(micros):.1f}"
    out["latency p99 (us)"] = f"{qs[98]:.1f}"
    return out


def table(columns: dict[str, dict[str, str]]) -> str:
    """Plain-text table: one row per metric, one column per router."""
    names = list(columns)
    labels = list(next(iter(columns.values())))
    w0 = max(len(s) for s in labels + ["metric"])
    ws = [max(len(n), 8) for n in names]
    lines = ["  ".join(["metric".ljust(w0)] + [n.rjust(w) for n, w in zip(names, ws)])]
    lines.append("  ".join(["-" * w0] + ["-" * w for w in ws]))
    for label in labels:
        cells = [columns[n][label].rjust(w) for n, w in zip(names, ws)]
        lines.append("  ".join([label.ljust(w0)] + cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description="Evaluate a router against the keyword baseline.")
    ap.add_argument("file", type=Path, help="JSONL with prompt, route, domain")
    ap.add_argument("--router", default="classifier", choices=available_routers())
    ap.add_argument("--errors", type=int, default=0, help="print up to N misrouted prompts")
    args = ap.parse_args(argv)

    rows = load_jsonl(args.file)
    if not rows:
        ap.error(f"{args.file} has no rows")
    names = [args.router] + ([BASELINE] if args.router != BASELINE else [])
    columns, first = {}, None
    for name in names:
        router = load_router(name)
        decisions, micros = run(router, rows)
        columns[f"{name} ({router.version})"] = metrics(rows, decisions, micros)
        first = first or decisions
    print(
        f"{args.file} — {len(rows)} questions, {sum(r['route'] == 'cascade' for r in rows)} cascade"
    )
    print(table(columns))
    wrong = [(r, d) for r, d in zip(rows, first or []) if d.route != r["route"]]
    for r, d in wrong[: args.errors]:
        print(f"  want {r['route']:<7} got {d.route:<7} {d.confidence:.2f}  {r['prompt']}")


if __name__ == "__main__":
    main()
