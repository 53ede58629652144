"""The Batch API routes (OpenAI's ``/v1/files`` and ``/v1/batches``) over a batch service handle.

``make_batch_router(svc, batches)`` is included by ``seethink.api.make_app``; ``batches`` is the
BatchRunner deployment's handle (or a stand-in with the same methods): every call is
``await batches.<method>.remote(...)``. The runner owns the store and the jobs; these routes only
check, call and shape.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import Response

from .api import Service, errors, store_errors
from .batch_protocol import Batch, BatchList, CreateBatchRequest, FileObject
from .protocol import APIError
from .store.batch import MAX_LIST_LIMIT

FILE_CONTENT = {
    200: {
        "description": "The file's bytes (JSONL).",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def make_batch_router(svc: Service, batches) -> APIRouter:
    """Routes for files and batches; inference API keys apply to all of them."""
    max_file = svc.cfg.batch.max_file_bytes

    r = APIRouter(dependencies=[Depends(svc.require_api_key)], tags=["batch"])

    @r.post("/v1/files", response_model=FileObject, responses=errors(400, 401, 413, 500, 503))
    async def create_file(
        file: UploadFile = File(..., description="The JSONL file of requests."),
        purpose: str = Form(..., description="batch"),
    ) -> FileObject:
        """Upload a batch input file (one JSON request per line)."""
        if purpose != "batch":
            raise APIError(
                f"unknown purpose '{purpose[:40]}'; expected one of: batch", 400, "invalid_purpose"
            )
        data = await file.read(max_file + 1)
        if len(data) > max_file:
            raise APIError(
                f"the file is over the limit of {max_file} bytes (batch.max_file_bytes)",
                413,
                "file_too_large",
            )
        async with store_errors():
            f = await batches.create_file.remote(file.filename or "input.jsonl", purpose, data)
        return FileObject(**f)

    @r.get("/v1/files/{file_id}", response_model=FileObject, responses=errors(401, 404, 500))
    async def get_file(file_id: str) -> FileObject:
        async with store_errors():
            return FileObject(**await batches.get_file.remote(file_id))

    @r.get(
        "/v1/files/{file_id}/content",
        response_class=Response,
        responses={**errors(401, 404, 500), **FILE_CONTENT},
    )
    async def file_content(file_id: str) -> Response:
        """The file's bytes: an uploaded input, or a batch's output or error JSONL."""
        async with store_errors():
            data = await batches.file_content.remote(file_id)
        return Response(data, media_type="application/octet-stream")

    @r.post("/v1/batches", response_model=Batch, responses=errors(400, 401, 404, 500, 503))
    async def create_batch(body: CreateBatchRequest) -> Batch:
        """Run every line of an uploaded file through ``endpoint``; poll the batch for progress."""
        async with store_errors():
            b = await batches.create_batch.remote(
                body.input_file_id, body.endpoint, body.completion_window, body.metadata
            )
        return Batch(**b)

    @r.get("/v1/batches/{batch_id}", response_model=Batch, responses=errors(401, 404, 500))
    async def get_batch(batch_id: str) -> Batch:
        async with store_errors():
            return Batch(**await batches.get_batch.remote(batch_id))

    @r.get("/v1/batches", response_model=BatchList, responses=errors(400, 401, 500))
    async def list_batches(
        after: str | None = Query(None, description="last_id of the previous page"),
        limit: int = Query(20, ge=1, le=MAX_LIST_LIMIT),
    ) -> BatchList:
        """Batches, newest first."""
        async with store_errors():
            return BatchList(**await batches.list_batches.remote(after, limit))

    @r.post(
        "/v1/batches/{batch_id}/cancel",
        response_model=Batch,
        responses=errors(401, 404, 409, 500),
    )
    async def cancel_batch(batch_id: str) -> Batch:
        """Stop a batch; lines already done are kept in its output and error files."""
        async with store_errors():
            return Batch(**await batches.cancel_batch.remote(batch_id))

    return r
