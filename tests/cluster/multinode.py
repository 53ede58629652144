"""Multi-node harness: the graph with the `cluster-local` profile on several real Ray nodes on
this host, run as a script by tests/cluster/test_multinode.py (one process per scenario).

    python tests/cluster/multinode.py static    # ray.cluster_utils.Cluster: placement, metrics,
                                                # review store, node loss
    python tests/cluster/multinode.py autoscale # `ray start --head --autoscaling-config` with
                                                # the fake_multinode provider: LLM from zero

Node types and their resources come from ``cluster.gen.node_types("cluster-local")``, the same
derivation the cloud files are checked against. Every scenario uses its own temp dir and ports,
stops only the processes it started (by PID), bounds every wait, and prints one line
``RESULT {json}`` on stdout with what it observed; the test file asserts on it.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seethink.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
APP = "seethink"
T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


def wait_for(what: str, cond: Callable[[], Any], timeout_s: float, every_s: float = 1.0) -> Any:
    """Poll ``cond`` until truthy; raise TimeoutError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last_err: Exception | None = None
    while time.monotonic() < deadline:
        try:
            got = cond()
            if got:
                return got
        except Exception as e:  # noqa: BLE001 - the condition may race a restarting node
            last_err = e
        time.sleep(every_s)
    raise TimeoutError(f"{what}: not within {timeout_s:.0f}s (last error: {last_err!r})")


def noise_png(seed: int) -> bytes:
    """A small PNG that no other seed produces (so caches never answer for it)."""
    from PIL import Image

    rng = random.Random(seed)
    im = Image.frombytes("RGB", (32, 24), bytes(rng.randrange(256) for _ in range(32 * 24 * 3)))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


# ---- observing the cluster ---------------------------------------------------------------------


def node_type_of(resources: dict[str, float]) -> str:
    """Name of the cluster-local node type whose accelerator resource a node advertises."""
    from cluster.gen import node_types

    for t in node_types("cluster-local").values():
        acc = t.accelerator_type
        if acc and resources.get(f"accelerator_type:{acc}"):
            return t.name
    return "head"


def nodes() -> dict[str, dict]:
    """Alive Ray nodes: id -> {type, resources, metrics_port}."""
    import ray

    out = {}
    for n in ray.nodes():
        if n["Alive"]:
            res = n["Resources"]
            out[n["NodeID"]] = {
                "type": node_type_of(res),
                "resources": {k: v for k, v in res.items() if not k.startswith("node:")},
                "metrics_port": n.get("MetricsExportPort"),
            }
    return out


def replicas() -> list[dict]:
    """Alive Serve replica actors of the app: deployment and the node each runs on.

    Read from the GCS actor table: the state API (ray.util.state) needs the dashboard, which
    these clusters run without (~0.9 GB)."""
    import ray

    out = []
    for a in ray._private.state.state.actor_table(None).values():
        cls = a.get("ActorClassName") or ""
        if a.get("State") == "ALIVE" and cls.startswith(f"ServeReplica:{APP}:"):
            out.append(
                {
                    "deployment": cls.split(":", 2)[2],
                    "node_id": a["Address"]["NodeID"],
                    "pid": a.get("Pid"),
                }
            )
    return out


def serve_states() -> dict[str, dict[str, int]]:
    from ray import serve

    app = serve.status().applications.get(APP)
    if app is None:
        return {}
    return {name: dict(d.replica_states) for name, d in app.deployments.items()}


def app_status() -> str:
    from ray import serve

    app = serve.status().applications.get(APP)
    return str(app.status) if app else "MISSING"


def running(name: str) -> int:
    return serve_states().get(name, {}).get("RUNNING", 0)


