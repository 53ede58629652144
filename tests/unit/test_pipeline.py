"""The pipeline's decisions with test doubles in place of the models (no Ray)."""

from __future__ import annotations

import asyncio

import pytest

from deployments.review import ReviewQueue
from deployments.router import Router
from seethink.config import load_config
from seethink.images import load_image_bytes
from seethink.pipeline import Job, LLMUnavailable, Pipeline
from seethink.protocol import APIError
from tests.fakes.handles import FakeChat, FakeHandle, FakeVisionBackend, unbatched_vision
from tests.helpers import png_bytes


def make(tmp_path, chat=None, yes=0.9, **over):
    """A pipeline over the real router, caption cache and review queue, with fake models."""
    over = {"llm": {"timeout_s": 0.5}, "arbiter": {"review_db": str(tmp_path / "r.db")}, **over}
    cfg = load_config("cpu", over)
    backend = FakeVisionBackend(yes=yes)
    vision = FakeHandle(unbatched_vision(cfg.vision, backend))
    review = FakeHandle(ReviewQueue(cfg.arbiter.review_db))
    chat = chat or FakeChat()
    return Pipeline(cfg, FakeHandle(Router(cfg.router)), vision, review, chat), backend, chat


def job(prompt="Why is this here? What should I do?", route="cascade", seed=0):
    img = load_image_bytes(png_bytes(seed=seed), 10**7, 10**8)
    return Job(prompt=prompt, image=img, route=route)


def run(p, j):
    return asyncio.run(p.run(j)).model_dump()


def test_cascade_streams_llm_answer_with_caption_and_usage(tmp_path):
    p, backend, chat = make(tmp_path)
    res = run(p, job())
    assert res["route"] == "cascade" and not res["degraded"]
    assert res["text"] == "a red box, probably"
    assert res["caption"].startswith("a red box")
    assert res["usage"] == {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}
    assert res["confidence"] == pytest.approx(0.904837, rel=1e-4)  # exp(-0.1)
    assert set(res["models"]) == {"router", "vision", "llm"}


def test_direct_route_never_calls_the_llm(tmp_path):
    p, backend, chat = make(tmp_path)
    res = run(p, job("What colour is the box?", route="auto"))
    assert res["route"] == "direct" and chat.calls == 0 and res["caption"] is None


def test_second_request_for_the_same_image_hits_the_cache(tmp_path):
    p, backend, chat = make(tmp_path)
    first, second = run(p, job(seed=1)), run(p, job("And what should I do?", seed=1))
    assert (first["cache_hit"], second["cache_hit"]) == (False, True)
    assert backend.calls == 1


@pytest.mark.parametrize("mode", ["fail", "stall"])
def test_sick_llm_degrades_to_vision_within_the_deadline(tmp_path, mode):
    import time

    p, backend, chat = make(tmp_path, chat=FakeChat(mode=mode))
    t = time.perf_counter()
    res = run(p, job("为什么会这样?"))
    assert time.perf_counter() - t < 2.0
    assert res["degraded"] and res["notice"] == "当前仅提供图像描述"
    assert res["text"].startswith("a red box")  # the vision model's own answer


def test_breaker_opens_after_repeated_failures_and_probe_closes_it(tmp_path):
    p, backend, chat = make(tmp_path, chat=FakeChat(mode="fail"))
    for _ in range(3):
        run(p, job())
    assert p.breaker.state == "open"
    calls = chat.calls
    res = run(p, job())
    assert res["degraded"] and chat.calls == calls  # open: the LLM is not even tried
    chat.mode = "ok"
    p.breaker.opened_at -= p.cfg.fallback.reset_timeout_s  # time passes
    res = run(p, job())
    assert not res["degraded"] and p.breaker.state == "closed"


def test_text_only_request_with_llm_down_raises(tmp_path):
    p, _, _ = make(tmp_path, chat=FakeChat(mode="fail"))
    with pytest.raises(LLMUnavailable):
        run(p, Job(prompt="hello"))


def test_low_coherence_and_failed_verification_go_to_review(tmp_path):
    p, _, _ = make(tmp_path, chat=FakeChat(answer="完全 不同 的 回答"), yes=0.1)
    res = run(p, job())
    assert res["needs_review"] is True and res["review_id"]
    assert res["consistency"] < p.cfg.arbiter.consistency_threshold
    cases = asyncio.run(p.review.list.remote("open", 10))["data"]
    assert cases[0]["id"] == res["review_id"] and cases[0]["scores"]["verification"] == 0.1


