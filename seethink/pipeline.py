"""The orchestration the ingress runs per request: route, look, think, check, answer.

Plain async code over deployment handles (not a deployment of its own: every hop costs). Each
stage is a method that returns a value; ``events`` strings them together and yields events
(meta, caption, answer text, done) so the JSON endpoints collect them and the streaming
endpoints forward them as they come. Handles are duck-typed (``h.method.remote(...)`` is
awaitable), so unit tests pass stand-ins; the core imports nothing from ``deployments``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from routing import answer_domain

from .breaker import CircuitBreaker
from .coherence import coherence
from .config import SeethinkConfig
from .generation import ChatBackend, ChatError, confidence_from_logprobs
from .images import LoadedImage
from .lru import BoundedCache
from .prompts import (
    CASCADE_TEMPLATES,
    NOTICES,
    SYSTEM_PROMPTS,
    VERIFY_TEMPLATES,
)
from .protocol import (
    Answer,
    APIError,
    CaptionResponse,
    ModelInfo,
    RouterInfo,
    Usage,
    new_request_id,
)
from .store.thumbnail import thumbnail_data_url
from .text import detect_lang

logger = logging.getLogger("ray.serve")

# What one remembered router decision costs beyond its question's bytes (a small dict).
DECISION_BYTES = 512


# ---- events -------------------------------------------------------------------------------


@dataclass
class Meta:
    request_id: str
    route: str
    domain: str
    router_confidence: float
    reason: str


@dataclass
class CaptionEvent:
    caption: str
    cache_hit: bool


@dataclass
class Delta:
    text: str


@dataclass
class Done:
    answer: Answer


Event = Meta | CaptionEvent | Delta | Done


@dataclass
class Job:
    """One validated request."""

    prompt: str
    image: LoadedImage | None = None
    route: str = "auto"  # auto | direct | cascade
    max_tokens: int | None = None
    temperature: float | None = None
    request_id: str = field(default_factory=new_request_id)
    stream: bool = False  # the client reads tokens as they come (SSE)
    system: str | None = None  # text-only chat: the caller's system prompt
    history: list[dict] = field(default_factory=list)  # text-only chat: earlier turns

    @functools.cached_property
    def lang(self) -> str:
        """The answer's language, from the question (asked by several stages: once)."""
        return detect_lang(self.prompt)


class LLMUnavailable(RuntimeError):
    """A text-only request while the LLM is down: there is nothing to fall back to."""


# ---- stage results ------------------------------------------------------------------------


@dataclass
class Decision:
    route: str  # direct | cascade | text
    decided: str  # what the router chose
    domain: str
    confidence: float
    reason: str


@dataclass
class Text:
    """An answer's text and what the model said about it."""

    text: str
    confidence: float
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)


@dataclass
class Thought:
    """What the LLM stage produced: an answer, or why there is none."""

    answer: Text | None
    failure: str | None = None  # llm_timeout | llm_unavailable | circuit_open


@dataclass
class Verdict:
    consistency: float | None = None
    verification: float | None = None
    needs_review: bool | None = None
    review_id: str | None = None


class Timer:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.ms: dict[str, float] = {}

    def add(self, name: str, since: float) -> None:
        self.ms[name] = round(self.ms.get(name, 0.0) + (time.perf_counter() - since) * 1000, 2)

    def done(self) -> dict[str, float]:
        self.ms["total"] = round((time.perf_counter() - self.t0) * 1000, 2)
        return self.ms


# ---- the pipeline -------------------------------------------------------------------------


