"""The LLM node's class: Ray Serve LLM's ``LLMServer`` plus what the graph asks of it."""

from __future__ import annotations

import os
import tempfile
import uuid

from jinja2 import TemplateError
from ray.serve.llm import LLMServer

from seethink.checkpoints import checkpoint_version
from seethink.priority import ENGINE_NICE_KEY, lower_process_priority


class LLMNode(LLMServer):
    """Ray Serve LLM's ``LLMServer`` that also reports its model's name and version: the node
    that owns the checkpoint hashes it (on a cluster the path need not exist elsewhere)."""

    async def __init__(self, *args, **kwargs):  # LLMServer's constructor is async
        honour_uni_executor()
        temp_files_in_run_dir()
        await super().__init__(*args, **kwargs)  # the engine is up when it returns
        from ray.serve.llm.openai_api_models import ChatCompletionRequest

        self._request_cls = ChatCompletionRequest  # complete()'s, for to_sampling_params
        self._tokenizer = self.engine._engine_client.get_tokenizer()
        nice = int(self._llm_config.experimental_configs.get(ENGINE_NICE_KEY, 0))
        if nice > 0:
            lower_engine_priority(nice)

    async def complete(self, messages: list[dict], max_tokens: int, temperature: float) -> dict:
        """One whole chat answer, from the engine itself: the JSON endpoints' path.

        The same prompt (the model's chat template), sampling parameters (the OpenAI layer's
        own ``to_sampling_params``, with the model's defaults) and engine as ``chat``, but not
        the OpenAI layer's per-token work: vLLM does not detokenise as it goes or turn each
        token's log-probability into text, and no response object is built, dumped and
        validated again. The answer is decoded once at the end. Measured at about a third of
        this replica's CPU per answer. A request the engine refuses comes back as
        ``{"error": {"code": 400, ...}}``, as ``chat`` answers it.
        """
        from vllm.exceptions import VLLMClientError

        engine, tokenizer = self.engine._engine_client, self._tokenizer
        try:
            text = tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            prompt = tokenizer.encode(text, add_special_tokens=False)
        except (ValueError, TypeError, TemplateError) as e:
            # what vLLM's chat layer answers 400 for: messages the model's template refuses
            # (a client's history is the request's fault, not the LLM's)
            return _refused(e)
        try:
            room = engine.model_config.max_model_len - len(prompt)
            if room <= 0:
                raise ValueError(
                    f"the prompt is {len(prompt)} tokens; the model's context is "
                    f"{engine.model_config.max_model_len} tokens"
                )
            max_tokens = min(max_tokens, room)
            request = self._request_cls(
                model=self._llm_config.model_loading_config.model_id,
                messages=messages,
                max_tokens=max_tokens,
                temperature=temperature,
                logprobs=True,
            )
            defaults = self.engine._oai_serving_chat.default_sampling_params
            params = request.to_sampling_params(max_tokens, defaults)
            params.detokenize = False
            final = None
            async for out in engine.generate(
                {"prompt_token_ids": prompt}, params, f"seethink-{uuid.uuid4().hex}"
            ):
                final = out
        except (ValueError, VLLMClientError) as e:  # the request's fault, as chat has it
            return _refused(e)
        if final is None:
            raise RuntimeError("the engine ended the request without an answer")
        answer = final.outputs[0]
        ids = list(answer.token_ids)
        # what streaming detokenisation shows: an answer cut inside a character (bytes that
        # decode to U+FFFD until the rest comes) ends before it, as vLLM's own text does
        text = tokenizer.decode(ids, skip_special_tokens=True).rstrip("\ufffd")
        return {
            "text": text,
            "logprobs": [d[t].logprob for t, d in zip(ids, answer.logprobs or [], strict=False)],
            "finish_reason": answer.finish_reason,
            "usage": {
                "prompt_tokens": len(prompt),
                "completion_tokens": len(ids),
                "total_tokens": len(prompt) + len(ids),
            },
        }

    async def info(self) -> dict:
        loading = self._llm_config.model_loading_config
        source = loading.model_source
        version = checkpoint_version(source) if isinstance(source, str) else "unknown"
        return {"name": loading.model_id, "version": version}


def _refused(e: Exception) -> dict:
    """A request refused as ``chat`` refuses it (``LLMServerChat`` turns it into a 400)."""
    return {"error": {"code": 400, "message": str(e)[:500]}}


def temp_files_in_run_dir() -> None:
    """This replica's temporary files in the run's own directory, when it has one.

    vLLM's engine writes a rendezvous file (``vllm_dist_<uuid>``, torch's FileStore) to the
    temp directory at every start and nothing removes it: 422 had piled up in /tmp from tests
    and benchmarks. When the run has a directory of its own (``VLLM_RPC_BASE_PATH``, where the
    engine's sockets go: ``seethink.edge.run_files``), which is removed when the run ends, the
    file goes there (``TMPDIR`` too, for processes the engine starts)."""
    d = os.environ.get("VLLM_RPC_BASE_PATH")
    if d and os.path.isdir(d):
        os.environ["TMPDIR"] = tempfile.tempdir = d


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
