"""Cascade behaviours through HTTP on the real graph: cache, single flight, disclaimers,
versions, the review queue (and its survival of a restart), and fallback when the LLM dies."""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import time

import pytest

from seethink.checkpoints import checkpoint_version, resolve_model_path
from seethink.priority import LINUX
from tests.harness import REVIEWER, replica_pids, restart_graph
from tests.helpers import b64, png_bytes

pytestmark = pytest.mark.slow


def _cascade(graph, seed: int, prompt: str = "Why is this here? What should I do?", **kw):
    r = graph.post(
        "/infer",
        json={
            "image_base64": b64(png_bytes(seed=seed)),
            "prompt": prompt,
            "route": "cascade",
            **kw,
        },
    )
    assert r.status_code == 200, r.text
    return r.json()


def _caption_runs(graph, seed: int) -> int:
    """Captions made by the vision replica that owns this image (deployments/affinity.py)."""
    sha = hashlib.sha256(png_bytes(seed=seed)).hexdigest()
    stats = graph.handle("Vision").stats.remote(image_sha256=sha).result()
    return stats["cache"]["runs"]


def test_repeated_image_is_a_cache_hit_and_skips_the_vision_call(graph):
    first = _cascade(graph, seed=301)
    calls = _caption_runs(graph, 301)
    second = _cascade(graph, seed=301, prompt="Is it safe? Why?")
    assert (first["cache_hit"], second["cache_hit"]) == (False, True)
    assert second["caption"] == first["caption"]
    assert _caption_runs(graph, 301) == calls


def test_concurrent_identical_requests_cost_one_vision_call(graph):
    before = _caption_runs(graph, 302)
    image = b64(png_bytes(seed=302))

    def one(_):
        return graph.post("/caption", json={"image_base64": image}).json()

    with cf.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(one, range(8)))
    assert len({r["caption"] for r in results}) == 1
    assert sum(not r["cache_hit"] for r in results) == 1
    assert _caption_runs(graph, 302) == before + 1


@pytest.mark.parametrize(
    "prompt,domain,disclaimer",
    [
        ("这个皮疹严重吗?需要去医院吗?", "medical", "AI辅助建议,仅供参考"),
        (
            "Is this stock chart a good reason to buy now?",
            "finance",
            "AI-assisted suggestion, for reference only",
        ),
        ("这份合同条款合法吗?我签了会有什么法律后果?", "legal", "AI辅助建议,仅供参考"),
        ("What colour is the car?", "none", None),
    ],
)
def test_disclaimers_follow_the_domain_and_language(graph, prompt, domain, disclaimer):
    r = graph.post("/infer", json={"image_base64": b64(png_bytes(seed=303)), "prompt": prompt})
    body = r.json()
    assert body["domain"] == domain, body["router"]
    assert body["disclaimer"] == disclaimer


def test_every_response_names_models_and_versions(graph):
    from seethink.config import load_config

    cfg = load_config("cpu")
    body = _cascade(graph, seed=304)
    assert body["models"]["vision"]["version"] == checkpoint_version(
        resolve_model_path(cfg.vision.model)
    )
    assert body["models"]["llm"]["version"] == checkpoint_version(resolve_model_path(cfg.llm.model))
    from routing import load_router

    assert body["models"]["router"] == {
        "name": "router:classifier",
        "version": load_router().version,  # the fitted artefact the router node loaded
    }


def test_the_json_path_answers_as_the_openai_chat_path(graph):
    # LLMNode.complete (the JSON endpoints' path: no per-token detokenising, no response
    # objects) against Ray Serve LLM's OpenAI chat, on the same engine: the same prompt,
    # tokens, log-probabilities and refusals
    from ray.serve.llm.openai_api_models import ChatCompletionRequest

    from deployments.llm import served_model_id
    from seethink.config import load_config

    cfg = load_config("cpu").llm
    handle = graph.handle("LLM")

    def both(messages, max_tokens):
        ours = handle.complete.remote(messages, max_tokens, 0.0).result()
        request = ChatCompletionRequest(
            model=served_model_id(cfg),
            messages=messages,
            max_tokens=max_tokens,
            temperature=0.0,
            logprobs=True,
        )
        return ours, next(iter(handle.options(stream=True).chat.remote(request)))

    for question in ("why is it here?", "什么 颜色", "what should I do about it, and why?"):
        user = f"Image description: a red box.\n\nQuestion: {question}"
        messages = [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": user},
        ]
        ours, theirs = both(messages, 24)
        choice = theirs.choices[0]
        assert ours["text"] == choice.message.content
        assert ours["finish_reason"] == choice.finish_reason
        assert ours["logprobs"] == pytest.approx([c.logprob for c in choice.logprobs.content])
        assert ours["usage"] == {"prompt_tokens": theirs.usage.prompt_tokens,
                                 "completion_tokens": theirs.usage.completion_tokens,
                                 "total_tokens": theirs.usage.total_tokens}  # fmt: skip
    ours, theirs = both([{"role": "user", "content": "word " * cfg.max_model_len}], 8)
    assert ours["error"]["code"] == 400 and "context" in ours["error"]["message"]
    assert theirs.error.code == 400


