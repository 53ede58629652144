"""The cloud files agree with the node types derived from the `cluster` profile, and
`cluster-local` has the same node types, resources and bounds (only models, sizes and time
scales differ)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from cluster import gen
from seethink.config import load_config

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"

# The keys cluster-local may change: model paths and sizes, the CPU build, time scales.
MAY_DIFFER = {
    "description",
    "profile",
    "vision.model",
    "vision.model_name",
    "vision.dtype",
    "vision.memory_gib",
    "vision.max_new_tokens",
    "llm.model",
    "llm.model_name",
    "llm.device",
    "llm.dtype",
    "llm.enforce_eager",
    "llm.memory_gib",
    "llm.max_model_len",
    "llm.max_tokens",
    "llm.cpu_kvcache_space_gib",
    "llm.engine_kwargs",  # the CPU build runs vLLM's single-process executor
    "llm.timeout_s",
    "llm.health_check_timeout_s",
    "llm.autoscaling_config.upscale_delay_s",
    "llm.autoscaling_config.downscale_delay_s",
    "fallback.reset_timeout_s",
    "arbiter.review_db",  # PostgreSQL in the cloud, a SQLite file on the head locally
}


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and k != "engine_kwargs":
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def test_the_committed_cloud_files_agree_with_the_cluster_profile() -> None:
    assert gen.check() == []
    assert gen.main(["--check"]) == 0


def test_check_reports_drift(tmp_path: Path) -> None:
    for name in ("ray-cluster.yaml", "kuberay-rayservice.yaml"):
        shutil.copy(CLUSTER / name, tmp_path / name)
    launcher = yaml.safe_load((tmp_path / "ray-cluster.yaml").read_text())
    launcher["available_node_types"]["vision_l40s"]["max_workers"] = 3
    launcher["available_node_types"]["llm_h100"]["resources"]["accelerator_type:A100"] = 1
    del launcher["available_node_types"]["llm_h100"]["resources"]["accelerator_type:H100"]
    (tmp_path / "ray-cluster.yaml").write_text(yaml.safe_dump(launcher))
    rs = yaml.safe_load((tmp_path / "kuberay-rayservice.yaml").read_text())
    rs["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["rayStartParams"]["num-cpus"] = "2"
    (tmp_path / "kuberay-rayservice.yaml").write_text(yaml.safe_dump(rs))
    drift = gen.check(cluster_dir=tmp_path)
    text = "\n".join(drift)
    assert "vision_l40s.max_workers 3 != 4" in text
    assert "llm_h100.resources" in text and "H100" in text
    assert "vision-l40s resources" in text
    assert len(drift) == 3, drift


def test_node_types_follow_the_profile() -> None:
    types = gen.node_types("cluster")
    assert set(types) == {"head", "vision_l40s", "llm_h100"}
    assert "GPU" not in types["head"].resources
    v = types["vision_l40s"]
    assert v.replicas_per_node == 2  # two 0.5 shares on one card
    assert v.max_workers == 4  # max_replicas 8 / 2
    # A different share or bound changes the derived type: the derivation is not a constant.
    other = gen.node_types(
        load_config(
            "cluster",
            overrides={"vision": {"num_gpus": 0.25, "autoscaling_config": {"max_replicas": 6}}},
        )
    )["vision_l40s"]
    assert (other.replicas_per_node, other.max_workers, other.resources["CPU"]) == (4, 2, 8.0)


def test_profile_without_accelerator_types_is_refused() -> None:
    with pytest.raises(gen.GenError, match="no GPU nodes"):
        gen.node_types("cpu")
    with pytest.raises(gen.GenError, match="accelerator_type is not set"):
        gen.node_types("gpu-80g")


def test_cluster_local_has_the_cluster_node_types() -> None:
    assert gen.node_types("cluster-local") == gen.node_types("cluster")


def test_cluster_local_differs_only_in_models_sizes_and_time_scales() -> None:
    cloud = _flat(load_config("cluster").model_dump())
    local = _flat(load_config("cluster-local").model_dump())
    differ = {k for k in cloud.keys() | local.keys() if cloud.get(k) != local.get(k)}
    assert differ <= MAY_DIFFER, sorted(differ - MAY_DIFFER)
    # and what matters for placement is really the same
    for key in ("vision.num_gpus", "vision.accelerator_type", "llm.num_gpus",
                "llm.accelerator_type", "llm.autoscaling_config.min_replicas"):  # fmt: skip
        assert cloud[key] == local[key], key
    assert local["vision.model"].startswith("tiny:") and local["llm.model"].startswith("tiny:")


def test_render_is_yaml_of_the_types() -> None:
    data = yaml.safe_load(gen.render(gen.node_types("cluster")))
    assert data["llm_h100"]["resources"]["accelerator_type:H100"] == 1.0
    llm = load_config("cluster").llm
    assert data["llm_h100"]["max_workers"] == llm.autoscaling_config.max_replicas


def test_cpu_deployments_of_a_cluster_profile_are_pinned_to_the_head() -> None:
    cfg = load_config("cluster")
    for name in gen.head_sections(cfg):
        opts = getattr(cfg, name).deployment_options(name)["ray_actor_options"]
        assert opts["resources"] == {gen.HEAD_RESOURCE: 0.01}, name
    unpinned = cfg.model_copy(update={"router": cfg.router.model_copy(update={"resources": {}})})
    with pytest.raises(gen.GenError, match="router is not pinned to the head"):
        gen.node_types(unpinned)
