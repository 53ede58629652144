"""Request and error shapes of the HTTP API (responses are documented in the README)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RouteChoice = Literal["auto", "direct", "cascade"]


class APIError(Exception):
    """Any error the API answers with: ``{"error": {"message", "type", "code"}}``."""

    def __init__(
        self,
        message: str,
        status: int = 400,
        code: str = "invalid_request",
        type: str | None = None,
    ):
        super().__init__(message)
        self.message, self.status, self.code = message, status, code
        self.type = type or ("invalid_request_error" if status < 500 else "server_error")

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "code": self.code}}


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
    max_tokens: int | None = Field(None, ge=1, le=4096, description="Bound on the LLM answer.")


class CaptionRequest(ImageInput):
    """POST /caption with a JSON body (multipart ``file`` works too)."""

    lang: Literal["en", "zh"] = "en"


class GenerateRequest(BaseModel):
    """POST /generate: text only, answered by the LLM."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(..., min_length=1)
    max_tokens: int | None = Field(None, ge=1, le=4096)
    temperature: float | None = Field(None, ge=0, le=2)


class ResolveRequest(BaseModel):
    """POST /review/{id}: how a reviewer settled a flagged case."""

    model_config = ConfigDict(extra="forbid")

    resolution: str = Field(..., min_length=1, max_length=4000)
