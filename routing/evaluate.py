"""Compare a router with the keyword baseline on a labelled JSONL file.

Usage::

    python -m routing.evaluate FILE.jsonl [--router classifier] [--misses N]

Each line is ``{"prompt", "route": "direct"|"cascade", "domain", "lang"?}``; ``lang`` (zh,
zh-Hant, en, mixed) is inferred from the text when missing. Prints, one column per router (the
chosen router and the keyword baseline):

* overall: route accuracy, cascade precision/recall, unsure-policy rate, domain accuracy,
  per-domain precision/recall, the share of plain (``none``) questions called sensitive, and
  per-decision latency (p50/p99, microseconds, in-process ``classify()``);
* per language: the same headline numbers for each language present;
* for the chosen router: the route and domain confusion matrices, and with ``--misses N`` up to
  N questions whose route or domain is wrong.

``--unseen`` drops the questions that also occur in the training data (compared after removing
case, spaces and punctuation) and says how many, so that numbers on an independent file are not
flattered by questions the model was trained on.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from routing.base import Router
from routing.decision import DOMAINS, ROUTES, RouteDecision
from routing.lang import LANGS, infer_lang
from routing.registry import available_routers, load_router
from routing.train import load_jsonl, training_rows

BASELINE = "keywords"
SENSITIVE = ("medical", "finance", "legal")
PER_LANG_METRICS = (
    "n",
    "route accuracy",
    "domain accuracy",
    "medical recall",
    "finance recall",
    "legal recall",
    "plain called sensitive",
)


def _ratio(num: int, den: int) -> str:
    return f"{num / den:.3f}" if den else "n/a"


def with_lang(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Rows with a ``lang`` field (inferred from the prompt where missing)."""
    return [r if r.get("lang") else {**r, "lang": infer_lang(r["prompt"])} for r in rows]


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
    rows: list[dict[str, str]], decisions: list[RouteDecision], micros: list[float] | None = None
) -> dict[str, str]:
    """Row label -> formatted value for one router (latency rows only with ``micros``)."""
    out: dict[str, str] = {"n": str(len(rows))}
    n = len(rows)
    pairs = list(zip(rows, decisions, strict=True))
    out["route accuracy"] = _ratio(sum(d.route == r["route"] for r, d in pairs), n)
    tp = sum(d.route == r["route"] == "cascade" for r, d in pairs)
    out["cascade precision"] = _ratio(tp, sum(d.route == "cascade" for d in decisions))
    out["cascade recall"] = _ratio(tp, sum(r["route"] == "cascade" for r in rows))
    out["unsure (policy) rate"] = _ratio(sum(d.reason.startswith("unsure") for d in decisions), n)
    out["domain accuracy"] = _ratio(sum(d.domain == r["domain"] for r, d in pairs), n)
    for dom in DOMAINS:
        hit = sum(d.domain == r["domain"] == dom for r, d in pairs)
        out[f"{dom} precision"] = _ratio(hit, sum(d.domain == dom for d in decisions))
        out[f"{dom} recall"] = _ratio(hit, sum(r["domain"] == dom for r in rows))
    plain = [d for r, d in pairs if r["domain"] == "none"]
    out["plain called sensitive"] = _ratio(sum(d.domain in SENSITIVE for d in plain), len(plain))
    sens = [d for r, d in pairs if r["domain"] in SENSITIVE]
    out["sensitive called plain"] = _ratio(sum(d.domain == "none" for d in sens), len(sens))
    if micros:
        qs = statistics.quantiles(micros, n=100, method="inclusive") if len(micros) > 1 else None
        out["latency p50 (us)"] = f"{statistics.median(micros):.1f}"
        out["latency p99 (us)"] = f"{(qs[98] if qs else micros[0]):.1f}"
    return out


def per_language(
    rows: list[dict[str, str]], decisions: list[RouteDecision]
) -> dict[str, dict[str, str]]:
    """Language -> headline metrics, for each language present (in :data:`LANGS` order)."""
    out = {}
    for lang in [*LANGS, *sorted({r["lang"] for r in rows} - set(LANGS))]:
        idx = [i for i, r in enumerate(rows) if r["lang"] == lang]
        if idx:
            m = metrics([rows[i] for i in idx], [decisions[i] for i in idx])
            out[lang] = {k: m[k] for k in PER_LANG_METRICS}
    return out


