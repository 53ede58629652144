"""Fetching an ``image_url`` without letting the URL reach anything it must not.

- The URL is parsed strictly first: control characters, spaces, userinfo, bad ports, empty or
  over-long DNS labels, IDNA failures and over-long URLs are 400 ``invalid_image_url``.
- The host is resolved asynchronously and every address is checked *before* connecting:
  loopback, private, link-local, CGNAT, multicast, reserved, unspecified, site-local, 6to4,
  Teredo, IPv4-mapped/compatible and NAT64 of a private address are refused (403
  ``image_url_forbidden``) unless the host or address is listed in
  ``SEETHINK_ALLOW_PRIVATE_IMAGE_HOSTS``. Nothing is connected to before the refusal, so the
  answer does not depend on what listens there (no port-scan oracle).
- The connection is pinned to the checked addresses (a network backend that connects to them,
  while the Host header, SNI and certificate check use the URL's name), so DNS rebinding
  between the check and the connect cannot reach an internal service. Every redirect hop is
  parsed, resolved, checked and pinned the same way; at most ``MAX_REDIRECTS`` hops.
- One deadline covers the whole fetch (DNS, connect, TLS, headers, body, redirects).
- No transparent decompression: ``Accept-Encoding: identity``, a response with any other
  ``Content-Encoding`` is refused, the raw bytes are counted against the cap, and a
  ``Content-Length`` over the cap is refused before the body is read.
- Proxy variables from the environment are ignored.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import re
import socket
import ssl
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
import idna

from .images import ImageError

ALLOW_ENV = "SEETHINK_ALLOW_PRIVATE_IMAGE_HOSTS"
MAX_REDIRECTS = 3
MAX_URL_CHARS = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the host's addresses, as strings
Resolver = Callable[[str, int], Awaitable[list[str]]]

_REFUSED_V4 = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "100.64.0.0/10",  # carrier-grade NAT
        "192.0.0.0/24",  # IETF protocol assignments
        "192.88.99.0/24",  # 6to4 relay anycast
        "198.18.0.0/15",  # benchmarking
    )
]
_REFUSED_V6 = [
    ipaddress.ip_network(n)
    for n in (
        "::/96",  # IPv4-compatible (and :: and ::1)
        "::ffff:0:0/96",  # IPv4-mapped
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/32",  # Teredo: tunnels to an embedded IPv4 address
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4: tunnels to an embedded IPv4 address
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated, still routed inside some networks)
        "ff00::/8",  # multicast
    )
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?")
_NUMERIC_TLD = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")
_BAD_IN_HOST = set("/?#@:%[]\\")


@dataclass(frozen=True)
class Target:
    """A parsed, syntactically valid image URL."""

    url: httpx.URL
    host: str  # ASCII (IDNA), lower case, no brackets, no trailing dot
    port: int
    literal: IPAddress | None  # the host, when it is an IP address


def is_public(ip: IPAddress) -> bool:
    """True for addresses on the public internet that reach only themselves."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64:  # a translator will connect to the embedded IPv4 address
            return is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if any(ip in net for net in _REFUSED_V6):
            return False
    elif any(ip in net for net in _REFUSED_V4):
        return False
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_reserved
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_unspecified
    )


def allowed_hosts(raw: str | None = None) -> frozenset[str]:
    """Hosts and addresses exempt from the address policy (``ALLOW_ENV``, comma-separated)."""
    if raw is None:
        raw = os.environ.get(ALLOW_ENV, "")
    return _normalise_allow(raw.split(","))


def _normalise_allow(items: Iterable[str]) -> frozenset[str]:
    out = set()
    for item in items:
        item = item.strip().lower().rstrip(".")
        if item.startswith("[") and item.endswith("]"):
            item = item[1:-1]
        if item:
            out.add(item)
    return frozenset(out)


def _bad_url(message: str) -> ImageError:
    return ImageError(message, "invalid_image_url", 400)


