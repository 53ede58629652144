"""What the models produce and the small interfaces the pipeline talks to them through.

The core never imports a backend: ``deployments/`` implements these interfaces over Ray Serve
handles (``LLMServerChat``) and over transformers or vLLM (``TransformersVision``, ...).
"""

from __future__ import annotations

import abc
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from PIL import Image

FinishReason = Literal["stop", "length"]


@dataclass
class Generation:
    """One generated answer and how sure the model was of it."""

    text: str
    confidence: float  # exp(mean log-probability of the generated tokens), in [0, 1]
    num_tokens: int
    finish_reason: FinishReason = "stop"  # "length" when cut off by the token bound


def confidence_from_logprobs(logprobs: list[float]) -> float:
    """Geometric-mean token probability: exp of the mean log-probability of the chosen tokens."""
    if not logprobs:
        return 0.0
    return float(math.exp(sum(logprobs) / len(logprobs)))


class VisionBackend(abc.ABC):
    """Answers questions about images. Implementations batch the inputs they are given."""

    name: str
    version: str
    # whether its decoding step is compiled (vision.compile), and how long that took
    compiled: bool = False
    compile_s: float = 0.0

    @abc.abstractmethod
    def generate(
        self, images: list[Image.Image], prompts: list[str], max_new_tokens: int
    ) -> list[Generation]:
        """Answer ``prompts[i]`` about ``images[i]`` for every i, as one batch."""

    def yes_probability(self, images: list[Image.Image], questions: list[str]) -> list[float]:
        """P(yes) for yes/no questions about images, from one forward pass (no generation)."""
        raise NotImplementedError


@dataclass
class ChatDelta:
    """One streamed piece of an answer; the last ones carry the finish reason and usage."""

    text: str
    finish_reason: str | None = None
    logprobs: list[float] | None = None
    usage: dict[str, int] | None = None


class ChatError(RuntimeError):
    """The LLM failed. ``caused_by_request`` separates a bad request (the client's fault:
    never counted against the circuit breaker) from a failure of the LLM service."""

    def __init__(
        self,
        message: str,
        caused_by_request: bool = False,
        status: int = 503,
        overloaded: bool = False,
    ):
        super().__init__(message)
        self.caused_by_request = caused_by_request
        self.status = status
        self.overloaded = overloaded  # the LLM's queue is full: shed load, it is not sick


class ChatBackend(abc.ABC):
    """Generates chat answers. The ingress holds one and never sees the engine behind it."""

    model_id: str

    @abc.abstractmethod
    def stream(
        self, messages: list[dict], max_tokens: int, temperature: float
    ) -> AsyncIterator[ChatDelta]:
        """The answer piece by piece as the engine generates it."""

    async def complete(
        self, messages: list[dict], max_tokens: int, temperature: float
    ) -> list[ChatDelta]:
        """The whole answer at once (one message back instead of one per token).

        The default collects the stream; a backend with a cheaper non-streaming call overrides it.
        """
        return [d async for d in self.stream(messages, max_tokens, temperature)]


class ModelInputError(ValueError):
    """A model could not process this request's input (the request's fault, a 400); raised
    for one item of a batch while the others are answered."""