def scrape(ports: list[int]) -> str:
    import requests

    texts = []
    for p in ports:
        try:
            texts.append(requests.get(f"http://127.0.0.1:{p}/metrics", timeout=10).text)
        except requests.RequestException:
            pass
    return "\n".join(texts)


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([0-9.eE+-]+|NaN)", re.M)


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of a metric's samples (over replicas and nodes) whose labels match."""
    total = 0.0
    for m_name, lab, value in _SAMPLE.findall(text):
        if m_name != name:
            continue
        if all(f'{k}="{v}"' in (lab or "") for k, v in labels.items()):
            total += float(value)
    return total


def metric_names(text: str) -> list[str]:
    return sorted({m[0] for m in _SAMPLE.findall(text)})


# ---- the HTTP client and a background load -----------------------------------------------------


class Client:
    def __init__(self, url: str):
        import requests

        self.url = url
        self.s = requests.Session()

    def infer(self, seed: int, route: str, prompt: str = "What is in this picture?") -> dict:
        t = time.monotonic()
        try:
            r = self.s.post(
                self.url + "/infer",
                json={"image_base64": b64(noise_png(seed)), "prompt": prompt, "route": route},
                timeout=90,
            )
            body = (
                r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
            )
            return {
                "status": r.status_code,
                "degraded": bool(body.get("degraded")),
                "notice": body.get("notice"),
                "reason": body.get("degraded_reason"),
                "needs_review": body.get("needs_review"),
                "review_id": body.get("review_id"),
                "request_id": body.get("request_id"),
                "cache_hit": body.get("cache_hit"),
                "error": (body.get("error") or {}).get("message") if r.status_code != 200 else None,
                "s": round(time.monotonic() - t, 2),
                "t": round(time.monotonic() - T0, 1),
            }
        except Exception as e:  # noqa: BLE001 - a lost request is what we count
            return {"status": None, "error": repr(e), "s": round(time.monotonic() - t, 2),
                    "t": round(time.monotonic() - T0, 1)}  # fmt: skip


class Load(threading.Thread):
    """Light load from a thread: one request at a time, distinct images, until stopped."""

    def __init__(self, client: Client, route: str, seed0: int, pause_s: float = 0.2):
        super().__init__(daemon=True)
        self.client, self.route, self.seed, self.pause_s = client, route, seed0, pause_s
        self.results: list[dict] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.seed += 1
            self.results.append(self.client.infer(self.seed, self.route))
            time.sleep(self.pause_s)


# ---- process ownership --------------------------------------------------------------------------


