"""A local image server that misbehaves on purpose, for the fetch tests.

Binds 127.0.0.1 on a random port in 20000-32000. Endpoints:

- ``/good.png``: a small valid PNG.
- ``/gzip``: that PNG with ``Content-Encoding: gzip``.
- ``/gzip-gzip``: a few hundred bytes that ``Content-Encoding: gzip, gzip`` would inflate to
  ``BOMB_BYTES`` of zeros; ``/bomb-raw``: the same bytes with no content encoding.
- ``/drip``: headers at once, then one body byte every ``DRIP_S`` seconds.
- ``/drip-headers``: the status line, then the headers one byte every ``DRIP_S`` seconds.
- ``/lie-big?n=N``: declares ``Content-Length: N``, sends 100 bytes and closes.
- ``/lie-small``: declares ``Content-Length: 100``, sends 10 MB.
- ``/huge``: declares a 100 GB body.
- ``/chunked-big``: chunked, 64 KiB chunks up to 64 MiB.
- ``/loop``: redirects to itself; ``/hops/N``: N redirects, then ``/good.png``;
  ``/redirect?to=URL``: one redirect to URL.
- ``/status/N``: answers HTTP N.

Every request's path and headers are recorded in ``server.seen``.
"""

from __future__ import annotations

import gzip
import io
import random
import threading
import time
import zlib
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from PIL import Image

BOMB_BYTES = 200 * 1024 * 1024
DRIP_S = 2.0


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buf, "PNG")
    return buf.getvalue()


def _gzip_stream(chunks, total: int) -> bytes:
    """gzip of ``total`` bytes given as repeated chunks, without holding them all."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip framing
    out = [c.compress(chunks) for _ in range(total // len(chunks))]
    out.append(c.flush())
    return b"".join(out)


class HostileImageServer:
    """Start with ``with HostileImageServer() as srv:``; ``srv.url("/good.png")``."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.good = png()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @cached_property
    def bomb(self) -> bytes:
        inner = _gzip_stream(b"\0" * (1 << 20), BOMB_BYTES)
        return gzip.compress(inner, 9)

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def __enter__(self) -> HostileImageServer:
        handler = type("Handler", (_Handler,), {"owner": self})
        for _ in range(100):
            try:
                self._httpd = ThreadingHTTPServer(
                    ("127.0.0.1", random.randint(20000, 32000)), handler
                )
                break
            except OSError:
                continue
        else:
            raise RuntimeError("no free port in 20000-32000")
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    owner: HostileImageServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.owner.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        try:
            self._route(path, query)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up, as it should on most of these

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        headers = {"Content-Type": "image/png", "Content-Length": str(len(body)), **(headers or {})}
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self._send(302, b"", {"Location": location})

    def _route(self, path: str, query: dict[str, list[str]]) -> None:
        o = self.owner
        if path == "/good.png":
            self._send(200, o.good)
        elif path == "/gzip":
            self._send(200, gzip.compress(o.good), {"Content-Encoding": "gzip"})
        elif path == "/gzip-gzip":
            self._send(200, o.bomb, {"Content-Encoding": "gzip, gzip"})
        elif path == "/bomb-raw":
            self._send(200, o.bomb)
        elif path == "/drip":
            self._drip_body()
        elif path == "/drip-headers":
            self._drip_headers()
        elif path == "/lie-big":
            n = int(query.get("n", ["1000000"])[0])
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            self.wfile.write(o.good[:100])
        elif path == "/lie-small":
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(10 * 16):
                self.wfile.write(b"\x89" * 65536)
        elif path == "/huge":
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Length", str(100 * 1024**3))
            self.end_headers()
            self.wfile.write(o.good)
        elif path == "/chunked-big":
            self._chunked(64 * 1024, 1024)
        elif path == "/loop":
            self._redirect("/loop")
        elif path.startswith("/hops/"):
            n = int(path.rsplit("/", 1)[1])
            self._redirect(f"/hops/{n - 1}" if n > 1 else "/good.png")
        elif path == "/redirect":
            self._redirect(query["to"][0])
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), b"no")
        else:
            self._send(404, b"not found")

    def _drip_body(self) -> None:
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for b in self.owner.good[:30]:
            self.wfile.write(bytes([b]))
            self.wfile.flush()
            time.sleep(DRIP_S)

    def _drip_headers(self) -> None:
        self.close_connection = True
        head = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 10\r\n\r\n"
        for b in head:
            self.wfile.write(bytes([b]))
            self.wfile.flush()
            time.sleep(DRIP_S)

    def _chunked(self, size: int, count: int) -> None:
        self.close_connection = True
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"\x89" * size
        for _ in range(count):
            self.wfile.write(f"{size:x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")
