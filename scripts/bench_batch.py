"""Batch mode against online: images per second, and what a running batch does to online p50.

Boots the cpu-profile graph on a local Ray (own temp dir, ports 20000-32000, no dashboard) and
measures, on distinct images (no cache hits across rows):
- online: the requests sent to /v1/chat/completions by ``--clients`` threads (default 32);
- batch job: the same number of lines through the Ray Data job (``deployments.batch.run_job``)
  with ``--clients`` lines in flight, as ``python -m seethink.batch`` runs it;
- batch API: a batch created with the openai SDK at the profile's ``batch.max_concurrency``;
- online p50 at one client (a pause of ``--think-ms`` between requests), idle and while that
  batch runs (the priority the issue asks for).

    flock /tmp/seethink-heavy.lock .venv/bin/python scripts/bench_batch.py --lines 64
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import requests  # noqa: E402

from tests.helpers import b64, free_port, png_bytes  # noqa: E402

QUESTIONS = [
    "What is in this picture?",
    "Is this rash serious? What should I do?",
    "What colour is the box?",
    "Why is this price so high? Is it worth it?",
]


def body(i: int, seed0: int) -> dict:
    url = "data:image/png;base64," + b64(png_bytes(seed=seed0 + i, size=(96 + i % 7, 64)))
    content = [
        {"type": "text", "text": QUESTIONS[i % 4]},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    return {
        "model": "seethink",
        "messages": [{"role": "user", "content": content}],
        "max_tokens": 16,
    }


def online(url: str, bodies: list[dict], clients: int) -> tuple[float, list[float]]:
    """(seconds for all, per-request latencies in ms)."""
    lat: list[float] = []

    def one(b: dict) -> None:
        t = time.perf_counter()
        r = requests.post(url + "/v1/chat/completions", json=b, timeout=300)
        r.raise_for_status()
        lat.append((time.perf_counter() - t) * 1000)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, bodies))
    return time.perf_counter() - t0, lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=64)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--probes", type=int, default=20, help="online requests for each p50")
    ap.add_argument("--think-ms", type=float, default=200, help="pause between online probes")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import openai
    import ray
    from ray import serve

    from deployments.batch import run_job
    from graph import build_app
    from seethink.batch import Line
    from seethink.config import load_config

    tmp = tempfile.mkdtemp(prefix="seethink-bench-batch-")
    ray.init(
        num_cpus=6, include_dashboard=False, _temp_dir=str(Path(tmp) / "ray"), log_to_driver=False
    )
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    url = f"http://127.0.0.1:{port}"
    t = time.time()
    serve.run(
        build_app({"arbiter": {"review_db": str(Path(tmp) / "review.sqlite3")}}),
        name="seethink",
        route_prefix="/",
    )
    online(url, [body(i, 9000) for i in range(8)], 4)  # warm: vLLM's first generations
    print(f"graph up and warm in {time.time() - t:.0f} s", file=sys.stderr)
    cfg = load_config("cpu")
    n, rows = args.lines, {}
    try:
        s, _ = online(url, [body(i, 1000) for i in range(n)], args.clients)
        rows["online_img_s"] = n / s

        lines = [
            Line(i + 1, f"j{i}", "POST", "/v1/chat/completions", body(i, 2000)) for i in range(n)
        ]
        jcfg = cfg.batch.model_copy(update={"max_concurrency": args.clients, "actors": 2})
        t0, done = time.perf_counter(), 0
        for chunk in run_job(lines, lambda: False, app_name="seethink", cfg=jcfg):
            done += sum(r.status_code == 200 for r in chunk)
        rows["batch_job_img_s"] = done / (time.perf_counter() - t0)
        rows["batch_job_ok"] = done

        idle: list[float] = []
        for i in range(args.probes):
            idle += online(url, [body(i, 3000)], 1)[1]
            time.sleep(args.think_ms / 1000)
        rows["online_p50_idle_ms"] = statistics.median(idle)

        client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        data = "\n".join(
            json.dumps(
                {
                    "custom_id": f"b{i}",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": body(i, 4000),
                }
            )
            for i in range(n)
        ).encode()
        fid = client.files.create(file=("bench.jsonl", data), purpose="batch").id
        t0 = time.perf_counter()
        b = client.batches.create(
            input_file_id=fid, endpoint="/v1/chat/completions", completion_window="24h"
        )
        busy: list[float] = []
        stop = threading.Event()

        def probe() -> None:
            i = 0
            while not stop.is_set() and i < args.probes * 5:
                _, lat = online(url, [body(i, 5000)], 1)
                busy.extend(lat)
                i += 1
                time.sleep(args.think_ms / 1000)

        th = threading.Thread(target=probe)
        while client.batches.retrieve(b.id).status != "in_progress":
            time.sleep(0.05)
        th.start()
        while (b := client.batches.retrieve(b.id)).status not in ("completed", "failed"):
            time.sleep(0.2)
        elapsed = time.perf_counter() - t0
        stop.set()
        th.join()
        rows["batch_api_img_s"] = b.request_counts.completed / elapsed
        rows["batch_api_concurrency"] = cfg.batch.max_concurrency
        rows["batch_api_status"] = b.status
        rows["online_p50_during_batch_ms"] = statistics.median(busy) if busy else None
        rows["online_probes_during_batch"] = len(busy)
        rows["probe_think_ms"] = args.think_ms
        if busy:
            rows["p50_ratio"] = rows["online_p50_during_batch_ms"] / rows["online_p50_idle_ms"]
    finally:
        ray.shutdown()
    if args.json:
        print(json.dumps(rows))
    else:
        for k, v in rows.items():
            print(f"{k:30s} {v:.2f}" if isinstance(v, float) else f"{k:30s} {v}")


if __name__ == "__main__":
    main()
