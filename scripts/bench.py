"""Benchmark the graph over HTTP and print a table (not a test: numbers, side by side).

    .venv/bin/python scripts/bench.py                # boots the cpu profile graph itself
    .venv/bin/python scripts/bench.py --url http://127.0.0.1:8000   # a graph already running

Rows: requests/s, p50 and p99 latency at 1, 8 and 32 concurrent clients for the direct and the
cascade route (every cascade request a new image: a cold caption cache); the design article's
naive client chain (sequential HTTP /caption then /generate per request) against the graph's
cascade at the same concurrency; and the cascade with a warm caption cache against a cold one.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures as cf
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_seq = iter(range(10**9))


def image(seed: int | None = None) -> str:
    seed = next(_seq) if seed is None else seed
    im = Image.new("RGB", (128, 96), ((seed * 37) % 256, (seed * 91) % 256, 120))
    ImageDraw.Draw(im).text((4, 4), str(seed), fill=(255, 255, 255))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def run(fn, n: int, conc: int) -> dict:
    lat: list[float] = []
    errors = 0

    def one(i):
        t = time.perf_counter()
        ok = fn(i)
        return time.perf_counter() - t, ok

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(conc) as ex:
        for dt, ok in ex.map(one, range(n)):
            lat.append(dt)
            errors += not ok
    wall = time.perf_counter() - t0
    lat.sort()
    return {
        "rps": n / wall,
        "p50": statistics.median(lat) * 1000,
        "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000,
        "errors": errors,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", help="a running graph; default: boot the cpu profile here")
    ap.add_argument("--requests", type=int, default=32, help="requests per row (default 32)")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument(
        "--arbiter",
        action="store_true",
        help="boot with arbitration on (it adds a vision pass per low-coherence answer, so the "
        "naive-chain comparison would no longer be the same work)",
    )
    args = ap.parse_args()
    conc_levels = [int(c) for c in args.concurrency.split(",")]
    url = args.url
    if not url:
        url = boot(arbiter=args.arbiter)
    s = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=64)
    s.mount("http://", adapter)

    def infer(route, img=None, prompt="What is in this picture?"):
        def call(_i):
            r = s.post(
                url + "/infer",
                json={"image_base64": img or image(), "prompt": prompt, "route": route},
                timeout=300,
            )
            return r.status_code == 200 and not r.json().get("degraded")

        return call

    def naive(_i):
        # the article's client: caption over HTTP, then generate over HTTP, one after the other
        data = base64.b64decode(image())
        cap = s.post(url + "/caption", files={"file": ("x.png", data)}, timeout=300).json()[
            "caption"
        ]
        prompt = f"Image description: {cap}\n\nQuestion: Why is this here?"
        return s.post(url + "/generate", json={"prompt": prompt}, timeout=300).status_code == 200

    rows = []
    for route in ("direct", "cascade"):
        for c in conc_levels:
            rows.append((f"{route} route", c, run(infer(route), args.requests, c)))
    for c in conc_levels[:2]:
        rows.append(("naive chain /caption then /generate", c, run(naive, args.requests, c)))
        rows.append(
            (
                "graph cascade (same work)",
                c,
                run(infer("cascade", prompt="Why is this here?"), args.requests, c),
            )
        )
    warm_img = image(seed=10**6)
    s.post(url + "/infer", json={"image_base64": warm_img, "prompt": "x", "route": "cascade"})
    for c in conc_levels[:2]:
        rows.append(("cascade, cold caption cache", c, run(infer("cascade"), args.requests, c)))
        rows.append(
            (
                "cascade, warm caption cache",
                c,
                run(infer("cascade", img=warm_img), args.requests, c),
            )
        )

    print(f"\n{args.requests} requests per row against {url}\n")
    print(
        f"| {'what':<38} | {'clients':>7} | {'req/s':>7} | {'p50 ms':>8} | {'p99 ms':>8} | errors |"
    )
    print(f"|{'-' * 40}|{'-' * 9}|{'-' * 9}|{'-' * 10}|{'-' * 10}|--------|")
    for what, c, m in rows:
        print(
            f"| {what:<38} | {c:>7} | {m['rps']:>7.2f} | {m['p50']:>8.0f} | {m['p99']:>8.0f} |"
            f" {m['errors']:>6} |"
        )


def boot(arbiter: bool = False) -> str:
    import ray
    from ray import serve

    from graph import build_app
    from tests.conftest import free_port

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tmp = tempfile.mkdtemp(prefix="seethink-bench-")
    ray.init(num_cpus=6, include_dashboard=False, _temp_dir=tmp, log_to_driver=False)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(
        build_app(
            {
                "arbiter": {"review_db": f"{tmp}/review.sqlite3", "enabled": arbiter},
                "llm": {"timeout_s": 120},
            }
        ),
        name="seethink",
        route_prefix="/",
    )
    url = f"http://127.0.0.1:{port}"
    requests.post(url + "/generate", json={"prompt": "warm up"}, timeout=300)
    return url


if __name__ == "__main__":
    main()