def test_the_llm_engines_sockets_are_in_the_runs_own_directory(graph):
    # vLLM binds ZMQ IPC sockets when its engine starts; they go to this run's directory
    # (seethink.edge.run_files), removed when the run ends, not to /tmp, where nothing would
    import os
    import re
    import stat

    d = os.environ["VLLM_RPC_BASE_PATH"]
    assert d.startswith("/tmp/sthap-")
    names = [n for n in os.listdir(d) if stat.S_ISSOCK(os.stat(os.path.join(d, n)).st_mode)]
    assert names and all(re.fullmatch(r"[0-9a-f-]{36}", n) for n in names), names
    # and its rendezvous file (torch's FileStore), which vLLM writes to the temp directory at
    # every start and never removes (deployments/llm_node.py: temp_files_in_run_dir)
    assert [n for n in os.listdir(d) if n.startswith("vllm_dist_")], os.listdir(d)


def _thread_nices(pid: int) -> dict[int, int]:
    import os

    from seethink.priority import thread_ids

    out = {}
    for tid in thread_ids(pid):
        try:
            out[tid] = os.getpriority(os.PRIO_PROCESS, tid)
        except OSError:  # a thread that ended while we looked
            pass
    return out


@pytest.mark.skipif(not LINUX, reason="per-thread nice")
def test_the_models_compute_runs_below_the_plumbing(graph):
    """The profile's vision.nice and llm.nice reach the threads that run the models, and only
    them: the replicas' event loops (and the Ingress) stay at Ray's worker priority, which
    seethink starts at 0 (seethink/edge.py, seethink/priority.py)."""
    import psutil

    from seethink.config import load_config

    cfg = load_config("cpu")
    assert cfg.vision.nice > 0 and cfg.llm.nice > 0
    _cascade(graph, seed=306)  # the vision replica's model thread starts with its first batch

    (vision,) = replica_pids("Vision")
    nices = _thread_nices(vision)
    assert nices[vision] == 0  # the replica's main thread: requests in and out
    assert list(nices.values()).count(cfg.vision.nice) == 1, nices  # one model thread

    (llm,) = replica_pids("LLM")
    assert _thread_nices(llm)[llm] == 0  # the OpenAI layer, detokenising
    engines = [
        c.pid
        for c in psutil.Process(llm).children(recursive=True)
        if "EngineCore" in " ".join(c.cmdline())
    ]
    assert engines
    for pid in engines:
        assert set(_thread_nices(pid).values()) == {cfg.llm.nice}

    (ingress,) = replica_pids("Ingress")
    assert set(_thread_nices(ingress).values()) == {0}


def _kill_llm_engine() -> None:
    import psutil

    (pid,) = replica_pids("LLM")
    engines = [
        c
        for c in psutil.Process(pid).children(recursive=True)
        if "EngineCore" in " ".join(c.cmdline())
    ]
    assert engines, f"the LLM replica {pid} has no engine process"
    for c in engines:
        c.kill()


def test_forced_conflict_is_queued_for_review_and_survives_a_restart(graph):
    body = _cascade(graph, seed=305, prompt="Is this mushroom safe to eat?")
    assert body["needs_review"] is True and body["review_id"]
    assert 0.0 <= body["consistency"] <= 1.0
    listed = {c["id"]: c for c in graph.get("/review", headers=REVIEWER).json()["data"]}
    case = listed[body["review_id"]]
    assert case["request_id"] == body["request_id"]
    assert case["question"] == "Is this mushroom safe to eat?"
    assert case["answer"] == body["text"] and case["caption"] == body["caption"]
    assert set(case["scores"]) == {"consistency", "verification"}

    # restart the whole graph: delete the application, deploy it again from the same config
    restart_graph(graph)
    r = graph.get("/review", params={"status": "all"}, headers=REVIEWER)
    assert body["review_id"] in {c["id"] for c in r.json()["data"]}, "lost in the restart"

    done = graph.post(
        f"/review/{body['review_id']}", json={"resolution": "answer was wrong"}, headers=REVIEWER
    )
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    assert done.json()["reviewer"].startswith("key-")
    still_open = graph.get("/review", headers=REVIEWER).json()["data"]
    assert body["review_id"] not in {c["id"] for c in still_open}
    missing = graph.post("/review/nope", json={"resolution": "x"}, headers=REVIEWER)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    bad = graph.get("/review", params={"status": "weird"}, headers=REVIEWER)
    assert bad.status_code == 400 and "expected one of" in bad.json()["error"]["message"]


def test_llm_down_degrades_to_vision_within_the_deadline_then_recovers(graph):
    from tests.harness import GRAPH_OVERRIDES

    deadline_s = GRAPH_OVERRIDES["llm"]["timeout_s"]
    # The engine dies under a live replica (a crashed model process): calls fail until Serve's
    # health check replaces the replica. (A killed replica is retried on its replacement, which
    # on the CPU profile starts within the deadline: see test_faults.)
    _kill_llm_engine()
    degraded = []
    for i, prompt in enumerate(["为什么会这样?应该怎么做?", "Why did this happen? What next?"] * 2):
        t = time.perf_counter()
        body = _cascade(graph, seed=400 + i, prompt=prompt)
        elapsed = time.perf_counter() - t
        assert body["degraded"] is True, body
        assert elapsed < deadline_s + 5, f"degraded answer took {elapsed:.1f}s"
        assert body["text"] and body["models"]["vision"]
        degraded.append(body["notice"])
    assert degraded[0] == "当前仅提供图像描述"
    assert degraded[1] == "Only an image description is available right now"

    # Serve starts a new LLM replica; the breaker's probe then closes it again
    t_end = time.time() + 240
    while time.time() < t_end:
        body = _cascade(graph, seed=450, prompt="Why is this here?")
        if not body["degraded"]:
            break
        time.sleep(3)
    else:
        raise AssertionError("the cascade did not recover after the LLM came back")
    assert body["models"]["llm"]["version"]
