"""Benchmark the graph over HTTP against the design article's own deployment (not a test: numbers).

    .venv/bin/python scripts/bench.py                    # boots the cpu profile graph here
    .venv/bin/python scripts/bench.py --peer --limits    # + the article's two servers + the limit
    .venv/bin/python scripts/bench.py --url http://127.0.0.1:8000   # a graph already running
    .venv/bin/python scripts/bench.py --profile instant  # the graph's own cost (no models)

A graph booted here is measured at its address, as scripts/serve.sh starts it: HAProxy in front of
the Ingress replicas (Serve's proxy alone with RAY_SERVE_ENABLE_HA_PROXY=0
RAY_SERVE_ENABLE_DIRECT_INGRESS=0 in the environment). ``--via replica`` measures it at its Ingress
replica's own port instead, and ``--extras`` then adds rows at the address beside the others.
Every request carries a new, distinct 320x240 image (no cache can answer it). For each number of
concurrent clients the rows run in interleaved rounds (graph, peer, graph, peer; the order turns
round each round) so that drift on a shared machine hits both sides:

  graph cascade    POST /infer route=cascade (caption -> LLM, arbitration as the profile says)
  graph direct     POST /infer route=direct (the vision model answers)
  peer chain       (--peer) the article's client: POST /caption to a one-at-a-time FastAPI
                   transformers server (scripts/peer_vision_server.py), then /v1/chat/completions
                   to vLLM's own OpenAI server, same checkpoints, prompt template and token budgets
  peer vision      (--peer) the article's vision server alone

Then ratios (cascade / peer chain, direct / peer vision), the models' in-process limit and the
graph's share of it (--limits, scripts/model_limits.py in a subprocess), and the RSS of every
replica and peer server at the end. ``--json FILE`` keeps all of it for the capacity planner.
``--requests`` is per row and round: a row's numbers cover rounds x requests requests. With
only a request or two per client a round is mostly its start (every client at once) and its
drain, which flatters the graph against the one-at-a-time peer (1.76x against 1.62x at 32
clients, same code, same hour); the default, 256, measures the steady state (about ten minutes
with --peer --limits and three rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchlib import (  # noqa: E402
    IMAGE_SIZE,
    QUESTION,
    BenchError,
    Call,
    ImageSeeds,
    LoadResult,
    Row,
    Server,
    boot_graph,
    cascade_messages,
    cpu_by_label,
    foreign_cpu_s,
    free_port,
    gib,
    ingress_replica_url,
    make_image,
    print_rows,
    rss_by_label,
    run_load,
    serve_replica_rss,
    tree_procs,
)

PEER_LLM_NAME = "peer-llm"
INSTANT_PROFILE = "instant"


@dataclass
class Target:
    """One kind of request the benchmark sends, and to whom."""

    what: str
    side: str  # "graph" or "peer": whose processes serve it
    make_call: Any  # (session, images: list[bytes], b64s: list[str]) -> Call


# ---------------------------------------------------------------- requests


def graph_infer(url: str, route: str, prompt: str = QUESTION):
    def make(session, images, b64s) -> Call:
        async def call(i: int) -> str | None:
            body = {"image_base64": b64s[i], "prompt": prompt, "route": route}
            async with session.post(url + "/infer", json=body) as r:
                data = await r.read()
                if r.status != 200:
                    return f"HTTP {r.status}: {data[:160]!r}"
                if json.loads(data).get("degraded"):
                    return f"degraded answer: {data[:160]!r}"
            return None

        return call

    return make


async def _caption(session, vision_url: str, image: bytes) -> tuple[str | None, str]:
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("file", image, filename="image.jpg", content_type="image/jpeg")
    async with session.post(vision_url + "/caption", data=form) as r:
        data = await r.read()
        if r.status != 200:
            return f"caption HTTP {r.status}: {data[:160]!r}", ""
        return None, json.loads(data)["caption"]


def peer_vision(vision_url: str):
    def make(session, images, b64s) -> Call:
        async def call(i: int) -> str | None:
            err, _ = await _caption(session, vision_url, images[i])
            return err

        return call

    return make


def peer_chain(vision_url: str, llm_url: str, max_tokens: int, temperature: float):
    """The article's client: caption over HTTP, then the chat completion, one after the other."""

    def make(session, images, b64s) -> Call:
        async def call(i: int) -> str | None:
            err, caption = await _caption(session, vision_url, images[i])
            if err:
                return err
            body = {
                "model": PEER_LLM_NAME,
                "messages": cascade_messages(caption, QUESTION),  # the graph's, word for word
                "max_tokens": max_tokens,
                "temperature": temperature,
            }
            async with session.post(llm_url + "/v1/chat/completions", json=body) as r:
                data = await r.read()
                if r.status != 200:
                    return f"chat HTTP {r.status}: {data[:160]!r}"
            return None

        return call

    return make


