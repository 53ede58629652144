"""Every profile loads, its GPU shares fit its cards, and overrides layer in the documented
order."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.planner import pack
from seethink.config import ConfigError, SeethinkConfig, gpu_demand, load_config

PROFILE_DIR = Path(__file__).resolve().parents[2] / "cluster" / "profiles"
PROFILES = sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
FIXED = [p for p in PROFILES if load_config(p).cluster.num_nodes is not None]


def _cards(cfg: SeethinkConfig) -> int:
    return cfg.cluster.gpus_per_node * (cfg.cluster.num_nodes or 0)


def _vllm_nodes(cfg: SeethinkConfig) -> dict[str, float | None]:
    """gpu_memory_utilization of every node that runs vLLM on a GPU."""
    out: dict[str, float | None] = {}
    if cfg.llm.device == "gpu":
        out["llm"] = cfg.llm.gpu_memory_utilization
    if cfg.vision.backend == "vllm" and cfg.vision.num_gpus:
        out["vision"] = cfg.vision.gpu_memory_utilization
    return out


def test_the_documented_profiles_exist() -> None:
    assert {"cpu", "gpu-24g", "gpu-80g", "cluster"} <= set(PROFILES)


@pytest.mark.parametrize("name", PROFILES)
def test_profile_loads(name: str) -> None:
    cfg = load_config(name)
    assert cfg.profile == name
    assert cfg.description, "say what the profile is for"


@pytest.mark.parametrize("name", FIXED)
def test_gpu_shares_fit_the_cards_at_max_replicas(name: str) -> None:
    cfg = load_config(name)
    demand = gpu_demand(cfg, "max")
    assert sum(demand.values()) <= _cards(cfg) + 1e-9
    if demand:
        # Adding up is not enough: a fractional replica must fit on one card.
        counts = {n: getattr(cfg, n).autoscaling_config.max_replicas for n in demand}
        shares = {n: getattr(cfg, n).num_gpus for n in demand}
        assert pack(_cards(cfg), counts, shares), f"{name}: shares {shares} x {counts} do not pack"


@pytest.mark.parametrize("name", PROFILES)
def test_every_vllm_node_stays_inside_its_share(name: str) -> None:
    cfg = load_config(name)
    for node, util in _vllm_nodes(cfg).items():
        share = getattr(cfg, node).num_gpus
        assert util is not None, f"{name}: {node} on vLLM needs gpu_memory_utilization"
        assert share > 0, f"{name}: {node} on a GPU needs num_gpus"
        assert util <= share + 1e-9, f"{name}: {node} uses {util} of the card but holds {share}"


@pytest.mark.parametrize("name", PROFILES)
def test_memory_need_fits_the_share(name: str) -> None:
    cfg = load_config(name)
    card = cfg.cluster.gpu_memory_gib
    for node_name in ("vision", "llm"):
        node = getattr(cfg, node_name)
        if card and node.num_gpus and node.memory_gib:
            assert node.memory_gib <= min(node.num_gpus, 1) * card + 1e-9


def test_gpu_24g_shares_one_card() -> None:
    cfg = load_config("gpu-24g")
    assert cfg.cluster.gpu_memory_gib == 24 and _cards(cfg) == 1
    assert cfg.vision.backend == "vllm"  # bf16 on transformers would take the whole card
    assert cfg.llm.quantization
    assert cfg.vision.num_gpus + cfg.llm.num_gpus <= 1
    assert cfg.vision.memory_gib + cfg.llm.memory_gib <= 24


def test_cluster_profile_is_autoscaled_per_accelerator() -> None:
    from ray.util.accelerators import accelerators

    known = {v for k, v in vars(accelerators).items() if k.isupper() and isinstance(v, str)}
    cfg = load_config("cluster")
    assert cfg.cluster.num_nodes is None
    assert cfg.vision.accelerator_type in known
    assert cfg.llm.accelerator_type in known
    assert cfg.vision.accelerator_type != cfg.llm.accelerator_type
    assert 0 < cfg.vision.num_gpus < 1, "vision takes fractional shares"
    assert cfg.llm.autoscaling_config.min_replicas == 0, "the LLM scales from zero"
    assert cfg.vision.autoscaling_config.min_replicas >= 1, "every request needs vision"
    # From zero, the replica must stay wanted long enough for a GPU node to start.
    assert cfg.llm.autoscaling_config.downscale_delay_s >= 300


def test_over_full_profile_says_what_to_change() -> None:
    over = {
        "vision": {"num_gpus": 0.5, "autoscaling_config": {"max_replicas": 2}},
        "llm": {"num_gpus": 0.5, "gpu_memory_utilization": 0.45},
    }
    with pytest.raises(ConfigError) as exc:
        load_config("gpu-80g", overrides=over)
    msg = str(exc.value)
    assert "vision.num_gpus 0.5 x 2" in msg and "llm.num_gpus 0.5 x 1" in msg
    assert "1.5 GPUs" in msg
    assert "lower a num_gpus fraction or max_replicas" in msg


def test_vllm_share_above_the_gpu_share_says_what_to_change() -> None:
    with pytest.raises(ConfigError, match=r"set gpu_memory_utilization <= 0\.3"):
        load_config("gpu-80g", overrides={"llm": {"num_gpus": 0.3}})


def test_memory_above_the_share_says_what_to_change() -> None:
    with pytest.raises(ConfigError, match=r"raise vision\.num_gpus to 0\.83"):
        load_config("gpu-24g", overrides={"vision": {"memory_gib": 20}})


def test_unknown_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="vision.max_batch"):
        load_config("cpu", overrides={"vision": {"max_batch": 3}})


def test_env_beats_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_config("gpu-80g").vision.max_batch_size == 16  # the YAML's value
    monkeypatch.setenv("SEETHINK_VISION__MAX_BATCH_SIZE", "3")
    assert load_config("gpu-80g").vision.max_batch_size == 3


def test_overrides_beat_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEETHINK_VISION__MAX_BATCH_SIZE", "3")
    cfg = load_config("gpu-80g", overrides={"vision": {"max_batch_size": 5}})
    assert cfg.vision.max_batch_size == 5
    # Untouched keys of the same section keep the YAML's values.
    assert cfg.vision.num_gpus == 0.3


def test_env_picks_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEETHINK_PROFILE", "gpu-24g")
    assert load_config().cluster.gpu_memory_gib == 24
