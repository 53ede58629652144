"""The HTTP contract, built by a factory over the graph's handles: routes, statuses, error
shapes, limits and SSE framing. No Ray here: the ingress deployment builds this app over its
deployment handles, and the fast tests build it over stand-ins with FastAPI's test client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import openai_serving as oai
from .auth import KeyStore, host_allowed
from .config import SeethinkConfig
from .generation import ChatBackend, ModelInputError
from .images import decode_base64, fetch_image, load_image_bytes
from .limits import BodyLimitMiddleware, RequestError, check_text, request_id_of, send_json
from .pipeline import Job, LLMUnavailable, Pipeline
from .protocol import (
    GRAPH_MODEL,
    LANGS,
    REVIEW_STATUSES,
    Answer,
    APIError,
    CaptionRequest,
    CaptionResponse,
    ChatCompletion,
    ChatRequest,
    ErrorResponse,
    GenerateRequest,
    GenerateResponse,
    Health,
    ImageInput,
    InferRequest,
    ModelCard,
    ModelList,
    Readiness,
    ResolveRequest,
    ReviewCase,
    ReviewList,
    new_request_id,
)
from .store.db import StoreRequestError, error_message

logger = logging.getLogger("ray.serve")
STATIC = Path(__file__).resolve().parent.parent / "deployments" / "static"


@dataclass
class Handles:
    """What the app talks to: deployment handles (or stand-ins) and the chat backend."""

    router: Any
    vision: Any
    review: Any
    chat: ChatBackend
    llm_health: Callable[[], Awaitable[Any]]
    batch: Any = None  # the BatchRunner handle: /v1/files and /v1/batches when set


class Metrics:
    """What the app reports; the ingress deployment records these as Prometheus metrics."""

    def observe(self, answer: Answer, endpoint: str) -> None: ...
    def request(self, route: str, endpoint: str) -> None: ...
    def review_failure(self) -> None: ...
    def cancelled(self) -> None: ...


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer."""
    text = {
        400: "Bad request: the message says what is wrong.",
        401: "Missing or wrong API key.",
        403: "Refused (image URL not allowed, or reviewing not enabled).",
        404: "No such thing.",
        408: "The request body was not received in time.",
        409: "Conflicts with an earlier change.",
        413: "Too large (body or image).",
        415: "Unsupported image format.",
        429: "Too many requests: retry after Retry-After seconds.",
        500: "Internal error (details are in the server log under the request id).",
        503: "A node is unavailable or overloaded: retry after Retry-After seconds.",
        504: "The request's deadline passed.",
    }
    return {s: {"model": ErrorResponse, "description": text[s]} for s in statuses}


COMMON = (400, 401, 403, 408, 413, 429, 500, 503, 504)
INLINE_IMAGE_BYTES = 256 * 1024  # larger images are checked off the event loop
IMAGE = (*COMMON, 415)