def parse_url(url: str) -> Target:
    """Parse ``url`` strictly; raises ``ImageError`` 400 ``invalid_image_url`` saying why."""
    if not isinstance(url, str) or not url:
        raise _bad_url("image_url is empty")
    if len(url) > MAX_URL_CHARS:
        raise _bad_url(f"image_url is {len(url)} characters; the limit is {MAX_URL_CHARS}")
    for i, ch in enumerate(url):
        if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zs", "Zl", "Zp"):
            raise _bad_url(
                f"image_url contains a control character or space (U+{ord(ch):04X}) at "
                f"position {i}; percent-encode it"
            )
    try:
        parts = urlsplit(url)
    except ValueError as e:  # unclosed IPv6 bracket, netloc that NFKC-normalises badly
        raise _bad_url(f"image_url is not a valid URL: {e}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _bad_url(
            f"image_url scheme '{parts.scheme}' is not supported; use http, https or data"
        )
    if "@" in parts.netloc:
        raise _bad_url("image_url must not contain a user name or password")
    try:
        port = parts.port
    except ValueError:
        raise _bad_url("image_url has an invalid port; use 1-65535") from None
    if port == 0:
        raise _bad_url("image_url has an invalid port; use 1-65535")
    port = port or (443 if scheme == "https" else 80)
    raw_host = parts.hostname or ""
    if not raw_host:
        raise _bad_url("image_url has no host")
    if parts.netloc.startswith("["):
        literal: IPAddress | None = _ipv6_literal(raw_host)
        host = str(literal)
    else:
        host = _dns_host(raw_host)
        literal = _ipv4_literal(host)
    try:
        hurl = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, UnicodeError):
        raise _bad_url("image_url is not a valid URL") from None
    # the client must connect to exactly the host checked here
    if not _same_host(hurl.raw_host.decode("ascii"), host, literal):
        raise _bad_url(f"image_url host '{raw_host}' cannot be parsed unambiguously")
    return Target(hurl, host, port, literal)


def _same_host(client_host: str, host: str, literal: IPAddress | None) -> bool:
    client_host = client_host.lower().rstrip(".")
    if isinstance(literal, ipaddress.IPv6Address):
        try:
            return ipaddress.ip_address(client_host) == literal
        except ValueError:
            return False
    return client_host == host


def _ipv6_literal(raw: str) -> ipaddress.IPv6Address:
    if "%" in raw:
        raise _bad_url("image_url must not contain an IPv6 zone id")
    try:
        return ipaddress.IPv6Address(raw)
    except ValueError:
        raise _bad_url(f"image_url host '[{raw}]' is not a valid IPv6 address") from None


def _ipv4_literal(host: str) -> ipaddress.IPv4Address | None:
    # A numeric last label is an IPv4 address to the resolver (inet_aton accepts 127.1,
    # 0x7f.1, 2130706433): only the canonical dotted quad is taken, the rest refused.
    if not _NUMERIC_TLD.fullmatch(host.rsplit(".", 1)[-1]):
        return None
    try:
        return ipaddress.IPv4Address(host)
    except ValueError:
        raise _bad_url(
            f"image_url host '{host}' is not a valid IPv4 address (use a dotted quad like 1.2.3.4)"
        ) from None


def _dns_host(raw: str) -> str:
    """A host name -> its lower-case ASCII (IDNA) form, or 400 saying what is wrong."""
    host = raw
    if not host.isascii():
        host = unicodedata.normalize("NFKC", host)
        if _BAD_IN_HOST & set(host) or any(unicodedata.category(c)[0] in "CZ" for c in host):
            raise _bad_url(f"image_url host '{raw}' normalises to something that is not a host")
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            raise _bad_url(
                f"image_url host '{raw}' is not a valid internationalised name"
            ) from None
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    if not host or len(host) > 253:
        raise _bad_url(f"image_url host '{raw}' is not a valid host name")
    for label in host.split("."):
        if not label:
            raise _bad_url(f"image_url host '{raw}' has an empty label")
        if len(label) > 63:
            raise _bad_url(f"image_url host '{raw}' has a label over 63 characters")
        if not _LABEL.fullmatch(label):
            raise _bad_url(
                f"image_url host '{raw}' has a label with characters other than letters, "
                "digits, '-' and '_'"
            )
    return host


