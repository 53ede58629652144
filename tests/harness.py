"""The real graph for tests: booted once per session on the cpu profile, with the overrides the
tests rely on, plus redeploy and restart helpers.

The graph is the real one (Ray Serve, vLLM's CPU build through LLMServer, transformers) on the
tiny checkpoints the project builds itself. Ray runs in the test process with its own temp dir
and ports and is shut down at the end; nothing else on the machine is touched.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests

from seethink.edge import private_env
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
# Tests never touch the user's cache or the network's model hubs.
os.environ.setdefault("SEETHINK_CACHE_DIR", str(ROOT / ".cache" / "test-checkpoints"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "1")

# Ray starts as scripts/serve.sh starts it (seethink.edge.ENV: the edge middleware in Serve's HTTP
# servers, HAProxy in front of the Ingress replicas); HAProxy's files and side ports are private to
# the tests
for _k, _v in private_env().items():
    os.environ.setdefault(_k, _v)

APP = "seethink"
# What the session graph overrides in the cpu profile, and why:
GRAPH_OVERRIDES = {
    # a short LLM deadline and quick breaker make fallback tests take seconds, not minutes
    "llm": {"timeout_s": 8},
    # the cpu profile keeps one vision replica (two cores); up to two lets the tests watch the
    # autoscaler add and remove one. Both are kept 30 s after a burst (the profile: 10 s), so
    # the affinity check can wait out the request router's burst-time queue lengths first
    # (tests/graph/test_autoscaling.py)
    "vision": {"autoscaling_config": {"max_replicas": 2, "downscale_delay_s": 30}},
    "fallback": {"failure_threshold": 2, "reset_timeout_s": 2},
    # every cascade answer is re-verified, and every re-verification "disagrees": a forced
    # conflict, so that the review queue path is exercised on every cascade request
    "arbiter": {"consistency_threshold": 1.0, "verify_threshold": 1.0},
    # the review queue is off without reviewer keys
    "auth": {"reviewer_keys": ["sk-test-reviewer"]},
}
REVIEWER = {"Authorization": "Bearer sk-test-reviewer"}


@dataclass
class Graph:
    url: str
    app: str
    review_db: str

    def handle(self, deployment: str):
        from ray import serve

        return serve.get_deployment_handle(deployment, app_name=self.app)

    def post(self, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 120)
        return requests.post(self.url + path, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        kw.setdefault("timeout", 60)
        return requests.get(self.url + path, **kw)


def start_graph():
    """Boot the real graph once; tear Ray down after the last test that used it."""
    import ray
    from ray import serve

    tmp = tempfile.mkdtemp(prefix="seethink-test-")
    review_db = str(Path(tmp) / "review.sqlite3")
    port = free_port()
    # with HAProxy, fresh side ports: an isolated test's HAProxy may still be letting go of its own
    os.environ.update(private_env())
    ray.init(
        num_cpus=6,
        include_dashboard=False,
        _temp_dir=str(Path(tmp) / "ray"),
        runtime_env={
            "env_vars": {
                "SEETHINK_CACHE_DIR": os.environ["SEETHINK_CACHE_DIR"],
                # the name, not the address: tests show 127.0.0.1 refused, localhost allowed
                "SEETHINK_ALLOW_PRIVATE_IMAGE_HOSTS": "localhost",
            }
        },
        log_to_driver=bool(os.environ.get("SEETHINK_TEST_RAY_LOGS")),
    )
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    g = Graph(f"http://127.0.0.1:{port}", APP, review_db)
    deploy(g)
    return g


def deploy(g: Graph, **extra: dict) -> None:
    """(Re)deploy the session graph: GRAPH_OVERRIDES plus ``extra`` sections; then warm it."""
    from ray import serve

    from graph import build_app

    arbiter = {**GRAPH_OVERRIDES["arbiter"], "review_db": g.review_db}
    serve.run(
        build_app({**GRAPH_OVERRIDES, "arbiter": arbiter, **extra}), name=g.app, route_prefix="/"
    )
    _warm_up(g)


def restart_graph(g: Graph) -> None:
    """Delete the application and deploy it again from the same config (every node restarts)."""
    from ray import serve

    serve.delete(g.app)
    deploy(g)


def _warm_up(g: Graph) -> None:
    """vLLM's first generation on CPU takes ~15 s; do it here, not under a test's deadline."""
    import asyncio

    from deployments.llm import LLMServerChat, served_model_id
    from seethink.config import load_config

    async def warm():
        # built inside the loop: a handle's router binds to the loop it is first used on
        chat = LLMServerChat(g.handle("LLM"), served_model_id(load_config("cpu").llm))
        # a long prompt through the streaming path, as the cascade sends it
        long = "Image description: " + "a red box on a table, " * 30 + "Question: why?"
        async for _ in chat.stream([{"role": "user", "content": long}], 8, 0.0):
            pass
        async for _ in chat.stream([{"role": "user", "content": "hi"}], 8, 0.0):
            pass
        await chat.complete([{"role": "user", "content": long}], 8, 0.0)  # the JSON path

    t = time.time()
    asyncio.run(warm())
    r = g.get("/readyz")
    assert r.status_code == 200, r.text
    print(f"graph warm in {time.time() - t:.1f}s")


def replica_pids(deployment: str) -> list[int]:
    """PIDs of this graph's replicas of one deployment (``ray::ServeReplica:APP:NAME``)."""
    want = f"ServeReplica:seethink:{deployment}"
    pids = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if cmd.startswith("ray::") and want in cmd:
            pids.append(p.pid)
    return pids