@dataclass
class Service:
    """Per-replica state behind the routes."""

    cfg: SeethinkConfig
    handles: Handles
    metrics: Metrics = field(default_factory=Metrics)
    pipeline: Pipeline = field(init=False)
    fetch: Callable[..., Awaitable[bytes]] = fetch_image

    def __post_init__(self) -> None:
        a = self.cfg.auth
        self.api_keys = KeyStore.from_config(a.api_keys, a.key_file)
        self.reviewer_keys = KeyStore.from_config(a.reviewer_keys, a.reviewer_key_file)
        h = self.handles
        self.pipeline = Pipeline(
            self.cfg, h.router, h.vision, h.review, h.chat,
            on_review_failure=self.metrics.review_failure,
        )  # fmt: skip

    # -- checks -------------------------------------------------------------------------

    async def image(self, inp: ImageInput | bytes):
        """The request's image (uploaded bytes or an ImageInput), checked; 4xx if unusable."""
        ing = self.cfg.ingress
        try:
            if isinstance(inp, bytes):
                data = inp
            elif inp.image_base64:
                data = decode_base64(inp.image_base64, ing.max_image_bytes)
            elif inp.image_url.startswith("data:"):
                data = decode_base64(inp.image_url, ing.max_image_bytes)
            else:
                data = await self.fetch(inp.image_url, ing.max_image_bytes, ing.fetch_timeout_s)
            args = (data, ing.max_image_bytes, ing.max_image_pixels)
            if len(data) <= INLINE_IMAGE_BYTES:  # a photo-sized check costs well under 1 ms
                return load_image_bytes(*args)
            # decoding a large image takes milliseconds: not on the event loop
            return await asyncio.to_thread(load_image_bytes, *args)
        except RequestError as e:
            raise APIError(str(e), e.status, e.code) from None

    async def require_api_key(self, request: Request) -> None:
        """Inference and batch endpoints: ``Authorization: Bearer KEY`` when keys are set.
        (async: FastAPI runs sync dependencies in a thread pool, a hop per request)"""
        if not self.api_keys.check(request.headers.get("authorization")):
            raise APIError(
                "missing or invalid API key: send Authorization: Bearer <key>",
                401,
                "invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def prompt(self, prompt: str) -> str:
        try:
            prompt = check_text(
                prompt, "prompt", self.cfg.ingress.max_prompt_chars, "prompt_too_long"
            ).strip()
        except RequestError as e:
            raise APIError(str(e), e.status, e.code) from None
        if not prompt:
            raise APIError("prompt is empty", 400, "missing_prompt")
        return prompt

    def text(self, value: str | None, field: str, limit: int) -> str | None:
        if value is None:
            return None
        try:
            return check_text(value, field, limit)
        except RequestError as e:
            raise APIError(str(e), e.status, e.code) from None

    def max_tokens(self, requested: int | None) -> int | None:
        """A client's bound on the answer, checked against what the model's context holds."""
        limit = self.cfg.llm.max_model_len - 1
        if requested is not None and requested > limit:
            raise APIError(
                f"max_tokens is {requested}; the model's context is "
                f"{self.cfg.llm.max_model_len} tokens, so at most {limit} (less the prompt)",
                400,
                "max_tokens_too_large",
            )
        return requested

    async def answer(self, job: Job, endpoint: str) -> Answer:
        try:
            async with asyncio.timeout(self.cfg.server.request_timeout_s):
                answer = await self.pipeline.run(job)
        except LLMUnavailable:
            raise APIError(
                "the LLM is unavailable; try again later",
                503,
                "llm_unavailable",
                headers={"Retry-After": str(self.cfg.server.retry_after_s)},
            ) from None
        except TimeoutError:
            raise APIError(
                f"the request took longer than {self.cfg.server.request_timeout_s:g} s",
                504,
                "request_timeout",
            ) from None
        self.metrics.observe(answer, endpoint)
        return answer


def make_app(cfg: SeethinkConfig, handles: Handles, metrics: Metrics | None = None) -> FastAPI:
    """The whole HTTP API over ``handles``."""
    svc = Service(cfg, handles, metrics or Metrics())
    app = FastAPI(
        title="seethink",
        description="Look with a vision model, think with an LLM.",
        version="0.2.0",
    )
    app.state.service = svc
    _install_error_handlers(app)
    # outermost last: request id -> host check -> body limits -> routes
    srv = cfg.server
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=srv.max_body_bytes,
        body_timeout_s=srv.body_timeout_s,
        max_json_depth=srv.max_json_depth,
        paths_max={"/v1/files": cfg.batch.max_file_bytes + 64 * 1024},  # multipart framing
    )
    app.add_middleware(HostCheckMiddleware, allowed=srv.allowed_hosts)
    app.add_middleware(RequestIdMiddleware)
    _install_openapi(app)
    if handles.batch is not None and cfg.batch.enabled:
        from .batch_api import make_batch_router  # it imports this module

        app.include_router(make_batch_router(svc, handles.batch))
    page = _read(STATIC / "index.html", "<h1>seethink</h1>")
    review_page_html = _read(STATIC / "review.html", "<h1>seethink review</h1>")

    # dependencies are async: FastAPI runs sync ones in a thread pool, a hop per request
    async def request_id(request: Request) -> str:
        return getattr(request.state, "request_id", None) or new_request_id()

    async def reviewer(request: Request) -> str:
        """The review queue: reviewer keys only; off (403) until some are configured."""
        if not svc.reviewer_keys.enabled:
            raise APIError(
                "the review queue is off: set auth.reviewer_keys (SEETHINK_AUTH__REVIEWER_KEYS) "
                "or auth.reviewer_key_file to enable it",
                403,
                "review_disabled",
            )
        who = svc.reviewer_keys.identify(request.headers.get("authorization"))
        if who is None:
            raise APIError(
                "missing or invalid reviewer key: send Authorization: Bearer <key>",
                401,
                "invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return who

    guarded = [Depends(svc.require_api_key)]

    # ---- the article's endpoints ------------------------------------------------------

    @app.post("/infer", response_model=Answer, responses=errors(*IMAGE), dependencies=guarded)
    async def infer(body: InferRequest, rid: str = Depends(request_id)) -> Answer:
        """Image + question through the router; the answer with route, timings and models."""
        prompt = svc.prompt(body.prompt)
        image = await svc.image(body)
        job = Job(prompt=prompt, image=image, route=body.route,
                  max_tokens=svc.max_tokens(body.max_tokens), request_id=rid)  # fmt: skip
        return await svc.answer(job, "infer")

    @app.post(
        "/caption",
        response_model=CaptionResponse,
        responses=errors(*IMAGE),
        openapi_extra={"requestBody": _CAPTION_BODY},
        dependencies=guarded,
    )
    async def caption(request: Request, rid: str = Depends(request_id)) -> CaptionResponse:
        """Caption one image: multipart ``file`` (as in the article) or a JSON image."""
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise APIError(
                    "multipart body needs a 'file' part with the image", 400, "missing_image"
                )
            data = await upload.read(cfg.ingress.max_image_bytes + 1)
            lang = str(form.get("lang") or "en")
            image = await svc.image(data)
        else:
            try:
                raw = await request.json()
            except ValueError:
                raise APIError(
                    "the request body is not valid JSON (or use multipart 'file')",
                    400,
                    "invalid_json",
                ) from None
            try:
                body = CaptionRequest.model_validate(raw)
            except ValueError as e:
                raise RequestValidationError(getattr(e, "errors", lambda: [])()) from None
            image, lang = await svc.image(body), body.lang
        if lang not in LANGS:
            raise APIError(
                f"unknown lang '{lang[:20]}'; expected one of: {', '.join(LANGS)}",
                400,
                "invalid_lang",
            )
        res = await svc.pipeline.describe(image, lang, rid)
        svc.metrics.request("caption", "caption")
        return res

    @app.post(
        "/generate",
        response_model=GenerateResponse,
        responses=errors(*COMMON),
        dependencies=guarded,
    )
    async def generate(body: GenerateRequest, rid: str = Depends(request_id)) -> GenerateResponse:
        """Text only: the LLM answers ``prompt``."""
        job = Job(prompt=svc.prompt(body.prompt), max_tokens=svc.max_tokens(body.max_tokens),
                  temperature=body.temperature, request_id=rid)  # fmt: skip
        answer = await svc.answer(job, "generate")
        return GenerateResponse(answer=answer.text, **answer.model_dump())

    # ---- OpenAI-compatible --------------------------------------------------------------

    @app.get(
        "/v1/models",
        response_model=ModelList,
        responses=errors(401, 500, 503),
        dependencies=guarded,
    )
    async def models() -> ModelList:
        m = await svc.pipeline.models()
        now = int(time.time())
        return ModelList(
            data=[
                ModelCard(id=GRAPH_MODEL, created=now, seethink=m),
                ModelCard(id=handles.chat.model_id, created=now, seethink={"llm": m["llm"]}),
            ]
        )

    @app.post(
        "/v1/chat/completions",
        response_model=ChatCompletion,
        responses={
            **errors(*IMAGE, 404),
            200: {
                "description": "A ChatCompletion, or with stream=true server-sent events of "
                "ChatCompletionChunk ending in `data: [DONE]`.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
        },
        dependencies=guarded,
    )
    async def chat_completions(body: ChatRequest, rid: str = Depends(request_id)):
        """OpenAI chat completions through the router and cascade; ``stream`` gives SSE."""
        if body.model not in (GRAPH_MODEL, handles.chat.model_id):
            raise APIError(
                f"model '{body.model[:80]}' does not exist; expected one of: {GRAPH_MODEL}, "
                f"{handles.chat.model_id}",
                404,
                "model_not_found",
            )
        s = cfg.server
        question, url, system, history = oai.parse_messages(
            body.messages, s.max_messages, s.max_system_chars
        )
        question = svc.prompt(question)
        system = svc.text(system, "system", s.max_system_chars)
        for i, turn in enumerate(history):
            svc.text(turn["content"], f"messages[{i}].content", cfg.ingress.max_prompt_chars)
        image = await svc.image(ImageInput(image_url=url)) if url else None
        route = body.seethink.route
        if body.model == handles.chat.model_id and image is None:
            route = "auto"
        job = Job(prompt=question, image=image, route=route,
                  max_tokens=svc.max_tokens(body.max_completion_tokens or body.max_tokens),
                  temperature=body.temperature, system=system, history=history,
                  request_id=rid)  # fmt: skip
        if not body.stream:
            return oai.completion(await svc.answer(job, "chat"), body.model)
        job.stream = True
        events = _deadline(svc.pipeline.events(job), s.request_timeout_s)
        stream = oai.sse_stream(
            events, rid, body.model,
            on_done=lambda a: svc.metrics.observe(a, "chat"),
            on_cancel=svc.metrics.cancelled,
        )  # fmt: skip
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    # ---- review queue -------------------------------------------------------------------

    @app.get("/review", response_model=ReviewList, responses=errors(400, 401, 403, 500, 503))
    async def review_list(
        status: str = "open",
        limit: int = 50,
        cursor: str | None = None,
        _who: str = Depends(reviewer),
    ) -> ReviewList:
        """Cascade answers flagged for a person to check."""
        if status not in REVIEW_STATUSES:
            raise APIError(
                f"unknown status '{status[:20]}'; expected one of: {', '.join(REVIEW_STATUSES)}"
            )
        if not 1 <= limit <= 500:
            raise APIError(f"limit must be between 1 and 500, not {limit}")
        async with store_errors():
            page = await handles.review.list.remote(status, limit, cursor)
        return ReviewList(**page)

    @app.post(
        "/review/{case_id}",
        response_model=ReviewCase,
        responses=errors(400, 401, 403, 404, 409, 500, 503),
    )
    async def review_resolve(
        case_id: str, body: ResolveRequest, who: str = Depends(reviewer)
    ) -> ReviewCase:
        """Settle a case; the reviewer (a name for their key) and the time are recorded. A
        different second resolution is a 409 and the first is kept."""
        async with store_errors():
            case = await handles.review.resolve.remote(case_id, body.resolution, who)
        return ReviewCase(**case)

    # ---- pages and operations -----------------------------------------------------------

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/review/ui", response_class=HTMLResponse, include_in_schema=False)
    async def review_page() -> HTMLResponse:
        """The reviewer page; it asks for a reviewer key and calls /review with it."""
        return HTMLResponse(review_page_html)

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        return Health()

    @app.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
    async def readyz() -> JSONResponse:
        """Ready when every node the answers need answers; ``degraded`` while the LLM does not."""
        checks = {
            "router": lambda: handles.router.info.remote(),
            "vision": lambda: handles.vision.info.remote(),
            "review": lambda: handles.review.stats.remote(),
            "llm": handles.llm_health,
        }
        nodes = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), timeout=5)
                nodes[name] = "ok"
            except Exception as e:  # readiness reports, never raises
                nodes[name] = f"unavailable ({type(e).__name__})"
        # the LLM may be scaling from zero or down: cascade answers then fall back to the
        # vision model, so the graph still serves (degraded) and stays in the load balancer
        ready = all(v == "ok" for k, v in nodes.items() if k != "llm")
        body = Readiness(ready=ready, degraded=nodes["llm"] != "ok", nodes=nodes).model_dump()
        return JSONResponse(body, status_code=200 if ready else 503)

    return app


