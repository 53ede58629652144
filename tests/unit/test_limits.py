"""The body-limit middleware (size, deadline, JSON depth) and the text check."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from seethink.limits import (
    BodyLimitMiddleware,
    RequestError,
    check_text,
    json_deeper_than,
    json_depth,
)

CAP = 1000


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse(
        {
            "n": len(body),
            "sha": hashlib.sha256(body).hexdigest(),
            "request_id": request.state.request_id,
        }
    )


async def form(request: Request) -> JSONResponse:
    f = await request.form()
    upload = f["file"]
    return JSONResponse({"name": f["name"], "file": (await upload.read()).decode()})


async def stream(request: Request) -> StreamingResponse:
    async def parts():
        for i in range(3):
            yield f"data: {i}\n\n"

    return StreamingResponse(parts(), media_type="text/event-stream")


APP = Starlette(
    routes=[
        Route("/echo", echo, methods=["GET", "POST"]),
        Route("/big/echo", echo, methods=["POST"]),
        Route("/form", form, methods=["POST"]),
        Route("/stream", stream, methods=["POST"]),
    ]
)


def limited(**kw) -> BodyLimitMiddleware:
    args = {"max_body_bytes": CAP, "body_timeout_s": 0.5, "max_json_depth": 8}
    return BodyLimitMiddleware(APP, **{**args, **kw})


@pytest.fixture
def client():
    return TestClient(limited(paths_max={"/big/": 10 * CAP}))


def assert_error(resp_status: int, body: dict, status: int, code: str) -> None:
    assert resp_status == status
    err = body["error"]
    assert set(err) == {"message", "type", "code", "request_id"}
    assert err["type"] == "invalid_request_error" and err["code"] == code
    assert err["message"] and len(err["request_id"]) == 32


# ---- raw ASGI driving, to see exactly what is read -------------------------------------


class Driver:
    """Calls the middleware with a scripted ``receive`` and records what it sends."""

    def __init__(self, chunks, delay: float = 0.0, headers=None):
        self.chunks = chunks  # iterator of bytes, more_body while it lasts
        self.delay = delay
        self.reads = 0
        self.sent: list[dict] = []
        self.headers = headers or []

    async def receive(self):
        self.reads += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        chunk = next(self.chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(self, message):
        self.sent.append(message)

    def run(self, mw, path="/echo", state=None) -> tuple[int, dict]:
        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "headers": self.headers,
            "query_string": b"",
        }
        if state is not None:
            scope["state"] = state
        asyncio.run(mw(scope, self.receive, self.send))
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")
        return start["status"], json.loads(body)


def forever(chunk: bytes):
    while True:
        yield chunk


def test_declared_length_over_the_cap_is_413_before_reading():
    d = Driver(forever(b"x"), headers=[(b"content-length", str(10**9).encode())])
    status, body = d.run(limited())
    assert_error(status, body, 413, "body_too_large")
    assert d.reads == 0 and str(10**9) in body["error"]["message"]
    start = d.sent[0]
    assert (b"connection", b"close") in start["headers"]


def test_chunked_body_is_cut_as_soon_as_it_passes_the_cap():
    d = Driver(forever(b"x" * 100))  # no Content-Length: chunked, never ends
    status, body = d.run(limited())
    assert_error(status, body, 413, "body_too_large")
    assert d.reads == CAP // 100 + 1  # stopped at the first chunk over the cap


def test_a_trickled_body_is_408_at_the_deadline():
    d = Driver(forever(b"x"), delay=0.1)  # one byte every 0.1 s
    t = time.monotonic()
    status, body = d.run(limited(body_timeout_s=0.5))
    assert_error(status, body, 408, "body_timeout")
    assert 0.45 < time.monotonic() - t < 1.0 and "0.5 s" in body["error"]["message"]


def test_request_id_comes_from_the_scope_state_when_set():
    d = Driver(forever(b"x" * 100))
    status, body = d.run(limited(), state={"request_id": "abc123" * 5 + "ab"})
    assert body["error"]["request_id"] == "abc123" * 5 + "ab"


def test_request_id_from_the_proxy_header_is_used_and_not_repeated():
    # Ray Serve's proxy sets X-Request-ID on the request and adds it to the response itself
    rid = "4b6a0c1e-9f1d-4c1e-8d49-2f1e3c5b7a90"
    d = Driver(forever(b"x" * 100), headers=[(b"x-request-id", rid.encode())])
    status, body = d.run(limited())
    assert body["error"]["request_id"] == rid
    assert not any(k == b"x-request-id" for k, _ in d.sent[0]["headers"])


def test_a_client_request_id_that_is_not_a_plain_token_is_replaced():
    d = Driver(forever(b"x" * 100), headers=[(b"x-request-id", b"<script>\r\n")])
    status, body = d.run(limited())
    rid = body["error"]["request_id"]
    assert len(rid) == 32 and (b"x-request-id", rid.encode()) in d.sent[0]["headers"]


def test_invalid_content_length_is_400():
    d = Driver(iter([b"{}"]), headers=[(b"content-length", b"12abc")])
    status, body = d.run(limited())
    assert_error(status, body, 400, "invalid_content_length")


def test_a_client_that_leaves_mid_body_gets_nothing_and_the_app_is_not_called():
    called = []

    async def app(scope, receive, send):
        called.append(1)

    msgs = iter(
        [{"type": "http.request", "body": b"x", "more_body": True}, {"type": "http.disconnect"}]
    )
    sent = []

    async def receive():
        return next(msgs)

    async def send(m):
        sent.append(m)

    mw = BodyLimitMiddleware(app, CAP, 1.0)
    asyncio.run(mw({"type": "http", "path": "/", "headers": []}, receive, send))
    assert called == [] and sent == []


def test_the_app_still_sees_the_disconnect_after_the_replayed_body():
    seen = []

    async def app(scope, receive, send):
        seen.append(await receive())
        seen.append(await receive())

    msgs = iter(
        [{"type": "http.request", "body": b"ab", "more_body": True},
         {"type": "http.request", "body": b"cd", "more_body": False},
         {"type": "http.disconnect"}]
    )  # fmt: skip

    async def receive():
        return next(msgs)

    async def send(m):
        pass

    asyncio.run(BodyLimitMiddleware(app, CAP, 1.0)({"type": "http", "headers": []}, receive, send))
    assert seen[0] == {"type": "http.request", "body": b"abcd", "more_body": False}
    assert seen[1] == {"type": "http.disconnect"}


def test_non_http_scopes_pass_untouched():
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    asyncio.run(BodyLimitMiddleware(app, 1, 0.1)({"type": "lifespan"}, None, None))
    assert seen == ["lifespan"]


# ---- through an HTTP client ------------------------------------------------------------


def test_normal_json_passes_unchanged(client):
    payload = json.dumps({"a": [1, [2, [3]]], "s": "[[[[[[[[[[[[", "t": "\u4e2d\u6587"}).encode()
    r = client.post("/echo", content=payload, headers={"content-type": "application/json"})
    assert r.status_code == 200
    assert r.json()["n"] == len(payload)
    assert r.json()["sha"] == hashlib.sha256(payload).hexdigest()
    assert len(r.json()["request_id"]) == 32  # the middleware's id reaches the app


def test_get_without_a_body_passes(client):
    assert client.get("/echo").json()["n"] == 0


def test_multipart_passes(client):
    r = client.post("/form", data={"name": "cat"}, files={"file": ("a.txt", b"hello")})
    assert r.status_code == 200 and r.json() == {"name": "cat", "file": "hello"}


def test_streaming_responses_pass(client):
    r = client.post("/stream", content=b"{}", headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"


def test_oversized_bodies_through_the_client(client):
    r = client.post("/echo", content=b"x" * (CAP + 1))
    assert_error(r.status_code, r.json(), 413, "body_too_large")
    r = client.post("/echo", content=iter([b"x" * 600, b"x" * 600]))  # chunked upload
    assert_error(r.status_code, r.json(), 413, "body_too_large")
    r = client.post("/form", files={"file": ("a.bin", b"x" * 2 * CAP)})
    assert_error(r.status_code, r.json(), 413, "body_too_large")
    assert r.headers["x-request-id"] == r.json()["error"]["request_id"]


def test_per_path_caps(client):
    r = client.post("/big/echo", content=b"x" * (5 * CAP))
    assert r.status_code == 200 and r.json()["n"] == 5 * CAP
    r = client.post("/big/echo", content=b"x" * (10 * CAP + 1))
    assert r.status_code == 413 and str(10 * CAP) in r.json()["error"]["message"]


@pytest.mark.parametrize("ctype", ["application/json", "application/json; charset=utf-8",
                                   "application/vnd.api+json"])  # fmt: skip
def test_deep_json_is_400(client, ctype):
    r = client.post("/echo", content=b"[" * 9 + b"]" * 9, headers={"content-type": ctype})
    assert_error(r.status_code, r.json(), 400, "json_too_deep")
    assert "8 levels" in r.json()["error"]["message"]
    r = client.post("/echo", content=b"[" * 8 + b"]" * 8, headers={"content-type": ctype})
    assert r.status_code == 200


def test_100k_deep_json_is_400_without_recursion():
    mw = limited(max_body_bytes=10**6, max_json_depth=64)
    r = TestClient(mw).post(
        "/echo", content=b"[" * 100_000, headers={"content-type": "application/json"}
    )
    assert_error(r.status_code, r.json(), 400, "json_too_deep")


def test_brackets_in_strings_or_other_types_are_not_depth(client):
    deep_string = json.dumps({"s": "[" * 400 + '\\"' + "{" * 400}).encode()
    r = client.post("/echo", content=deep_string, headers={"content-type": "application/json"})
    assert r.status_code == 200
    r = client.post("/echo", content=b"[" * 100, headers={"content-type": "text/plain"})
    assert r.status_code == 200


@pytest.mark.parametrize(
    "doc,depth",
    [
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'["]]]", "[[[["]', 1),
        (b'["\\"[[["]', 1),  # escaped quote inside a string
        (b'"[[[', 3),  # unterminated: its brackets count (the document is invalid anyway)
    ],
)
def test_json_depth(doc, depth):
    assert json_depth(doc) == depth


@pytest.mark.parametrize(
    "doc",
    [b"1", b"[]", b'{"a": [1, {"b": []}]}', b'["]]]", "[[[["]', b'"[[[', b"[" * 5 + b"]" * 5,
     b'[{"s": "' + b"{" * 40 + b'"}]', b'{"i": "' + b"A" * 5000 + b'", "p": "q"}'],
)  # fmt: skip
def test_the_bracket_count_shortcut_agrees_with_the_scan(doc):
    for limit in range(0, 8):
        assert json_deeper_than(doc, limit) == (json_depth(doc) > limit), limit


# ---- text -------------------------------------------------------------------------------


def test_check_text_accepts_text_and_refuses_what_a_tokenizer_cannot_take():
    assert check_text("what is this? \u8fd9\u662f\u4ec0\u4e48 \U0001f600\n\t", "prompt", 100)
    with pytest.raises(RequestError) as e:
        check_text("a\ud800b", "prompt", 100)
    assert (e.value.status, e.value.code) == (400, "invalid_unicode")
    assert "prompt" in str(e.value) and "U+D800" in str(e.value)
    with pytest.raises(RequestError) as e:
        check_text("a\x00b", "messages[1].content", 100)
    assert e.value.code == "invalid_unicode" and "NUL" in str(e.value)
    assert "messages[1].content" in str(e.value)
    with pytest.raises(RequestError) as e:
        check_text("x" * 101, "prompt", 100, too_long_code="prompt_too_long")
    assert (e.value.status, e.value.code) == (400, "prompt_too_long") and "100" in str(e.value)