def processes_under(tmp: str) -> list[int]:
    """PIDs of processes whose command line names our own temp dir: ours, and only ours."""
    import psutil

    out = []
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue  # already dead, waiting for init to reap it
            if p.pid != os.getpid() and any(tmp in c for c in (p.info["cmdline"] or [])):
                out.append(p.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out


def stop_pids(pids: list[int], grace_s: float = 8.0) -> list[int]:
    """SIGTERM, then SIGKILL what is left; returns the PIDs that needed SIGKILL."""
    import psutil

    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    return [p.pid for p in alive]


# ---- shared setup -------------------------------------------------------------------------------


def base_env(tmp: str) -> dict[str, str]:
    return {
        "SEETHINK_CACHE_DIR": os.environ.get(
            "SEETHINK_CACHE_DIR", str(ROOT / ".cache" / "test-checkpoints")
        ),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "RAY_USAGE_STATS_ENABLED": "0",
        # Ray's default files (/tmp/ray/ray_current_cluster, sessions) go under our dir.
        "RAY_TMPDIR": tmp,
        # as the cluster files start Ray: Serve's proxy on the head, no HAProxy
        "RAY_SERVE_ENABLE_HA_PROXY": "0",
        "RAY_SERVE_ENABLE_DIRECT_INGRESS": "0",
    }


def graph_args(review_db: str, **sections: dict) -> dict:
    """build_app args: the cluster-local profile plus test-only overrides."""
    args: dict[str, Any] = {
        "profile": "cluster-local",
        **auth_overrides(),
        # every cascade answer is re-verified and "disagrees": each one files a review case
        "arbiter": {"review_db": review_db, "consistency_threshold": 1.0, "verify_threshold": 1.0},
    }
    for k, v in sections.items():
        args[k] = {**args.get(k, {}), **v}
    return args


def deploy(args: dict, http_port: int) -> None:
    """serve.run of graph.build_app(args), not blocking: the worker nodes may not exist yet."""
    from ray import serve

    from graph import build_app

    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": http_port})
    serve._run(build_app(args), name=APP, route_prefix="/", _blocking=False)


def serve_config(args: dict, http_port: int) -> dict:
    """cluster/serve-cluster-local.yaml as an operator deploys it: this run's HTTP port, and
    ``args`` (the test's overrides) over the file's own application args."""
    import yaml

    conf = yaml.safe_load((ROOT / "cluster" / "serve-cluster-local.yaml").read_text())
    conf["http_options"] = {**conf["http_options"], "host": "127.0.0.1", "port": http_port}
    (app,) = conf["applications"]
    if app["args"].get("profile") != args.get("profile"):
        raise RuntimeError(f"the Serve config deploys {app['args']}, the test wants {args}")
    app["args"] = {**app["args"], **args}
    return conf


def serve_deploy(conf: dict, dashboard_port: int, tmp: str, env: dict) -> dict:
    """``serve deploy FILE --address http://HEAD:DASHBOARD_PORT``: the Serve CLI sends the
    config to the head's dashboard REST API (PUT /api/serve/applications/), which hands it to
    the Serve controller; nothing in this process builds the app."""
    import yaml

    path = Path(tmp) / "serve.yaml"
    path.write_text(yaml.safe_dump(conf, sort_keys=False))
    cmd = [str(Path(sys.executable).parent / "serve"), "deploy", str(path),
           "--address", f"http://127.0.0.1:{dashboard_port}"]  # fmt: skip
    r = subprocess.run(cmd, env=env, timeout=180, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"serve deploy failed ({r.returncode}): {r.stderr[-2000:]}")
    return {"cmd": " ".join(cmd[1:]), "rc": r.returncode}


def deployed_app_config(dashboard_port: int) -> dict:
    """What the head's dashboard says was deployed (the declarative config it was given)."""
    import urllib.request

    req = urllib.request.Request(f"http://127.0.0.1:{dashboard_port}/api/serve/applications/")
    token = os.environ.get("RAY_AUTH_TOKEN")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as r:
        body = json.load(r)
    app = body.get("applications", {}).get(APP, {})
    return {"deploy_mode": body.get("deploy_mode"), "config": app.get("deployed_app_config")}


def placement() -> dict:
    ns = nodes()
    reps = replicas()
    return {
        "nodes": ns,
        "replicas": [{**r, "node_type": ns.get(r["node_id"], {}).get("type")} for r in reps],
    }


# ---- scenario 1: fixed nodes (ray.cluster_utils.Cluster) ----------------------------------------


def static_scenario(tmp: str, out: dict) -> None:
    import ray
    from ray.cluster_utils import Cluster

    from cluster.gen import node_types
    from cluster.planner import pack
    from seethink.checkpoints import resolve_model_path
    from seethink.config import load_config

    types = node_types("cluster-local")
    cfg = load_config("cluster-local")
    http_port = free_port()
    review_db = str(Path(tmp) / "shared" / "review.sqlite3")
    os.environ.update(base_env(tmp))
    for m in (cfg.vision.model, cfg.llm.model):
        resolve_model_path(m)  # build the tiny checkpoints once, before replicas race for them

    def node_args(t) -> dict:
        res = dict(t.resources)
        return {
            "num_cpus": res.pop("CPU"),
            "num_gpus": res.pop("GPU", 0),
            "resources": res,
            "metrics_export_port": free_port(),
            "dashboard_agent_listen_port": free_port(),
            "runtime_env_agent_port": free_port(),
        }

    t = time.monotonic()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            **node_args(types["head"]),
            "include_dashboard": False,
            "temp_dir": str(Path(tmp) / "ray"),
            "gcs_server_port": free_port(),
            "ray_client_server_port": free_port(),
            "_system_config": {
                "metrics_report_interval_ms": 1000,
                "health_check_period_ms": 1000,
                "health_check_failure_threshold": 3,
            },
        },
    )
    workers: dict[str, Any] = {}
    try:
        ray.init(
            address=cluster.address,
            log_to_driver=False,
            runtime_env={"env_vars": base_env(tmp)},
        )
        out["head_s"] = round(time.monotonic() - t, 1)
        # Like the cloud: the GPU types start at zero, so the CPU-only deployments land on the
        # head before any GPU node exists; then the GPU nodes join and the models follow.
        vision_n = 3  # 3 x 0.5 on two cards: one card holds 2, the other 1
        out["vision_replicas"] = vision_n
        deploy(
            graph_args(
                review_db,
                vision={"autoscaling_config": {"min_replicas": vision_n, "max_replicas": vision_n}},
                llm={"autoscaling_config": {"min_replicas": 1, "max_replicas": 1},
                     "timeout_s": 15},
            ),
            http_port,
        )  # fmt: skip
        wait_for(
            "the CPU-only deployments on the head",
            lambda: all(running(d) for d in ("Ingress", "Router", "ReviewQueue")),
            240,
        )
        log(f"head deployments running: {serve_states()}")
        for name in ("vision_l40s", "vision_l40s", "llm_h100"):
            node = cluster.add_node(**node_args(types[name]))
            workers.setdefault(name, []).append(node)
        t = time.monotonic()
        wait_for("the application RUNNING", lambda: app_status().endswith("RUNNING"), 400, 2)
        out["models_ready_s"] = round(time.monotonic() - t, 1)
        log(f"app running after {out['models_ready_s']}s: {serve_states()}")
        out["placement"] = placement()
        out["planner_layout"] = pack(2, {"vision": vision_n}, {"vision": cfg.vision.num_gpus})

        client = Client(f"http://127.0.0.1:{http_port}")
        # warm the LLM (first generation on CPU is slow), then a known traffic mix
        client.infer(10_000, "cascade")
        mix = run_mix(client)
        out["mix"] = mix
        ports = [n["metrics_port"] for n in nodes().values() if n["metrics_port"]]
        want = mix["expected"]

        def scraped():
            text = scrape(ports)
            got = {
                "direct": metric_sum(text, "ray_seethink_requests_total", route="direct"),
                "cascade": metric_sum(text, "ray_seethink_requests_total", route="cascade"),
                "cache_hits": metric_sum(text, "ray_seethink_cache_hits_total"),
                "cache_misses": metric_sum(text, "ray_seethink_cache_misses_total"),
            }
            ok = all(got[k] >= want[k] for k in got)
            return (got, text) if ok else None

        try:
            got, text = wait_for("metrics of the mix scraped", scraped, 60, 2)
            out["metrics"] = {"values": got, "names": metric_names(text)}
            out["metrics"]["values"].update(
                fallbacks=metric_sum(text, "ray_seethink_fallbacks_total"),
                needs_review=metric_sum(text, "ray_seethink_needs_review_total"),
                stage_count_vision=metric_sum(
                    text, "ray_seethink_stage_latency_ms_count", stage="vision"
                ),
            )
        except TimeoutError as e:
            text = scrape(ports)
            out["metrics"] = {"error": str(e), "names": metric_names(text)}

        # a Batch API job on the cluster: the file bytes live in the store's database
        # (cluster-local's batch.file_bytes), not on the batch runner's disk
        out["batch"] = run_batch(client, review_db)

        # node loss: a spare vision node joins, then the busiest vision node goes, under load
        spare = cluster.add_node(**node_args(types["vision_l40s"]))
        vision_nodes = [r["node_id"] for r in out["placement"]["replicas"]
                        if r["deployment"] == "Vision"]  # fmt: skip
        victim_id = max(set(vision_nodes), key=vision_nodes.count)
        victim = next(n for n in workers["vision_l40s"] if n.node_id == victim_id)
        load = Load(client, "direct", 20_000)
        load.start()
        time.sleep(6)
        lost_at = time.monotonic()
        log(f"removing vision node {victim_id[:8]} holding {vision_nodes.count(victim_id)}")
        cluster.remove_node(victim, allow_graceful=False)
        out["node_loss"] = {"victim": victim_id, "victim_replicas": vision_nodes.count(victim_id),
                            "spare": spare.node_id}  # fmt: skip

        def recovered():
            reps = [r for r in replicas() if r["deployment"] == "Vision"]
            on_alive = [r for r in reps if r["node_id"] != victim_id]
            return running("Vision") >= vision_n and len(on_alive) >= vision_n

        try:
            # two tiny-model loads on the spare node under load, on two shared cores: one CI run
            # of a slow day took over 240 s
            wait_for("vision replicas back on other nodes", recovered, 420, 1)
            out["node_loss"]["recovered_s"] = round(time.monotonic() - lost_at, 1)
        except TimeoutError as e:
            out["node_loss"]["error"] = str(e)
        time.sleep(8)  # keep the load on the recovered graph for a little while
        load.stop.set()
        load.join(120)
        out["node_loss"]["results"] = load.results
        out["node_loss"]["removed_at_t"] = round(lost_at - T0, 1)
        out["node_loss"]["placement"] = placement()
        log(f"node loss: {len(load.results)} requests, recovered: {out['node_loss']}")

        # review store: cases filed by the graph, and by the real ReviewQueue class from a
        # process on every node (the store a replica on any node would reach), are all kept
        out["review"] = {
            "db": review_db,
            "flagged": [r for r in mix["results"] + load.results if r.get("review_id")],
            "from_nodes": file_cases_from_every_node(review_db),
        }
        out["review"]["listed"], out["review"]["source"] = review_cases(client, review_db)
    finally:
        out["teardown"] = teardown_cluster(cluster, tmp)