def _forbidden(host: str, ip: str) -> ImageError:
    return ImageError(
        f"image_url host '{host}' resolves to a non-public address ({ip}); such hosts are "
        f"refused unless listed in {ALLOW_ENV}",
        "image_url_forbidden",
        403,
    )


def _checked(target: Target, addrs: list[str], allow: frozenset[str]) -> list[str]:
    """The addresses to connect to; 403 if any is non-public and not allowed."""
    if not addrs:
        raise ImageError(f"image_url host '{target.host}' has no address", "image_fetch_failed")
    out = []
    for a in addrs:
        try:
            ip = ipaddress.ip_address(a.split("%", 1)[0])
        except ValueError:
            raise ImageError(
                f"image_url host '{target.host}' has no usable address", "image_fetch_failed"
            ) from None
        if target.host not in allow and str(ip) not in allow and not is_public(ip):
            raise _forbidden(target.host, str(ip))
        out.append(str(ip))
    return out


def check_url(url: str) -> tuple[str, int]:
    """Refuse URLs we must not fetch; returns (host, port) of an allowed one.

    Blocking DNS: for tools and tests. ``fetch_image`` does the same checks asynchronously.
    """
    target = parse_url(url)
    if target.literal is not None:
        addrs = [str(target.literal)]
    else:
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise _unresolvable(target.host) from None
        addrs = list(dict.fromkeys(str(i[4][0]) for i in infos))
    _checked(target, addrs, allowed_hosts())
    return target.host, target.port


def _unresolvable(host: str) -> ImageError:
    return ImageError(f"image_url host '{host}' could not be resolved", "image_fetch_failed")


