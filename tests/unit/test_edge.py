"""The proxy-side middleware: Serve's plain-text errors become the API's JSON errors."""

from __future__ import annotations

import httpx
import pytest

from seethink.edge import JSONErrorMiddleware, proxy_middlewares


def plain(status: int, text: bytes, headers=()):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain"), *headers]})  # fmt: skip
        await send({"type": "http.response.body", "body": text})

    return app


async def call(app):
    transport = httpx.ASGITransport(app=JSONErrorMiddleware(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        return await c.get("/infer")


@pytest.mark.parametrize(
    "status,code",
    [(503, "overloaded"), (429, "overloaded"), (408, "request_timeout"), (500, "internal_error")],
)
def test_plain_text_errors_become_json_with_retry_after_and_no_internals(status, code):
    import asyncio

    secret = b"Request dropped due to backpressure (num_queued_requests=9) /opt/secret.py"
    headers = [(b"retry-after", b"2"), (b"x-request-id", b"abc123")]
    r = asyncio.run(call(plain(status, secret, headers)))
    assert r.status_code == status and r.headers["content-type"] == "application/json"
    err = r.json()["error"]
    assert err["code"] == code and err["request_id"] == "abc123" and "secret" not in r.text
    assert r.headers["retry-after"] == "2"


def test_json_and_successful_answers_pass_through_unchanged():
    import asyncio

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b"ok", "more_body": True})
        await send({"type": "http.response.body", "body": b"!"})

    r = asyncio.run(call(app))
    assert r.status_code == 200 and r.text == "ok!"


def test_proxy_middlewares_build_from_the_profile():
    names = [m.cls.__name__ for m in proxy_middlewares()]
    assert names == ["JSONErrorMiddleware", "BodyLimitMiddleware", "HostCheckMiddleware"]
