"""Ray node types derived from a profile, and a check that the cloud files still agree.

One derivation feeds both the cloud files (cluster/ray-cluster.yaml,
cluster/kuberay-rayservice.yaml) and the local multi-node tests (tests/cluster/multinode.py
starts nodes of these types for the `cluster-local` profile), so what the tests run is what a
cloud deployment gets::

    python -m cluster.gen                          # the cluster profile's node types, as YAML
    python -m cluster.gen --profile cluster-local  # the same for the local profile
    python -m cluster.gen --check                  # exit 1 and list drift in the cloud files

The head is CPU-only: it holds every deployment other than the models (ingress, router, review
queue, batch runner) at their max replicas. Each model node (vision, llm) gets a
worker type that offers its accelerator type, one card per node (cluster.gpus_per_node) and only
the CPUs its replicas reserve there, so a full GPU node has no room for the CPU-only
deployments.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seethink.config import NodeConfig, SeethinkConfig, load_config

CLUSTER_DIR = Path(__file__).resolve().parent
CLOUD_PROFILE = "cluster"
HEAD = "head"
# Ray gives this resource (1.0) to the head node alone, on every kind of cluster.
HEAD_RESOURCE = "node:__internal_head__"
MODEL_NODES = ("vision", "llm")


class GenError(ValueError):
    """A profile that cannot be turned into node types; the message says why."""


@dataclass(frozen=True)
class NodeType:
    """One Ray node type: what a node advertises and how many the autoscaler may start."""

    name: str
    resources: dict[str, float]
    min_workers: int = 0
    max_workers: int = 0
    holds: list[str] = field(default_factory=list)
    replicas_per_node: int = 0

    @property
    def accelerator_type(self) -> str | None:
        keys = [k for k in self.resources if k.startswith("accelerator_type:")]
        return keys[0].split(":", 1)[1] if keys else None


def replicas_per_node(node: NodeConfig, gpus_per_node: int) -> int:
    """How many replicas of a GPU deployment one node of its type holds (GPU-bound)."""
    if node.num_gpus <= 0:
        raise GenError("a model node on a worker type needs num_gpus > 0")
    if node.num_gpus < 1:
        # Ray gives a fractional share room on one card, never across two.
        return math.floor(1 / node.num_gpus + 1e-9) * gpus_per_node
    return int(gpus_per_node // node.num_gpus)


def head_sections(cfg: SeethinkConfig) -> dict[str, NodeConfig]:
    """The deployments the head holds: every node section other than the models (ingress,
    router, review, batch, ...), counted whether or not a feature in it is enabled."""
    return {
        name: node
        for name in type(cfg).model_fields
        if name not in MODEL_NODES and isinstance(node := getattr(cfg, name), NodeConfig)
    }


def node_types(cfg: SeethinkConfig | str) -> dict[str, NodeType]:
    """The head and one worker type per model node, derived from the profile."""
    if isinstance(cfg, str):
        cfg = load_config(cfg)
    gpus = cfg.cluster.gpus_per_node
    if gpus < 1:
        raise GenError(f"profile '{cfg.profile}' has no GPU nodes (cluster.gpus_per_node = 0)")
    on_head = head_sections(cfg)
    for name, node in on_head.items():
        if node.num_gpus:
            raise GenError(f"{name}.num_gpus={node.num_gpus}: the head is CPU-only")
    head_cpus = sum(n.num_cpus * n.autoscaling_config.max_replicas for n in on_head.values())
    out = {HEAD: NodeType(HEAD, {"CPU": float(math.ceil(head_cpus - 1e-9))}, holds=list(on_head))}
    for name in MODEL_NODES:
        if not getattr(cfg, name).accelerator_type:
            raise GenError(f"profile '{cfg.profile}': {name}.accelerator_type is not set")
    for name, node in on_head.items():
        if HEAD_RESOURCE not in node.resources:
            raise GenError(
                f"profile '{cfg.profile}': {name} is not pinned to the head; set "
                f"{name}.resources: {{'{HEAD_RESOURCE}': 0.01}} (else its replicas may take a "
                "GPU worker's spare CPUs)"
            )
    for name in MODEL_NODES:
        node = getattr(cfg, name)
        per_node = replicas_per_node(node, gpus)
        type_name = f"{name}_{node.accelerator_type.lower()}"
        out[type_name] = NodeType(
            type_name,
            {
                "CPU": float(node.num_cpus * per_node),
                "GPU": float(gpus),
                f"accelerator_type:{node.accelerator_type}": 1.0,
            },
            min_workers=0,
            max_workers=math.ceil(node.autoscaling_config.max_replicas / per_node),
            holds=[name],
            replicas_per_node=per_node,
        )
    return out


def kuberay_group(t: NodeType) -> str:
    """KubeRay worker group name of a node type (underscores are not DNS-safe)."""
    return t.name.replace("_", "-")


def _num(x: Any) -> float:
    return float(x)


def check_launcher(types: dict[str, NodeType], doc: dict) -> list[str]:
    """Differences between the derived node types and a Ray cluster launcher config."""
    drift: list[str] = []
    got = doc.get("available_node_types") or {}
    if doc.get("head_node_type") != HEAD:
        drift.append(f"ray-cluster.yaml: head_node_type {doc.get('head_node_type')!r} != {HEAD!r}")
    for name, t in types.items():
        g = got.get(name)
        if g is None:
            drift.append(f"ray-cluster.yaml: node type {name!r} missing")
            continue
        res = {k: _num(v) for k, v in (g.get("resources") or {}).items()}
        if res != t.resources:
            drift.append(f"ray-cluster.yaml: {name}.resources {res} != {t.resources}")
        if name != HEAD:
            for key in ("min_workers", "max_workers"):
                if g.get(key, 0) != getattr(t, key):
                    drift.append(
                        f"ray-cluster.yaml: {name}.{key} {g.get(key, 0)} != {getattr(t, key)}"
                    )
    extra = set(got) - set(types)
    if extra:
        drift.append(f"ray-cluster.yaml: node types not in the profile: {sorted(extra)}")
    total = sum(t.max_workers for t in types.values())
    if doc.get("max_workers", 0) < total:
        drift.append(f"ray-cluster.yaml: max_workers {doc.get('max_workers')} < {total}")
    return drift


def _start_resources(params: dict) -> dict[str, float]:
    raw = params.get("resources")
    if not raw:
        return {}
    text = raw.strip()
    # KubeRay's format: a JSON object inside one more pair of quotes.
    if text.startswith('"') and text.endswith('"'):
        text = text[1:-1].replace('\\"', '"')
    return {k: _num(v) for k, v in json.loads(text).items()}


def check_rayservice(types: dict[str, NodeType], doc: dict) -> list[str]:
    """Differences between the derived node types and the KubeRay RayService."""
    drift: list[str] = []
    rc = doc["spec"]["rayClusterConfig"]
    head_cpus = _num(rc["headGroupSpec"]["rayStartParams"].get("num-cpus", -1))
    if head_cpus != types[HEAD].resources["CPU"]:
        drift.append(f"kuberay: head num-cpus {head_cpus:g} != {types[HEAD].resources['CPU']:g}")
    groups = {g["groupName"]: g for g in rc.get("workerGroupSpecs") or []}
    for t in types.values():
        if t.name == HEAD:
            continue
        gname = kuberay_group(t)
        g = groups.pop(gname, None)
        if g is None:
            drift.append(f"kuberay: worker group {gname!r} missing")
            continue
        params = g.get("rayStartParams") or {}
        res = {"CPU": _num(params.get("num-cpus", -1)), **_start_resources(params)}
        (container,) = g["template"]["spec"]["containers"]
        res["GPU"] = _num(container["resources"]["limits"].get("nvidia.com/gpu", 0))
        if res != t.resources:
            drift.append(f"kuberay: {gname} resources {res} != {t.resources}")
        if (g.get("minReplicas", 0), g.get("maxReplicas")) != (t.min_workers, t.max_workers):
            drift.append(
                f"kuberay: {gname} min/maxReplicas {g.get('minReplicas', 0)}/"
                f"{g.get('maxReplicas')} != {t.min_workers}/{t.max_workers}"
            )
    if groups:
        drift.append(f"kuberay: worker groups not in the profile: {sorted(groups)}")
    return drift


def check_images(launcher: dict, rayservice: dict, ray_version: str) -> list[str]:
    """Both files run the Ray version the project installs."""
    drift = []
    image = launcher.get("docker", {}).get("image", "")
    if f":{ray_version}-" not in image:
        drift.append(f"ray-cluster.yaml: docker image {image!r} is not Ray {ray_version}")
    rv = rayservice["spec"]["rayClusterConfig"].get("rayVersion")
    if rv != ray_version:
        drift.append(f"kuberay: rayVersion {rv!r} != {ray_version!r}")
    return drift


def check(profile: str = CLOUD_PROFILE, cluster_dir: Path = CLUSTER_DIR) -> list[str]:
    """Every difference between the profile's node types and the committed cloud files."""
    import ray

    types = node_types(profile)
    launcher = yaml.safe_load((cluster_dir / "ray-cluster.yaml").read_text())
    rayservice = yaml.safe_load((cluster_dir / "kuberay-rayservice.yaml").read_text())
    return (
        check_launcher(types, launcher)
        + check_rayservice(types, rayservice)
        + check_images(launcher, rayservice, ray.__version__)
    )


def render(types: dict[str, NodeType]) -> str:
    """The node types as YAML (resources and bounds to paste into a cluster file)."""
    data = {}
    for t in types.values():
        d = asdict(t)
        d.pop("name")
        data[t.name] = d
    return yaml.safe_dump(data, sort_keys=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cluster.gen", description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default=CLOUD_PROFILE, help="profile (default: cluster)")
    ap.add_argument(
        "--check",
        action="store_true",
        help="compare the cloud files with the profile; exit 1 on drift",
    )
    args = ap.parse_args(argv)
    try:
        if args.check:
            drift = check(args.profile)
            for line in drift:
                print(f"drift: {line}")
            print("cloud files agree with the profile" if not drift else f"{len(drift)} drift(s)")
            return 1 if drift else 0
        print(render(node_types(args.profile)), end="")
    except GenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
