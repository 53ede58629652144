"""The CPU profiles' vLLM executor (Ray Serve LLM forces ``mp`` on CPU; the node honours ``uni``),
and the stream interval the profiles pass to Ray Serve LLM."""

from __future__ import annotations

import pytest

from seethink.config import load_config


@pytest.fixture
def restore_engine_config():
    from ray.llm._internal.serve.engines.vllm import vllm_models

    original = vllm_models.VLLMEngineConfig.get_initialization_kwargs
    yield
    vllm_models.VLLMEngineConfig.get_initialization_kwargs = original


def _executor(profile: str, overrides: dict | None = None) -> str:
    from deployments.llm import build_llm_config

    cfg = load_config(profile, overrides or {})
    engine = build_llm_config(cfg.llm).get_engine_config()
    return engine.get_initialization_kwargs()["distributed_executor_backend"]


def test_ray_serve_llm_alone_forces_mp_on_cpu(restore_engine_config):
    assert _executor("cpu") == "mp"  # what the node must undo


def test_the_node_honours_uni_where_the_profile_asks(restore_engine_config):
    from deployments.llm_node import honour_uni_executor

    honour_uni_executor()
    honour_uni_executor()  # idempotent: wraps once
    assert _executor("cpu") == "uni"
    assert _executor("cluster-local") == "uni"
    # a profile that asks for something else keeps Ray Serve LLM's choice
    assert (
        _executor("cpu", {"llm": {"engine_kwargs": {"distributed_executor_backend": "mp"}}}) == "mp"
    )


def test_stream_interval_reaches_ray_serve_llm_where_the_profile_sets_it():
    from deployments.llm import build_llm_config

    def interval(profile: str, overrides: dict | None = None):
        cfg = load_config(profile, overrides or {})
        return build_llm_config(cfg.llm).experimental_configs.get("stream_batching_interval_ms")

    assert interval("cpu") == 0  # token by token
    assert interval("cpu", {"llm": {"stream_interval_ms": 20}}) == 20
    assert interval("gpu-80g") is None  # Ray Serve LLM's default (50 ms)
    with pytest.raises(Exception, match="stream_interval_ms"):
        load_config("cpu", {"llm": {"stream_interval_ms": -1}})