@contextlib.asynccontextmanager
async def store_errors():
    """A store's refusals (unknown id, conflicting change, too large) as API errors."""
    try:
        yield
    except StoreRequestError as e:
        raise APIError(error_message(e), e.status, e.code) from None


async def _deadline(events, timeout_s: float):
    """A stream of events that ends with a 504 error once the request's deadline passes."""
    try:
        async with asyncio.timeout(timeout_s):
            async for ev in events:
                yield ev
    except TimeoutError:
        raise APIError(
            f"the request took longer than {timeout_s:g} s", 504, "request_timeout"
        ) from None


_CAPTION_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "lang": {"type": "string", "enum": list(LANGS)},
                },
                "required": ["file"],
            }
        },
        "application/json": {"schema": CaptionRequest.model_json_schema()},
    },
}


def _read(path: Path, default: str) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else default


# ---- errors -------------------------------------------------------------------------------

_NOT_AN_OBJECT = {"model_attributes_type", "dict_type", "missing"}


def _rid(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if not rid:
        rid = request.state.request_id = new_request_id()
    return rid


def error_response(request: Request, err: APIError) -> JSONResponse:
    return JSONResponse(err.body(_rid(request)), status_code=err.status, headers=err.headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, err: APIError):
        return error_response(request, err)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, err: RequestValidationError):
        msgs = []
        for e in err.errors():
            if e.get("type") == "json_invalid":
                return error_response(
                    request, APIError("the request body is not valid JSON", 400, "invalid_json")
                )
            if tuple(e.get("loc", ())) == ("body",) and e.get("type") in _NOT_AN_OBJECT:
                return error_response(
                    request,
                    APIError(
                        "the request body must be a JSON object (Content-Type: application/json)",
                        400,
                        "invalid_json",
                    ),
                )
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            msg = str(e.get("msg", "")).removeprefix("Value error, ")
            msgs.append(f"{loc}: {msg}" if loc else msg)
        text = "; ".join(msgs)[:1000] or "invalid request"
        return error_response(request, APIError(text, 400, "invalid_request"))

    @app.exception_handler(ModelInputError)
    async def _model_input(request: Request, err: ModelInputError):
        # a fixed text: after a Ray handle, str(err) is the replica's traceback
        msg = "the vision model could not process this image and question"
        return error_response(request, APIError(msg, 400, "unusable_input"))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, err: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "http_error")
        return error_response(request, APIError(str(err.detail), err.status_code, code))

    @app.exception_handler(Exception)
    async def _internal(request: Request, err: Exception):
        rid = _rid(request)
        logger.error("request %s failed", rid, exc_info=err)
        # this handler runs outside the request-id middleware: set the header here
        err = APIError("internal error", 500, "internal_error", headers={"X-Request-Id": rid})
        return error_response(request, err)


