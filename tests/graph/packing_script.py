"""Run by test_packing.py in its own process: a Ray cluster with ONE logical GPU.

Deploys the real graph with vision at 0.25 GPU x 2 replicas and the LLM at 0.5 (all fit on the
card), then asks for a third vision replica (does not fit) and reports what Ray and Serve say,
as one JSON line on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    import ray
    from ray import serve

    from graph import build_graph
    from seethink.config import ConfigError, load_config

    tmp = tempfile.mkdtemp(prefix="seethink-packing-")
    out: dict = {}
    fit = {
        "cluster": {"gpus_per_node": 1, "num_nodes": 1},
        "vision": {"num_gpus": 0.25, "autoscaling_config": {"min_replicas": 2, "max_replicas": 2}},
        "llm": {"num_gpus": 0.5, "gpu_memory_utilization": 0.45},
        "arbiter": {"review_db": f"{tmp}/review.sqlite3"},
    }
    ray.init(
        num_cpus=8,
        num_gpus=1,
        include_dashboard=False,
        _temp_dir=f"{tmp}/ray",
        log_to_driver=False,
        runtime_env={"env_vars": {"SEETHINK_CACHE_DIR": os.environ["SEETHINK_CACHE_DIR"]}},
    )
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": int(sys.argv[1])})
        serve.run(build_graph(load_config("cpu", fit)), name="seethink", route_prefix="/")
        st = serve.status().applications["seethink"].deployments
        out["fit"] = {
            "vision": dict(st["Vision"].replica_states),
            "llm": dict(st["LLM"].replica_states),
            "gpu_available": ray.available_resources().get("GPU", 0.0),
            "gpu_total": ray.cluster_resources().get("GPU", 0.0),
        }
        over = json.loads(json.dumps(fit))
        over["vision"]["autoscaling_config"] = {"min_replicas": 3, "max_replicas": 3}
        try:
            load_config("cpu", over)
            out["rejected"] = None
        except ConfigError as e:
            out["rejected"] = str(e)
        except Exception as e:  # pydantic wraps validator errors
            out["rejected"] = str(e)
        # Deploy it anyway (no fixed cluster size, so only per-node checks run): the third
        # replica must wait for a GPU share that never frees up.
        over["cluster"]["num_nodes"] = None
        serve._run(
            build_graph(load_config("cpu", over)),
            name="seethink",
            route_prefix="/",
            _blocking=False,
        )

        # The new options roll the vision replicas over to a new version (and a slow health
        # check on this busy box may restart the LLM too), so which replica ends up waiting can
        # vary; wait until every replica is either running or waiting for a GPU share.
        def snapshot() -> dict:
            st = serve.status().applications["seethink"].deployments
            return {
                "vision": dict(st["Vision"].replica_states),
                "llm": dict(st["LLM"].replica_states),
                "gpu_available": ray.available_resources().get("GPU", 0.0),
            }

        def settled(s: dict) -> bool:
            states = set(s["vision"]) | set(s["llm"])
            return (
                sum(s["vision"].values()) == 3
                and sum(s["llm"].values()) == 1
                and states <= {"RUNNING", "STARTING"}
                and "STARTING" in states
            )

        deadline = time.time() + 150
        snap = snapshot()
        prev = None
        while time.time() < deadline:
            snap = snapshot()
            if settled(snap) and snap == prev:  # the same for two looks in a row
                break
            prev = snap
            time.sleep(4)
        time.sleep(10)
        out["over"] = snap
        out["over_later"] = snapshot()
    finally:
        ray.shutdown()
    print("RESULT " + json.dumps(out, default=str))