class Pipeline:
    """Router -> (vision | caption -> LLM -> arbiter) -> answer, with fallback and checks."""

    def __init__(
        self,
        cfg: SeethinkConfig,
        router,
        vision,
        review,
        chat: ChatBackend,
        on_review_failure: Callable[[], None] = lambda: None,
    ):
        self.cfg = cfg
        self.router, self.vision, self.review, self.chat = router, vision, review, chat
        self.breaker = CircuitBreaker(cfg.fallback.failure_threshold, cfg.fallback.reset_timeout_s)
        self._models: dict[str, ModelInfo] = {}
        self._on_review_failure = on_review_failure
        a = cfg.answer_cache
        self.answers = BoundedCache(a.max_entries, a.max_bytes, a.ttl_s, "lru")
        self._answers_inflight: dict[tuple, asyncio.Future] = {}
        d = cfg.decision_cache
        self.decisions = BoundedCache(d.max_entries, d.max_bytes, d.ttl_s, "lru")

    # -- facts and deadlines --------------------------------------------------------------

    async def models(self) -> dict[str, ModelInfo]:
        """Name and version of every model, as reported by the node that owns it.

        Asked once and remembered. The LLM may be down or scaling from zero: then it is named
        with version "unavailable" for now (asked again later), and nothing waits for it.
        """
        if "router" not in self._models:
            t = self.cfg.server.node_timeout_s
            router, vision = await asyncio.gather(
                self._call("router", self.router.info.remote(), t),
                self._call("vision", self.vision.info.remote(), t),
            )
            self._models.update(router=ModelInfo(**router), vision=ModelInfo(**vision))
        if "llm" not in self._models:
            try:
                async with asyncio.timeout(min(2.0, self.cfg.server.node_timeout_s)):
                    self._models["llm"] = ModelInfo(**(await self.chat.info()))
            except Exception:  # down, starting, or scaling from zero: ask again next time
                missing = ModelInfo(name=self.chat.model_id, version="unavailable")
                return {**self._models, "llm": missing}
        return self._models

    @staticmethod
    async def _call(node: str, awaitable: Awaitable, timeout_s: float):
        """Await one node within its deadline; a miss is a clean 503 for this request."""
        try:
            async with asyncio.timeout(timeout_s):
                return await awaitable
        except TimeoutError:
            raise APIError(
                f"the {node} node did not answer within {timeout_s:g} s; try again",
                503,
                f"{node}_timeout",
                headers={"Retry-After": "1"},
            ) from None

    # -- the requests ---------------------------------------------------------------------

    async def describe(self, image: LoadedImage, lang: str, request_id: str) -> CaptionResponse:
        """POST /caption: the image's caption, from the vision node's cache or one caption run."""
        timer = Timer()
        models = await self.models()
        c = await self._caption(image, lang, timer)
        return CaptionResponse(
            caption=c["text"],
            confidence=c["confidence"],
            cache_hit=c["cache_hit"],
            finish_reason=c.get("finish_reason", "stop"),
            models={"vision": models["vision"]},
            timings_ms=timer.done(),
            request_id=request_id,
        )

    async def run(self, job: Job) -> Answer:
        """The whole answer (the JSON endpoints)."""
        async for ev in self.events(job):
            if isinstance(ev, Done):
                return ev.answer
        raise RuntimeError("the pipeline ended without an answer")

    async def events(self, job: Job) -> AsyncIterator[Event]:
        timer = Timer()
        models = await self.models()
        # The router is asked at once. When the client fixed the route of a JSON request, its
        # answer (the domain, for the disclaimer) is only needed at the end, so the first model
        # call does not wait for it; a stream names the domain first, so it waits.
        routing = asyncio.ensure_future(self.route(job, timer))
        try:
            async for ev in self._events(job, models, timer, routing):
                yield ev
        finally:
            if not routing.done():
                routing.cancel()
            elif not routing.cancelled():
                routing.exception()  # retrieved: a failure here already reached the caller

    async def _events(self, job, models, timer, routing: asyncio.Future) -> AsyncIterator[Event]:
        fixed = job.route != "auto" and job.image is not None and not job.stream
        if fixed:
            route = job.route
        else:
            decision = await routing
            route = decision.route
            yield self._meta(job, decision)
        key = self._answer_key(job, route, models)
        cached = await self._remembered(key)
        if cached is not None:
            if fixed:
                yield self._meta(job, await routing)
            if cached.caption is not None:
                yield CaptionEvent(cached.caption, True)
            yield Delta(cached.text)
            yield from_cache(cached, job, timer)
            return
        leader = None
        if key is not None:
            leader = asyncio.get_running_loop().create_future()
            self._answers_inflight[key] = leader
        try:
            async for ev in self._answer(job, route, routing, models, timer):
                if isinstance(ev, Done):
                    if key is not None and not ev.answer.degraded:
                        self.answers.put(key, ev.answer, len(ev.answer.model_dump_json()))
                        leader.set_result(ev.answer)
                    if fixed:
                        yield self._meta(job, await routing)  # done: awaited for the answer
                yield ev
        finally:
            if leader is not None:
                self._answers_inflight.pop(key, None)
                if not leader.done():
                    leader.set_result(None)  # followers compute their own answer

    @staticmethod
    def _meta(job: Job, d: Decision) -> Meta:
        return Meta(job.request_id, d.route, d.domain, d.confidence, d.reason)

    async def _remembered(self, key: tuple | None) -> Answer | None:
        """A cached answer, or the answer an identical request in flight is computing."""
        if key is None:
            return None
        hit = self.answers.get(key)
        if hit is not None:
            return hit
        waiting = self._answers_inflight.get(key)
        if waiting is not None:
            # shielded: a follower that is cancelled never cancels the leader's work
            return await asyncio.shield(waiting)
        return None

    async def _answer(self, job, route, routing, models, timer) -> AsyncIterator[Event]:
        parts: dict[str, Any] = {}
        if route == "direct":
            text = await self.look(job, timer)
            yield Delta(text.text)
        else:
            caption = None
            if route == "cascade":
                caption, hit = await self.caption(job, timer)
                parts.update(caption=caption, cache_hit=hit)
                yield CaptionEvent(caption, hit)
            thought = Thought(None)
            async for item in self.think(job, caption, timer):
                if isinstance(item, Delta):
                    yield item
                else:
                    thought = item
            text, degraded = await self.guard(job, thought, timer)
            if degraded is not None:
                yield Delta(text.text)
                parts.update(degraded)
            elif route == "cascade" and self.cfg.arbiter.enabled:
                parts.update(vars(await self.arbitrate(job, caption or "", text.text, timer)))
        used = {"router"} | ({"vision"} if route != "text" else set())
        used |= {"llm"} if route != "direct" else set()
        decision = await routing
        yield Done(self.finish(job, decision, text, parts, models, used, timer))

    # -- stages ---------------------------------------------------------------------------

    async def route(self, job: Job, timer: Timer) -> Decision:
        """Where the question goes: the router's decision, unless the request fixes it."""
        t = time.perf_counter()
        d = await self._classify(job.prompt)
        timer.add("router", t)
        route, reason = d["route"], d["reason"]
        if job.image is None:
            route, reason = "text", "no image: the LLM answers"
        elif job.route != "auto":
            route, reason = job.route, f"route '{job.route}' requested by the client"
        return Decision(route, d["route"], d["domain"], d["confidence"], reason)

    async def _classify(self, prompt: str) -> dict:
        """The router's decision for ``prompt``: from memory when this question was routed
        before by the same router version (``decision_cache``), else from the router node."""
        router = self._models.get("router")
        key = None
        if self.cfg.decision_cache.enabled and router is not None:
            key = (prompt, router.name, router.version)
            hit = self.decisions.get(key)
            if hit is not None:
                return hit
        d = await self._call(
            "router", self.router.classify.remote(prompt), self.cfg.server.node_timeout_s
        )
        if key is not None:
            self.decisions.put(key, d, len(prompt.encode()) + DECISION_BYTES)
        return d

    async def look(self, job: Job, timer: Timer) -> Text:
        """The vision model's own answer to the question (direct route and fallback)."""
        t = time.perf_counter()
        v = await self._call(
            "vision",
            self.vision.answer.remote(job.image.data, job.prompt),
            self.cfg.server.vision_timeout_s,
        )
        timer.add("vision", t)
        return Text(v["text"], v["confidence"], v.get("finish_reason", "stop"),
                    Usage(completion_tokens=v["num_tokens"]))  # fmt: skip

    async def caption(self, job: Job, timer: Timer) -> tuple[str, bool]:
        """The image's caption, from the vision node's cache or one caption run."""
        c = await self._caption(job.image, job.lang, timer)
        return c["text"], c["cache_hit"]

    async def _caption(self, image: LoadedImage, lang: str, timer: Timer) -> dict:
        t = time.perf_counter()
        c = await self._call(
            "vision",
            # named by its hash: Serve routes it to the vision replica that keeps its caption
            self.vision.caption.remote(image.data, lang, image_sha256=image.sha256),
            self.cfg.server.vision_timeout_s,
        )
        timer.add("vision", t)
        return c

    async def think(
        self, job: Job, caption: str | None, timer: Timer
    ) -> AsyncIterator[Delta | Thought]:
        """The LLM's answer, streamed; ends with a ``Thought`` (the answer or the failure).

        Only failures of the LLM service count against the breaker: a request the engine
        refuses (too long, bad parameters) is the client's 400; a cancelled probe frees its slot.
        """
        t = time.perf_counter()
        permit = self.breaker.acquire()
        if permit is None:
            timer.add("llm", t)
            yield Thought(None, "circuit_open")
            return
        parts: list[str] = []
        logprobs: list[float] = []
        usage = Usage()
        finish = "stop"
        llm = self.cfg.llm
        max_tokens = job.max_tokens or llm.max_tokens
        temperature = llm.temperature if job.temperature is None else job.temperature
        messages = self._messages(job, caption)
        try:
            async with asyncio.timeout(llm.timeout_s):
                # JSON answers take the whole answer in one message; streams token by token
                pieces = (
                    self.chat.stream(messages, max_tokens, temperature)
                    if job.stream
                    else _aiter(await self.chat.complete(messages, max_tokens, temperature))
                )
                async for d in pieces:
                    if d.usage:
                        usage = Usage(**{**usage.model_dump(), **d.usage})
                    if d.logprobs:
                        logprobs.extend(d.logprobs)
                    if d.finish_reason:
                        finish = d.finish_reason
                    if d.text:
                        parts.append(d.text)
                        if job.stream:
                            yield Delta(d.text)
        except asyncio.CancelledError:
            self.breaker.release(permit)
            raise
        except TimeoutError:
            self.breaker.record_failure(permit)
            logger.warning("request %s: LLM timed out after %gs", job.request_id, llm.timeout_s)
            failure = "llm_timeout"
        except ChatError as e:
            if e.caused_by_request:
                self.breaker.release(permit)
                raise APIError(str(e), e.status, "llm_rejected_request") from None
            if e.overloaded:  # a full queue is load to shed, not a sick LLM
                self.breaker.release(permit)
            else:
                self.breaker.record_failure(permit)
            logger.warning("request %s: LLM failed: %s", job.request_id, e)
            failure = "llm_overloaded" if e.overloaded else "llm_unavailable"
        except Exception:  # any other failure of the LLM service degrades the answer
            self.breaker.record_failure(permit)
            logger.exception("request %s: LLM call failed", job.request_id)
            failure = "llm_unavailable"
        else:
            failure = None
        finally:
            timer.add("llm", t)
        if failure is not None:
            if parts and job.stream:
                # tokens already reached the client: end the stream with an in-band error
                raise APIError(
                    "the LLM stopped answering mid-stream; retry the request",
                    503,
                    "llm_interrupted",
                    headers={"Retry-After": "1"},
                )
            yield Thought(None, failure)
            return
        self.breaker.record_success(permit)
        usage.total_tokens = usage.prompt_tokens + usage.completion_tokens
        text = Text("".join(parts).strip(), confidence_from_logprobs(logprobs),
                    "length" if finish == "length" else "stop", usage)  # fmt: skip
        yield Thought(text)

    async def guard(
        self, job: Job, thought: Thought, timer: Timer
    ) -> tuple[Text, dict[str, Any] | None]:
        """Fall back to the vision model when the LLM gave nothing: (text, degraded fields)."""
        if thought.failure is None and thought.answer is not None:
            return thought.answer, None
        if job.image is None:
            raise LLMUnavailable(thought.failure or "llm_unavailable")
        text = await self.look(job, timer)
        degraded = {
            "degraded": True,
            "notice": NOTICES[job.lang],
            "degraded_reason": thought.failure,
        }
        return text, degraded

    async def arbitrate(self, job: Job, caption: str, answer: str, timer: Timer) -> Verdict:
        """Score caption/answer coherence; re-verify with the vision model when it is low."""
        t = time.perf_counter()
        try:
            a = self.cfg.arbiter
            score = coherence(caption, answer)
            verdict = Verdict(consistency=round(score, 4), needs_review=False)
            if score >= a.consistency_threshold:
                return verdict
            claim = answer[:300]
            p_yes = await self._call(
                "vision",
                self.vision.verify.remote(
                    job.image.data,
                    VERIFY_TEMPLATES[job.lang].format(claim=claim),
                    image_sha256=job.image.sha256,  # to the replica that has it decoded
                ),
                self.cfg.server.vision_timeout_s,
            )
            verdict.verification = round(float(p_yes), 4)
            if p_yes >= a.verify_threshold:
                return verdict
            verdict.needs_review = True
            verdict.review_id = await self._flag(job, caption, answer, score, p_yes)
            return verdict
        finally:
            timer.add("arbiter", t)

    async def _flag(self, job, caption, answer, score, p_yes) -> str | None:
        """Store a case for review; a store failure is logged and counted, never the user's."""
        # the picture is decoded and encoded again: milliseconds for a photo, about 40 ms for a
        # 12-megapixel JPEG, hundreds for a large PNG. Not on the event loop, where it would hold
        # up every other request of this Ingress replica
        thumbnail = await asyncio.to_thread(thumbnail_data_url, job.image.data)
        case = {
            "request_id": job.request_id,
            "image_sha256": job.image.sha256,
            "question": job.prompt,
            "caption": caption,
            "answer": answer,
            "scores": {"consistency": score, "verification": p_yes},
            "thumbnail": thumbnail,
        }
        try:
            return await self._call(
                "review", self.review.add.remote(case), self.cfg.server.node_timeout_s
            )
        except Exception:
            self._on_review_failure()
            logger.exception("request %s: could not store the review case", job.request_id)
            return None

    def finish(self, job, decision, text, parts, models, used, timer) -> Answer:
        """The answer as the API gives it."""
        disclaimer, why = self._disclaimer(decision.domain, text.text, job.lang)
        return Answer(
            text=text.text,
            confidence=round(float(text.confidence), 6),
            finish_reason=text.finish_reason,
            route=decision.route,
            domain=decision.domain,
            router=RouterInfo(
                confidence=decision.confidence, reason=decision.reason, decided=decision.decided
            ),  # fmt: skip
            disclaimer=disclaimer,
            disclaimer_reason=why,
            usage=text.usage,
            models={k: v for k, v in models.items() if k in used},
            timings_ms=timer.done(),
            request_id=job.request_id,
            **parts,
        )

    # -- helpers ----------------------------------------------------------------------------

    def _messages(self, job: Job, caption: str | None) -> list[dict]:
        if caption is None:
            msgs = [{"role": "system", "content": job.system}] if job.system else []
            return [*msgs, *job.history, {"role": "user", "content": job.prompt}]
        user = CASCADE_TEMPLATES[job.lang].format(caption=caption, question=job.prompt)
        return [
            {"role": "system", "content": SYSTEM_PROMPTS[job.lang]},
            {"role": "user", "content": user},
        ]

    def _disclaimer(self, domain: str, answer: str, lang: str) -> tuple[str | None, str | None]:
        """The disclaimer and why: the question's domain, else what the answer talks about
        (diagnosis, medication, money, law) even when the question looked plain."""
        reason = "question"
        if getattr(self.cfg.disclaimers, domain, None) is None:
            found, why = answer_domain(answer)
            if found is None:
                return None, None
            domain, reason = found, f"answer: {why}"
        texts = getattr(self.cfg.disclaimers, domain)
        text = texts.get(lang) or texts.get("en") or next(iter(texts.values()), None)
        return text, reason if text else None

    def _answer_key(self, job: Job, route: str, models: dict[str, ModelInfo]) -> tuple | None:
        """Repeated identical deterministic requests are answered from memory."""
        if not self.cfg.answer_cache.enabled or job.image is None:
            return None
        temperature = self.cfg.llm.temperature if job.temperature is None else job.temperature
        if temperature != 0:
            return None
        versions = tuple((k, m.version) for k, m in sorted(models.items()))
        return (job.image.sha256, job.prompt, route, job.max_tokens, versions)


async def _aiter(items):
    for item in items:
        yield item


def from_cache(cached: Answer, job: Job, timer: Timer) -> Event:
    """A remembered answer, under this request's id and timings."""
    return Done(
        cached.model_copy(
            update={
                "request_id": job.request_id,
                "answer_cache_hit": True,
                "cache_hit": True if cached.caption is not None else None,
                "timings_ms": timer.done(),
            }
        )
    )
