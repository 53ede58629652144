"""The HTTP ingress: validates requests, loads images, runs the pipeline, shapes responses."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from ray import serve
from ray.serve.metrics import Counter, Histogram
from starlette.exceptions import HTTPException as StarletteHTTPException

from seethink.config import SeethinkConfig
from seethink.images import ImageError, decode_base64, fetch_image, load_image_bytes
from seethink.pipeline import CaptionEvent, Delta, Done, Job, LLMUnavailable, Meta, Pipeline

from . import openai_api as oai
from .llm import LLMServerChat
from .protocol import (
    APIError,
    CaptionRequest,
    GenerateRequest,
    ImageInput,
    InferRequest,
    ResolveRequest,
)
from .review import STATUSES

logger = logging.getLogger("ray.serve")
PAGE = Path(__file__).with_name("static") / "index.html"

_NOT_AN_OBJECT = {"model_attributes_type", "dict_type", "missing"}

app = FastAPI(title="seethink", description="Look with a vision model, think with an LLM.")


def _error_response(err: APIError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status)


@app.exception_handler(APIError)
async def _api_error(_req: Request, err: APIError):
    return _error_response(err)


@app.exception_handler(RequestValidationError)
async def _validation_error(_req: Request, err: RequestValidationError):
    msgs = []
    for e in err.errors():
        if e.get("type") == "json_invalid":
            return _error_response(
                APIError("the request body is not valid JSON", 400, "invalid_json")
            )
        if tuple(e.get("loc", ())) == ("body",) and e.get("type") in _NOT_AN_OBJECT:
            return _error_response(
                APIError(
                    "the request body must be a JSON object (Content-Type: application/json)",
                    400,
                    "invalid_json",
                )
            )
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        msg = str(e.get("msg", "")).removeprefix("Value error, ")
        msgs.append(f"{loc}: {msg}" if loc else msg)
    return _error_response(APIError("; ".join(msgs) or "invalid request", 400, "invalid_request"))


@app.exception_handler(StarletteHTTPException)
async def _http_error(_req: Request, err: StarletteHTTPException):
    code = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "http_error")
    return _error_response(APIError(str(err.detail), err.status_code, code))


@serve.ingress(app)
class Ingress:
    """HTTP front of the graph; one pipeline per replica over shared deployment handles."""

    def __init__(self, cfg: SeethinkConfig, router, vision, cache, review, llm):
        self.cfg = cfg
        self.handles = {
            "router": router,
            "vision": vision,
            "cache": cache,
            "review": review,
            "llm": llm,
        }
        from .llm import served_model_id

        self.chat = LLMServerChat(llm, served_model_id(cfg.llm))
        self.pipeline = Pipeline(cfg, router, vision, cache, review, self.chat)
        self.review = review
        self.cancelled_streams = 0  # streams whose client went away mid-answer
        self._page = PAGE.read_text(encoding="utf-8") if PAGE.exists() else "<h1>seethink</h1>"
        self._requests = Counter(
            "seethink_requests", description="Requests by route.", tag_keys=("route", "endpoint")
        )
        self._fallbacks = Counter("seethink_fallbacks", description="Degraded answers.")
        self._reviews = Counter("seethink_needs_review", description="Answers sent to review.")
        self._stage = Histogram(
            "seethink_stage_latency_ms",
            description="Latency per pipeline stage.",
            boundaries=[1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000],
            tag_keys=("stage",),
        )

    # ---- helpers -------------------------------------------------------------------------

    async def _image(self, inp: ImageInput | bytes):
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
                data = await fetch_image(inp.image_url, ing.max_image_bytes, ing.fetch_timeout_s)
            return load_image_bytes(data, ing.max_image_bytes, ing.max_image_pixels)
        except ImageError as e:
            raise APIError(str(e), e.status, e.code) from None

    def _check_prompt(self, prompt: str) -> str:
        prompt = prompt.strip()
        if not prompt:
            raise APIError("prompt is empty", 400, "missing_prompt")
        if len(prompt) > self.cfg.ingress.max_prompt_chars:
            raise APIError(
                f"prompt is {len(prompt)} characters; the limit is "
                f"{self.cfg.ingress.max_prompt_chars}",
                400,
                "prompt_too_long",
            )
        return prompt

    def _observe(self, res: dict, endpoint: str) -> None:
        self._requests.inc(tags={"route": res.get("route", "?"), "endpoint": endpoint})
        if res.get("degraded"):
            self._fallbacks.inc()
        if res.get("needs_review"):
            self._reviews.inc()
        for stage, ms in res.get("timings_ms", {}).items():
            self._stage.observe(ms, tags={"stage": stage})

    async def _run(self, job: Job, endpoint: str) -> dict:
        try:
            res = await self.pipeline.run(job)
        except LLMUnavailable as e:
            raise APIError(f"the LLM is unavailable: {e}", 503, "llm_unavailable") from None
        self._observe(res, endpoint)
        return res

    # ---- the article's endpoints -----------------------------------------------------------

    @app.post("/infer")
    async def infer(self, body: InferRequest) -> JSONResponse:
        """Image + question through the router; JSON answer with route, timings and models."""
        prompt = self._check_prompt(body.prompt)
        image = await self._image(body)
        job = Job(prompt=prompt, image=image, route=body.route, max_tokens=body.max_tokens)
        return JSONResponse(await self._run(job, "infer"))

    @app.post("/caption")
    async def caption(self, request: Request) -> JSONResponse:
        """Caption one image: multipart ``file`` (as in the article) or a JSON image."""
        ctype = request.headers.get("content-type", "")
        lang = "en"
        if ctype.startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise APIError(
                    "multipart body needs a 'file' part with the image", 400, "missing_image"
                )
            data = await upload.read(self.cfg.ingress.max_image_bytes + 1)
            lang = str(form.get("lang") or "en")
            image = await self._image(data)
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
            image, lang = await self._image(body), body.lang
        if lang not in ("en", "zh"):
            raise APIError(f"unknown lang '{lang}'; expected one of: en, zh", 400, "invalid_lang")
        t0 = time.perf_counter()
        c = await self.handles["cache"].caption.remote(image.sha256, image.data, lang)
        models = await self.pipeline.models()
        ms = round((time.perf_counter() - t0) * 1000, 2)
        self._requests.inc(tags={"route": "caption", "endpoint": "caption"})
        return JSONResponse(
            {
                "caption": c["text"],
                "confidence": c["confidence"],
                "cache_hit": c["cache_hit"],
                "models": {"vision": models["vision"]},
                "timings_ms": {"vision": ms, "total": ms},
                "request_id": uuid.uuid4().hex,
            }
        )

    @app.post("/generate")
    async def generate(self, body: GenerateRequest) -> JSONResponse:
        """Text only: the LLM answers ``prompt``."""
        job = Job(
            prompt=self._check_prompt(body.prompt),
            max_tokens=body.max_tokens,
            temperature=body.temperature,
        )
        res = await self._run(job, "generate")
        return JSONResponse(
            {"answer": res["text"], **{k: v for k, v in res.items() if k != "text"}}
        )

    # ---- OpenAI-compatible ----------------------------------------------------------------

    @app.get("/v1/models")
    async def models(self) -> JSONResponse:
        m = await self.pipeline.models()
        now = int(time.time())
        data = [
            {
                "id": oai.GRAPH_MODEL,
                "object": "model",
                "created": now,
                "owned_by": "seethink",
                "seethink": m,
            }
        ]
        data.append(
            {
                "id": self.chat.model_id,
                "object": "model",
                "created": now,
                "owned_by": "seethink",
                "seethink": {"llm": m["llm"]},
            }
        )
        return JSONResponse({"object": "list", "data": data})

    @app.post("/v1/chat/completions")
    async def chat_completions(self, body: oai.ChatRequest, request: Request):
        """OpenAI chat completions through the router and cascade; ``stream`` gives SSE."""
        if body.model not in (oai.GRAPH_MODEL, self.chat.model_id):
            raise APIError(
                f"model '{body.model}' does not exist; expected one of: {oai.GRAPH_MODEL}, "
                f"{self.chat.model_id}",
                404,
                "model_not_found",
            )
        question, url, system, history = oai.parse_messages(body.messages)
        question = self._check_prompt(question)
        image = await self._image(ImageInput(image_url=url)) if url else None
        route = body.seethink.route
        if body.model == self.chat.model_id and image is None:
            route = "auto"
        job = Job(
            prompt=question,
            image=image,
            route=route,
            max_tokens=body.max_completion_tokens or body.max_tokens,
            temperature=body.temperature,
            system=system,
            history=history,
        )
        if not body.stream:
            res = await self._run(job, "chat")
            return JSONResponse(oai.completion(res, body.model))
        return StreamingResponse(
            self._stream(job, body.model),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def _stream(self, job: Job, model: str):
        rid = job.request_id
        try:
            async for ev in self.pipeline.events(job):
                if isinstance(ev, Meta):
                    yield oai.chunk(
                        rid,
                        model,
                        {"role": "assistant", "content": ""},
                        ext={
                            "event": "meta",
                            "route": ev.route,
                            "domain": ev.domain,
                            "router_confidence": ev.router_confidence,
                            "reason": ev.reason,
                            "request_id": rid,
                        },
                    )
                elif isinstance(ev, CaptionEvent):
                    yield oai.chunk(
                        rid,
                        model,
                        {},
                        ext={
                            "event": "caption",
                            "caption": ev.caption,
                            "cache_hit": ev.cache_hit,
                        },
                    )
                elif isinstance(ev, Delta):
                    yield oai.chunk(rid, model, {"content": ev.text})
                elif isinstance(ev, Done):
                    self._observe(ev.result, "chat")
                    ext = {"event": "done", **oai.extension(ev.result)}
                    yield oai.chunk(
                        rid, model, {}, finish="stop", ext=ext, usage=ev.result["usage"]
                    )
        except asyncio.CancelledError:
            self.cancelled_streams += 1
            logger.info("request %s: client went away; work cancelled", rid)
            raise
        except LLMUnavailable as e:
            yield oai.sse_error(APIError(f"the LLM is unavailable: {e}", 503, "llm_unavailable"))
        except Exception as e:  # the stream has started: report in-band, never hang up silently
            logger.exception("request %s failed mid-stream", rid)
            yield oai.sse_error(
                APIError(f"internal error: {type(e).__name__}", 500, "internal_error")
            )
        yield "data: [DONE]\n\n"

    # ---- review queue ---------------------------------------------------------------------

    @app.get("/review")
    async def review_list(self, status: str = "open", limit: int = 100) -> JSONResponse:
        """Cascade answers flagged for a person to check."""
        if status not in STATUSES:
            raise APIError(f"unknown status '{status}'; expected one of: {', '.join(STATUSES)}")
        cases = await self.review.list.remote(status, limit)
        return JSONResponse({"object": "list", "data": cases})

    @app.post("/review/{case_id}")
    async def review_resolve(self, case_id: str, body: ResolveRequest) -> JSONResponse:
        case = await self.review.resolve.remote(case_id, body.resolution)
        if case is None:
            raise APIError(f"no review case with id '{case_id}'", 404, "not_found")
        return JSONResponse(case)

    # ---- operations -----------------------------------------------------------------------

    def stats(self) -> dict:
        """Counters for tests and operators (a handle call, not an HTTP route)."""
        return {"cancelled_streams": self.cancelled_streams}

    @app.get("/", response_class=HTMLResponse)
    async def page(self) -> HTMLResponse:
        return HTMLResponse(self._page)

    @app.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(self) -> JSONResponse:
        """Ready only when every node answers."""
        checks = {
            "router": self.handles["router"].info.remote(),
            "vision": self.handles["vision"].info.remote(),
            "cache": self.handles["cache"].stats.remote(),
            "review": self.handles["review"].list.remote("open", 1),
            "llm": self.handles["llm"].check_health.remote(),
        }
        nodes = {}
        for name, ref in checks.items():
            try:
                await asyncio.wait_for(ref, timeout=5)
                nodes[name] = "ok"
            except Exception as e:  # readiness reports, never raises
                nodes[name] = f"{type(e).__name__}: {str(e)[:120]}"
        ready = all(v == "ok" for v in nodes.values())
        return JSONResponse({"ready": ready, "nodes": nodes}, status_code=200 if ready else 503)
