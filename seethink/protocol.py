"""Every shape the HTTP API takes and gives: requests, responses, stream chunks and errors.

One module, as vLLM keeps ``entrypoints/openai/protocol.py``: routes declare these as their
``response_model`` so ``/openapi.json`` tells clients the truth. Limits that depend on the
profile (prompt length, ``max_tokens``) are checked by ``seethink.limits_policy``, not here.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# ---- the vocabulary, one place each -------------------------------------------------------

RouteChoice = Literal["auto", "direct", "cascade"]
Route = Literal["direct", "cascade", "text"]
Domain = Literal["medical", "finance", "legal", "none"]
Lang = Literal["en", "zh"]
ReviewStatus = Literal["open", "resolved", "all"]
ROUTE_CHOICES: tuple[str, ...] = RouteChoice.__args__  # type: ignore[attr-defined]
LANGS: tuple[str, ...] = Lang.__args__  # type: ignore[attr-defined]
REVIEW_STATUSES: tuple[str, ...] = ReviewStatus.__args__  # type: ignore[attr-defined]
GRAPH_MODEL = "seethink"


def new_request_id() -> str:
    return uuid.uuid4().hex


# ---- errors -----------------------------------------------------------------------------


class ErrorBody(BaseModel):
    message: str = Field(..., description="What is wrong, in words a client can act on.")
    type: str = Field(..., description="invalid_request_error, authentication_error, ...")
    code: str = Field(..., description="Machine-readable reason, e.g. image_too_large.")
    request_id: str | None = Field(None, description="Quote it when reporting a problem.")


class ErrorResponse(BaseModel):
    """Every error the API answers with (the OpenAI shape)."""

    error: ErrorBody


_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
          408: "timeout_error", 409: "conflict_error", 413: "invalid_request_error",
          429: "rate_limit_error"}  # fmt: skip


class APIError(Exception):
    """An error answered as ``{"error": {"message", "type", "code", "request_id"}}``."""

    def __init__(
        self,
        message: str,
        status: int = 400,
        code: str = "invalid_request",
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.message, self.status, self.code = message, status, code
        self.type = type or _TYPES.get(
            status, "invalid_request_error" if status < 500 else "server_error"
        )
        self.headers = headers or {}

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        err = {"message": self.message, "type": self.type, "code": self.code}
        if request_id:
            err["request_id"] = request_id
        return {"error": err}


# ---- requests -----------------------------------------------------------------------------


class ImageInput(BaseModel):
    """An image by URL (http, https or data:) or as base64."""

    model_config = ConfigDict(extra="forbid")

    image_url: str | None = Field(None, description="http(s) URL or data: URL of the image.")
    image_base64: str | None = Field(None, description="The image file, base64-encoded.")

    @model_validator(mode="after")
    def _one_image(self):
        if bool(self.image_url) == bool(self.image_base64):
            raise ValueError("give exactly one of image_url or image_base64")
        return self


class InferRequest(ImageInput):
    """POST /infer: an image and a question."""

    prompt: str = Field(..., min_length=1, description="The question about the image.")
    route: RouteChoice = Field("auto", description="auto lets the router decide.")
    max_tokens: int | None = Field(
        None, ge=1, description="Bound on the LLM answer; at most what the model's context fits."
    )


class CaptionRequest(ImageInput):
    """POST /caption with a JSON body (multipart ``file`` works too)."""

    lang: Lang = "en"


class GenerateRequest(BaseModel):
    """POST /generate: text only, answered by the LLM."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(..., min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)


class ResolveRequest(BaseModel):
    """POST /review/{id}: how a reviewer settled a flagged case."""

    model_config = ConfigDict(extra="forbid")

    resolution: str = Field(..., min_length=1, max_length=4000)


# ---- responses ----------------------------------------------------------------------------


class ModelInfo(BaseModel):
    name: str
    version: str


class RouterInfo(BaseModel):
    confidence: float = Field(..., description="The router's probability for its decision.")
    reason: str
    decided: Literal["direct", "cascade"] = Field(..., description="What the router chose.")


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class Answer(BaseModel):
    """POST /infer: the answer and everything about how it was reached."""

    text: str
    confidence: float = Field(..., description="exp(mean log-probability) of the answer tokens.")
    finish_reason: Literal["stop", "length"] = "stop"
    route: Route
    domain: Domain
    router: RouterInfo
    caption: str | None = None
    cache_hit: bool | None = None
    answer_cache_hit: bool = False
    degraded: bool = False
    notice: str | None = Field(None, description="Why the answer is vision-only, if it is.")
    degraded_reason: str | None = Field(
        None, description="llm_timeout, llm_unavailable, llm_overloaded or circuit_open."
    )
    disclaimer: str | None = None
    disclaimer_reason: str | None = Field(None, description="question, or answer: why.")
    consistency: float | None = None
    verification: float | None = None
    needs_review: bool | None = None
    review_id: str | None = None
    usage: Usage = Field(default_factory=Usage)
    models: dict[str, ModelInfo]
    timings_ms: dict[str, float]
    request_id: str


class GenerateResponse(Answer):
    """POST /generate: ``answer`` is the LLM's text (``text`` repeats it)."""

    answer: str


class CaptionResponse(BaseModel):
    caption: str
    confidence: float
    cache_hit: bool
    finish_reason: Literal["stop", "length"] = "stop"
    models: dict[str, ModelInfo]
    timings_ms: dict[str, float]
    request_id: str


class ReviewCase(BaseModel):
    id: str
    created: float
    request_id: str
    image_sha256: str
    question: str
    caption: str
    answer: str
    scores: dict[str, Any]
    status: Literal["open", "resolved"]
    resolution: str | None = None
    reviewer: str | None = None
    resolved: float | None = None
    thumbnail: str | None = None


class ReviewList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ReviewCase]
    next_cursor: str | None = None
    has_more: bool = False


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    ready: bool = Field(..., description="Every node the answers need is up.")
    degraded: bool = Field(
        False, description="The LLM is not answering: cascade answers fall back to vision."
    )
    nodes: dict[str, str]


# ---- OpenAI chat completions -------------------------------------------------------------


class SeethinkOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    route: RouteChoice = "auto"


class ChatRequest(BaseModel):
    """The subset of the OpenAI request we act on; other OpenAI fields are accepted, ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = GRAPH_MODEL
    messages: list[dict[str, Any]] = Field(..., min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    n: int = Field(1, ge=1, le=1)
    stream_options: dict[str, Any] | None = None
    seethink: SeethinkOptions = Field(default_factory=SeethinkOptions)


class ChatMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: ChatMessage
    finish_reason: Literal["stop", "length"]


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    seethink: dict[str, Any] = Field(..., description="route, domain, caption, timings, ...")


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: ChunkDelta
    finish_reason: Literal["stop", "length"] | None = None


class ChatCompletionChunk(BaseModel):
    """One server-sent event of a stream (``data: {...}``); the stream ends ``data: [DONE]``."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    seethink: dict[str, Any] | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "seethink"
    seethink: dict[str, ModelInfo]


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
