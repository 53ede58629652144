"""The LLM node's class: Ray Serve LLM's ``LLMServer`` plus what the graph asks of it."""

from __future__ import annotations

from ray.serve.llm import LLMServer

from seethink.checkpoints import checkpoint_version
from seethink.priority import ENGINE_NICE_KEY, lower_process_priority


class LLMNode(LLMServer):
    """Ray Serve LLM's ``LLMServer`` that also reports its model's name and version: the node
    that owns the checkpoint hashes it (on a cluster the path need not exist elsewhere)."""

    async def __init__(self, *args, **kwargs):  # LLMServer's constructor is async
        honour_uni_executor()
        await super().__init__(*args, **kwargs)
        nice = int(self._llm_config.experimental_configs.get(ENGINE_NICE_KEY, 0))
        if nice > 0:
            lower_engine_priority(nice)

    async def info(self) -> dict:
        loading = self._llm_config.model_loading_config
        source = loading.model_source
        version = checkpoint_version(source) if isinstance(source, str) else "unknown"
        return {"name": loading.model_id, "version": version}


def honour_uni_executor() -> None:
    """Let ``engine_kwargs: {distributed_executor_backend: uni}`` stand on the CPU build.

    Ray Serve LLM sets vLLM's executor to ``mp`` for every CPU config: a worker process beside
    the engine core, the two talking through a shared-memory queue that each side polls with
    ``sched_yield`` for a second after every message. On a small CPU box that polling takes both
    cores whenever the LLM has had a request in the last second (measured: 228 CPU-ms per
    32-token answer at one client, 1.9 cores), starving the vision model and the ingress. The
    ``uni`` executor runs the model in the engine core process itself: no worker process, no
    polling. A profile asks for it explicitly; GPU configs (Ray's executor) are left alone.
    """
    from ray.llm._internal.serve.engines.vllm import vllm_models

    cls = vllm_models.VLLMEngineConfig
    original = cls.get_initialization_kwargs
    if getattr(original, "honours_uni", False):
        return

    def get_initialization_kwargs(self) -> dict:
        kwargs = original(self)
        asked = self.engine_kwargs.get("distributed_executor_backend")
        if asked == "uni" and kwargs.get("distributed_executor_backend") == "mp":
            kwargs["distributed_executor_backend"] = "uni"
        return kwargs

    get_initialization_kwargs.honours_uni = True
    cls.get_initialization_kwargs = get_initialization_kwargs


def lower_engine_priority(nice: int) -> None:
    """vLLM's engine core process (this replica's child) at priority ``nice``: its step loop
    then runs when this replica's event loop (requests in, detokenised outputs out) and the
    rest of the graph's plumbing have nothing to do, and each step carries more sequences
    (seethink/priority.py). The threads it starts later inherit the priority."""
    import logging

    import psutil

    changed = 0
    for child in psutil.Process().children(recursive=True):
        changed += lower_process_priority(child.pid, nice)
    logging.getLogger("ray.serve").info("engine core: %d threads at nice %d", changed, nice)
