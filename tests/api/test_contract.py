"""The HTTP contract over stand-in handles: statuses, error shapes, validation, limits, SSE."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from tests.helpers import b64, data_url, png_bytes


def good(client):
    r = client.post("/infer", json={"image_base64": b64(png_bytes()), "prompt": "What is it?"})
    assert r.status_code == 200, r.text
    return r.json()


def assert_error(r, status: int, code: str | None = None):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["message"] and err["type"] and len(err["request_id"]) == 32
    assert r.headers["x-request-id"] == err["request_id"]
    if code:
        assert err["code"] == code, err
    return err


def test_infer_answers_with_the_typed_shape(client):
    body = good(client)
    assert body["route"] == "direct" and body["finish_reason"] in ("stop", "length")
    assert set(body["models"]) == {"router", "vision"}
    assert body["models"]["vision"] == {"name": "fake-vision", "version": "v0"}


def test_cascade_names_all_three_models_reported_by_their_nodes(client):
    r = client.post(
        "/infer",
        json={"image_base64": b64(png_bytes(seed=2)), "prompt": "Why?", "route": "cascade"},
    )
    body = r.json()
    assert body["models"]["llm"] == {"name": "fake-llm", "version": "fake-1"}
    assert body["caption"].startswith("a red box") and body["cache_hit"] is False


BAD_INFER = [
    ("not an image", {"json": {"image_base64": b64(b"hello world" * 10), "prompt": "x"}}, 400),
    (
        "truncated image",
        {"json": {"image_base64": b64(png_bytes(size=(400, 300))[:300]), "prompt": "x"}},
        400,
    ),
    ("missing prompt", {"json": {"image_base64": b64(png_bytes())}}, 400),
    ("empty prompt", {"json": {"image_base64": b64(png_bytes()), "prompt": "   "}}, 400),
    (
        "unknown route",
        {"json": {"image_base64": b64(png_bytes()), "prompt": "x", "route": "think"}},
        400,
    ),
    ("bad JSON", {"content": "{not json", "headers": {"Content-Type": "application/json"}}, 400),
    ("JSON array body", {"json": [1, 2, 3]}, 400),
    ("no image", {"json": {"prompt": "x"}}, 400),
    ("bad base64", {"json": {"image_base64": "!!!notbase64", "prompt": "x"}}, 400),
    (
        "refused URL",
        {"json": {"image_url": "http://169.254.169.254/latest/meta-data", "prompt": "x"}},
        403,
    ),
    ("private URL", {"json": {"image_url": "http://10.0.0.1/x.png", "prompt": "x"}}, 403),
    ("file URL", {"json": {"image_url": "file:///etc/passwd", "prompt": "x"}}, 400),
    (
        "unknown field",
        {"json": {"image_base64": b64(png_bytes()), "prompt": "x", "promt": "y"}},
        400,
    ),
    ("prompt too long", {"json": {"image_base64": b64(png_bytes()), "prompt": "问" * 5000}}, 400),
    (
        "max_tokens beyond the context",
        {"json": {"image_base64": b64(png_bytes()), "prompt": "x", "max_tokens": 4096}},
        400,
    ),
    (
        "oversized image",
        {"json": {"image_base64": b64(b"\x89PNG" + b"0" * (10 << 20)), "prompt": "x"}},
        413,
    ),  # fmt: skip
]


@pytest.mark.parametrize("desc,kw,status", BAD_INFER, ids=[b[0] for b in BAD_INFER])
def test_bad_input_gets_a_clear_4xx_and_the_app_keeps_serving(client, desc, kw, status):
    assert_error(client.post("/infer", **kw), status)
    good(client)


def test_max_tokens_error_says_the_numbers(client, app_parts):
    r = client.post(
        "/infer", json={"image_base64": b64(png_bytes()), "prompt": "x", "max_tokens": 4096}
    )
    msg = assert_error(r, 400, "max_tokens_too_large")["message"]
    assert "4096" in msg and str(app_parts.cfg.llm.max_model_len) in msg


def test_decompression_bomb_dimensions_are_refused(client):
    buf = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buf, "PNG")  # tiny file, 81 M pixels
    r = client.post("/infer", json={"image_base64": b64(buf.getvalue()), "prompt": "x"})
    assert "pixels" in assert_error(r, 413)["message"]


def test_caption_multipart_and_json_and_errors(client):
    r = client.post("/caption", files={"file": ("x.png", png_bytes(seed=5))})
    assert r.status_code == 200 and isinstance(r.json()["caption"], str)
    assert r.json()["models"]["vision"]["name"] == "fake-vision"
    r = client.post("/caption", json={"image_base64": b64(png_bytes(seed=5)), "lang": "zh"})
    assert r.status_code == 200
    assert_error(client.post("/caption", files={"file": ("x.txt", b"not an image")}), 400)
    assert_error(
        client.post("/caption", data={"other": "1"}, files={"x": ("a", b"b")}), 400, "missing_image"
    )
    assert_error(
        client.post("/caption", json={"image_base64": b64(png_bytes()), "lang": "fr"}), 400
    )
    assert_error(client.post("/caption", content=b"[" * 100_000,
                             headers={"Content-Type": "application/json"}), 400)  # fmt: skip


def test_generate_and_finish_reason_length(client):
    r = client.post("/generate", json={"prompt": "say it", "max_tokens": 2})
    assert r.status_code == 200 and r.json()["finish_reason"] == "length"
    assert r.json()["answer"] == r.json()["text"]
    r = client.post("/generate", json={"prompt": "say it"})
    assert r.json()["finish_reason"] == "stop"


def test_text_only_with_llm_down_is_503_with_retry_after(client, app_parts):
    app_parts.chat.mode = "fail"
    r = client.post("/generate", json={"prompt": "hello"})
    assert_error(r, 503, "llm_unavailable")
    assert r.headers["retry-after"] == "1"
    assert "engine dead" not in r.text  # internals stay in the log


def test_llm_refusal_is_a_400_and_does_not_open_the_breaker(client, app_parts):
    app_parts.chat.mode = "refuse"
    for _ in range(5):
        assert_error(client.post("/generate", json={"prompt": "hello"}), 400)
    app_parts.chat.mode = "ok"
    assert client.post("/generate", json={"prompt": "hello"}).status_code == 200


def test_unknown_route_and_method_are_json(client):
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.get("/infer"), 405)


def test_chat_completion_plain_and_streamed(client):
    msg = [{"role": "user", "content": [{"type": "text", "text": "What is it?"},
            {"type": "image_url", "image_url": {"url": data_url(png_bytes(seed=8))}}]}]  # fmt: skip
    r = client.post("/v1/chat/completions", json={"model": "seethink", "messages": msg})
    body = r.json()
    assert r.status_code == 200 and body["object"] == "chat.completion"
    assert body["choices"][0]["finish_reason"] in ("stop", "length")
    assert body["seethink"]["route"] in ("direct", "cascade")
    r = client.post(
        "/v1/chat/completions",
        json={
            "model": "seethink",
            "messages": msg,
            "stream": True,
            "seethink": {"route": "cascade"},
        },  # fmt: skip
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in r.text.split("\n\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    kinds = [c.get("seethink", {}).get("event") for c in chunks]
    assert kinds[0] == "meta" and "caption" in kinds and kinds[-1] == "done"
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert chunks[-1]["usage"]["total_tokens"] > 0


def test_stream_error_after_start_is_in_band_json(client, app_parts):
    app_parts.chat.mode = "fail"
    r = client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}], "stream": True},
    )
    events = [line[6:] for line in r.text.split("\n\n") if line.startswith("data: ")]
    err = json.loads(events[-2])["error"]
    assert err["code"] == "llm_unavailable" and len(err["request_id"]) == 32
    assert events[-1] == "[DONE]"


@pytest.mark.parametrize(
    "body,code",
    [
        ({"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}, "model_not_found"),
        ({"messages": []}, "invalid_request"),
        ({"messages": [{"role": "user", "content": "x"}] * 100}, "too_many_messages"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 2}, "invalid_request"),
        (
            {"messages": [{"role": "user", "content": "x"}], "max_tokens": 5000},
            "max_tokens_too_large",
        ),  # fmt: skip
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image_url",
                                "image_url": {"url": "data:image/png;base64,AAAA"},
                            },
                            {"type": "text", "text": "q"},
                        ],
                    }
                ]
            },
            "invalid_image",
        ),  # fmt: skip
    ],
)
def test_chat_completion_errors(client, body, code):
    status = 404 if code == "model_not_found" else 400
    assert_error(client.post("/v1/chat/completions", json=body), status, None)
    good(client)


def test_models_lists_the_graph_and_the_llm(client):
    data = client.get("/v1/models").json()["data"]
    assert [m["id"] for m in data] == ["seethink", "fake-llm"]


def test_readyz_reports_every_node_and_fails_when_a_needed_one_is_down(client, app_parts):
    r = client.get("/readyz")
    assert r.status_code == 200 and set(r.json()["nodes"]) == {
        "router", "vision", "review", "llm"}  # fmt: skip
    app_parts.chat.mode = "fail"
    r = client.get("/readyz")  # the LLM down: answers degrade, the graph still serves
    assert r.status_code == 200 and r.json()["degraded"] is True
    assert r.json()["nodes"]["llm"].startswith("unavailable") and "engine dead" not in r.text

    class Down:
        def info(self):
            raise RuntimeError("vision replica gone")

    from tests.fakes.handles import FakeHandle

    app_parts.app.state.service.handles.vision = FakeHandle(Down())
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["ready"] is False


def test_openapi_documents_every_route_with_typed_responses_and_no_422(client):
    spec = client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert "422" not in op["responses"], (method, path)
            ok = op["responses"]["200"]
            assert "content" in ok, (method, path)
    infer = spec["paths"]["/infer"]["post"]["responses"]
    assert infer["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/Answer")
    for status in ("400", "401", "403", "413", "503"):
        assert infer[status]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ErrorResponse"
        )
