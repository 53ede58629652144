"""Capacity planner: measured GPU memory and throughput per model -> GPU shares and replicas.

Measure first (the Ray dashboard, ``nvidia-smi``, the Prometheus ``ray_serve_*`` metrics), then::

    python -m cluster.planner --gpu-memory-gib 80 --gpus 1 \\
        --vision-memory-gib 24 --llm-memory-gib 32 \\
        --vision-rps 6 --llm-rps 3 --target-rps 20 \\
        [--cascade-share 0.6] [--cache-hit-rate 0.3] [--out profile.yaml] [--base gpu-80g]

- ``--*-memory-gib``: GPU memory one replica needs: weights + activations at its batch size
  (vision), weights + the KV cache it should have (LLM; this becomes vLLM's
  ``gpu_memory_utilization``, a share of the whole card).
- ``--*-rps``: requests per second one replica sustains at the latency you accept.
- ``--cascade-share``: the share of requests the router sends to the LLM (default 1: all).
- ``--cache-hit-rate``: the share of cascade requests whose caption is already cached.
- ``--from-bench bench.json``: take the measured numbers from a benchmark run
  (``scripts/bench.py --json``) instead of typing them; flags given as well win. The fields read
  are in ``BENCH_FIELDS`` (per-model ``memory_gib`` and ``rps``, the card's ``memory_gib``, the
  observed ``cascade_share`` and ``cache_hit_rate``); anything else in the file is ignored.

The GPU share of a model is its memory need over the card's memory, rounded up to ``--step``;
replicas are ``ceil(load / per-replica rps)``, capped by what packs onto the cards (Ray gives a
fractional replica room on one card, never across two). The table says what does not fit and
what to change; ``--out`` writes a profile that ``seethink.config.load_config(path)`` accepts.

Exit status: 0 the demand fits, 1 it does not (the profile written carries what fits),
2 not even one replica of each fits (nothing is written).
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seethink.packing import UNITS as _UNITS
from seethink.packing import pack

# Shares are compared in integer units of 1/10000 of a card: 0.3 + 0.3 + 0.4 must equal 1.


@dataclass(frozen=True)
class PlanInputs:
    """What was measured and what is wanted."""

    gpu_memory_gib: float
    vision_memory_gib: float
    llm_memory_gib: float
    vision_rps: float
    llm_rps: float
    target_rps: float
    gpus_per_node: int = 1
    nodes: int = 1
    cascade_share: float = 1.0
    cache_hit_rate: float = 0.0
    step: float = 0.05

    def __post_init__(self) -> None:
        positive = (
            "gpu_memory_gib",
            "vision_memory_gib",
            "llm_memory_gib",
            "vision_rps",
            "llm_rps",
            "step",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.target_rps < 0:
            raise ValueError(f"target_rps must be >= 0, got {self.target_rps}")
        if self.gpus_per_node < 1 or self.nodes < 1:
            raise ValueError("gpus_per_node and nodes must be >= 1")
        for name in ("cascade_share", "cache_hit_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.step > 1:
            raise ValueError(f"step must be <= 1, got {self.step}")

    @property
    def cards(self) -> int:
        return self.gpus_per_node * self.nodes

    @property
    def vision_load_rps(self) -> float:
        """Every direct request and every uncached cascade caption goes to the vision model."""
        return self.target_rps * (1 - self.cascade_share * self.cache_hit_rate)

    @property
    def llm_load_rps(self) -> float:
        return self.target_rps * self.cascade_share


@dataclass(frozen=True)
class NodePlan:
    """One model node: its share of a card and how many replicas it gets."""

    name: str
    memory_gib: float
    num_gpus: float
    gpu_memory_utilization: float
    replicas: int
    replicas_needed: int
    rps_per_replica: float
    load_rps: float

    @property
    def capacity_rps(self) -> float:
        return self.replicas * self.rps_per_replica

    @property
    def short(self) -> bool:
        return self.replicas < self.replicas_needed


@dataclass(frozen=True)
class Plan:
    """The planner's answer: shares, replicas, one packing per card, problems and advice."""

    inputs: PlanInputs
    vision: NodePlan
    llm: NodePlan
    layout: list[dict[str, int]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)
    cards_for_target: int | None = None

    @property
    def feasible(self) -> bool:
        """At least one replica of each model fits: a profile can be written."""
        return bool(self.layout)

    @property
    def fits(self) -> bool:
        """The whole demand fits."""
        return self.feasible and not (self.vision.short or self.llm.short)

    @property
    def gpu_total(self) -> float:
        return round(
            self.vision.num_gpus * self.vision.replicas + self.llm.num_gpus * self.llm.replicas, 4
        )

    @property
    def carried_rps(self) -> float:
        """The request rate this plan carries: the tighter of the two models."""
        i = self.inputs
        limits = []
        if i.vision_load_rps > 0:
            limits.append(self.vision.capacity_rps * i.target_rps / i.vision_load_rps)
        if i.llm_load_rps > 0:
            limits.append(self.llm.capacity_rps * i.target_rps / i.llm_load_rps)
        return min(limits) if limits else 0.0