def table(columns: dict[str, dict[str, str]]) -> str:
    """Plain-text table: one row per metric, one column per router (or language)."""
    names = list(columns)
    labels = list(next(iter(columns.values())))
    w0 = max(len(s) for s in labels + ["metric"])
    ws = [max(len(n), 8) for n in names]
    lines = ["  ".join(["metric".ljust(w0)] + [n.rjust(w) for n, w in zip(names, ws)])]
    lines.append("  ".join(["-" * w0] + ["-" * w for w in ws]))
    for label in labels:
        cells = [columns[n].get(label, "").rjust(w) for n, w in zip(names, ws)]
        lines.append("  ".join([label.ljust(w0)] + cells))
    return "\n".join(lines)


def confusion(rows: list[dict[str, str]], decisions: list[RouteDecision], field: str) -> str:
    """Gold (rows) x predicted (columns) counts for ``route`` or ``domain``."""
    labels = list(ROUTES if field == "route" else DOMAINS)
    w = max(len(x) for x in labels) + 2
    corner = "gold/got"
    lines = [f"{corner:<{w + 2}}" + "".join(f"{x:>{w}}" for x in labels)]
    for gold in labels:
        counts = [
            sum(r[field] == gold and getattr(d, field) == got for r, d in zip(rows, decisions))
            for got in labels
        ]
        lines.append(f"{gold:<{w + 2}}" + "".join(f"{c:>{w}}" for c in counts))
    return "\n".join(lines)


def misses(rows: list[dict[str, str]], decisions: list[RouteDecision], limit: int) -> list[str]:
    """Lines describing up to ``limit`` rows with a wrong route or domain (sensitive first)."""
    wrong = [
        (r, d) for r, d in zip(rows, decisions) if d.route != r["route"] or d.domain != r["domain"]
    ]
    # A missed sensitive domain is the costliest error: list those first.
    wrong.sort(key=lambda rd: not (rd[0]["domain"] in SENSITIVE and rd[1].domain == "none"))
    return [
        f"  want {r['route']}/{r['domain']:<8} got {d.route}/{d.domain:<8} "
        f"{d.confidence:.2f} [{r['lang']}] {r['prompt']}"
        for r, d in wrong[:limit]
    ]


def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    ap = argparse.ArgumentParser(description="Evaluate a router against the keyword baseline.")
    ap.add_argument("file", type=Path, help="JSONL with prompt, route, domain (lang optional)")
    ap.add_argument("--router", default="classifier", choices=available_routers())
    ap.add_argument(
        "--misses",
        "--errors",
        type=int,
        default=0,
        dest="misses",
        help="print up to N questions with a wrong route or domain",
    )
    ap.add_argument(
        "--unseen", action="store_true", help="drop questions that occur in the training data"
    )
    args = ap.parse_args(argv)

    rows = with_lang(load_jsonl(args.file))
    dropped = 0
    if args.unseen:
        from routing.data.make_data import _key

        trained = {_key(r["prompt"]) for r in training_rows()}
        kept = [r for r in rows if _key(r["prompt"]) not in trained]
        dropped, rows = len(rows) - len(kept), kept
    if not rows:
        ap.error(f"{args.file} has no rows")
    names = [args.router] + ([BASELINE] if args.router != BASELINE else [])
    columns, by_lang, first = {}, {}, None
    for name in names:
        router = load_router(name)
        decisions, micros = run(router, rows)
        col = f"{name} ({router.version})"
        columns[col] = metrics(rows, decisions, micros)
        by_lang[name] = per_language(rows, decisions)
        first = first or decisions
    cascades = sum(r["route"] == "cascade" for r in rows)
    seen = f" ({dropped} also in the training data left out)" if args.unseen else ""
    print(f"{args.file} — {len(rows)} questions, {cascades} cascade{seen}")
    print(table(columns))
    for name in names:
        print(f"\nper language — {name}")
        print(table(by_lang[name]))
    assert first is not None
    print(f"\nroute confusion — {args.router}")
    print(confusion(rows, first, "route"))
    print(f"\ndomain confusion — {args.router}")
    print(confusion(rows, first, "domain"))
    if args.misses:
        lines = misses(rows, first, args.misses)
        print(f"\nmisses — {args.router} (route or domain wrong; first {len(lines)})")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
