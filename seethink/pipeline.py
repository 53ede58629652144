"""The orchestration the ingress runs per request: route, look, think, check, answer.

Plain async code over deployment handles (not a deployment of its own: every hop costs). It
yields events (meta, caption, answer text, done) so the same code serves the JSON endpoints,
which collect them, and the streaming endpoints, which forward them as they come.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from deployments.llm import llm_version
from deployments.vision_backends import confidence_from_logprobs

from .breaker import CircuitBreaker
from .coherence import coherence
from .config import SeethinkConfig
from .images import LoadedImage
from .text import detect_lang

logger = logging.getLogger("ray.serve")

NOTICES = {
    "zh": "当前仅提供图像描述",
    "en": "Only an image description is available right now",
}
CASCADE_TEMPLATES = {
    "zh": (
        "图片描述:{caption}\n\n问题:{question}\n请根据图片描述回答问题,需要时运用常识和专业知识。"
    ),
    "en": (
        "Image description: {caption}\n\nQuestion: {question}\n"
        "Answer the question using the description and your knowledge."
    ),
}
SYSTEM_PROMPTS = {
    "zh": "你是一个乐于助人的助手。你看不到图片,只能看到图片的文字描述。",
    "en": "You are a helpful assistant. You cannot see the image, only a description of it.",
}
VERIFY_TEMPLATES = {
    "zh": "根据这张图片,下面的说法正确吗?请回答是或否。说法:{claim}",
    "en": (
        "Based on this image, is the following statement true? Answer yes or no. Statement: {claim}"
    ),
}


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
    result: dict[str, Any]


@dataclass
class Job:
    """One validated request."""

    prompt: str
    image: LoadedImage | None = None
    route: str = "auto"  # auto | direct | cascade
    max_tokens: int | None = None
    temperature: float | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    system: str | None = None  # text-only chat: the caller's system prompt
    history: list[dict] = field(default_factory=list)  # text-only chat: earlier turns


class Timer:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.ms: dict[str, float] = {}

    def stage(self, name: str, since: float) -> None:
        self.ms[name] = round(self.ms.get(name, 0.0) + (time.perf_counter() - since) * 1000, 2)

    def total(self) -> None:
        self.ms["total"] = round((time.perf_counter() - self.t0) * 1000, 2)


class Pipeline:
    """Router -> (vision | caption -> LLM -> arbiter) -> answer, with fallback and checks."""

    def __init__(self, cfg: SeethinkConfig, router, vision, cache, review, chat):
        self.cfg = cfg
        self.router, self.vision, self.cache, self.review, self.chat = (
            router,
            vision,
            cache,
            review,
            chat,
        )
        self.breaker = CircuitBreaker(cfg.fallback.failure_threshold, cfg.fallback.reset_timeout_s)
        self._models: dict[str, dict] = {}

    async def models(self) -> dict[str, dict]:
        """Name and version of every node, fetched once from the nodes themselves."""
        if not self._models:
            router, vision = await asyncio.gather(
                self.router.info.remote(), self.vision.info.remote()
            )
            llm = {"name": self.chat.model_id, "version": llm_version(self.cfg.llm)}
            self._models = {"router": router, "vision": vision, "llm": llm}
        return self._models

    async def run(self, job: Job) -> dict[str, Any]:
        """The whole answer as one dict (the JSON endpoints)."""
        result: dict[str, Any] = {}
        async for ev in self.events(job):
            if isinstance(ev, Done):
                result = ev.result
        return result

    async def events(self, job: Job) -> AsyncIterator[Meta | CaptionEvent | Delta | Done]:
        timer = Timer()
        lang = detect_lang(job.prompt)
        models = await self.models()
        t = time.perf_counter()
        decision = await self.router.classify.remote(job.prompt)
        timer.stage("router", t)
        route = decision["route"]
        reason = decision["reason"]
        if job.image is None:
            route, reason = "text", "no image: the LLM answers"
        elif job.route != "auto":
            route, reason = job.route, f"route '{job.route}' requested by the client"
        yield Meta(job.request_id, route, decision["domain"], decision["confidence"], reason)

        res: dict[str, Any] = {
            "request_id": job.request_id,
            "route": route,
            "domain": decision["domain"],
            "router": {
                "confidence": decision["confidence"],
                "reason": reason,
                "decided": decision["route"],
            },
            "caption": None,
            "cache_hit": None,
            "degraded": False,
            "notice": None,
            "consistency": None,
            "needs_review": None,
            "review_id": None,
        }
        used = ["router"]
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}

        if route == "direct":
            text, confidence = await self._look(job, timer, usage)
            used.append("vision")
            yield Delta(text)
        else:
            caption = None
            if route == "cascade":
                t = time.perf_counter()
                c = await self.cache.caption.remote(job.image.sha256, job.image.data, lang)
                timer.stage("vision", t)
                used.append("vision")
                caption = c["text"]
                res["caption"], res["cache_hit"] = caption, c["cache_hit"]
                yield CaptionEvent(caption, c["cache_hit"])
            messages = self._messages(job, caption, lang)
            parts: list[str] = []
            logprobs: list[float] = []
            t = time.perf_counter()
            failure = None
            if not self.breaker.allow():
                failure = "circuit open"
            else:
                try:
                    async with asyncio.timeout(self.cfg.llm.timeout_s):
                        async for d in self.chat.stream(
                            messages,
                            job.max_tokens or self.cfg.llm.max_tokens,
                            self.cfg.llm.temperature
                            if job.temperature is None
                            else job.temperature,
                        ):
                            if d.usage:
                                usage.update(d.usage)
                            if d.logprobs:
                                logprobs.extend(d.logprobs)
                            if d.text:
                                parts.append(d.text)
                                yield Delta(d.text)
                    self.breaker.record_success()
                except asyncio.CancelledError:
                    raise
                except TimeoutError:
                    failure = f"LLM timed out after {self.cfg.llm.timeout_s:g} s"
                    self.breaker.record_failure()
                except Exception as e:  # any LLM failure degrades instead of failing the user
                    failure = f"LLM failed: {type(e).__name__}: {str(e)[:200]}"
                    self.breaker.record_failure()
            timer.stage("llm", t)
            used.append("llm")
            text, confidence = "".join(parts).strip(), confidence_from_logprobs(logprobs)
            if failure:
                logger.warning("request %s degraded: %s", job.request_id, failure)
                res["degraded"], res["notice"] = True, NOTICES[lang]
                res["degraded_reason"] = failure
                if job.image is None:
                    raise LLMUnavailable(failure)
                if not parts:
                    # vision alone answers; the caption already streamed stays as context
                    text, confidence = await self._look(job, timer, usage)
                    yield Delta(text)
            elif route == "cascade" and self.cfg.arbiter.enabled:
                t = time.perf_counter()
                await self._arbitrate(job, caption or "", text, lang, res)
                timer.stage("arbiter", t)

        usage["total_tokens"] = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
        res["text"] = text
        res["confidence"] = round(float(confidence), 6)
        res["disclaimer"] = self._disclaimer(decision["domain"], lang)
        res["usage"] = usage
        res["models"] = {k: models[k] for k in used}
        timer.total()
        res["timings_ms"] = timer.ms
        yield Done(res)

    async def _look(self, job: Job, timer: Timer, usage: dict) -> tuple[str, float]:
        """The vision model's own answer to the question (direct route and fallback)."""
        t = time.perf_counter()
        v = await self.vision.answer.remote(job.image.data, job.prompt)
        timer.stage("vision", t)
        usage["completion_tokens"] = v["num_tokens"]
        return v["text"], v["confidence"]

    def _messages(self, job: Job, caption: str | None, lang: str) -> list[dict]:
        if caption is None:
            msgs = [{"role": "system", "content": job.system}] if job.system else []
            return [*msgs, *job.history, {"role": "user", "content": job.prompt}]
        user = CASCADE_TEMPLATES[lang].format(caption=caption, question=job.prompt)
        return [
            {"role": "system", "content": SYSTEM_PROMPTS[lang]},
            {"role": "user", "content": user},
        ]

    async def _arbitrate(self, job: Job, caption: str, answer: str, lang: str, res: dict) -> None:
        """Score caption/answer coherence; re-verify with the vision model when it is low."""
        a = self.cfg.arbiter
        score = coherence(caption, answer)
        res["consistency"] = round(score, 4)
        res["needs_review"] = False
        if score >= a.consistency_threshold:
            return
        claim = answer[:300]
        p_yes = await self.vision.verify.remote(
            job.image.data, VERIFY_TEMPLATES[lang].format(claim=claim)
        )
        res["verification"] = round(float(p_yes), 4)
        if p_yes >= a.verify_threshold:
            return
        res["needs_review"] = True
        res["review_id"] = await self.review.add.remote(
            {
                "request_id": job.request_id,
                "image_sha256": job.image.sha256,
                "question": job.prompt,
                "caption": caption,
                "answer": answer,
                "scores": {"consistency": score, "verification": p_yes},
            }
        )

    def _disclaimer(self, domain: str, lang: str) -> str | None:
        texts = getattr(self.cfg.disclaimers, domain, None)
        if not texts:
            return None
        return texts.get(lang) or texts.get("en") or next(iter(texts.values()), None)


class LLMUnavailable(RuntimeError):
    """A text-only request while the LLM is down: there is nothing to fall back to."""
