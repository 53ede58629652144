"""Getting an image from a request: data URLs, base64, uploads and http(s) URLs, safely.

Every path ends in ``load_image_bytes``, which fully decodes the image (so truncated files are
caught here, not in a model replica) and enforces the byte and pixel limits. URL fetching refuses
loopback, private, link-local and other non-public addresses unless the host is listed in
``SEETHINK_ALLOW_PRIVATE_IMAGE_HOSTS``, and it checks every redirect hop and the address actually
connected to, so DNS tricks cannot reach an internal service.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import ipaddress
import os
import socket
import warnings
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from PIL import Image, UnidentifiedImageError

ALLOW_ENV = "SEETHINK_ALLOW_PRIVATE_IMAGE_HOSTS"
MAX_REDIRECTS = 3


class ImageError(ValueError):
    """The request's image cannot be used; ``code`` names why, the message says what to fix."""

    def __init__(self, message: str, code: str = "invalid_image", status: int = 400):
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class LoadedImage:
    """Validated image bytes with what the graph needs to know about them."""

    data: bytes
    sha256: str
    width: int
    height: int
    format: str


def load_image_bytes(data: bytes, max_bytes: int, max_pixels: int) -> LoadedImage:
    """Check that ``data`` is a whole, decodable image within the limits."""
    if not data:
        raise ImageError("the image is empty", "empty_image")
    if len(data) > max_bytes:
        raise ImageError(
            f"the image is {len(data)} bytes; the limit is {max_bytes} bytes",
            "image_too_large",
            413,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                fmt = im.format or "unknown"
                w, h = im.size
                if w * h > max_pixels:
                    raise ImageError(
                        f"the image is {w}x{h} pixels; the limit is {max_pixels} pixels",
                        "image_too_large",
                        413,
                    )
                im.load()  # decodes every byte: truncated files fail here
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            "the data is not an image in a format we can read (PNG, JPEG, WebP, GIF, BMP)"
        )
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"the image is truncated or corrupt: {e}", "corrupt_image")
    return LoadedImage(data, hashlib.sha256(data).hexdigest(), w, h, fmt)


def decode_image(data: bytes) -> Image.Image:
    """Bytes already checked by ``load_image_bytes`` -> an RGB PIL image."""
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB")


def decode_base64(text: str, max_bytes: int) -> bytes:
    """Plain base64 or a ``data:image/...;base64,`` URL -> bytes."""
    if text.startswith("data:"):
        header, _, payload = text.partition(",")
        if ";base64" not in header:
            raise ImageError("data URLs must be base64-encoded (data:image/png;base64,...)")
        text = payload
    # base64 inflates by 4/3: refuse oversized input before decoding it
    if len(text) > max_bytes * 4 // 3 + 8:
        raise ImageError(f"the image is over the {max_bytes}-byte limit", "image_too_large", 413)
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ImageError("image_base64 is not valid base64", "invalid_base64")


def _allowed_hosts() -> set[str]:
    raw = os.environ.get(ALLOW_ENV, "")
    return {h.strip().lower() for h in raw.split(",") if h.strip()}


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved)


def check_url(url: str) -> tuple[str, int]:
    """Refuse URLs we must not fetch; returns (host, port) of an allowed one."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ImageError(
            f"image_url scheme '{parts.scheme}' is not supported; use http, https or data",
            "invalid_image_url",
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise ImageError("image_url has no host", "invalid_image_url")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ImageError("image_url has an invalid port", "invalid_image_url")
    allowed = _allowed_hosts()
    if host in allowed:
        return host, port
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise ImageError(f"image_url host '{host}' could not be resolved", "image_fetch_failed")
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        if not _is_public(ip) and str(ip) not in allowed:
            raise ImageError(
                f"image_url host '{host}' resolves to a non-public address ({ip}); such hosts are "
                f"refused unless listed in {ALLOW_ENV}",
                "image_url_forbidden",
                403,
            )
    return host, port


async def fetch_image(url: str, max_bytes: int, timeout_s: float) -> bytes:
    """Fetch an http(s) image under the address policy, following at most a few redirects."""
    async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(url)
            try:
                async with client.stream("GET", url, headers={"Accept": "image/*"}) as resp:
                    if resp.is_redirect:
                        url = str(resp.next_request.url) if resp.next_request else ""
                        continue
                    if resp.status_code != 200:
                        raise ImageError(
                            f"fetching image_url returned HTTP {resp.status_code}",
                            "image_fetch_failed",
                        )
                    _check_peer(resp)
                    body = bytearray()
                    async for chunk in resp.aiter_bytes():
                        body.extend(chunk)
                        if len(body) > max_bytes:
                            raise ImageError(
                                f"the image at image_url is over the {max_bytes}-byte limit",
                                "image_too_large",
                                413,
                            )
                    return bytes(body)
            except httpx.TimeoutException:
                raise ImageError(
                    f"fetching image_url timed out after {timeout_s:g} s", "image_fetch_failed"
                )
            except httpx.HTTPError as e:
                raise ImageError(f"fetching image_url failed: {e}", "image_fetch_failed")
    raise ImageError(f"image_url redirected more than {MAX_REDIRECTS} times", "image_fetch_failed")


def _check_peer(resp: httpx.Response) -> None:
    """Re-check the address actually connected to (defeats DNS rebinding between check and use)."""
    stream = resp.extensions.get("network_stream")
    if stream is None:
        return
    peer = stream.get_extra_info("server_addr")
    if not peer:
        return
    ip = ipaddress.ip_address(str(peer[0]).split("%")[0])
    host = (resp.url.host or "").lower()
    allowed = _allowed_hosts()
    if not _is_public(ip) and host not in allowed and str(ip) not in allowed:
        raise ImageError(
            f"image_url connected to a non-public address ({ip}); refused unless listed in "
            f"{ALLOW_ENV}",
            "image_url_forbidden",
            403,
        )


def b64_of(data: bytes) -> str:
    return base64.b64encode(data).decode()
