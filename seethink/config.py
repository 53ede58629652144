"""The one typed configuration of the graph, loaded from a profile YAML in ``cluster/``.

Precedence, highest first: explicit overrides (``build_app`` args), environment variables
(``SEETHINK_`` prefix, ``__`` for nesting: ``SEETHINK_VISION__MAX_BATCH_SIZE=16``), the profile
YAML, then the defaults below. Unknown keys are rejected everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from .packing import pack

PROFILE_DIR = Path(__file__).resolve().parent.parent / "cluster" / "profiles"
DEFAULT_PROFILE = "cpu"


class ConfigError(ValueError):
    """A profile that cannot work; the message says what to change."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Autoscaling(_Strict):
    """Ray Serve autoscaling for one node (see ray.serve.config.AutoscalingConfig)."""

    min_replicas: int = Field(1, ge=0, description="Replicas kept even when idle.")
    initial_replicas: int | None = Field(None, ge=0, description="Replicas at deploy time.")
    max_replicas: int = Field(1, ge=1, description="Upper bound on replicas.")
    target_ongoing_requests: float = Field(
        2.0, gt=0, description="Ongoing requests per replica the autoscaler aims for."
    )
    upscale_delay_s: float = Field(3.0, ge=0, description="Sustained load before scaling up.")
    downscale_delay_s: float = Field(30.0, ge=0, description="Sustained idle before scaling down.")
    metrics_interval_s: float = Field(1.0, gt=0, description="How often replicas report load.")
    look_back_period_s: float = Field(5.0, gt=0, description="Window the load is averaged over.")

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ConfigError(
                f"autoscaling min_replicas={self.min_replicas} > max_replicas={self.max_replicas}"
            )
        return self

    def to_serve(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class NodeConfig(_Strict):
    """What every deployment in the graph shares: resources, scaling, queueing."""

    num_cpus: float = Field(1.0, ge=0, description="Logical CPUs reserved per replica.")
    num_gpus: float = Field(
        0.0, ge=0, description="GPU share per replica; a fraction lets replicas share a card."
    )
    memory_gib: float | None = Field(
        None, gt=0, description="GPU memory one replica needs (weights + cache), for the planner."
    )
    accelerator_type: str | None = Field(None, description="Ray accelerator type, e.g. H100.")
    resources: dict[str, float] = Field(
        default_factory=dict,
        description="Custom Ray resources per replica: e.g. {'node:__internal_head__': 0.01} "
        "(a resource only the head node has) keeps a CPU deployment on the head.",
    )
    autoscaling_config: Autoscaling = Field(default_factory=Autoscaling)
    max_ongoing_requests: int = Field(
        32,
        ge=1,
        description="Requests one replica works on at once (Serve's default of 5 "
        "starves batching and collapses throughput under load).",
    )
    max_queued_requests: int = Field(
        128,
        ge=-1,
        description="Requests waiting for this node (per caller) before a fast 503/429 with "
        "Retry-After; -1 means unbounded (never: an unbounded queue turns a burst into "
        "client timeouts).",
    )

    @model_validator(mode="after")
    def _whole_or_fraction(self) -> NodeConfig:
        if self.num_gpus > 1 and self.num_gpus != int(self.num_gpus):
            raise ConfigError(
                f"num_gpus={self.num_gpus}: use a fraction below 1 or a whole number of GPUs"
            )
        return self

    def deployment_options(self, name: str, overload: ServerConfig | None = None) -> dict[str, Any]:
        """Options for ``serve.deployment(...).options(**these)``; ``overload`` sets what a
        full queue answers (status and Retry-After)."""
        actor: dict[str, Any] = {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
        if self.accelerator_type:
            actor["accelerator_type"] = self.accelerator_type
        if self.resources:
            actor["resources"] = dict(self.resources)
        return {
            "name": name,
            "ray_actor_options": actor,
            "autoscaling_config": self.autoscaling_config.to_serve(),
            "max_ongoing_requests": self.max_ongoing_requests,
            "max_queued_requests": self.max_queued_requests,
            **({"backpressure_config": overload.backpressure()} if overload else {}),
        }


COMPUTE_NICE_DESCRIPTION = (
    "CPU priority (Unix nice, 0-19) of the model's compute: the vision model's thread, vLLM's "
    "engine core process. Above 0 the request plumbing (HTTP, handle calls, tokenising) runs "
    "first on shared cores, so requests gather in front of the model and batches grow. CPU "
    "boxes; 0 on GPUs, where these threads mostly wait for the card (seethink/priority.py)."
)


class VisionConfig(NodeConfig):
    """The vision-language model that looks (GLM-4.6V-Flash family)."""

    model: str = Field("tiny:glm4v", description="Local path, hub id, or tiny:glm4v.")
    model_name: str | None = Field(None, description="Name reported in responses.")
    backend: Literal["transformers", "vllm", "instant"] = Field(
        "transformers",
        description="transformers (any GLM-4V checkpoint), vllm (GPU), or instant (answers at "
        "once with fixed tokens: a measuring tool for the graph's own cost, never a default).",
    )
    dtype: Literal["auto", "bfloat16", "float32"] = "auto"
    compile: bool = Field(
        False,
        description="transformers backend: compile the text model for the decoding steps "
        "(torch.compile, inductor, dynamic shapes; on CPU it needs a C++ compiler). Done at "
        "start-up, before the replica is ready (about 20 s on two cores the first time, a few "
        "seconds from inductor's cache); if it fails the steps stay eager, with a warning.",
    )
    max_new_tokens: int = Field(32, ge=1, le=4096, description="Bound on generated tokens.")
    max_batch_size: int = Field(8, ge=1, description="Continuous batching: largest batch.")
    batch_wait_timeout_s: float = Field(
        0.0,
        ge=0,
        description="Continuous batching: how long a request that finds the model idle waits for "
        "company (0: starts at once). Requests that arrive while a batch runs always join the "
        "next batch, whatever this says.",
    )
    gpu_memory_utilization: float | None = Field(
        None, gt=0, le=1, description="vllm backend: share of the card's memory this replica takes."
    )
    engine_kwargs: dict[str, Any] = Field(default_factory=dict, description="vllm backend extras.")
    nice: int = Field(0, ge=0, le=19, description=COMPUTE_NICE_DESCRIPTION)


class LLMNodeConfig(NodeConfig):
    """The chat LLM that thinks, on vLLM through Ray Serve LLM's LLMServer."""

    model: str = Field("tiny:glm4-chat", description="Local path, hub id, or tiny:glm4-chat.")
    engine: Literal["vllm", "instant"] = Field(
        "vllm",
        description="vllm (Ray Serve LLM's LLMServer), or instant (answers at once with fixed "
        "tokens: a measuring tool for the graph's own cost, never a default).",
    )
    model_name: str | None = Field(None, description="Served model id (defaults to the path).")
    device: Literal["cpu", "gpu"] = Field("cpu", description="vLLM CPU build or CUDA build.")
    gpu_memory_utilization: float = Field(
        0.9, gt=0, le=1, description="Share of the card's memory vLLM takes; <= num_gpus."
    )
    max_model_len: int = Field(2048, ge=64, description="Context length the engine reserves for.")
    max_tokens: int = Field(64, ge=1, description="Default bound on generated tokens.")
    temperature: float = Field(0.0, ge=0, le=2, description="Default sampling temperature.")
    dtype: str = Field("auto", description="vLLM dtype; the CPU profile uses float32.")
    quantization: str | None = Field(None, description="vLLM quantization (e.g. awq, gptq).")
    enforce_eager: bool = Field(False, description="Skip graph capture/compilation.")
    cpu_kvcache_space_gib: int = Field(1, ge=1, description="CPU build: KV cache size.")
    engine_kwargs: dict[str, Any] = Field(default_factory=dict, description="Extra vLLM args.")
    timeout_s: float = Field(30.0, gt=0, description="Deadline for one LLM call.")
    health_check_timeout_s: float = Field(
        10.0, gt=0, description="Serve health-check timeout; raise it where CPUs are contended."
    )
    stream_interval_ms: float | None = Field(
        None,
        ge=0,
        description="How often the LLM replica passes a stream's new tokens on (Ray Serve LLM's "
        "stream_batching_interval_ms): 0 passes each token as it comes; None keeps Ray's "
        "default (50 ms: a stream's tokens leave in bursts, fewer messages under load).",
    )
    nice: int = Field(0, ge=0, le=19, description=COMPUTE_NICE_DESCRIPTION)

    @model_validator(mode="after")
    def _memory_share(self) -> LLMNodeConfig:
        if 0 < self.num_gpus < 1 and self.gpu_memory_utilization > self.num_gpus + 1e-9:
            raise ConfigError(
                f"llm.gpu_memory_utilization={self.gpu_memory_utilization} exceeds its GPU share "
                f"llm.num_gpus={self.num_gpus}; set gpu_memory_utilization <= {self.num_gpus}"
            )
        return self


class RouterNodeConfig(NodeConfig):
    """The look-or-think router."""

    name: str = Field("classifier", description="Registered router: classifier or keywords.")
    threshold: float | None = Field(None, ge=0, le=1, description="Cascade probability cut.")
    unsure_route: Literal["direct", "cascade"] = Field(
        "cascade", description="Route when the classifier is unsure."
    )
    cascade_keywords: list[str] = Field(default_factory=list, description="Force cascade.")
    direct_keywords: list[str] = Field(default_factory=list, description="Force direct.")
    num_cpus: float = 0.25
    max_ongoing_requests: int = 256
    max_queued_requests: int = 512


class IngressConfig(NodeConfig):
    """HTTP ingress: validation, image fetching, orchestration."""

    num_cpus: float = 0.5
    max_image_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest image accepted.")
    max_image_pixels: int = Field(40_000_000, ge=1, description="Largest decoded image (w*h).")
    fetch_timeout_s: float = Field(10.0, gt=0, description="Timeout fetching an image_url.")
    max_prompt_chars: int = Field(4000, ge=1, description="Longest question accepted.")
    max_ongoing_requests: int = 128


class CacheConfig(_Strict):
    """The caption cache, kept inside each vision replica (``deployments/cache.py``).

    Serve's router for the vision node sends every request for one image to the replica that
    owns it (``deployments/affinity.py``), so the hit rate does not split as vision scales out;
    the bounds are per replica.
    """

    enabled: bool = Field(True, description="Reuse captions of images seen before.")
    policy: Literal["lru", "lfu"] = Field("lru", description="Which entry to evict first.")
    max_entries: int = Field(10_000, ge=1, description="Bound on cached captions per replica.")
    max_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Bound on cached text bytes per replica."
    )
    ttl_s: float = Field(3600.0, gt=0, description="Seconds a caption stays valid.")


class ReviewNodeConfig(NodeConfig):
    """The review queue node: one replica owns the store's writes."""

    num_cpus: float = 0.05
    max_ongoing_requests: int = 100


class ServerConfig(_Strict):
    """The HTTP edge: deadlines, limits, hosts, and what an overloaded graph answers."""

    request_timeout_s: float = Field(
        120.0, gt=0, description="Whole-request deadline; a miss answers a JSON 504."
    )
    node_timeout_s: float = Field(
        10.0, gt=0, description="Deadline of a call to the router or review node."
    )
    vision_timeout_s: float = Field(
        60.0, gt=0, description="Deadline of one vision call (caption, answer or re-check)."
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest request body, enforced while reading."
    )
    body_timeout_s: float = Field(
        30.0, gt=0, description="Time a client has to send its whole body (else 408)."
    )
    max_json_depth: int = Field(32, ge=2, description="Deepest JSON nesting accepted.")
    max_messages: int = Field(64, ge=1, description="Longest chat history accepted.")
    max_system_chars: int = Field(8000, ge=1, description="Longest system prompt accepted.")
    allowed_hosts: list[str] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "::1"],
        description="Host headers served (names or addresses, any port); ['*'] serves any "
        "(behind a load balancer that checks them).",
    )

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _hosts_comma_separated(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [h.strip() for h in v.split(",") if h.strip()]
        return v

    overload_status: Literal[503, 429] = Field(
        503, description="Status when a queue is full (with Retry-After)."
    )
    retry_after_s: int = Field(1, ge=1, description="Retry-After sent with overload answers.")

    def backpressure(self) -> dict[str, Any]:
        """Serve's answer to a request that finds a node's queue full."""
        return {"status_code": self.overload_status, "retry_after_s": self.retry_after_s}


class AuthConfig(_Strict):
    """API keys: ``Authorization: Bearer KEY``, as the OpenAI SDK sends it."""

    api_keys: list[str] = Field(
        default_factory=list, description="Keys for the inference API; empty means open."
    )
    reviewer_keys: list[str] = Field(
        default_factory=list, description="Keys for /review; none set means /review is off."
    )
    key_file: str | None = Field(
        None, description="File of hashed keys (sha256:HEX per line) accepted for the API."
    )
    reviewer_key_file: str | None = Field(None, description="Same, for reviewers.")

    @field_validator("api_keys", "reviewer_keys", mode="before")
    @classmethod
    def _comma_separated(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [k.strip() for k in v.split(",") if k.strip()]
        return v


class AnswerCacheConfig(_Strict):
    """Whole answers of repeated identical deterministic requests (per ingress replica)."""

    enabled: bool = True
    max_entries: int = Field(10_000, ge=1)
    max_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    ttl_s: float = Field(600.0, gt=0)


class DecisionCacheConfig(_Strict):
    """The router's decisions for questions asked before (per ingress replica): a repeated
    question is routed from memory, without the hop to the router node. The router is
    deterministic for one question; the key holds its name and version."""

    enabled: bool = True
    max_entries: int = Field(10_000, ge=1)
    max_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    ttl_s: float = Field(600.0, gt=0)


class FallbackConfig(_Strict):
    """Answering with the vision model alone when the LLM fails or is slow."""

    failure_threshold: int = Field(3, ge=1, description="Failures in a row that open the breaker.")
    reset_timeout_s: float = Field(10.0, gt=0, description="Open time before a probe is let in.")


class ArbiterConfig(_Strict):
    """Checking a cascade answer against what the vision model saw."""

    enabled: bool = True
    consistency_threshold: float = Field(
        0.2, ge=0, le=1, description="Below this caption/answer coherence, re-verify."
    )
    verify_threshold: float = Field(
        0.5, ge=0, le=1, description="Below this P(yes) from the vision model, flag for review."
    )
    review_db: str = Field(
        "~/.cache/seethink/review.sqlite3",
        description="Review store: a SQLite file path, or a postgresql:// URL.",
    )


class DisclaimerConfig(_Strict):
    """Disclaimer text per sensitive domain and language."""

    medical: dict[str, str] = Field(
        default_factory=lambda: {
            "zh": "AI辅助建议,仅供参考",
            "en": "AI-assisted suggestion, for reference only",
        }
    )
    finance: dict[str, str] = Field(
        default_factory=lambda: {
            "zh": "AI辅助建议,仅供参考",
            "en": "AI-assisted suggestion, for reference only",
        }
    )
    legal: dict[str, str] = Field(
        default_factory=lambda: {
            "zh": "AI辅助建议,仅供参考",
            "en": "AI-assisted suggestion, for reference only",
        }
    )


class BatchConfig(NodeConfig):
    """The Batch API (``/v1/files``, ``/v1/batches``): one BatchRunner replica runs each batch as
    a Ray Data job through the online graph's Ingress, with bounded concurrency so online
    traffic keeps priority."""

    num_cpus: float = 0.05
    max_ongoing_requests: int = 64
    enabled: bool = Field(True, description="Serve /v1/files and /v1/batches.")
    data_dir: str | None = Field(
        None,
        description="Folder of file bytes (uploads and results); default: 'files' next to the "
        "SQLite store, or ~/.cache/seethink/files with PostgreSQL.",
    )
    file_bytes: Literal["disk", "database"] = Field(
        "disk",
        description="Where uploaded and result file bytes live: 'disk' (data_dir on the batch "
        "runner's node) or 'database' (the review store's database, beside the files' rows: "
        "reachable from every node, the cluster profiles' choice).",
    )
    max_file_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Largest uploaded file (413 above)."
    )
    max_lines: int = Field(10_000, ge=1, description="Most request lines in one batch file.")
    max_line_bytes: int = Field(
        16 * 1024 * 1024, ge=256, description="Longest request line (a per-line 413 above)."
    )
    max_concurrency: int = Field(
        1,
        ge=1,
        description="Batch lines in flight at once across the job: small, so online requests "
        "keep priority.",
    )
    actors: int = Field(1, ge=1, description="Ray Data actors calling the Ingress.")
    actor_num_cpus: float = Field(0.05, ge=0, description="Logical CPUs per Ray Data actor.")
    lines_per_block: int = Field(
        4, ge=1, description="Lines per Ray Data batch: progress is stored after each."
    )
    max_passes: int = Field(
        3,
        ge=1,
        description="Runs over lines whose call failed (a replica gone) before they "
        "are recorded as errors.",
    )
    poll_s: float = Field(1.0, gt=0, description="How often the runner looks for new batches.")
    online_quiet_s: float = Field(
        0.1,
        ge=0,
        description="A batch line starts only after the Ingress replica has had no online "
        "request in flight for this long (online traffic keeps priority) ...",
    )
    online_max_wait_s: float = Field(
        5.0, ge=0, description="... waiting at most this long per line (batches never starve)."
    )


class ClusterConfig(_Strict):
    """What the profile expects of the machines, for validation and the planner."""

    gpus_per_node: int = Field(0, ge=0, description="GPUs on one node (0 for CPU-only).")
    gpu_memory_gib: float | None = Field(None, gt=0, description="Memory of one card.")
    num_nodes: int | None = Field(1, ge=1, description="Fixed node count; None if autoscaled.")


class SeethinkConfig(_Strict):
    """The whole graph: one section per node plus the cluster it expects."""

    profile: str = Field(DEFAULT_PROFILE, description="Profile this config came from.")
    description: str = Field("", description="What the profile is for.")
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    ingress: IngressConfig = Field(default_factory=IngressConfig)
    router: RouterNodeConfig = Field(default_factory=RouterNodeConfig)
    vision: VisionConfig = Field(default_factory=VisionConfig)
    llm: LLMNodeConfig = Field(default_factory=LLMNodeConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    review: ReviewNodeConfig = Field(default_factory=ReviewNodeConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    answer_cache: AnswerCacheConfig = Field(default_factory=AnswerCacheConfig)
    decision_cache: DecisionCacheConfig = Field(default_factory=DecisionCacheConfig)
    fallback: FallbackConfig = Field(default_factory=FallbackConfig)
    arbiter: ArbiterConfig = Field(default_factory=ArbiterConfig)
    disclaimers: DisclaimerConfig = Field(default_factory=DisclaimerConfig)
    batch: BatchConfig = Field(default_factory=BatchConfig)

    def gpu_nodes(self) -> dict[str, NodeConfig]:
        return {n: getattr(self, n) for n in ("ingress", "router", "vision", "review", "llm")}

    @model_validator(mode="after")
    def _fits(self) -> SeethinkConfig:
        check_packing(self)
        return self


def gpu_demand(cfg: SeethinkConfig, replicas: Literal["min", "max"] = "max") -> dict[str, float]:
    """GPUs each node asks for with all its replicas at min or max."""
    out = {}
    for name, node in cfg.gpu_nodes().items():
        a = node.autoscaling_config
        n = a.max_replicas if replicas == "max" else max(a.min_replicas, a.initial_replicas or 0)
        if node.num_gpus:
            out[name] = node.num_gpus * n
    return out


def check_packing(cfg: SeethinkConfig, available_gpus: float | None = None) -> None:
    """Raise ConfigError, saying what to change, when GPU shares cannot fit the cluster."""
    c = cfg.cluster
    if available_gpus is None and c.num_nodes is not None:
        available_gpus = c.gpus_per_node * c.num_nodes
    for name, node in cfg.gpu_nodes().items():
        if node.num_gpus and c.gpus_per_node and node.num_gpus > c.gpus_per_node:
            raise ConfigError(
                f"{name}.num_gpus={node.num_gpus} is more than one node's {c.gpus_per_node} GPUs"
            )
        if node.num_gpus and c.gpu_memory_gib and node.memory_gib:
            share = node.num_gpus * c.gpu_memory_gib if node.num_gpus < 1 else c.gpu_memory_gib
            if node.memory_gib > share + 1e-9:
                raise ConfigError(
                    f"{name} needs {node.memory_gib} GiB but num_gpus={node.num_gpus} of a "
                    f"{c.gpu_memory_gib} GiB card is {share:g} GiB; raise {name}.num_gpus to "
                    f"{node.memory_gib / c.gpu_memory_gib:.2f} or use a smaller model"
                )
    if available_gpus is None:
        return
    demand = gpu_demand(cfg, "max")
    total = sum(demand.values())
    if total > available_gpus + 1e-9:
        nodes = {n: getattr(cfg, n) for n in demand}
        parts = " + ".join(
            f"{n}.num_gpus {v.num_gpus:g} x {v.autoscaling_config.max_replicas} replicas"
            for n, v in nodes.items()
        )
        raise ConfigError(
            f"{parts} = {total:g} GPUs, but the cluster has {available_gpus:g}; lower a "
            "num_gpus fraction or max_replicas, or add GPUs (cluster.gpus_per_node / num_nodes)"
        )
    counts = {n: getattr(cfg, n).autoscaling_config.max_replicas for n in demand}
    shares = {n: getattr(cfg, n).num_gpus for n in demand}
    if demand and not pack(int(available_gpus + 1e-9), counts, shares):
        layout = ", ".join(f"{counts[n]} x {shares[n]:g} ({n})" for n in demand)
        raise ConfigError(
            f"{layout} add up to {total:g} GPUs but do not fit on {available_gpus:g} cards: a "
            "replica's share must fit on one card; choose fractions that tile a card (e.g. "
            "0.5 + 0.25 + 0.25) or add GPUs"
        )


def profile_path(profile: str) -> Path:
    p = Path(profile)
    if p.suffix in {".yaml", ".yml"} and p.exists():
        return p
    path = PROFILE_DIR / f"{profile}.yaml"
    if not path.exists():
        names = sorted(x.stem for x in PROFILE_DIR.glob("*.yaml"))
        raise ConfigError(f"unknown profile '{profile}'; expected one of: {', '.join(names)}")
    return path


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(profile: str | None = None, overrides: dict | None = None) -> SeethinkConfig:
    """Load a profile (name in cluster/profiles or a YAML path), env vars and overrides."""
    profile = profile or os.environ.get("SEETHINK_PROFILE") or DEFAULT_PROFILE
    data = yaml.safe_load(profile_path(profile).read_text()) or {}
    data.setdefault("profile", profile)
    # Environment beats the YAML, explicit overrides beat both.
    env_layer = _EnvOnly().model_dump(exclude_unset=True)
    try:
        return SeethinkConfig(**_merge(_merge(data, env_layer), overrides or {}))
    except ValidationError as e:
        # pydantic wraps the ConfigError our validators raise; callers catch ConfigError.
        raise ConfigError(f"profile '{profile}': {_explain(e)}") from e


def _explain(err: ValidationError) -> str:
    """One line per problem, 'where: what to change', without pydantic's framing."""
    parts = []
    for e in err.errors():
        inner = (e.get("ctx") or {}).get("error")
        msg = str(inner) if isinstance(inner, ConfigError) else e["msg"]
        loc = ".".join(str(x) for x in e["loc"])
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


class _EnvOnly(BaseSettings):
    """Reads only SEETHINK_* variables, as a nested dict, to layer over the YAML."""

    model_config = SettingsConfigDict(
        env_prefix="SEETHINK_", env_nested_delimiter="__", extra="ignore"
    )
    profile: str | None = None
    description: str | None = None
    cluster: dict[str, Any] | None = None
    ingress: dict[str, Any] | None = None
    router: dict[str, Any] | None = None
    vision: dict[str, Any] | None = None
    llm: dict[str, Any] | None = None
    cache: dict[str, Any] | None = None
    review: dict[str, Any] | None = None
    server: dict[str, Any] | None = None
    auth: dict[str, Any] | None = None
    answer_cache: dict[str, Any] | None = None
    decision_cache: dict[str, Any] | None = None
    fallback: dict[str, Any] | None = None
    arbiter: dict[str, Any] | None = None
    disclaimers: dict[str, Any] | None = None
    batch: dict[str, Any] | None = None
