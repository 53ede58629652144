"""The LLM node: a GLM chat model on vLLM, served by Ray Serve LLM's ``LLMServer``.

``build_llm_app`` turns the profile's ``llm`` section into an ``LLMConfig`` (CPU build of vLLM on
the cpu profile, CUDA build with a fractional GPU bundle on GPU profiles). The ingress talks to it
through ``LLMServerChat``, one implementation of the small ``ChatBackend`` interface.
"""

from __future__ import annotations

import json
from typing import Any

from ray.exceptions import RayActorError
from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

from seethink.checkpoints import is_tiny, resolve_model_path
from seethink.config import LLMNodeConfig, ServerConfig
from seethink.generation import ChatBackend, ChatDelta, ChatError
from seethink.priority import ENGINE_NICE_KEY


def served_model_id(cfg: LLMNodeConfig) -> str:
    if cfg.model_name:
        return cfg.model_name
    return cfg.model.replace("tiny:", "tiny-") if is_tiny(cfg.model) else cfg.model


def build_llm_config(
    cfg: LLMNodeConfig, deployment_name: str = "LLM", overload: ServerConfig | None = None
):
    """The Ray Serve LLM config for the profile's llm node."""
    from ray.serve.llm import LLMConfig

    path = resolve_model_path(cfg.model)
    engine_kwargs: dict[str, Any] = {
        "max_model_len": cfg.max_model_len,
        "dtype": cfg.dtype,
        "enforce_eager": cfg.enforce_eager,
    }
    env: dict[str, str] = {"HF_HUB_OFFLINE": "1"} if is_tiny(cfg.model) else {}
    bundle: dict[str, float] = {"CPU": cfg.num_cpus}
    if cfg.num_gpus or cfg.device == "gpu":
        # The engine's share of a card is its placement bundle: a fraction packs it beside the
        # vision replicas. (On the CPU build this still reserves the logical GPU share.)
        bundle["GPU"] = cfg.num_gpus or 1
    if cfg.device == "gpu":
        engine_kwargs["gpu_memory_utilization"] = cfg.gpu_memory_utilization
        if cfg.quantization:
            engine_kwargs["quantization"] = cfg.quantization
        accelerator = {"kind": "gpu"}
        accel_type = cfg.accelerator_type
    else:
        # The CPU build: bounded KV cache (the default asks for more than a NUMA node has),
        # threads not pinned to one core, and the engine in-process (starts in seconds).
        env.update(
            {
                "VLLM_CPU_KVCACHE_SPACE": str(cfg.cpu_kvcache_space_gib),
                "VLLM_CPU_OMP_THREADS_BIND": "nobind",
                "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
            }
        )
        accelerator = {"kind": "cpu"}
        accel_type = None
        if cfg.accelerator_type:
            # LLMConfig refuses accelerator_type with its CPU config; the resource alone pins
            # the engine's bundle to a node of that type (cluster-local's logical GPUs)
            bundle[f"accelerator_type:{cfg.accelerator_type}"] = 0.001
    bundle.update(cfg.resources)
    engine_kwargs.update(cfg.engine_kwargs)
    opts = cfg.deployment_options(deployment_name, overload)
    return LLMConfig(
        model_loading_config={"model_id": served_model_id(cfg), "model_source": path},
        accelerator_config=accelerator,
        accelerator_type=accel_type,
        placement_group_config={"bundles": [bundle], "strategy": "PACK"},
        engine_kwargs=engine_kwargs,
        runtime_env={"env_vars": env},
        deployment_config={
            "name": deployment_name,
            "autoscaling_config": opts["autoscaling_config"],
            "max_ongoing_requests": opts["max_ongoing_requests"],
            "max_queued_requests": opts["max_queued_requests"],
            **({"backpressure_config": opts["backpressure_config"]} if overload else {}),
            "health_check_timeout_s": cfg.health_check_timeout_s,
            # The replica actor itself takes no resources: the engine's bundle holds them.
            "ray_actor_options": {"num_cpus": 0, "num_gpus": 0},
        },
        log_engine_metrics=True,
        experimental_configs={
            **(
                {}
                if cfg.stream_interval_ms is None
                else {"stream_batching_interval_ms": cfg.stream_interval_ms}
            ),
            **({ENGINE_NICE_KEY: cfg.nice} if cfg.nice else {}),
        },
    )


def build_llm_app(
    cfg: LLMNodeConfig, deployment_name: str = "LLM", overload: ServerConfig | None = None
):
    """The LLMServer deployment, ready to bind into the graph."""
    from ray.serve.llm import build_llm_deployment

    from .llm_node import LLMNode  # imports vLLM (~10 s): only where the node is built

    return build_llm_deployment(
        build_llm_config(cfg, deployment_name, overload),
        override_serve_options={"name": deployment_name},
        deployment_cls=LLMNode,
    )