def gpu_share(memory_gib: float, card_gib: float, step: float = 0.05) -> float:
    """A replica's ``num_gpus``: its memory over the card's, rounded up to ``step``."""
    units = round(step * _UNITS)
    need = memory_gib / card_gib * _UNITS
    # round() first so that 24/80 = 0.30000000000000004 stays 0.3, not 0.35.
    return math.ceil(round(need / units, 6)) * units / _UNITS


def memory_utilization(memory_gib: float, card_gib: float) -> float:
    """vLLM's ``gpu_memory_utilization`` (a share of the whole card), rounded up to 0.01."""
    return math.ceil(round(memory_gib / card_gib * 100, 6)) / 100


def _cards_for(counts: dict[str, int], shares: dict[str, float], limit: int = 4096) -> int | None:
    """The fewest cards that hold ``counts`` replicas."""
    total = sum(shares[n] * c for n, c in counts.items())
    for cards in range(max(1, math.ceil(total - 1e-9)), limit + 1):
        if pack(cards, counts, shares):
            return cards
    return None


def _needed(load: float, rps: float) -> int:
    return max(1, math.ceil(round(load / rps, 6)))


def plan(inputs: PlanInputs) -> Plan:
    """Turn measurements into shares and replica counts that fit the cards."""
    i = inputs
    card = i.gpu_memory_gib
    shares = {
        "vision": gpu_share(i.vision_memory_gib, card, i.step),
        "llm": gpu_share(i.llm_memory_gib, card, i.step),
    }
    util = {
        "vision": memory_utilization(i.vision_memory_gib, card),
        "llm": memory_utilization(i.llm_memory_gib, card),
    }
    needed = {
        "vision": _needed(i.vision_load_rps, i.vision_rps),
        "llm": _needed(i.llm_load_rps, i.llm_rps),
    }
    memory = {"vision": i.vision_memory_gib, "llm": i.llm_memory_gib}
    rps = {"vision": i.vision_rps, "llm": i.llm_rps}
    load = {"vision": i.vision_load_rps, "llm": i.llm_load_rps}
    problems: list[str] = []
    advice: list[str] = []

    too_big = [n for n in shares if memory[n] > card]
    for n in too_big:
        problems.append(
            f"{n} needs {memory[n]:g} GiB but one card has {card:g} GiB; a replica cannot span "
            "cards with these profiles"
        )
        advice.append(
            f"{n}: quantize (fp8/awq/gptq/bitsandbytes), shorten max_model_len / batch, or use "
            f"a card with more than {memory[n]:g} GiB"
        )

    counts = {"vision": 1, "llm": 1}
    layout = [] if too_big else pack(i.cards, counts, shares)
    if not too_big and not layout:
        problems.append(
            f"one vision replica ({shares['vision']:g}) and one LLM replica ({shares['llm']:g}) "
            f"need {shares['vision'] + shares['llm']:g} of a card; neither fits beside the other "
            f"on {i.cards} card(s)"
        )
        advice.append(
            "shrink one model (quantize, shorter max_model_len, smaller batch) until the two "
            "shares add up to <= 1, or add a card"
        )
    if layout:
        # Grow whichever node is furthest behind its load, while the next replica still packs.
        while True:
            behind = sorted(
                (n for n in counts if counts[n] < needed[n]),
                key=lambda n: counts[n] * rps[n] / load[n] if load[n] else 1.0,
            )
            for n in behind:
                trial = dict(counts, **{n: counts[n] + 1})
                trial_layout = pack(i.cards, trial, shares)
                if trial_layout:
                    counts, layout = trial, trial_layout
                    break
            else:
                break

    nodes = {
        n: NodePlan(
            name=n,
            memory_gib=memory[n],
            num_gpus=shares[n],
            gpu_memory_utilization=min(util[n], shares[n]),
            replicas=counts[n] if layout else 0,
            replicas_needed=needed[n],
            rps_per_replica=rps[n],
            load_rps=load[n],
        )
        for n in shares
    }
    cards_for_target = None if too_big else _cards_for(needed, shares)
    if layout:
        for n, node in nodes.items():
            if node.short:
                problems.append(
                    f"{n}: {node.replicas_needed} replicas needed for {node.load_rps:g} rps at "
                    f"{node.rps_per_replica:g} rps each; {node.replicas} fit"
                )
        if any(node.short for node in nodes.values()):
            if cards_for_target is not None:
                advice.append(
                    f"add GPUs: {cards_for_target} cards of {card:g} GiB carry {i.target_rps:g} "
                    f"rps (cluster.gpus_per_node x num_nodes >= {cards_for_target})"
                )
            advice.append(
                "or raise per-replica throughput (larger vision max_batch_size, the vLLM vision "
                "backend), shrink shares (quantize), lower the cascade share (router threshold) "
                "or raise the cache hit rate"
            )
        smallest = min(shares.values())
        spare = [
            (k, f)
            for k, c in enumerate(layout)
            if (f := round(1 - _used(c, shares), 4)) >= smallest
        ]
        if spare and not any(node.short for node in nodes.values()):
            advice.append(
                "spare room on "
                + ", ".join(f"card {k} ({f:g})" for k, f in spare)
                + ": raise max_replicas for headroom, give it to the LLM's KV cache, or use "
                "fewer cards"
            )
    return Plan(
        inputs=i,
        vision=nodes["vision"],
        llm=nodes["llm"],
        layout=layout,
        problems=problems,
        advice=advice,
        cards_for_target=cards_for_target,
    )


