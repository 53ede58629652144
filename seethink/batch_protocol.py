"""Shapes of the Batch API (``/v1/files``, ``/v1/batches``): OpenAI's, so its SDK works."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

BatchEndpoint = Literal["/v1/chat/completions", "/infer"]
BatchStatus = Literal[
    "validating",
    "in_progress",
    "finalizing",
    "completed",
    "failed",
    "expired",
    "cancelling",
    "cancelled",
]


class FileObject(BaseModel):
    """An uploaded file (purpose ``batch``) or a batch's output/error file (``batch_output``)."""

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: Literal["batch", "batch_output"]
    status: Literal["processed"] = "processed"


class CreateBatchRequest(BaseModel):
    """POST /v1/batches."""

    model_config = ConfigDict(extra="forbid")

    input_file_id: str = Field(..., min_length=1, max_length=200)
    endpoint: BatchEndpoint = Field(..., description="The url every line of the file uses.")
    completion_window: Literal["24h"] = "24h"
    metadata: dict[str, str] | None = Field(None, description="Up to 16 key/value pairs.")
    output_expires_after: dict | None = Field(None, description="Accepted, not used.")

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        if v and (len(v) > 16 or any(len(k) > 64 or len(x) > 512 for k, x in v.items())):
            raise ValueError("at most 16 pairs, keys up to 64 and values up to 512 characters")
        return v


class BatchRequestCounts(BaseModel):
    total: int = 0
    completed: int = Field(0, description="Lines answered with HTTP 200.")
    failed: int = Field(0, description="Lines that failed (bad line or an error answer).")


class BatchErrorItem(BaseModel):
    code: str
    message: str
    line: int | None = None
    param: str | None = None


class BatchErrors(BaseModel):
    object: Literal["list"] = "list"
    data: list[BatchErrorItem]


class Batch(BaseModel):
    """A batch and its progress; ``output_file_id``/``error_file_id`` once it is done."""

    id: str
    object: Literal["batch"] = "batch"
    endpoint: str
    errors: BatchErrors | None = None
    input_file_id: str
    completion_window: str
    status: BatchStatus
    output_file_id: str | None = None
    error_file_id: str | None = None
    created_at: int
    in_progress_at: int | None = None
    expires_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    request_counts: BatchRequestCounts
    metadata: dict[str, str] | None = None


class BatchList(BaseModel):
    """A page of batches, newest first; pass ``last_id`` as ``after`` for the next one."""

    object: Literal["list"] = "list"
    data: list[Batch]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool = False
