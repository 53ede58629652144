"""The OpenAI-compatible API, driven by the official openai SDK against the real graph."""

from __future__ import annotations

import time

import openai
import pytest

from tests.helpers import b64, png_bytes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(graph):
    return openai.OpenAI(base_url=graph.url + "/v1", api_key="unused", max_retries=0, timeout=120)


def _image_message(question: str, seed: int = 0) -> list[dict]:
    url = "data:image/png;base64," + b64(png_bytes(seed=seed))
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": question},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        }
    ]


def test_models_lists_the_graph_and_the_llm(client):
    ids = [m.id for m in client.models.list().data]
    assert ids[0] == "seethink" and len(ids) == 2


def test_plain_completion_with_an_image(client):
    r = client.chat.completions.create(
        model="seethink",
        messages=_image_message("Is this rash serious? What should I do?", seed=21),
        max_tokens=12,
    )
    assert r.object == "chat.completion"
    assert isinstance(r.choices[0].message.content, str)
    # the engine's own finish reason: "length" exactly when the token budget was used up
    assert r.choices[0].finish_reason == ("length" if r.usage.completion_tokens == 12 else "stop")
    ext = r.model_extra["seethink"]
    assert ext["route"] == "cascade" and ext["domain"] == "medical"
    assert ext["disclaimer"] == "AI-assisted suggestion, for reference only"
    assert ext["request_id"] and r.id == "chatcmpl-" + ext["request_id"]
    assert r.usage.prompt_tokens > 0 and 0 < r.usage.completion_tokens <= 12


def test_streaming_completion_with_an_image_arrives_incrementally(client):
    stream = client.chat.completions.create(
        model="seethink",
        messages=_image_message("为什么这个价格这么高?值得买吗?", seed=22),
        max_tokens=24,
        stream=True,
        extra_body={"seethink": {"route": "cascade"}},
    )
    events, deltas, arrivals = [], [], []
    for chunk in stream:
        ext = (chunk.model_extra or {}).get("seethink")
        if ext:
            events.append(ext["event"])
        if chunk.choices and chunk.choices[0].delta.content:
            deltas.append(chunk.choices[0].delta.content)
            arrivals.append(time.perf_counter())
        last = chunk
    # the caption comes first, then the LLM's tokens, then the summary
    assert events == ["meta", "caption", "done"]
    assert len(deltas) >= 2, "the answer came in one piece: not streamed"
    assert last.choices[0].finish_reason in ("stop", "length")
    assert (last.choices[0].finish_reason == "length") == (last.usage.completion_tokens == 24)
    done = last.model_extra["seethink"]
    assert done["route"] == "cascade" and "llm" in done["timings_ms"]


def test_text_only_goes_to_the_llm(client):
    r = client.chat.completions.create(
        model="seethink",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        max_tokens=8,
    )
    ext = r.model_extra["seethink"]
    assert ext["route"] == "text" and set(ext["models"]) == {"router", "llm"}


def test_text_only_streaming(client):
    chunks = list(
        client.chat.completions.create(
            model="seethink",
            messages=[{"role": "user", "content": "Tell me a story."}],
            max_tokens=16,
            stream=True,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length") and isinstance(text, str)


def test_an_answer_cut_by_max_tokens_says_length(client):
    """The random-weight LLM's natural answer runs to its 32-token default; 2 cuts it."""
    r = client.chat.completions.create(
        model="seethink",
        messages=[{"role": "user", "content": "Tell me a long story."}],
        max_tokens=2,
    )
    assert r.usage.completion_tokens == 2 and r.choices[0].finish_reason == "length"


def test_errors_use_the_openai_shape(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(
            model="gpt-nonexistent", messages=[{"role": "user", "content": "hi"}]
        )
    assert "does not exist" in e.value.body["message"]
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model="seethink",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,bm90IGFuIGltYWdl"},
                        },
                    ],
                }
            ],
        )
    assert e.value.body["code"] == "invalid_image"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model="seethink", messages=[{"role": "assistant", "content": "x"}]
        )
    assert "last message" in e.value.body["message"]


def test_client_disconnect_cancels_the_stream_in_the_graph(graph):
    import json

    import requests

    before = graph.handle("Ingress").stats.remote().result()["cancelled_streams"]
    body = {
        "model": "seethink",
        "stream": True,
        "max_tokens": 900,
        "messages": _image_message("Why is this here? Explain at length.", seed=23),
        "seethink": {"route": "cascade"},
    }
    with requests.post(graph.url + "/v1/chat/completions", json=body, stream=True, timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        seen = 0
        for line in r.iter_lines():
            if (
                line.startswith(b"data: {")
                and "content" in json.loads(line[6:])["choices"][0]["delta"]
            ):
                seen += 1
            if seen >= 3:
                break  # hang up mid-answer
    deadline = time.time() + 30
    while time.time() < deadline:
        if graph.handle("Ingress").stats.remote().result()["cancelled_streams"] > before:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the graph kept working after the client went away")