def graph_naive_chain(url: str):
    """The article's client against the graph's own /caption and /generate (--extras)."""

    def make(session, images, b64s) -> Call:
        async def call(i: int) -> str | None:
            err, caption = await _caption(session, url, images[i])
            if err:
                return err
            prompt = f"Image description: {caption}\n\nQuestion: {QUESTION}"
            async with session.post(url + "/generate", json={"prompt": prompt}) as r:
                await r.read()
                return None if r.status == 200 else f"generate HTTP {r.status}"

        return call

    return make


# ---------------------------------------------------------------- the run


class Sides:
    """The processes behind each side, to read their CPU time while the other side is measured."""

    def __init__(self) -> None:
        self.pids: dict[str, list[int]] = {"graph": [], "peer": []}
        # CPU seconds each side's processes used while the other side was measured, by process
        self.idle_cpu: dict[str, dict[str, float]] = {"graph": {}, "peer": {}}
        self.idle_wall: dict[str, float] = {"graph": 0.0, "peer": 0.0}

    def procs(self, side: str) -> list:
        return [p for pid in self.pids[side] for p in tree_procs(pid)]

    def cpu(self, side: str) -> dict[str, float]:
        return cpu_by_label(self.procs(side))

    def add_idle(self, side: str, before: dict[str, float], after: dict[str, float], wall: float):
        acc = self.idle_cpu[side]
        for label, t in after.items():
            acc[label] = acc.get(label, 0.0) + max(0.0, t - before.get(label, 0.0))
        self.idle_wall[side] += wall

    def idle_report(self, top: int = 8) -> dict[str, dict[str, float]]:
        """Cores used per process while idle (the other side under load), biggest first."""
        out = {}
        for side, acc in self.idle_cpu.items():
            wall = self.idle_wall[side]
            if wall > 0 and acc:
                ranked = sorted(acc.items(), key=lambda kv: -kv[1])[:top]
                out[side] = {label: t / wall for label, t in ranked}
        return out


async def run_block(
    target: Target, seeds: ImageSeeds, n: int, c: int, timeout_s: float
) -> LoadResult:
    import aiohttp

    # Images are made before the clock starts: the client's work is not the server's.
    images = [make_image(s) for s in seeds.take(n)]
    b64s = [base64.b64encode(p).decode() for p in images]
    # A fresh session per block: no idle keep-alive connection the server has already closed.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        return await run_load(target.make_call(session, images, b64s), n, c, timeout_s)


async def warm_up(targets: list[Target], seeds: ImageSeeds, timeout_s: float) -> None:
    for t in targets:
        r = await run_block(t, seeds, 4, 4, timeout_s)
        status = "ok" if not r.errors else f"{r.errors} of 4 failed: {r.error_samples[:1]}"
        print(f"  warm-up {t.what}: {status}", flush=True)


async def measure(
    targets: list[Target],
    levels: list[int],
    n: int,
    rounds: int,
    timeout_s: float,
    sides: Sides,
) -> list[Row]:
    seeds = ImageSeeds()
    print("warming up (untimed) ...", flush=True)
    await warm_up(targets, seeds, timeout_s)
    rows: list[Row] = []
    for c in levels:
        acc = {t.what: LoadResult() for t in targets}
        # CPU seconds the other side burnt while this side was measured (idle background)
        background = {t.what: 0.0 for t in targets}
        foreign = {t.what: 0.0 for t in targets}
        for r in range(rounds):
            order = targets if r % 2 == 0 else list(reversed(targets))
            for t in order:
                other = "peer" if t.side == "graph" else "graph"
                cpu0, f0 = sides.cpu(other), foreign_cpu_s()
                res = await run_block(t, seeds, max(n, c), c, timeout_s)
                f1, cpu1 = foreign_cpu_s(), sides.cpu(other)
                sides.add_idle(other, cpu0, cpu1, res.wall_s)
                background[t.what] += sum(cpu1.values()) - sum(cpu0.values())
                foreign[t.what] += f1 - f0
                acc[t.what].merge(res)
                print(
                    f"  c={c:<3} round {r + 1}/{rounds} {t.what:<14} "
                    f"{len(res.latencies) / res.wall_s:6.1f} req/s  errors {res.errors}  "
                    f"foreign cores {max(0.0, f1 - f0) / res.wall_s:.2f}",
                    flush=True,
                )
        for t in targets:
            row = Row.of(t.what, t.side, c, acc[t.what])
            wall = max(acc[t.what].wall_s, 1e-9)
            row.background_cores = background[t.what] / wall
            row.foreign_cores = max(0.0, foreign[t.what] / wall)
            rows.append(row)
    return rows


# ---------------------------------------------------------------- servers and graph


def start_peers(workdir: Path, model_profile: str, timeout_s: float) -> dict[str, Server]:
    """Start the article's two servers (loopback, free ports); return them once both are ready."""
    from seethink.checkpoints import resolve_model_path
    from seethink.config import load_config

    cfg = load_config(model_profile)
    # Build the checkpoints first, so neither server's start-up time includes a build.
    vision_path = resolve_model_path(cfg.vision.model)
    llm_path = resolve_model_path(cfg.llm.model)
    vport, lport = free_port(), free_port()
    while lport == vport:
        lport = free_port()
    offline = {"HF_HUB_OFFLINE": "1"}
    vision = Server(
        "peer vision server",
        [
            sys.executable,
            str(ROOT / "scripts" / "peer_vision_server.py"),
            "--port",
            str(vport),
            "--model",
            vision_path,
            "--max-new-tokens",
            str(cfg.vision.max_new_tokens),
            "--dtype",
            cfg.vision.dtype,
        ],
        offline,
        workdir / "peer_vision.log",
        f"http://127.0.0.1:{vport}/health",
    )
    llm_cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        llm_path,
        "--served-model-name",
        PEER_LLM_NAME,
        "--port",
        str(lport),
        "--host",
        "127.0.0.1",
        "--dtype",
        cfg.llm.dtype,
        "--max-model-len",
        str(cfg.llm.max_model_len),
    ]
    if cfg.llm.enforce_eager:
        llm_cmd.append("--enforce-eager")
    # vLLM leaves its rendezvous file (vllm_dist_<uuid>) in the temp directory: this run's
    # work directory, not /tmp
    llm_env = dict(offline, TMPDIR=str(workdir))
    if cfg.llm.device != "gpu":
        llm_env.update(
            VLLM_CPU_KVCACHE_SPACE=str(cfg.llm.cpu_kvcache_space_gib),
            VLLM_CPU_OMP_THREADS_BIND="nobind",
            VLLM_ENABLE_V1_MULTIPROCESSING="0",
        )
    llm = Server(
        "peer vLLM OpenAI server",
        llm_cmd,
        llm_env,
        workdir / "peer_llm.log",
        f"http://127.0.0.1:{lport}/v1/models",
    )
    servers = {"vision": vision, "llm": llm}
    for s in servers.values():
        s.start()
    print(f"starting the peer servers (logs in {workdir}) ...", flush=True)
    for s in servers.values():
        s.wait_ready(timeout_s)
        print(f"  {s.name} ready in {s.startup_s:.1f} s", flush=True)
    servers["vision"].url = f"http://127.0.0.1:{vport}"
    servers["llm"].url = f"http://127.0.0.1:{lport}"
    return servers


def boot(profile: str, arbiter: bool | None, workdir: Path) -> str:
    """Start Ray and the graph here (loopback, a free port); the graph's URL."""
    arb: dict[str, Any] = {"review_db": str(workdir / "review.sqlite3")}
    if arbiter is not None:
        arb["enabled"] = arbiter
    return boot_graph(workdir, {"profile": profile, "arbiter": arb})


def run_limits(model_profile: str, timeout_s: float, workdir: Path) -> dict:
    """scripts/model_limits.py in its own process (it loads both models; vLLM needs spawn)."""
    out = workdir / "limits.json"
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "model_limits.py"),
        "--profile",
        model_profile,
        "--json",
        str(out),
    ]
    print("measuring the models' own limits (scripts/model_limits.py) ...", flush=True)
    # its vLLM engine's rendezvous file (vllm_dist_<uuid>) in this run's directory, not /tmp
    proc = subprocess.Popen(cmd, start_new_session=True, env={**os.environ, "TMPDIR": str(workdir)})
    try:
        rc = proc.wait(timeout_s)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
        raise BenchError(f"model_limits.py did not finish within {timeout_s:.0f} s")
    if rc != 0:
        raise BenchError(f"model_limits.py failed with status {rc} (its output is above)")
    return json.loads(out.read_text())


# ---------------------------------------------------------------- report


def ratio_rows(rows: list[Row]) -> list[dict]:
    by = {(r.what, r.clients): r for r in rows}
    out = []
    for c in sorted({r.clients for r in rows}):
        for graph, peer in (("graph cascade", "peer chain"), ("graph direct", "peer vision")):
            g, p = by.get((graph, c)), by.get((peer, c))
            if g and p and p.rps > 0 and p.p50_ms > 0:
                out.append(
                    {
                        "clients": c,
                        "graph": graph,
                        "peer": peer,
                        "rps_ratio": g.rps / p.rps,
                        "p50_ratio": g.p50_ms / p.p50_ms,
                    }
                )
    return out


def print_ratios(ratios: list[dict]) -> None:
    print("\ngraph / peer (req/s: higher is better for the graph; p50: lower is)\n")
    print(f"| {'graph row':<14} | {'peer row':<11} | clients | req/s ratio | p50 ratio |")
    print(f"|{'-' * 16}|{'-' * 13}|---------|-------------|-----------|")
    for r in ratios:
        print(
            f"| {r['graph']:<14} | {r['peer']:<11} | {r['clients']:>7} |"
            f" {r['rps_ratio']:>10.2f}x | {r['p50_ratio']:>8.2f}x |"
        )


def goal_lines(ratios: list[dict], levels: list[int]) -> list[str]:
    """Issue 9's goals, checked against this run's rows."""
    by = {(r["graph"], r["clients"]): r for r in ratios}
    hi, lo = max(levels), min(levels)
    lines = []
    for graph, need in (("graph cascade", 2.0), ("graph direct", 3.0)):
        r = by.get((graph, hi))
        if r:
            ok = "met" if r["rps_ratio"] >= need else "NOT met"
            lines.append(f"{graph} at c={hi}: {r['rps_ratio']:.2f}x the peer (goal {need}x): {ok}")
        r = by.get((graph, lo))
        if r:
            ok = "met" if r["p50_ratio"] <= 1.0 else "NOT met"
            lines.append(
                f"{graph} p50 at c={lo}: {r['p50_ratio']:.2f}x the peer's (goal <= 1): {ok}"
            )
    return lines


def limit_share(rows: list[Row], limits: dict, c: int) -> dict:
    from model_limits import summary

    s = summary(limits)
    by = {(r.what, r.clients): r for r in rows}
    share: dict[str, Any] = {"clients": c, **s}
    if (r := by.get(("graph cascade", c))) and s["min"]:
        share["cascade_rps"] = r.rps
        share["cascade_share_of_min"] = r.rps / s["min"]
        share["cascade_share_of_shared_cpu"] = r.rps / s["cascade_shared_cpu"]
    if (r := by.get(("graph direct", c))) and s["vision_best"]:
        share["direct_rps"] = r.rps
        share["direct_share_of_vision"] = r.rps / s["vision_best"]
    if (r := by.get(("peer chain", c))) and s["min"]:
        share["peer_chain_share_of_min"] = r.rps / s["min"]
    return share


def print_share(share: dict) -> None:
    c = share["clients"]
    print(f"\nshare of the limit at c={c}")
    if "cascade_rps" in share:
        print(
            f"  graph cascade {share['cascade_rps']:.1f} req/s = "
            f"{share['cascade_share_of_min'] * 100:.1f}% of min(vision {share['vision_best']:.0f},"
            f" llm {share['llm_best']:.0f}) = {share['min']:.0f}/s; "
            f"{share['cascade_share_of_shared_cpu'] * 100:.1f}% of the shared-core cascade limit "
            f"~{share['cascade_shared_cpu']:.0f}/s"
        )
    if "direct_rps" in share:
        print(
            f"  graph direct {share['direct_rps']:.1f} req/s = "
            f"{share['direct_share_of_vision'] * 100:.1f}% of the vision limit"
        )
    if "peer_chain_share_of_min" in share:
        print(f"  peer chain: {share['peer_chain_share_of_min'] * 100:.1f}% of min(vision, llm)")


def memory_snapshot(scope: str, peers: dict[str, Server]) -> dict:
    """RSS per replica and peer server. scope: "run" (the Ray we booted), "host" or "none"."""
    import psutil

    # the peer servers are this script's children too: keep them out of the graph's numbers
    peer_pids = {p.pid for s in peers.values() if s.proc for p in tree_procs(s.proc.pid)}
    if scope == "none":
        replicas: dict[str, int] = {}
    else:
        replicas = serve_replica_rss(os.getpid() if scope == "run" else None, peer_pids)
    peer = {name: s.rss_bytes() for name, s in peers.items()}
    by_process = {}
    if scope == "run":
        procs = [p for p in psutil.Process().children(recursive=True) if p.pid not in peer_pids]
        by_process["graph"] = rss_by_label(procs)
    for name, s in peers.items():
        if s.proc:
            by_process[f"peer {name}"] = rss_by_label(tree_procs(s.proc.pid))
    return {
        "by_process": by_process,
        "replicas": replicas,
        "replicas_scope": {
            "run": "this run's Ray",
            "host": "every Serve replica on this host",
            "none": "no graph",
        }[scope],
        "graph_total": sum(replicas.values()),
        "peers": peer,
        "peer_total": sum(peer.values()),
        "bench_client": psutil.Process().memory_info().rss,
    }


def planner_fields(report: dict) -> dict:
    """The fields ``python -m cluster.planner --from-bench`` reads (schema seethink-bench/1).

    On CPU profiles ``memory_gib`` is the replica's host RSS (its engine process included), not
    GPU memory; ``rps`` is the model's own in-process limit (--limits), per replica.
    """
    models: dict[str, dict] = {}
    replicas = report.get("memory", {}).get("replicas", {})
    limits = report.get("limits")
    for model, deployment in (("vision", "Vision"), ("llm", "LLM")):
        m: dict[str, Any] = {}
        rss = [v for k, v in replicas.items() if k.split("#")[0] == deployment]
        if rss:
            m["memory_gib"] = max(rss) / 2**30
            m["memory_kind"] = "host RSS of one replica"
        if limits and limits.get(model):
            best = max(limits[model], key=lambda r: r["per_s"])
            m["rps"] = best["per_s"]
            m["rps_kind"] = "in-process limit: " + (
                f"batch {best['batch']}" if model == "vision" else f"{best['concurrency']} at once"
            )
        if m:
            models[model] = m
    return models


def print_memory(mem: dict) -> None:
    print(f"\nmemory at the end of the run (RSS; replicas: {mem['replicas_scope']})\n")
    print("| process                      | RSS        |")
    print("|------------------------------|------------|")
    for name, rss in mem["replicas"].items():
        print(f"| graph: {name:<21} | {gib(rss):>10} |")
    if mem["replicas"]:
        print(f"| graph total                  | {gib(mem['graph_total']):>10} |")
    for name, rss in mem["peers"].items():
        print(f"| peer: {name:<22} | {gib(rss):>10} |")
    if mem["peers"]:
        print(f"| peer total                   | {gib(mem['peer_total']):>10} |")
    for group, procs in mem.get("by_process", {}).items():
        top = list(procs.items())[:8]
        print(
            f"  {group}, by process: "
            + ", ".join(f"{k} x{v['count']} {v['rss'] / 2**30:.2f}" for k, v in top)
            + " (GiB)"
        )