REVIEWER_KEY = secrets.token_hex(16)


def run_batch(client: Client, review_db: str, n: int = 4) -> dict:
    """Upload a batch file, run it, read the output back; where the bytes were stored."""
    import sqlite3

    from tests.helpers import batch_line

    lines = [
        json.dumps(batch_line(f"line-{i}", "What is in this picture?", image=noise_png(40_000 + i)))
        for i in range(n)
    ]
    data = ("\n".join(lines) + "\n").encode()
    r = client.s.post(client.url + "/v1/files", data={"purpose": "batch"},
                      files={"file": ("in.jsonl", data)}, timeout=60)  # fmt: skip
    r.raise_for_status()
    file_id = r.json()["id"]
    r = client.s.post(client.url + "/v1/batches", json={
        "input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h",
    }, timeout=60)  # fmt: skip
    r.raise_for_status()
    batch_id = r.json()["id"]

    def final():
        b = client.s.get(f"{client.url}/v1/batches/{batch_id}", timeout=30).json()
        return b if b["status"] in ("completed", "failed", "cancelled", "expired") else None

    batch = wait_for("the batch to finish", final, 240, 2)
    out: dict[str, Any] = {"status": batch["status"], "counts": batch["request_counts"]}
    if batch.get("output_file_id"):
        text = client.s.get(
            f"{client.url}/v1/files/{batch['output_file_id']}/content", timeout=60
        ).text
        rows = [json.loads(ln) for ln in text.splitlines() if ln.strip()]
        out["custom_ids"] = sorted(row["custom_id"] for row in rows)
        out["status_codes"] = sorted({row["response"]["status_code"] for row in rows})
    with sqlite3.connect(review_db) as db:
        out["bytes_rows"] = db.execute("SELECT COUNT(*) FROM batch_file_bytes").fetchone()[0]
    out["files_dir_exists"] = (Path(review_db).parent / "files").exists()
    out["input_bytes"] = len(data)
    return out