# Serve's own liveness path, answered whatever the Host: the load balancer in front of the
# Ingress replicas (Ray's HAProxy mode) checks it with a bare HTTP/1.0 request, no Host header.
# It says "success" and nothing else, so a rebound DNS name learns nothing from it.
HOST_CHECK_EXEMPT = frozenset({"/-/healthz"})


class HostCheckMiddleware:
    """Serves only the Host headers in ``server.allowed_hosts`` (``*`` serves any): a page on
    another site that rebinds its DNS name to 127.0.0.1 cannot reach a local deployment.
    Serve's liveness path (``HOST_CHECK_EXEMPT``) is answered whatever the Host."""

    def __init__(self, app, allowed: list[str]) -> None:
        self.app, self.allowed = app, list(allowed)
        self.open = "*" in self.allowed

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or self.open or scope.get("path") in HOST_CHECK_EXEMPT:
            return await self.app(scope, receive, send)
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
        if host_allowed(host, self.allowed):
            return await self.app(scope, receive, send)
        rid = scope.get("state", {}).get("request_id") or new_request_id()
        err = APIError(
            "this server does not answer to that Host name; see server.allowed_hosts",
            400,
            "host_not_allowed",
        )
        await send_json(send, 400, err.body(rid))


class RequestIdMiddleware:
    """Gives every request an id (``request.state.request_id``) and returns it as a header."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        # Serve's proxy sends its id in X-Request-ID and echoes it on the response: reuse it, so
        # the proxy's, the replicas' and the client's ids agree
        rid, generated = request_id_of(scope)

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start" and generated:
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        await self.app(scope, receive, send_with_id)


def _install_openapi(app: FastAPI) -> None:
    """The schema without FastAPI's default 422: validation errors are answered as 400."""

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)  # fmt: skip
        for path in schema.get("paths", {}).values():
            for op in path.values():
                op.get("responses", {}).pop("422", None)
        comps = schema.get("components", {}).get("schemas", {})
        comps.pop("HTTPValidationError", None)
        comps.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi
