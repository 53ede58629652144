"""Where the graph's own time goes: CPU per request in every process, on the instant profile.

    .venv/bin/python scripts/graph_cost.py                      # boots the instant profile
    .venv/bin/python scripts/graph_cost.py --pyspy              # + the ingress's hottest functions
    .venv/bin/python scripts/graph_cost.py --profile cpu        # the same, with the real models

The instant profile's models answer at once, so what is left is the graph: the proxy, the
ingress (HTTP, validation, image checks, the pipeline), the hops to router, cache, vision and
LLM, and Serve's own bookkeeping. For the direct and cascade routes it prints throughput and
latency at 1 and 64 clients, where a request's time went (the mean of the answers' own
``timings_ms`` per stage, and the vision node's mean batch), then the CPU milliseconds each
process spent per request (from the processes' own CPU counters, so other load on the machine
does not inflate them).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchlib import (  # noqa: E402
    Row,
    boot_graph,
    cpu_by_label,
    ingress_replica_url,
    make_image,
    print_rows,
    run_load,
    tree_procs,
)


def boot(workdir: Path, profile: str = "instant") -> str:
    return boot_graph(
        workdir, {"profile": profile, "arbiter": {"review_db": str(workdir / "r.db")}}
    )


def caller(session, url: str, route: str, images: list[str], stages: dict | None = None):
    """One /infer call per index; with ``stages``, each answer's ``timings_ms`` are added to
    it (stage -> list of ms)."""

    async def call(i: int) -> str | None:
        body = {"image_base64": images[i % len(images)], "prompt": f"Why is this here? {i}",
                "route": route}  # fmt: skip
        async with session.post(url + "/infer", json=body) as r:
            text = await r.read()
            if r.status != 200:
                return f"HTTP {r.status}: {text[:100]!r}"
            if stages is not None:
                answer = json.loads(text)
                for stage, ms in answer.get("timings_ms", {}).items():
                    stages.setdefault(stage, []).append(ms)
                # the arbiter's work: a re-check by the vision model, a case for review
                stages.setdefault("rechecked", []).append(answer.get("verification") is not None)
                stages.setdefault("for_review", []).append(bool(answer.get("needs_review")))
            return None

    return call


def _session():
    # aiohttp: about a third of httpx's CPU per request (0.3-0.5 against 1.2-1.8 ms measured
    # here), and the load generator shares the graph's two cores
    import aiohttp

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=60)
    )


async def vision_batches() -> tuple[int, int] | None:
    """The vision replica's (calls, items) so far, when this script booted the graph."""
    import ray

    if not ray.is_initialized():
        return None
    from ray import serve

    st = await serve.get_deployment_handle("Vision", app_name="seethink").stats.remote()
    return st["calls"], st["items"]


async def measure(
    url: str, n: int, levels: list[int], profile: str
) -> tuple[list[Row], dict, list[tuple]]:
    # a distinct image for every request, so no caption is ever served from the cache
    count = 32 + n * len(levels) + sum(levels)
    images = {r: [base64.b64encode(make_image(k * count + i)).decode() for i in range(count)]
              for k, r in enumerate(("direct", "cascade"))}  # fmt: skip
    rows, cpu, where = [], {}, []
    async with _session() as session:
        for route in ("direct", "cascade"):
            fresh = iter(images[route][32:])
            await run_load(caller(session, url, route, images[route][:32]), 32, 8, 60)  # warm
            total, spent = 0, {}
            for conc in levels:
                # every client's connection is open before the clock starts: the table is the
                # graph's steady state, not the cost of accepting new connections
                opening = list(islice(fresh, conc))
                await run_load(caller(session, url, route, opening), conc, conc, 60)
                work = list(islice(fresh, n))
                stages: dict[str, list[float]] = {}
                vision_before = await vision_batches()
                before = cpu_by_label(tree_procs(os.getpid()))
                r = await run_load(caller(session, url, route, work, stages), n, conc, 60)
                after = cpu_by_label(tree_procs(os.getpid()))
                batch = None  # the vision node's mean batch over this level's requests
                if vision_before is not None:
                    calls, items = await vision_batches()
                    batch = (items - vision_before[1]) / max(1, calls - vision_before[0])
                where.append((route, conc, stages, batch))
                for k in after:
                    spent[k] = spent.get(k, 0) + after[k] - before.get(k, 0)
                rows.append(Row.of(f"{profile} {route}", "graph", conc, r))
                total += len(r.latencies)
            cpu[route] = {k: v / total * 1000 for k, v in spent.items()}
    return rows, cpu, where