def _used(card: dict[str, int], shares: dict[str, float]) -> float:
    return sum(shares[n] * c for n, c in card.items())


def render_table(p: Plan) -> str:
    """The plan as a plain-text table (what the CLI prints and the profile's header repeats)."""
    i = p.inputs
    lines = [
        f"cards: {i.cards} x {i.gpu_memory_gib:g} GiB ({i.nodes} node(s) x {i.gpus_per_node} GPU)"
        f"   target {i.target_rps:g} rps, cascade share {i.cascade_share:g}, "
        f"cache hit rate {i.cache_hit_rate:g}",
        "",
        f"{'node':<8}{'need GiB':>9}{'num_gpus':>10}{'mem util':>10}{'replicas':>10}"
        f"{'needed':>8}{'rps/rep':>9}{'capacity':>10}{'load rps':>10}",
    ]
    shares = {"vision": p.vision.num_gpus, "llm": p.llm.num_gpus}
    for n in (p.vision, p.llm):
        lines.append(
            f"{n.name:<8}{n.memory_gib:>9.1f}{n.num_gpus:>10.2f}{n.gpu_memory_utilization:>10.2f}"
            f"{n.replicas:>10}{n.replicas_needed:>8}{n.rps_per_replica:>9.1f}"
            f"{n.capacity_rps:>10.1f}{n.load_rps:>10.1f}"
        )
    lines.append("")
    if p.feasible:
        lines.append(
            f"GPU shares: vision {p.vision.num_gpus:g} x {p.vision.replicas} + llm "
            f"{p.llm.num_gpus:g} x {p.llm.replicas} = {p.gpu_total:g} of {i.cards} GPU(s); "
            f"carries ~{p.carried_rps:.1f} of {i.target_rps:g} rps"
        )
        for k, card in enumerate(p.layout):
            parts = " + ".join(f"{n} x{c}" for n, c in card.items() if c) or "empty"
            lines.append(f"  card {k}: {parts} = {_used(card, shares):.2f}")
        lines.append(
            "  (one packing that works; Ray places replicas itself and, on several cards, "
            "can fragment: keep some slack)"
        )
    lines.append("fits: yes" if p.fits else "fits: NO")
    lines += [f"  problem: {x}" for x in p.problems]
    lines += [f"  change: {x}" for x in p.advice]
    return "\n".join(lines)