async def system_resolve(host: str, port: int) -> list[str]:
    """The host's addresses, from the event loop's (thread-pooled, non-blocking) resolver."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(i[4][0]) for i in infos))


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses that were checked for the (host, port) being requested.

    httpcore passes the URL's host here and uses it again for SNI and certificate checks, so
    connecting to the pinned IP keeps TLS and the Host header on the name.
    """

    def __init__(self) -> None:
        self.pins: dict[tuple[str, int], list[str]] = {}
        self.connected: list[tuple[str, int]] = []  # what was connected to, for tests
        self._inner = httpcore.AnyIOBackend()

    def pin(self, target: Target, addrs: list[str]) -> None:
        """Connections to the target's host and port go to ``addrs`` (already checked)."""
        # keyed by the host as httpcore will pass it (the URL's raw host)
        self.pins[(target.url.raw_host.decode("ascii").lower().rstrip("."), target.port)] = addrs

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addrs = self.pins.get((host.lower().rstrip("."), port))
        if not addrs:
            raise httpcore.ConnectError("no checked address for this host")
        error: Exception = httpcore.ConnectError("no address")
        for addr in addrs:
            try:
                stream = await self._inner.connect_tcp(
                    addr, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                error = e
                continue
            self.connected.append((addr, port))
            return stream
        raise error

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used for image_url")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # built once (loading the CA bundle costs milliseconds); SSL_CERT_* env vars are ignored
    return httpx.create_ssl_context(trust_env=False)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that uses ``PinnedBackend``."""

    def __init__(self, backend: PinnedBackend):
        super().__init__(verify=_ssl_context(), trust_env=False, retries=0)
        # httpx has no public way to hand its pool a network backend; the pinning test
        # (tests/unit/test_fetch.py) fails if a new httpx stops using this attribute.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=2,
            http1=True,
            http2=False,
            retries=0,
            network_backend=backend,
        )


async def fetch_image(
    url: str,
    max_bytes: int,
    timeout_s: float,
    *,
    allow: Iterable[str] | None = None,
    resolver: Resolver | None = None,
    backend: PinnedBackend | None = None,
) -> bytes:
    """Fetch an http(s) image under the address policy, within one ``timeout_s`` deadline.

    ``allow`` defaults to ``SEETHINK_ALLOW_PRIVATE_IMAGE_HOSTS``; ``resolver`` to the event
    loop's ``getaddrinfo``. Raises ``ImageError``: 400 ``invalid_image_url``,
    400 ``image_fetch_failed`` (unresolvable, cannot connect, HTTP status not 200, bad or
    incomplete response, too many redirects, deadline passed), 400
    ``unsupported_content_encoding``, 403 ``image_url_forbidden``, 413 ``image_too_large``.
    """
    allowed = allowed_hosts() if allow is None else _normalise_allow(allow)
    try:
        async with asyncio.timeout(timeout_s):
            return await _fetch(url, max_bytes, allowed, resolver or system_resolve, backend)
    except TimeoutError:
        raise ImageError(
            f"fetching image_url took longer than {timeout_s:g} s", "image_fetch_failed"
        ) from None


async def _fetch(
    url: str,
    max_bytes: int,
    allow: frozenset[str],
    resolve: Resolver,
    backend: PinnedBackend | None,
) -> bytes:
    backend = backend or PinnedBackend()
    headers = {"Accept": "image/*", "Accept-Encoding": "identity"}
    async with httpx.AsyncClient(
        transport=_PinnedTransport(backend),
        trust_env=False,
        follow_redirects=False,
        timeout=None,  # the caller's single deadline covers everything
        headers=headers,
    ) as client:
        for hop in range(MAX_REDIRECTS + 1):
            target = _parse_hop(url, hop)
            addrs = await _addresses(target, resolve)
            checked = _checked(target, addrs, allow)
            backend.pin(target, checked)
            try:
                async with client.stream("GET", target.url) as resp:
                    if resp.is_redirect:
                        url = _next_hop(resp)
                        continue
                    _check_response(resp, max_bytes)
                    return await _read_capped(resp, max_bytes)
            except httpx.ConnectError:
                # the same answer whatever the reason (refused, unreachable, TLS)
                raise ImageError(
                    f"could not connect to image_url host '{target.host}'", "image_fetch_failed"
                ) from None
            except httpx.RemoteProtocolError as e:
                if "location" in str(e).lower():  # httpx parses Location itself, and raises
                    raise _bad_url("image_url redirected to an invalid URL") from None
                raise _incomplete(target.host) from None
            except httpx.HTTPError:
                raise _incomplete(target.host) from None
    raise ImageError(f"image_url redirected more than {MAX_REDIRECTS} times", "image_fetch_failed")


def _incomplete(host: str) -> ImageError:
    return ImageError(
        f"image_url host '{host}' sent an invalid or incomplete response", "image_fetch_failed"
    )


def _parse_hop(url: str, hop: int) -> Target:
    try:
        return parse_url(url)
    except ImageError as e:
        if hop == 0:
            raise
        raise _bad_url(f"image_url redirected to an invalid URL: {e}") from None


async def _addresses(target: Target, resolve: Resolver) -> list[str]:
    if target.literal is not None:
        return [str(target.literal)]
    try:
        return await resolve(target.host, target.port)
    except (OSError, UnicodeError):
        raise _unresolvable(target.host) from None


def _next_hop(resp: httpx.Response) -> str:
    location = resp.headers.get("location")
    if not location:
        raise ImageError(
            f"image_url answered HTTP {resp.status_code} without a Location", "image_fetch_failed"
        )
    try:
        return str(resp.url.join(location))
    except (httpx.InvalidURL, ValueError, UnicodeError):
        raise _bad_url("image_url redirected to an invalid URL") from None


def _check_response(resp: httpx.Response, max_bytes: int) -> None:
    if resp.status_code != 200:
        raise ImageError(
            f"fetching image_url returned HTTP {resp.status_code}", "image_fetch_failed"
        )
    encoding = resp.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise ImageError(
            f"image_url was sent with Content-Encoding '{encoding}'; images must be served "
            "without content encoding",
            "unsupported_content_encoding",
        )
    length = resp.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise ImageError(
            f"the image at image_url is {int(length)} bytes; the limit is {max_bytes} bytes",
            "image_too_large",
            413,
        )


async def _read_capped(resp: httpx.Response, max_bytes: int) -> bytes:
    body = bytearray()
    async for chunk in resp.aiter_raw():  # raw: nothing is decompressed behind our back
        if len(body) + len(chunk) > max_bytes:
            raise ImageError(
                f"the image at image_url is over the {max_bytes}-byte limit", "image_too_large", 413
            )
        body += chunk
    return bytes(body)
