"""Run by test_packing.py in its own process: a Ray cluster with ONE logical GPU.

Deploys the real graph with vision at 0.25 GPU x 2 replicas and the LLM at 0.5 (all fit on the
card), then asks for a third vision replica (does not fit) and reports what Ray and Serve say,
as one JSON line on stdout.
"""

from __future__ import annotations

import json
import os
import shutil
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
        # Ask for one more vision replica anyway, as a separate application so that nothing in
        # the running graph is redeployed: it must wait for a GPU share that never frees up.
        from deployments.vision import Vision
        from seethink.config import Autoscaling

        extra_cfg = load_config("cpu", fit).vision.model_copy(
            update={"autoscaling_config": Autoscaling(min_replicas=1, max_replicas=1)}
        )
        extra = serve.deployment(Vision).options(**extra_cfg.deployment_options("Vision"))
        serve._run(extra.bind(extra_cfg), name="extra", route_prefix=None, _blocking=False)

        def snapshot() -> dict:
            apps = serve.status().applications
            graph = apps["seethink"].deployments
            return {
                "vision": dict(graph["Vision"].replica_states),
                "llm": dict(graph["LLM"].replica_states),
                "extra": dict(apps["extra"].deployments["Vision"].replica_states)
                if "extra" in apps and apps["extra"].deployments
                else {},
                "gpu_available": ray.available_resources().get("GPU", 0.0),
            }

        time.sleep(20)
        out["over"] = snapshot()
        time.sleep(10)
        out["over_later"] = snapshot()
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    print("RESULT " + json.dumps(out, default=str))