def test_the_review_thumbnail_is_made_off_the_event_loop(tmp_path, monkeypatch):
    import threading

    import seethink.pipeline as pipeline

    made_on = []

    def thumbnail(data):
        made_on.append(threading.current_thread())
        return "data:image/jpeg;base64,AAAA"

    monkeypatch.setattr(pipeline, "thumbnail_data_url", thumbnail)
    p, _, _ = make(tmp_path, chat=FakeChat(answer="完全 不同 的 回答"), yes=0.1)
    res = run(p, job())
    assert res["needs_review"] is True
    assert len(made_on) == 1 and made_on[0] is not threading.main_thread()
    case = asyncio.run(p.review.get.remote(res["review_id"]))
    assert case["thumbnail"] == "data:image/jpeg;base64,AAAA"


def test_low_coherence_but_verified_claim_is_not_flagged(tmp_path):
    p, _, _ = make(tmp_path, chat=FakeChat(answer="完全 不同 的 回答"), yes=0.9)
    res = run(p, job())
    assert res["needs_review"] is False and res["verification"] == 0.9


def test_coherent_answer_skips_verification(tmp_path):
    p, _, _ = make(tmp_path, yes=0.0)
    res = run(p, job())
    assert res["consistency"] >= p.cfg.arbiter.consistency_threshold
    assert res["needs_review"] is False and res["verification"] is None


@pytest.mark.parametrize(
    "prompt,disclaimer",
    [
        ("这个皮疹严重吗?", "AI辅助建议,仅供参考"),
        ("Is this rash serious?", "AI-assisted suggestion, for reference only"),
        ("What colour is it?", None),
    ],
)
def test_disclaimer_by_domain_and_language(tmp_path, prompt, disclaimer):
    p, _, _ = make(tmp_path)
    assert run(p, job(prompt, route="auto"))["disclaimer"] == disclaimer


def test_disclaimer_text_is_configurable(tmp_path):
    p, _, _ = make(tmp_path, disclaimers={"medical": {"en": "Ask a doctor."}})
    assert run(p, job("Is this rash serious?"))["disclaimer"] == "Ask a doctor."


def test_a_request_the_llm_refuses_is_a_400_and_never_trips_the_breaker(tmp_path):
    p, _, chat = make(tmp_path, chat=FakeChat(mode="refuse"))
    for _ in range(p.cfg.fallback.failure_threshold + 2):
        with pytest.raises(APIError) as e:
            run(p, job())
        assert e.value.status == 400 and "context" in e.value.message
    assert p.breaker.state == "closed"


def test_a_cancelled_probe_frees_the_probe_slot(tmp_path):
    p, _, chat = make(tmp_path, chat=FakeChat(mode="fail"))
    for _ in range(p.cfg.fallback.failure_threshold):
        run(p, job())
    assert p.breaker.state == "open"
    p.breaker.opened_at -= p.cfg.fallback.reset_timeout_s
    chat.mode = "stall"

    async def cancel_the_probe():
        task = asyncio.ensure_future(p.run(job(seed=9)))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_the_probe())
    chat.mode = "ok"
    res = run(p, job(seed=10))  # the next request may probe: the slot was freed
    assert not res["degraded"] and p.breaker.state == "closed"


def test_finish_reason_is_length_when_max_tokens_cuts_the_answer(tmp_path):
    p, _, _ = make(tmp_path, chat=FakeChat(answer="one two three four five"))
    cut = run(p, Job(prompt="say five words", max_tokens=2))
    whole = run(p, Job(prompt="say five words"))
    assert cut["finish_reason"] == "length" and cut["text"] == "one two"
    assert whole["finish_reason"] == "stop"


def test_a_repeated_identical_request_is_answered_from_the_answer_cache(tmp_path):
    p, backend, chat = make(tmp_path)
    first = run(p, job(seed=20))
    calls = (backend.calls, chat.calls)
    second = run(p, job(seed=20))
    assert (backend.calls, chat.calls) == calls  # no model was called again
    assert second["answer_cache_hit"] and not first["answer_cache_hit"]
    assert second["text"] == first["text"] and second["request_id"] != first["request_id"]


def test_identical_requests_in_flight_share_one_answer(tmp_path):
    p, backend, chat = make(tmp_path)

    async def burst():
        return await asyncio.gather(*(p.run(job(seed=21)) for _ in range(5)))

    answers = asyncio.run(burst())
    assert chat.calls == 1 and sum(a.answer_cache_hit for a in answers) == 4


def test_degraded_answers_are_not_remembered(tmp_path):
    p, _, chat = make(tmp_path, chat=FakeChat(mode="fail"))
    assert run(p, job(seed=22))["degraded"]
    chat.mode = "ok"
    p.breaker.record_success()
    res = run(p, job(seed=22))
    assert not res["degraded"] and not res["answer_cache_hit"]


