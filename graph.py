"""The seethink deployment graph: wiring only.

``serve run graph:app`` starts the default (cpu) profile; ``graph:build_app`` is the application
builder a Serve config YAML names, with ``args: {profile: gpu-80g}`` and optional overrides.
"""

from __future__ import annotations

from typing import Any

from ray import serve

from deployments.affinity import ImageAffinityRouter
from deployments.batch import BatchRunner
from deployments.ingress import Ingress
from deployments.instant_llm import InstantLLM
from deployments.llm import build_llm_app, served_model_id
from deployments.review import ReviewQueue
from deployments.router import Router
from deployments.vision import Vision
from seethink.config import SeethinkConfig, check_packing, load_config


def _check_cluster(cfg: SeethinkConfig) -> None:
    """Validate GPU shares against the Ray cluster we land on, when one is already up."""
    import ray

    if ray.is_initialized():
        gpus = ray.cluster_resources().get("GPU", 0.0)
        if gpus or cfg.cluster.num_nodes is not None:
            check_packing(cfg, available_gpus=gpus if cfg.cluster.num_nodes else None)


def _node(cls, section, name: str, cfg: SeethinkConfig, **extra):
    return serve.deployment(cls).options(**section.deployment_options(name, cfg.server), **extra)


def _by_image(cfg: SeethinkConfig) -> dict[str, Any]:
    """The vision node's request router: each image to the replica that holds its caption
    (``deployments/affinity.py``), unless that replica is a whole batch busier than another."""
    return {
        "request_router_config": {
            "request_router_class": ImageAffinityRouter,
            "request_router_kwargs": {"imbalance": cfg.vision.max_batch_size},
        }
    }


def build_graph(cfg: SeethinkConfig) -> serve.Application:
    """Bind every node with the options its config section gives."""
    _check_cluster(cfg)
    router = _node(Router, cfg.router, "Router", cfg).bind(cfg.router)
    vision = _node(Vision, cfg.vision, "Vision", cfg, **_by_image(cfg)).bind(
        cfg.vision, None, cfg.cache
    )
    review = _node(ReviewQueue, cfg.review, "ReviewQueue", cfg).bind(cfg.arbiter.review_db)
    if cfg.llm.engine == "instant":
        llm = _node(InstantLLM, cfg.llm, "LLM", cfg).bind(served_model_id(cfg.llm))
    else:
        llm = build_llm_app(cfg.llm, "LLM", cfg.server)
    ingress = _node(Ingress, cfg.ingress, "Ingress", cfg)
    batch = None
    if cfg.batch.enabled:
        batch = _node(BatchRunner, cfg.batch, "BatchRunner", cfg).bind(cfg)
    return ingress.bind(cfg, router, vision, review, llm, batch)


def build_app(args: dict[str, Any] | None = None) -> serve.Application:
    """Application builder: ``args`` = {"profile": NAME or YAML path, **section overrides}."""
    args = dict(args or {})
    profile = args.pop("profile", None)
    return build_graph(load_config(profile, overrides=args))


app = build_app
