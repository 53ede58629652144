"""Soak the graph with a mixed workload and watch throughput, latency, statuses and memory.

    .venv/bin/python scripts/soak.py --duration-s 600 --clients 32      # boots the cpu profile
    .venv/bin/python scripts/soak.py --url http://127.0.0.1:8000 --duration-s 120

Bounded by --duration-s and --max-requests; loopback only (the graph it boots, or --url on
127.0.0.1/localhost). Each client sends, in a fixed random mix: direct questions about new
images, cascade questions, streamed chat completions, repeated images (caches), and a few bad
inputs (which must be 4xx). Prints one row per minute: requests/s, p50/p99, status counts and
every replica's RSS; at the end, the 5xx that were not clean overload answers, and each
replica's memory growth after warm-up (the first minute).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import httpx  # noqa: E402
from benchlib import boot_graph, make_image, serve_replica_rss  # noqa: E402

MIX = [("direct", 35), ("cascade", 25), ("stream", 15), ("repeat", 20), ("bad", 5)]
QUESTIONS = {
    "direct": ["What colour is the box?", "图里有几个方块?", "What is written here?"],
    "cascade": ["Why is this here? What should I do?", "这个值多少钱?为什么?", "Is it safe?"],
}


class Stats:
    def __init__(self) -> None:
        self.lat: dict[int, list[float]] = defaultdict(list)
        self.status: dict[int, Counter] = defaultdict(Counter)
        self.unclean: list[str] = []

    def add(self, minute: int, kind: str, status: int, dt: float, body: bytes, ctype: str):
        self.lat[minute].append(dt)
        self.status[minute][status] += 1
        if kind == "bad" and not 400 <= status < 500:
            self.unclean.append(f"bad input answered {status}")
        clean_503 = status in (503, 429) and ctype.startswith("application/json")
        if status >= 500 and not clean_503:
            self.unclean.append(f"{kind}: {status} {body[:200]!r}")


async def one(c: httpx.AsyncClient, kind: str, rng: random.Random, pool: list[str]) -> tuple:
    if kind in ("direct", "cascade"):
        img = base64.b64encode(make_image(rng.randrange(10**9))).decode()
        body = {"image_base64": img, "prompt": rng.choice(QUESTIONS[kind]), "route": kind}
        r = await c.post("/infer", json=body)
    elif kind == "repeat":
        body = {"image_base64": rng.choice(pool), "prompt": rng.choice(QUESTIONS["cascade"])}
        r = await c.post("/infer", json=body)
    elif kind == "stream":
        img = base64.b64encode(make_image(rng.randrange(10**9))).decode()
        parts = [
            {"type": "text", "text": rng.choice(QUESTIONS["cascade"])},
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{img}"}},
        ]
        msgs = [{"role": "user", "content": parts}]
        async with c.stream(
            "POST",
            "/v1/chat/completions",
            json={"messages": msgs, "stream": True, "max_tokens": 16},
        ) as r:
            data = b"".join([chunk async for chunk in r.aiter_bytes()])
            if r.status_code == 200 and not data.rstrip().endswith(b"data: [DONE]"):
                return 599, b"stream did not end with [DONE]", "text/plain"
            return r.status_code, data, r.headers.get("content-type", "")
    else:
        bad = rng.choice([
            {"image_base64": base64.b64encode(b"not an image").decode(), "prompt": "x"},
            {"image_base64": pool[0], "prompt": "   "},
            {"image_url": "http://10.0.0.1/x.png", "prompt": "x"},
        ])  # fmt: skip
        r = await c.post("/infer", json=bad)
    return r.status_code, r.content, r.headers.get("content-type", "")


async def client(url, stop_at, budget, stats, seed, pool, t0):
    rng = random.Random(seed)
    kinds = [k for k, w in MIX for _ in range(w)]
    async with httpx.AsyncClient(base_url=url, timeout=120) as c:
        while time.monotonic() < stop_at and budget[0] > 0:
            budget[0] -= 1
            kind = rng.choice(kinds)
            t = time.monotonic()
            try:
                status, body, ctype = await one(c, kind, rng, pool)
            except httpx.HTTPError as e:  # a client timeout or a dropped connection
                status, body, ctype = 598, repr(e).encode(), ""
            stats.add(int((t - t0) // 60), kind, status, time.monotonic() - t, body, ctype)


def rss_mib() -> dict[str, float]:
    return {k: v / 2**20 for k, v in serve_replica_rss(os.getpid()).items() if k != "ray (other)"}


async def soak(url: str, duration_s: float, max_requests: int, clients: int) -> int:
    pool = [base64.b64encode(make_image(10**6 + i)).decode() for i in range(20)]
    stats, budget, t0 = Stats(), [max_requests], time.monotonic()
    stop_at = t0 + duration_s
    memory: dict[int, dict[str, float]] = {}

    async def sample_memory():
        while time.monotonic() < stop_at and budget[0] > 0:
            memory[int((time.monotonic() - t0) // 60)] = rss_mib()
            await asyncio.sleep(10)

    sampler = asyncio.create_task(sample_memory())
    await asyncio.gather(*(client(url, stop_at, budget, stats, i, pool, t0)
                           for i in range(clients)))  # fmt: skip
    sampler.cancel()
    memory[max(memory, default=0) + 1] = rss_mib()
    return report(stats, memory)


def report(stats: Stats, memory: dict[int, dict[str, float]]) -> int:
    names = sorted({n for m in memory.values() for n in m})
    print(f"\n| minute | req/s | p50 ms | p99 ms | statuses | {' | '.join(names)} (RSS MiB) |")
    print("|---" * (5 + len(names)) + "|")
    for minute in sorted(stats.lat):
        lat = sorted(stats.lat[minute])
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        codes = " ".join(f"{k}:{v}" for k, v in sorted(stats.status[minute].items()))
        mem = memory.get(minute, {})
        cols = " | ".join(f"{mem.get(n, 0):.0f}" for n in names)
        print(f"| {minute + 1} | {len(lat) / 60:.1f} | {statistics.median(lat) * 1000:.0f} | "
              f"{p99 * 1000:.0f} | {codes} | {cols} |")  # fmt: skip
    total = sum(stats.status.values(), Counter())
    print(f"\nstatuses: {dict(sorted(total.items()))}")
    print(f"unclean answers (5xx other than JSON 503/429, bad input not 4xx): {len(stats.unclean)}")
    for line in stats.unclean[:10]:
        print("  ", line)
    keys = sorted(memory)
    if len(keys) >= 3:
        warm, last = memory[keys[1]], memory[keys[-1]]
        print("\nmemory after warm-up (minute 2) -> end:")
        for n in names:
            a, b = warm.get(n, 0), last.get(n, 0)
            growth = (b - a) / a * 100 if a else 0.0
            print(f"  {n:<14} {a:7.0f} -> {b:7.0f} MiB ({growth:+.1f}%)")
    return 1 if stats.unclean else 0


def boot(workdir: Path) -> str:
    url = boot_graph(workdir, {"arbiter": {"review_db": str(workdir / "review.sqlite3")}})
    httpx.post(url + "/generate", json={"prompt": "warm up"}, timeout=300)
    return url


def main() -> None:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request costs the client CPU
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", help="a graph already running on loopback; default: boot one here")
    ap.add_argument("--duration-s", type=float, default=600)
    ap.add_argument("--max-requests", type=int, default=200_000)
    ap.add_argument("--clients", type=int, default=32)
    args = ap.parse_args()
    url = args.url
    if url:
        host = urlsplit(url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            sys.exit("soak.py sends load to loopback only")
    else:
        url = boot(Path(tempfile.mkdtemp(prefix="seethink-soak-")))
    sys.exit(asyncio.run(soak(url, args.duration_s, args.max_requests, args.clients)))


if __name__ == "__main__":
    main()
