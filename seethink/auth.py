"""API keys (``Authorization: Bearer``, as the OpenAI SDK sends them) and the Host allow-list.

Keys are kept only as SHA-256 digests and compared in constant time against every key, so
neither the result's timing nor a log line or repr reveals a key. A key file holds one
``sha256:<hex>`` line per key; make the line with ``python -m seethink.auth hash KEY`` (or
``hash -`` to read the key from stdin, out of the shell history), or a new key and its line with
``python -m seethink.auth new``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import ipaddress
import re
import secrets
import sys
from collections.abc import Iterable
from pathlib import Path

HASH_PREFIX = "sha256:"
_HASH_LINE = re.compile(r"sha256:([0-9a-fA-F]{64})")
_HOST_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?")


class KeyFileError(ValueError):
    """The key file is missing or has a line that is not ``sha256:<64 hex digits>``."""


def hash_line(key: str) -> str:
    """The key-file line for ``key``: ``sha256:<hex digest>``."""
    return HASH_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    """A set of accepted API keys; empty means open (no key needed)."""

    def __init__(self, digests: Iterable[bytes] = ()):
        self._digests = tuple(dict.fromkeys(digests))

    @classmethod
    def from_config(cls, keys: list[str] | str | None, key_file: str | None = None) -> KeyStore:
        """Keys from config/env (a list or a comma-separated string; an entry written as
        ``sha256:<hex>`` is taken as already hashed) plus the hashed lines of ``key_file``."""
        if isinstance(keys, str):
            keys = keys.split(",")
        digests = [_digest_of_entry(k.strip()) for k in keys or () if k.strip()]
        if key_file:
            digests += _read_key_file(Path(key_file))
        return cls(digests)

    @property
    def enabled(self) -> bool:
        """False when no key is configured: every request is let in."""
        return bool(self._digests)

    def check(self, authorization: str | None) -> bool:
        """True if ``authorization`` is ``Bearer <a configured key>`` (always True when open)."""
        if not self._digests:
            return True
        token = _bearer_token(authorization)
        if token is None:
            return False
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        ok = False
        for known in self._digests:  # every key, no early exit: timing does not tell which
            ok |= hmac.compare_digest(digest, known)
        return ok

    def identify(self, authorization: str | None) -> str | None:
        """A name for the matching key that reveals nothing of it (``key-`` and 8 hex digits of
        a hash of its digest), recorded as a reviewer's identity; None when no key matches."""
        token = _bearer_token(authorization)
        if token is None or not self._digests:
            return None
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found = None
        for known in self._digests:  # every key, no early exit
            if hmac.compare_digest(digest, known):
                found = known
        return None if found is None else "key-" + hashlib.sha256(found).hexdigest()[:8]

    def __len__(self) -> int:
        return len(self._digests)

    def __repr__(self) -> str:
        return f"KeyStore({len(self._digests)} keys)"

    __str__ = __repr__


def _digest_of_entry(entry: str) -> bytes:
    m = _HASH_LINE.fullmatch(entry)
    if m:
        return bytes.fromhex(m.group(1))
    return hashlib.sha256(entry.encode("utf-8")).digest()


def _read_key_file(path: Path) -> list[bytes]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise KeyFileError(f"cannot read the key file {path}: {e.strerror}") from None
    out = []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _HASH_LINE.fullmatch(line)
        if not m:
            # the line is not echoed: it may be a plaintext key pasted by mistake
            raise KeyFileError(
                f"{path}:{n}: expected 'sha256:<64 hex digits>'; make the line with "
                "'python -m seethink.auth hash KEY'"
            )
        out.append(bytes.fromhex(m.group(1)))
    return out


def _bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def host_allowed(host_header: str | None, allowed: list[str]) -> bool:
    """True if the request's Host header names an allowed host.

    ``allowed`` holds names (``localhost``, ``*.example.com`` for any subdomain), IPv4
    addresses, IPv6 addresses (``::1`` or ``[::1]``), each optionally with ``:port`` (then the
    port must match too; without one any port matches), or ``*`` for any host.
    """
    if "*" in allowed:
        return True
    parsed = _split_host(host_header or "", bare_ipv6=False)
    if parsed is None:
        return False
    host, port = parsed
    for entry in allowed:
        want = _split_host(entry.strip(), bare_ipv6=True)
        if want is None:
            continue
        want_host, want_port = want
        if want_port is not None and want_port != port:
            continue
        if _same_host(host, want_host):
            return True
    return False


def _split_host(value: str, bare_ipv6: bool) -> tuple[str, int | None] | None:
    """``host[:port]`` / ``[v6][:port]`` / bare v6 -> (normalised host, port); None if invalid."""
    value = value.strip().lower()
    if not value:
        return None
    port_text = ""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[1:end], value[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                return None
            port_text = rest[1:]
        if not _is_ip(host, 6):
            return None
    elif value.count(":") > 1:  # a bare IPv6 address: allowed in config, not in a Host header
        host = value
        if not bare_ipv6 or not _is_ip(host, 6):
            return None
    else:
        host, _, port_text = value.partition(":")
        if value.endswith(":"):
            return None
        host = host.rstrip(".")
        if not (host.startswith("*.") and _HOST_NAME.fullmatch(host[2:])) and not (
            _HOST_NAME.fullmatch(host)
        ):
            return None
    port = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            return None
        port = int(port_text)
    return host, port


def _is_ip(text: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


def _same_host(host: str, want: str) -> bool:
    if want.startswith("*."):
        return host.endswith(want[1:]) and len(host) > len(want) - 1
    if ":" in host and ":" in want:  # IPv6: compare addresses, not spellings
        return ipaddress.ip_address(host) == ipaddress.ip_address(want)
    return host == want


def main(argv: list[str] | None = None) -> int:
    """``python -m seethink.auth hash KEY|-`` or ``python -m seethink.auth new``."""
    parser = argparse.ArgumentParser(prog="python -m seethink.auth", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hash", help="print the key-file line for a key")
    h.add_argument("key", help="the key, or - to read it from stdin")
    sub.add_parser("new", help="print a new random key, then its key-file line")
    args = parser.parse_args(argv)
    if args.cmd == "hash":
        key = sys.stdin.readline().rstrip("\r\n") if args.key == "-" else args.key
        if not key:
            parser.error("the key is empty")
        print(hash_line(key))
    else:
        key = "sk-seethink-" + secrets.token_urlsafe(32)
        print(key)
        print(hash_line(key))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