def _autoscaling(base: dict[str, Any], replicas: int) -> dict[str, Any]:
    """Keep the base's tuning; size the bounds to the plan (a scale-from-zero base stays so)."""
    a = dict(base or {})
    low = min(int(a.get("min_replicas", 1)), replicas)
    a["min_replicas"] = low
    a["max_replicas"] = replicas
    if low > 0:
        a["initial_replicas"] = replicas  # a fixed box reserves the share anyway: start warm
    else:
        a.pop("initial_replicas", None)
    return a


def to_profile(p: Plan, base: dict[str, Any]) -> dict[str, Any]:
    """A profile dict: ``base`` (raw profile YAML) with the plan's shares and replicas."""
    if not p.feasible:
        raise ValueError("the plan places nothing; there is no profile to write")
    i = p.inputs
    data = copy.deepcopy(base)
    data.pop("profile", None)  # load_config names the profile after the file it reads
    data["description"] = (
        f"planned by cluster.planner: {i.cards} x {i.gpu_memory_gib:g} GiB, "
        f"vision {p.vision.num_gpus:g} x {p.vision.replicas}, llm {p.llm.num_gpus:g} x "
        f"{p.llm.replicas}, ~{p.carried_rps:.1f} rps"
    )
    data["cluster"] = {
        "gpus_per_node": i.gpus_per_node,
        "gpu_memory_gib": i.gpu_memory_gib,
        "num_nodes": i.nodes,
    }
    vision = dict(data.get("vision") or {})
    vision.update(num_gpus=p.vision.num_gpus, memory_gib=p.vision.memory_gib)
    vision["autoscaling_config"] = _autoscaling(vision.get("autoscaling_config"), p.vision.replicas)
    if vision.get("backend") == "vllm":
        vision["gpu_memory_utilization"] = p.vision.gpu_memory_utilization
    data["vision"] = vision
    llm = dict(data.get("llm") or {})
    llm.update(
        device="gpu",
        num_gpus=p.llm.num_gpus,
        memory_gib=p.llm.memory_gib,
        gpu_memory_utilization=p.llm.gpu_memory_utilization,
    )
    llm["autoscaling_config"] = _autoscaling(llm.get("autoscaling_config"), p.llm.replicas)
    data["llm"] = llm
    return data


def write_profile(p: Plan, base: dict[str, Any], out: Path) -> Path:
    """Write the profile with the table as its header comment, and check that it loads."""
    from seethink.config import load_config

    header = "\n".join(f"# {line}".rstrip() for line in render_table(p).splitlines())
    body = yaml.safe_dump(to_profile(p, base), sort_keys=False, allow_unicode=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"{header}\n{body}")
    load_config(str(out))  # raises ConfigError saying what to change
    return out


def load_base(name: str) -> dict[str, Any]:
    """A profile's raw YAML (a name in cluster/profiles or a path), unvalidated."""
    from seethink.config import profile_path

    return yaml.safe_load(profile_path(name).read_text()) or {}


class BenchError(ValueError):
    """A benchmark file the planner cannot read; the message names the field and the file."""


# PlanInputs field -> where ``scripts/bench.py --json`` puts it (dotted path in the JSON).
BENCH_FIELDS = {
    "gpu_memory_gib": "gpu.memory_gib",
    "vision_memory_gib": "models.vision.memory_gib",
    "llm_memory_gib": "models.llm.memory_gib",
    "vision_rps": "models.vision.rps",
    "llm_rps": "models.llm.rps",
    "target_rps": "target_rps",
    "cascade_share": "traffic.cascade_share",
    "cache_hit_rate": "traffic.cache_hit_rate",
}
_REQUIRED = (
    "gpu_memory_gib",
    "vision_memory_gib",
    "llm_memory_gib",
    "vision_rps",
    "llm_rps",
    "target_rps",
)
BENCH_SCHEMA = "seethink-bench/1"