def print_stages(where: list[tuple]) -> None:
    """Where a request's time went: the mean of the answers' own ``timings_ms`` per stage
    (stages overlap: the router runs beside the first model call), the share of answers the
    arbiter re-checked and sent for review, and the vision node's mean batch (captions, answers
    and re-checks per model call) over the same requests."""
    names = [k for k in ("router", "vision", "llm", "arbiter", "total")
             if any(k in st for _, _, st, _ in where)]  # fmt: skip
    print("\nwhere a request's time goes: mean ms per stage (the answers' timings_ms)\n")
    head = " | ".join(f"{k:>7}" for k in names)
    print(f"| route   | clients | {head} | re-checked | for review | vision batch |")
    print("|---------|---------|" + "|".join("-" * 9 for _ in names) + "|" + "-" * 12 + "|"
          + "-" * 12 + "|--------------|")  # fmt: skip

    def mean(xs: list) -> float:
        return sum(xs) / len(xs)

    for route, conc, st, batch in where:
        cells = " | ".join(f"{mean(st[k]):7.1f}" if st.get(k) else f"{'-':>7}" for k in names)
        shares = " | ".join(
            f"{mean(st[k]) * 100:9.0f}%" if st.get(k) else f"{'-':>10}"
            for k in ("rechecked", "for_review")
        )
        b = f"{batch:12.2f}" if batch is not None else f"{'-':>12}"
        print(f"| {route:<7} | {conc:>7} | {cells} | {shares} | {b} |")


def pyspy_top(url: str, seconds: int = 15) -> None:
    """The ingress's hottest functions under cascade load (py-spy, if installed)."""
    import psutil

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    pid = next(p.pid for p in psutil.process_iter(["cmdline"])
               if "ServeReplica:seethink:Ingress" in " ".join(p.info["cmdline"] or []))  # fmt: skip
    out = Path(tempfile.mkdtemp()) / "ingress.txt"
    images = [base64.b64encode(make_image(i)).decode() for i in range(64)]

    async def load():
        async with _session() as session:
            await run_load(caller(session, url, "cascade", images), 10**6, 16, 60)

    proc = subprocess.Popen([spy, "record", "-p", str(pid), "-d", str(seconds), "-f", "raw",
                             "-o", str(out), "--nonblocking"])  # fmt: skip
    task_loop = asyncio.new_event_loop()
    try:
        task_loop.run_until_complete(asyncio.wait_for(load(), seconds + 2))
    except TimeoutError:
        pass
    proc.wait(timeout=60)
    own: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        total += int(count)
        for f in {fr.split(" (")[0] + " " + fr.split("/")[-1].rstrip(")") for fr in frames}:
            own[f] = own.get(f, 0) + int(count)
    print(f"\ningress: share of samples in which a function was on the stack ({total} samples)")
    for f, c in sorted(own.items(), key=lambda kv: -kv[1])[:25]:
        print(f"  {c / total * 100:5.1f}%  {f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", help="an instant-profile graph already running (loopback)")
    ap.add_argument("--requests", type=int, default=256)
    ap.add_argument("--concurrency", default="1,64")
    ap.add_argument("--pyspy", action="store_true")
    ap.add_argument("--profile", default="instant", help="cpu: the real models' CPU too")
    # the replica's own port needs direct ingress (RAY_SERVE_ENABLE_DIRECT_INGRESS=1)
    ap.add_argument("--via", choices=("replica", "proxy"), default="proxy",
                    help="the graph's address (HAProxy, or Serve's proxy"
                         " with RAY_SERVE_ENABLE_HA_PROXY=0) or the Ingress replica's")  # fmt: skip
    args = ap.parse_args()
    url = args.url or boot(Path(tempfile.mkdtemp(prefix="seethink-cost-")), args.profile)
    if not args.url and args.via == "replica":
        url = ingress_replica_url() or sys.exit("--via replica: needs direct ingress on")
    print(f"measuring at {url}", flush=True)
    levels = [int(x) for x in args.concurrency.split(",")]
    rows, cpu, where = asyncio.run(measure(url, args.requests, levels, args.profile))
    print_rows(rows)
    print_stages(where)
    labels = sorted({k for v in cpu.values() for k in v if max(c[k] for c in cpu.values()) > 0.05},
                    key=lambda k: -cpu["cascade"].get(k, 0))  # fmt: skip
    print(f"\nCPU ms per request, by process ({args.profile} profile; all concurrency levels"
          " together)\n")  # fmt: skip
    print(f"| {'process':<34} | direct | cascade |")
    print(f"|{'-' * 36}|--------|---------|")
    for k in labels:
        print(f"| {k:<34} | {cpu['direct'].get(k, 0):6.2f} | {cpu['cascade'].get(k, 0):7.2f} |")
    print(f"| {'total':<34} | {sum(cpu['direct'].values()):6.2f} |"
          f" {sum(cpu['cascade'].values()):7.2f} |")  # fmt: skip
    if args.pyspy:
        pyspy_top(url)
    time.sleep(0.1)


if __name__ == "__main__":
    main()