class LLMServerChat(ChatBackend):
    """Talks to an ``LLMServer`` deployment through its handle (OpenAI request objects)."""

    def __init__(self, handle, model_id: str):
        # Imported here, at replica start: it pulls in vLLM's protocol module (~10 s on first
        # import), which must not land on the first request's deadline.
        from ray.serve.llm.openai_api_models import ChatCompletionRequest

        self._request_cls = ChatCompletionRequest
        # Configured handles, built once: LLMServer answers through a generator either way.
        self._stream = handle.options(stream=True)
        self._handle = handle
        self.model_id = model_id

    def _stream_request(self, messages, max_tokens, temperature):
        return self._request_cls(
            model=self.model_id,
            messages=messages,
            max_tokens=max_tokens,
            temperature=temperature,
            logprobs=True,
            stream=True,
            stream_options={"include_usage": True},
        )

    async def info(self) -> dict:
        return await self._handle.info.remote()

    async def check_health(self) -> None:
        await self._handle.check_health.remote()

    async def complete(self, messages, max_tokens, temperature):
        """The whole answer as one message (no per-token messages between the nodes)."""
        for attempt in range(2):
            try:
                return await self._complete(messages, max_tokens, temperature)
            except _RETRYABLE as e:
                if attempt:
                    raise ChatError(f"the LLM replica was lost: {type(e).__name__}") from None
            except BackPressureError as e:
                raise ChatError(str(e), overloaded=True) from None
        raise AssertionError("unreachable")

    async def _complete(self, messages, max_tokens, temperature):
        # LLMNode.complete: plain values both ways, the engine's answer decoded once
        out = await self._handle.complete.remote(messages, max_tokens, temperature)
        if "error" in out:
            raise _chat_error(out["error"])
        return [
            ChatDelta(
                out["text"],
                finish_reason=out["finish_reason"],
                logprobs=out["logprobs"],
                usage=_usage(out["usage"]),
            )
        ]

    async def stream(self, messages, max_tokens, temperature):
        """Token by token. A replica lost before the first token is retried once; after it,
        the caller ends the stream with an error (tokens cannot be taken back)."""
        for attempt in range(2):
            started = False
            try:
                async for d in self._stream_once(messages, max_tokens, temperature):
                    started = True
                    yield d
                return
            except _RETRYABLE as e:
                if started or attempt:
                    raise ChatError(f"the LLM replica was lost: {type(e).__name__}") from None
            except BackPressureError as e:
                raise ChatError(str(e), overloaded=True) from None

    async def _stream_once(self, messages, max_tokens, temperature):
        req = self._stream_request(messages, max_tokens, temperature)
        async for batch in self._stream.chat.remote(req):
            for item in batch if isinstance(batch, list) else [batch]:
                _raise_if_error(item)
                line = item.strip() if isinstance(item, str) else ""
                if not line.startswith("data:"):
                    continue
                payload = line[len("data:") :].strip()
                if payload == "[DONE]":
                    return
                chunk = json.loads(payload)
                if "error" in chunk:
                    raise _chat_error(chunk["error"])
                usage = _usage(chunk.get("usage") or {}) or None
                for choice in chunk.get("choices") or []:
                    lp = choice.get("logprobs") or {}
                    yield ChatDelta(
                        text=(choice.get("delta") or {}).get("content") or "",
                        finish_reason=choice.get("finish_reason"),
                        logprobs=[c["logprob"] for c in lp.get("content") or []],
                    )
                if usage and not chunk.get("choices"):
                    yield ChatDelta(text="", usage=usage)


_RETRYABLE = (RayActorError, DeploymentUnavailableError)


def _usage(u: dict) -> dict[str, int]:
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    return {k: int(u[k]) for k in keys if u.get(k) is not None}


def _chat_error(err: Any) -> ChatError:
    """An engine error: a 4xx is the request's fault (its message is meant for the client)."""
    get = err.get if isinstance(err, dict) else lambda k, d=None: getattr(err, k, d)
    code = get("code")
    try:
        status = int(code)
    except (TypeError, ValueError):
        status = 500
    message = str(get("message", "LLM error"))[:500]
    if 400 <= status < 500:
        return ChatError(message, caused_by_request=True, status=400)
    return ChatError(message)


def _raise_if_error(resp) -> None:
    err = getattr(resp, "error", None)
    if err is not None and not isinstance(resp, str):
        raise _chat_error(err)