def load_bench(path: Path) -> dict[str, float]:
    """PlanInputs values found in a benchmark JSON (``scripts/bench.py --json``).

    Reads ``schema`` (must be ``seethink-bench/1`` when present) and the dotted paths in
    ``BENCH_FIELDS``; fields that are absent are left to the command line. A field that is
    present must be a number.
    """
    import json

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise BenchError(f"{path}: cannot read benchmark JSON: {e}") from e
    if not isinstance(doc, dict):
        raise BenchError(f"{path}: expected a JSON object at the top")
    schema = doc.get("schema", BENCH_SCHEMA)
    if schema != BENCH_SCHEMA:
        raise BenchError(f"{path}: schema {schema!r}; this planner reads {BENCH_SCHEMA!r}")
    out: dict[str, float] = {}
    for key, dotted in BENCH_FIELDS.items():
        node: Any = doc
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            continue
        if isinstance(node, bool) or not isinstance(node, int | float):
            raise BenchError(f"{path}: {dotted} must be a number, got {node!r}")
        out[key] = float(node)
    return out


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m cluster.planner",
        description="Turn measured GPU memory and throughput into GPU shares, replica counts "
        "and a seethink profile.",
    )
    card = ap.add_argument_group("cards")
    card.add_argument("--gpu-memory-gib", type=float, help="memory of one card")
    card.add_argument("--gpus", type=int, default=1, help="GPUs per node (default 1)")
    card.add_argument("--nodes", type=int, default=1, help="nodes (default 1)")
    card.add_argument(
        "--step", type=float, default=0.05, help="granularity of GPU shares (default 0.05)"
    )
    m = ap.add_argument_group("measured per replica")
    m.add_argument(
        "--vision-memory-gib",
        type=float,
        help="GPU memory of one vision replica: weights + activations at its batch size",
    )
    m.add_argument(
        "--llm-memory-gib",
        type=float,
        help="GPU memory of one LLM engine: weights + the KV cache it should have",
    )
    m.add_argument("--vision-rps", type=float, help="requests/s one vision replica sustains")
    m.add_argument("--llm-rps", type=float, help="requests/s one LLM replica sustains")
    t = ap.add_argument_group("traffic")
    t.add_argument("--target-rps", type=float, help="requests/s to carry")
    t.add_argument("--cascade-share", type=float, help="share routed to the LLM (default 1)")
    t.add_argument("--cache-hit-rate", type=float, help="cached cascade captions (default 0)")
    m.add_argument(
        "--from-bench",
        type=Path,
        metavar="BENCH_JSON",
        help="take the measured numbers from scripts/bench.py --json output (flags win)",
    )
    o = ap.add_argument_group("output")
    o.add_argument("--base", default="gpu-80g", help="profile to start from (default gpu-80g)")
    o.add_argument("--out", type=Path, help="write the planned profile YAML here")
    return ap


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0 fits, 1 short, 2 nothing fits)."""
    args = _parser().parse_args(argv)
    try:
        measured = load_bench(args.from_bench) if args.from_bench else {}
        given = {k: getattr(args, k) for k in BENCH_FIELDS if getattr(args, k) is not None}
        values = {**measured, **given}
        missing = [k for k in _REQUIRED if k not in values]
        if missing:
            raise BenchError(
                "missing "
                + ", ".join(f"--{k.replace('_', '-')} ({BENCH_FIELDS[k]})" for k in missing)
                + ": give the flag or --from-bench with that field"
            )
        inputs = PlanInputs(gpus_per_node=args.gpus, nodes=args.nodes, step=args.step, **values)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    p = plan(inputs)
    print(render_table(p))
    if args.out is not None:
        if not p.feasible:
            print(f"not written: {args.out} (nothing fits)", file=sys.stderr)
            return 2
        from seethink.config import ConfigError

        try:
            write_profile(p, load_base(args.base), args.out)
        except ConfigError as e:
            print(f"error: the planned profile does not load: {e}", file=sys.stderr)
            return 2
        print(f"wrote {args.out} (base: {args.base})")
    if not p.feasible:
        return 2
    return 0 if p.fits else 1


if __name__ == "__main__":
    sys.exit(main())