def print_idle(idle: dict[str, dict[str, float]]) -> None:
    for side, procs in idle.items():
        total = sum(procs.values())
        print(
            f"  {side} side idle (while the other was measured): {total:.2f} cores: "
            + ", ".join(f"{k} {v:.2f}" for k, v in procs.items() if v >= 0.005)
        )


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", help="a running graph; default: boot --profile here")
    ap.add_argument("--profile", default="cpu", help="profile to boot (default cpu)")
    ap.add_argument(
        "--arbiter",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="force arbitration on or off; default: as the profile says (on in cpu)",
    )
    ap.add_argument("--peer", action="store_true", help="also measure the article's two servers")
    ap.add_argument("--limits", action="store_true", help="also measure the models in-process")
    ap.add_argument(
        "--no-graph", action="store_true", help="measure the peer rows only (with --peer)"
    )
    ap.add_argument(
        "--extras",
        action="store_true",
        help="also the naive chain through the graph's own /caption + /generate, and both "
        "routes at the graph's address when the graph is measured at its replica's port",
    )
    ap.add_argument(
        "--requests",
        type=int,
        default=256,
        help="per row and round (default 256: eight per client at 32 clients, so a round "
        "measures the steady state, not mostly its start and drain; at least the client count)",
    )
    ap.add_argument(
        "--via",
        choices=("replica", "proxy"),
        default="proxy",
        help="the booted graph's entry: its address ('proxy', the default: HAProxy, or Serve's "
        "proxy with RAY_SERVE_ENABLE_HA_PROXY=0) or the Ingress replica's own port",
    )
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    ap.add_argument("--concurrency", default="1,8,32", help="client counts (default 1,8,32)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds per request")
    ap.add_argument("--startup-timeout", type=float, default=420, help="seconds per server start")
    ap.add_argument("--deadline", type=int, default=2400, help="seconds for the whole run")
    ap.add_argument("--json", help="write rows, ratios, limits and memory here")
    return ap.parse_args(argv)


