"""Limits on what a client may send: body size, body read time, JSON depth, text.

``BodyLimitMiddleware`` is a pure ASGI middleware: it reads the request body itself (so it can
stop at the cap and at the deadline), refuses what is over the limits with an OpenAI-shaped JSON
error, and replays the body to the app. Header read deadlines cannot be enforced here: the HTTP
server parses headers before any ASGI app runs, so that is the proxy's job.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_KEY = "request_id"


class RequestError(ValueError):
    """A client error: ``code`` names why, ``status`` is the HTTP status, the message says what
    to fix."""

    def __init__(self, message: str, code: str, status: int = 400):
        super().__init__(message)
        self.code = code
        self.status = status


def check_text(s: str, field: str, max_chars: int, too_long_code: str = "text_too_long") -> str:
    """Return ``s`` if it is text a tokenizer can take; raise ``RequestError`` (400) if not.

    Refuses lone surrogates (JSON allows ``"\\ud800"``, UTF-8 does not), NUL, and more than
    ``max_chars`` characters.
    """
    if not isinstance(s, str):
        raise RequestError(f"{field} must be a string", "invalid_type")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise RequestError(
            f"{field} is not valid Unicode: character {e.start} is a lone surrogate "
            f"(U+{ord(s[e.start]):04X}); send UTF-8 text",
            "invalid_unicode",
        ) from None
    nul = s.find("\x00")
    if nul >= 0:
        raise RequestError(
            f"{field} contains a NUL character at position {nul}; remove it", "invalid_unicode"
        )
    if len(s) > max_chars:
        raise RequestError(
            f"{field} is {len(s)} characters; the limit is {max_chars}", too_long_code
        )
    return s


# Strings (with escapes), runs of anything but brackets and quotes, or a stray quote (an
# unterminated string): everything the depth scan removes, leaving the brackets.
_NOT_BRACKETS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[^\[\]{}"]+|"', re.DOTALL)
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays/objects in ``body``, brackets inside strings ignored.

    Linear and non-recursive, so a 100k-deep document costs no stack; on malformed JSON the
    answer is a bound, not exact, which is enough to refuse it.
    """
    if body.count(b"[") + body.count(b"{") == 0:
        return 0
    brackets = _NOT_BRACKETS.sub(b"", body)
    return max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)


def json_deeper_than(body: bytes, limit: int) -> bool:
    """Whether ``body`` nests deeper than ``limit``. Each level opens a bracket, so a body
    with at most ``limit`` opening brackets anywhere (strings included) is within it: two
    byte counts settle the common request, whose image is a long bracket-free string, without
    the scan (measured at 5% of the ingress's CPU at 32 clients)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    return json_depth(body) > limit


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


class BodyLimitMiddleware:
    """Refuses oversized, slow and too-deep request bodies before the app sees them.

    - ``Content-Length`` over the cap: 413 before anything is read;
    - a body (chunked included) that passes the cap while being read: 413 at once, the rest
      is not read;
    - a body not fully received within ``body_timeout_s``: 408;
    - ``application/json`` (or ``+json``) nested deeper than ``max_json_depth``: 400.

    ``paths_max`` maps path prefixes to their own caps (the longest matching prefix wins).
    Errors carry ``error.request_id`` (see ``request_id_of``; the id is stored in
    ``scope["state"]["request_id"]`` so the app logs under the same id).
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        body_timeout_s: float,
        max_json_depth: int = 64,
        paths_max: dict[str, int] | None = None,
    ):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.max_json_depth = max_json_depth
        # longest prefix first, so the first match is the most specific one
        self.paths_max = sorted((paths_max or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        """The byte cap for a request path."""
        for prefix, limit in self.paths_max:
            if path.startswith(prefix):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id, generated = request_id_of(scope)
        # Ray Serve's proxy already puts its X-Request-ID on every response: only a new id is
        # added here, so a response never carries two.
        extra = [(b"x-request-id", request_id.encode())] if generated else []
        try:
            body = await self._read_checked(scope, receive)
        except _Refused as r:
            await _error(send, r.status, r.code, str(r), request_id, extra)
            return
        if body is None:
            return  # the client left mid-body: nobody to answer

        replayed = False

        async def replay() -> Message:
            # The whole body once, then the real channel (so the app still sees a disconnect).
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read_checked(self, scope: Scope, receive: Receive) -> bytes | None:
        """The body within the limits (None if the client left); raises ``_Refused``."""
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared == -1:
            raise _Refused(400, "invalid_content_length", "Content-Length is not a number")
        if declared is not None and declared > limit:
            raise _Refused(
                413,
                "body_too_large",
                f"the request body is {declared} bytes; the limit is {limit} bytes",
            )
        try:
            async with asyncio.timeout(self.body_timeout_s):
                body, disconnected = await _read_body(receive, limit)
        except TimeoutError:
            raise _Refused(
                408,
                "body_timeout",
                f"the request body was not received within {self.body_timeout_s:g} s",
            ) from None
        except _TooLarge:
            raise _Refused(
                413, "body_too_large", f"the request body is over the limit of {limit} bytes"
            ) from None
        if disconnected:
            return None
        if body and _is_json(scope) and json_deeper_than(body, self.max_json_depth):
            raise _Refused(
                400,
                "json_too_deep",
                f"the JSON body is nested more than {self.max_json_depth} levels deep",
            )
        return body


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_of(scope: Scope) -> tuple[str, bool]:
    """The request's id and whether it is new; stored in ``scope["state"]["request_id"]``.

    Taken from the scope state (an outer middleware's), else from the ``X-Request-ID`` header
    (Ray Serve's proxy sets one; a client-sent one is kept only if it is a plain token), else a
    new uuid4 hex.
    """
    state = scope.setdefault("state", {})
    rid = state.get(REQUEST_ID_KEY)
    generated = False
    if not rid:
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                text = value.decode("latin-1")
                rid = text if _REQUEST_ID.fullmatch(text) else None
                break
    if not rid:
        rid, generated = uuid.uuid4().hex, True
    state[REQUEST_ID_KEY] = rid
    return rid, generated


class _TooLarge(Exception):
    pass


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


def _content_length(scope: Scope) -> int | None:
    """The declared length, None if absent, -1 if it is not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                n = int(value)
            except ValueError:
                return -1
            return n if n >= 0 else -1
    return None


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """Read the body up to ``limit`` bytes; returns (body, client_disconnected)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"", True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False


async def _error(
    send: Send,
    status: int,
    code: str,
    message: str,
    request_id: str,
    extra_headers: list[tuple[bytes, bytes]],
) -> None:
    payload = {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "code": code,
            "request_id": request_id,
        }
    }
    headers = list(extra_headers)
    if status in (408, 413):
        # the rest of the body was not read: the connection cannot be reused
        headers.append((b"connection", b"close"))
    await send_json(send, status, payload, headers)


async def send_json(
    send: Send, status: int, payload: dict, headers: list[tuple[bytes, bytes]] = ()
) -> None:
    """A whole JSON response over raw ASGI (the middlewares' error answers)."""
    body = json.dumps(payload).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