def auth_overrides() -> dict:
    """A reviewer key for /review, where the graph's config has API keys (else nothing)."""
    from seethink.config import SeethinkConfig

    if "auth" in SeethinkConfig.model_fields:
        return {"auth": {"reviewer_keys": [REVIEWER_KEY]}}
    return {}


def review_cases(client: Client, db: str) -> tuple[list[dict], str]:
    """Every case, through the graph's /review (the ReviewQueue replica); the SQLite file
    itself when the API does not list them."""
    r = client.s.get(
        client.url + "/review",
        params={"status": "all", "limit": 1000},
        headers={"Authorization": f"Bearer {REVIEWER_KEY}"},
        timeout=60,
    )
    body = r.json()
    if r.status_code == 200:
        return (body if isinstance(body, list) else body.get("cases", body.get("data", []))), "api"
    import sqlite3

    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT id, request_id FROM review").fetchall()
    finally:
        con.close()
    return [{"id": i, "request_id": q} for i, q in rows], f"sqlite (api: {r.status_code})"


def file_cases_from_every_node(db: str, per_node: int = 3) -> list[dict]:
    """File cases with the graph's ReviewQueue class from a task pinned to each alive node, at
    the same time; returns the node type and the case ids each filed."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    @ray.remote(num_cpus=0)
    def file_cases(db: str, n: int) -> tuple[str, list[str]]:
        from deployments.review import ReviewQueue

        q = ReviewQueue(db)
        node = ray.get_runtime_context().get_node_id()
        case = {"image_sha256": "0" * 64, "question": "q", "caption": "c", "answer": "a"}
        return node, [q.add({**case, "request_id": f"{node[:8]}-{i}"}) for i in range(n)]

    alive = nodes()
    refs = [
        file_cases.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(nid, soft=False)
        ).remote(db, per_node)
        for nid in alive
    ]
    return [
        {"node_id": nid, "node_type": alive[nid]["type"], "ids": ids}
        for nid, ids in ray.get(refs, timeout=120)
    ]


def run_mix(client: Client) -> dict:
    """A known traffic mix: direct and cascade requests on fresh images, then cascade requests
    that ask another question about an image already captioned (caption cache hits)."""
    results = []
    n_direct, n_cascade, n_repeat = 4, 4, 3
    for i in range(n_direct):
        results.append({**client.infer(1_000 + i, "direct"), "kind": "direct"})
    for i in range(n_cascade):
        results.append({**client.infer(2_000 + i, "cascade"), "kind": "cascade"})
    for i in range(n_repeat):
        r = client.infer(2_000 + i, "cascade", prompt=f"Question number {i}: what colour?")
        results.append({**r, "kind": "repeat"})
    # the warm-up cascade request before the mix was one more cascade and one more miss
    return {
        "results": results,
        "expected": {
            "direct": n_direct,
            "cascade": n_cascade + n_repeat + 1,
            "cache_hits": n_repeat,
            "cache_misses": n_cascade + 1,
        },
    }


def teardown_cluster(cluster, tmp: str) -> dict:
    import ray

    t = time.monotonic()
    try:
        ray.shutdown()
    finally:
        cluster.shutdown()
    left = processes_under(tmp)
    killed = stop_pids(left) if left else []
    return {"s": round(time.monotonic() - t, 1), "left_after_shutdown": left, "killed": killed}


# ---- scenario 2: Ray's autoscaler with the fake_multinode provider ------------------------------


def autoscaler_config(gcs_address: str, idle_timeout_minutes: float) -> dict:
    """A fake_multinode autoscaling config with the cluster-local node types."""
    from cluster.gen import HEAD, node_types

    types = node_types("cluster-local")
    available: dict[str, dict] = {
        "ray.head.default": {
            "resources": types[HEAD].resources,
            "node_config": {},
            "max_workers": 0,
        },  # fmt: skip
    }
    for name, t in types.items():
        if name != HEAD:
            available[name] = {
                "resources": t.resources,
                "node_config": {},
                "min_workers": t.min_workers,
                "max_workers": t.max_workers,
            }
    return {
        "cluster_name": "seethink-local",
        "max_workers": sum(t.max_workers for t in types.values()),
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": idle_timeout_minutes,
        "provider": {
            "type": "fake_multinode",
            "gcs_address": gcs_address,
            # several raylets share one IP here: the autoscaler keys nodes by id instead
            "use_node_id_as_ip": True,
            # nothing to set up over SSH: the provider starts the raylets itself
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
        },
        "auth": {"ssh_user": "ubuntu"},
        "head_node_type": "ray.head.default",
        "available_node_types": available,
        "file_mounts": {},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "rsync_exclude": [],
        "rsync_filter": [],
        "initialization_commands": [],
        "setup_commands": [],
        "head_setup_commands": [],
        "worker_setup_commands": [],
        "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }


def autoscale_scenario(tmp: str, out: dict) -> None:
    import ray
    from ray.autoscaler._private.fake_multi_node.node_provider import FAKE_HEAD_NODE_ID

    from seethink.checkpoints import resolve_model_path
    from seethink.config import load_config

    cfg = load_config("cluster-local")
    # RAY_AUTH_MODE / RAY_AUTH_TOKEN are in os.environ already (main(): Ray reads them when
    # it is imported); the head, its autoscaler and the nodes it starts get them too.
    env = {
        **os.environ,
        **base_env(tmp),
        "RAY_FAKE_CLUSTER": "1",
        "AUTOSCALER_UPDATE_INTERVAL_S": "1",
        # the head is the provider's head node (its id is the head's "ip" for the autoscaler)
        "RAY_OVERRIDE_NODE_ID_FOR_TESTING": FAKE_HEAD_NODE_ID,
        "RAY_CLOUD_INSTANCE_ID": FAKE_HEAD_NODE_ID,
    }
    os.environ.update(base_env(tmp))
    for m in (cfg.vision.model, cfg.llm.model):
        resolve_model_path(m)
    gcs_port, http_port, dashboard_port = free_port(), free_port(), free_port()
    # the code is on the nodes as it is in a cloud image: the Serve controller imports
    # graph:build_app from the config file, with no driver of ours to ship it
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    ip = ray._private.services.get_node_ip_address()
    idle_min = 0.25
    conf = Path(tmp) / "autoscaler.yaml"
    conf.write_text(json.dumps(autoscaler_config(f"{ip}:{gcs_port}", idle_min)))
    cmd = [
        str(Path(sys.executable).parent / "ray"), "start", "--head",
        f"--port={gcs_port}",
        "--num-cpus=6", "--num-gpus=0", "--include-dashboard=true",
        "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}",
        f"--temp-dir={Path(tmp) / 'ray'}", f"--autoscaling-config={conf}",
        f"--metrics-export-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
        f"--runtime-env-agent-port={free_port()}", f"--ray-client-server-port={free_port()}",
        "--system-config=" + json.dumps({"metrics_report_interval_ms": 2000}),
    ]  # fmt: skip
    t = time.monotonic()
    try:
        subprocess.run(cmd, env=env, check=True, timeout=120, capture_output=True, text=True)
        ray.init(address=f"{ip}:{gcs_port}", log_to_driver=False,
                 runtime_env={"env_vars": base_env(tmp)})  # fmt: skip
        out["head_s"] = round(time.monotonic() - t, 1)
        out["timeline"] = []

        def mark(event: str, **kw) -> None:
            out["timeline"].append({"t": round(time.monotonic() - T0, 1), "event": event, **kw})
            log(f"{event} {kw if kw else ''}")

        review_db = str(Path(tmp) / "review.sqlite3")
        args = graph_args(review_db, llm={"timeout_s": 5}, fallback={"failure_threshold": 2})
        out["deploy"] = serve_deploy(serve_config(args, http_port), dashboard_port, tmp, env)
        mark("deployed", how=out["deploy"]["cmd"])
        # vision (min 1) needs a vision node: the autoscaler adds one; the LLM stays at zero
        wait_for("the application RUNNING", lambda: app_status().endswith("RUNNING"), 400, 2)
        mark("app running", states=serve_states(), nodes=_types_alive())
        out["before"] = {"nodes": _types_alive(), "states": serve_states()}
        out["deployed_app_config"] = deployed_app_config(dashboard_port)

        client = Client(f"http://127.0.0.1:{http_port}")
        answers: list[dict] = []
        first_full = None
        deadline = time.monotonic() + 360
        seed = 50_000
        while time.monotonic() < deadline:
            seed += 1
            r = client.infer(seed, "cascade")
            answers.append({**r, "llm_nodes": _types_alive().count("llm_h100"),
                            "llm_running": running("LLM")})  # fmt: skip
            if r["status"] == 200 and not r["degraded"]:
                first_full = time.monotonic()
                mark("first full cascade", n=len(answers))
                break
            time.sleep(1)
        out["answers"] = answers
        if first_full is None:
            mark("no full cascade", states=serve_states(), nodes=_types_alive())
            return
        for i in range(3):  # full cascades keep coming
            answers.append({**client.infer(60_000 + i, "cascade"), "after_first_full": True})
        mark("traffic stopped", states=serve_states(), nodes=_types_alive())
        idle_from = time.monotonic()
        try:
            wait_for("the LLM replica to go", lambda: running("LLM") == 0
                     and not serve_states().get("LLM", {}), 180, 1)  # fmt: skip
            mark("llm replica gone", after_s=round(time.monotonic() - idle_from, 1))
            out["replica_gone_s"] = round(time.monotonic() - idle_from, 1)
            wait_for("the LLM node to go", lambda: "llm_h100" not in _types_alive(), 240, 2)
            mark("llm node gone", after_s=round(time.monotonic() - idle_from, 1))
            out["node_gone_s"] = round(time.monotonic() - idle_from, 1)
        except TimeoutError as e:
            mark("scale-down timeout", error=str(e), states=serve_states(), nodes=_types_alive())
        out["after"] = {"nodes": _types_alive(), "states": serve_states()}
        out["downscale_delay_s"] = cfg.llm.autoscaling_config.downscale_delay_s
        out["idle_timeout_s"] = idle_min * 60
    finally:
        t = time.monotonic()
        try:
            ray.shutdown()
        finally:
            pids = processes_under(tmp)
            out["teardown"] = {"pids": len(pids), "killed": stop_pids(pids)}
            time.sleep(1)
            out["teardown"]["left"] = processes_under(tmp)
            out["teardown"]["s"] = round(time.monotonic() - t, 1)


def _types_alive() -> list[str]:
    return sorted(n["type"] for n in nodes().values())


def main() -> int:
    scenario = sys.argv[1] if len(sys.argv) > 1 else "static"
    scenarios = {"static": static_scenario, "autoscale": autoscale_scenario}
    if scenario not in scenarios:
        print(f"unknown scenario {scenario!r}; expected one of: {', '.join(scenarios)}")
        return 2
    sys.path.insert(0, str(ROOT))
    if scenario == "autoscale":
        # `ray start` clusters use token auth in Ray 2.60; set before anything imports Ray.
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    # short: Unix socket paths under it must stay below 108 characters
    tmp = tempfile.mkdtemp(prefix="stmn-", dir="/tmp")
    out: dict[str, Any] = {"scenario": scenario, "tmp": tmp}
    try:
        scenarios[scenario](tmp, out)
    except Exception as e:  # noqa: BLE001 - reported in the result, asserted by the test
        import traceback

        out["error"] = f"{type(e).__name__}: {e}"
        out["traceback"] = traceback.format_exc()[-4000:]
    out["wall_s"] = round(time.monotonic() - T0, 1)
    if "error" not in out and not os.environ.get("SEETHINK_KEEP_TMP"):
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)  # kept on failure: Ray's logs are under it
    print("RESULT " + json.dumps(out, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