def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _raise_deadline(_signum, _frame):
    raise BenchError("the run passed --deadline; stopping (servers are stopped in finally)")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    levels = sorted({int(c) for c in args.concurrency.split(",")})
    if args.profile == INSTANT_PROFILE:
        levels = sorted({*levels, 1, 64})  # the graph's own cost: c=1 latency, c=64 throughput
    # the real models' budgets, for the peer and the limit, even when the graph is instant
    model_profile = "cpu" if args.profile == INSTANT_PROFILE else args.profile
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGALRM, _raise_deadline)
    signal.alarm(args.deadline)
    workdir = Path(tempfile.mkdtemp(prefix="seethink-bench-"))
    report: dict[str, Any] = {
        "schema": "seethink-bench/1",  # what cluster/planner.py --from-bench reads
        "profile": args.profile,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg_start": os.getloadavg(),
        "args": vars(args),
        "levels": levels,
        "image_size": list(IMAGE_SIZE),
        "cpus": os.cpu_count(),
    }
    peers: dict[str, Server] = {}
    sides = Sides()
    booted = False
    try:
        if args.limits:
            report["limits"] = run_limits(model_profile, 900, workdir)
        if args.peer:
            if args.profile == INSTANT_PROFILE:
                print("note: the graph is instant (no models) and the peer runs real ones")
            peers = start_peers(workdir, model_profile, args.startup_timeout)
            report["peer_startup_s"] = {k: s.startup_s for k, s in peers.items()}
            sides.pids["peer"] = [s.proc.pid for s in peers.values()]
        url = proxy_url = args.url
        if args.no_graph:
            if not peers:
                raise BenchError("--no-graph measures the peer only: add --peer")
        elif not url:
            print(f"booting the graph ({args.profile} profile) ...", flush=True)
            t = time.perf_counter()
            url = boot(args.profile, args.arbiter, workdir)
            booted = True
            report["graph_boot_s"] = time.perf_counter() - t
            print(f"  graph ready in {report['graph_boot_s']:.1f} s at {url}", flush=True)
            proxy_url = url
            if args.via == "replica":
                replica = ingress_replica_url()
                if replica is None:
                    raise BenchError("--via replica: no Ingress replica serves its own port; "
                                     "set RAY_SERVE_ENABLE_DIRECT_INGRESS=1")  # fmt: skip
                print(f"  measured at the Ingress replica's own port {replica}", flush=True)
                url = replica
            import psutil

            peer_pids = set(sides.pids["peer"])
            sides.pids["graph"] = [
                p.pid for p in psutil.Process().children() if p.pid not in peer_pids
            ]
        report["url"] = url

        targets = []
        if url:
            targets.append(Target("graph cascade", "graph", graph_infer(url, "cascade")))
        if peers:
            from seethink.config import load_config

            llm_cfg = load_config(model_profile).llm
            v, lm = peers["vision"].url, peers["llm"].url
            targets.append(
                Target(
                    "peer chain", "peer", peer_chain(v, lm, llm_cfg.max_tokens, llm_cfg.temperature)
                )
            )
        if url:
            targets.append(Target("graph direct", "graph", graph_infer(url, "direct")))
        if peers:
            targets.append(Target("peer vision", "peer", peer_vision(peers["vision"].url)))
        if args.extras and url:
            targets.append(Target("graph naive chain", "graph", graph_naive_chain(url)))
        if args.extras and proxy_url != url:
            # the same graph at its address: what the replica port saves
            for route in ("cascade", "direct"):
                targets.append(
                    Target(f"graph {route} (proxy)", "graph", graph_infer(proxy_url, route))
                )

        rows = asyncio.run(
            measure(targets, levels, args.requests, args.rounds, args.timeout, sides)
        )
        report["rows"] = [r.as_dict() for r in rows]
        scope = "run" if booted else ("none" if args.no_graph else "host")
        report["memory"] = memory_snapshot(scope, peers)
        report["idle_cores_by_process"] = sides.idle_report()
        report["loadavg_end"] = os.getloadavg()
        report["models"] = planner_fields(report)
        report["ratios"] = ratio_rows(rows)
        report["goals"] = goal_lines(report["ratios"], levels)
        if "limits" in report:
            report["limit_share"] = limit_share(rows, report["limits"], max(levels))

        print(f"\n{args.requests} requests x {args.rounds} rounds per row; graph at {url}")
        print(
            f"graph profile {args.profile}, arbitration "
            f"{'as the profile says' if args.arbiter is None else args.arbiter}\n"
        )
        print_rows(rows)
        for r in rows:
            if r.errors:
                print(f"  {r.what} c={r.clients}: e.g. {r.error_samples[0]}")
        if report["ratios"]:
            print_ratios(report["ratios"])
            for line in report["goals"]:
                print("  " + line)
        if "limits" in report:
            from model_limits import print_limits

            print_limits(report["limits"])
            print_share(report["limit_share"])
        print_memory(report["memory"])
        if report["idle_cores_by_process"]:
            print("\nCPU of the idle side, per process (cores; the top ones)")
            print_idle(report["idle_cores_by_process"])
        if "peer_startup_s" in report:
            st = report["peer_startup_s"]
            print(f"\npeer start-up: vision {st['vision']:.1f} s, vLLM server {st['llm']:.1f} s")
        if "graph_boot_s" in report:
            print(f"graph boot (ray.init + serve.run): {report['graph_boot_s']:.1f} s")
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2, default=str))
            print(f"\nwrote {args.json}")
    finally:
        signal.alarm(0)
        t = time.perf_counter()
        for s in peers.values():
            s.stop()
        if booted:
            import ray

            ray.shutdown()
        print(f"stopped what this run started in {time.perf_counter() - t:.1f} s", flush=True)


if __name__ == "__main__":
    main()