def test_a_review_store_failure_still_returns_the_answer(tmp_path):
    failures = []
    p, _, _ = make(tmp_path, chat=FakeChat(answer="完全 不同 的 回答"), yes=0.1)
    p._on_review_failure = lambda: failures.append(1)

    class Broken:
        def add(self, case):
            raise RuntimeError("store down")

    p.review = FakeHandle(Broken())
    res = run(p, job(seed=23))
    assert res["needs_review"] is True and res["review_id"] is None and failures == [1]


def test_a_plain_question_whose_answer_talks_medicine_gets_the_disclaimer(tmp_path):
    answer = "This looks like eczema; see a doctor and try a hydrocortisone cream."
    p, _, _ = make(tmp_path, chat=FakeChat(answer=answer))
    res = run(p, job("What is going on here?", route="cascade", seed=40))
    assert res["domain"] == "none"
    assert res["disclaimer"] == "AI-assisted suggestion, for reference only"
    assert res["disclaimer_reason"].startswith("answer: medical")


def test_a_sensitive_question_says_the_question_decided_the_disclaimer(tmp_path):
    p, _, _ = make(tmp_path)
    res = run(p, job("Is this rash serious?", seed=41))
    assert res["disclaimer_reason"] == "question"


class _GatedRouter:
    """The real router, answering only once ``gate`` is set (or failing, if told to)."""

    def __init__(self, router, fail: bool = False):
        self.router, self.fail, self.gate = router, fail, asyncio.Event()
        self.calls = 0

    def info(self):
        return self.router.info()

    async def classify(self, prompt):
        self.calls += 1
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("router replica lost")
        return await self.router.classify(prompt)


def test_a_fixed_route_does_not_wait_for_the_router_before_the_vision_model(tmp_path):
    p, backend, _ = make(tmp_path)
    gated = _GatedRouter(p.router._target)
    p.router = FakeHandle(gated)

    async def go():
        task = asyncio.ensure_future(p.run(job("Is this rash serious?", route="direct", seed=50)))
        for _ in range(50):
            await asyncio.sleep(0.01)
            if backend.calls:
                break
        seen = backend.calls  # the vision model ran while the router had not answered
        gated.gate.set()
        return seen, await task

    seen, res = asyncio.run(go())
    assert seen == 1
    # the router's answer still decides the domain and the disclaimer
    assert res.domain == "medical" and res.disclaimer_reason == "question"
    assert res.router.reason == "route 'direct' requested by the client"


def test_a_fixed_route_still_fails_cleanly_when_the_router_fails(tmp_path):
    p, backend, _ = make(tmp_path)
    gated = _GatedRouter(p.router._target, fail=True)
    gated.gate.set()
    p.router = FakeHandle(gated)
    with pytest.raises(RuntimeError, match="router replica lost"):
        run(p, job(route="cascade", seed=51))


def test_a_question_asked_before_is_routed_from_memory(tmp_path):
    p, _, _ = make(tmp_path)
    counted = _GatedRouter(p.router._target)
    counted.gate.set()
    p.router = FakeHandle(counted)
    question = "Is this rash serious? What should I do?"
    first = run(p, job(question, route="auto", seed=60))
    second = run(p, job(question, route="auto", seed=61))  # another image: no answer-cache hit
    assert counted.calls == 1 and not second["answer_cache_hit"]
    same = ("route", "domain", "router")
    assert [second[k] for k in same] == [first[k] for k in same]
    assert second["domain"] == "medical" and second["disclaimer"]
    # a remembered question no longer needs the router node; a new one still does
    counted.fail = True
    assert run(p, job(question, route="auto", seed=62))["route"] == first["route"]
    with pytest.raises(RuntimeError, match="router replica lost"):
        run(p, job("What breed is this dog?", route="auto", seed=63))
    # another router version asks again
    counted.fail = False
    p._models["router"] = p._models["router"].model_copy(update={"version": "retrained"})
    run(p, job(question, route="auto", seed=64))
    assert counted.calls == 3


def test_without_the_decision_cache_every_request_asks_the_router(tmp_path):
    p, _, _ = make(tmp_path, decision_cache={"enabled": False})
    counted = _GatedRouter(p.router._target)
    counted.gate.set()
    p.router = FakeHandle(counted)
    for seed in (65, 66):
        run(p, job("Why is the sky here so dark?", route="auto", seed=seed))
    assert counted.calls == 2 and len(p.decisions) == 0


def test_a_stream_with_a_fixed_route_names_the_domain_first(tmp_path):
    p, _, _ = make(tmp_path)

    async def first_events():
        j = job("Is this rash serious?", route="cascade", seed=52)
        j.stream = True
        return [ev async for ev in p.events(j)]

    events = asyncio.run(first_events())
    assert type(events[0]).__name__ == "Meta" and events[0].domain == "medical"
    assert sum(type(e).__name__ == "Meta" for e in events) == 1
