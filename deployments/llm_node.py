"""The LLM node's class: Ray Serve LLM's ``LLMServer`` plus what the graph asks of it."""

from __future__ import annotations

from ray.serve.llm import LLMServer

from seethink.checkpoints import checkpoint_version


class LLMNode(LLMServer):
    """Ray Serve LLM's ``LLMServer`` that also reports its model's name and version: the node
    that owns the checkpoint hashes it (on a cluster the path need not exist elsewhere)."""

    async def info(self) -> dict:
        loading = self._llm_config.model_loading_config
        source = loading.model_source
        version = checkpoint_version(source) if isinstance(source, str) else "unknown"
        return {"name": loading.model_id, "version": version}
