"""Fetching image URLs against a local hostile server: limits, deadlines, address policy."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
import tracemalloc

import pytest

from seethink.fetch import (
    ALLOW_ENV,
    MAX_REDIRECTS,
    PinnedBackend,
    check_url,
    fetch_image,
    is_public,
    parse_url,
)
from seethink.images import ImageError, load_image_bytes
from tests.fakes.image_server import DRIP_S, HostileImageServer

MAX = 1024 * 1024  # 1 MiB cap in these tests
LOCAL = ["127.0.0.1"]


@pytest.fixture(scope="module")
def srv():
    with HostileImageServer() as s:
        yield s


def fetch(url: str, max_bytes: int = MAX, timeout_s: float = 5.0, allow=LOCAL, **kw) -> bytes:
    return asyncio.run(fetch_image(url, max_bytes, timeout_s, allow=allow, **kw))


def refused(url: str, **kw) -> ImageError:
    with pytest.raises(ImageError) as e:
        fetch(url, **kw)
    return e.value


# ---- the good path ---------------------------------------------------------------------


def test_good_png_is_fetched_without_compression_or_proxies(srv, monkeypatch):
    # proxies from the environment must not be used (this one does not exist)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    before = len(srv.seen)
    assert fetch(srv.url("/good.png")) == srv.good
    path, headers = srv.seen[before]
    assert path == "/good.png" and headers["accept-encoding"] == "identity"
    assert headers["host"] == f"127.0.0.1:{srv.port}"


def test_allowed_by_name_from_the_environment(srv, monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "localhost")
    # localhost may resolve to ::1 first (nothing listens there): the next address is tried
    assert fetch(srv.url("/good.png", host="localhost"), allow=None) == srv.good


# ---- bodies: encoding, length, size ----------------------------------------------------


@pytest.mark.parametrize("path", ["/gzip-gzip", "/gzip"])
def test_content_encoding_is_refused_and_never_inflated(srv, path):
    tracemalloc.start()
    try:
        err = refused(srv.url(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (err.status, err.code) == (400, "unsupported_content_encoding")
    assert "Content-Encoding" in str(err)
    assert peak < 2 * MAX


def test_compressed_bytes_without_encoding_stay_small_and_are_not_an_image(srv):
    tracemalloc.start()
    try:
        data = fetch(srv.url("/bomb-raw"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert data == srv.bomb and peak < 2 * MAX
    with pytest.raises(ImageError) as e:
        load_image_bytes(data, MAX, 10**7)
    assert e.value.status == 400


def test_declared_length_over_the_cap_is_refused_before_reading(srv):
    t = time.monotonic()
    err = refused(srv.url("/huge"))
    assert (err.status, err.code) == (413, "image_too_large")
    assert str(100 * 1024**3) in str(err) and time.monotonic() - t < 2
    err = refused(srv.url(f"/lie-big?n={MAX + 1}"))
    assert err.status == 413


def test_declared_length_longer_than_the_body_is_an_incomplete_response(srv):
    err = refused(srv.url("/lie-big?n=5000"))
    assert (err.status, err.code) == (400, "image_fetch_failed")
    assert "incomplete" in str(err)


def test_body_longer_than_declared_is_cut_at_the_declared_length(srv):
    assert len(fetch(srv.url("/lie-small"))) == 100


def test_chunked_body_over_the_cap_is_cut_while_reading(srv):
    tracemalloc.start()
    try:
        err = refused(srv.url("/chunked-big"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (err.status, err.code) == (413, "image_too_large") and peak < 2 * MAX


def test_http_errors_are_400(srv):
    err = refused(srv.url("/status/404"))
    assert (err.status, err.code) == (400, "image_fetch_failed") and "404" in str(err)


# ---- one deadline for the whole fetch --------------------------------------------------


@pytest.mark.parametrize("path", ["/drip", "/drip-headers"])
def test_a_dripping_server_is_cut_at_the_deadline(srv, path):
    timeout = 1.5
    assert DRIP_S < timeout * 2  # each byte alone would beat a per-read timeout
    t = time.monotonic()
    err = refused(srv.url(path), timeout_s=timeout)
    elapsed = time.monotonic() - t
    assert (err.status, err.code) == (400, "image_fetch_failed") and "1.5 s" in str(err)
    assert timeout - 0.1 < elapsed < timeout + 1.0


def test_the_deadline_covers_dns():
    async def slow(host, port):
        await asyncio.sleep(10)
        return ["93.184.216.34"]

    t = time.monotonic()
    err = refused("http://slow.example/x.png", timeout_s=0.5, resolver=slow)
    assert err.code == "image_fetch_failed" and time.monotonic() - t < 1.5


# ---- redirects --------------------------------------------------------------------------


def test_redirect_chains(srv):
    assert fetch(srv.url(f"/hops/{MAX_REDIRECTS}")) == srv.good
    err = refused(srv.url(f"/hops/{MAX_REDIRECTS + 1}"))
    assert err.code == "image_fetch_failed" and f"more than {MAX_REDIRECTS}" in str(err)
    err = refused(srv.url("/loop"))
    assert f"more than {MAX_REDIRECTS}" in str(err)


@pytest.mark.parametrize(
    "to", ["http://10.0.0.1/x.png", "http://169.254.169.254/latest/", "http://[::1]:22/"]
)
def test_redirect_to_a_private_address_is_refused_without_connecting(srv, to):
    backend = PinnedBackend()
    err = refused(srv.url(f"/redirect?to={to}"), backend=backend)
    assert (err.status, err.code) == (403, "image_url_forbidden") and ALLOW_ENV in str(err)
    assert backend.connected == [("127.0.0.1", srv.port)]


def test_redirect_to_a_malformed_url_is_400(srv):
    for to in ("http://[::1/", "http://a..b/", "ftp://example.com/x.png"):
        err = refused(srv.url(f"/redirect?to={to}"))
        assert (err.status, err.code) == (400, "invalid_image_url")
        assert "redirected to an invalid URL" in str(err)


# ---- DNS rebinding and pinning ---------------------------------------------------------


class Rebinder:
    """Resolves a name to an allowed address first, then to a private one."""

    def __init__(self, first: list[str], then: list[str]):
        self.answers = [first, then]
        self.calls = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return self.answers[min(self.calls - 1, 1)]


def test_connection_goes_to_the_checked_address(srv):
    # "rebind.test" does not exist: the fetch works only because the connection goes to the
    # address the policy checked, never to a second lookup.
    resolver, backend = Rebinder(["127.0.0.1"], ["10.0.0.5"]), PinnedBackend()
    url = f"http://rebind.test:{srv.port}/good.png"
    before = len(srv.seen)
    assert fetch(url, resolver=resolver, backend=backend) == srv.good
    assert resolver.calls == 1 and backend.connected == [("127.0.0.1", srv.port)]
    assert srv.seen[before][1]["host"] == f"rebind.test:{srv.port}"


def test_rebinding_on_a_later_hop_is_refused(srv):
    resolver, backend = Rebinder(["127.0.0.1"], ["10.0.0.5"]), PinnedBackend()
    url = f"http://rebind.test:{srv.port}/redirect?to=/good.png"
    err = refused(url, resolver=resolver, backend=backend)
    assert (err.status, err.code) == (403, "image_url_forbidden") and "10.0.0.5" in str(err)
    assert resolver.calls == 2 and ("10.0.0.5", srv.port) not in backend.connected


def test_any_private_address_in_the_answer_refuses_the_host(srv):
    resolver = Rebinder(["127.0.0.1", "192.168.1.1"], [])
    err = refused(f"http://mixed.test:{srv.port}/good.png", resolver=resolver)
    assert err.status == 403 and "192.168.1.1" in str(err)


def test_refusals_do_not_depend_on_what_listens(srv):
    # an open port (the server) and a closed one on a refused address: same answer, no connect
    open_, closed = (refused(f"http://10.0.0.1:{p}/", allow=[]) for p in (srv.port, 1))
    assert str(open_) == str(closed) and open_.status == 403


def test_connect_failures_give_one_message(srv):
    backend = PinnedBackend()
    err = refused("http://127.0.0.1:1/x.png", backend=backend)
    assert (err.status, err.code) == (400, "image_fetch_failed")
    assert str(err) == "could not connect to image_url host '127.0.0.1'"


# ---- the address policy ----------------------------------------------------------------


@pytest.mark.parametrize(
    "addr",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",  # CGNAT
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "198.18.0.1",
        "::",
        "::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:8.8.8.8",  # mapped, even of a public address
        "::127.0.0.1",  # IPv4-compatible
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:808:808::",  # 6to4 of a public address: still a tunnel
        "2001::1",  # Teredo
        "fec0::1",  # site-local
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "ff02::1",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b:1::1",
        "2001:db8::1",
    ],
)
def test_non_public_addresses(addr):
    assert not is_public(ipaddress.ip_address(addr))


@pytest.mark.parametrize(
    "addr", ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "64:ff9b::808:808"]
)
def test_public_addresses(addr):
    assert is_public(ipaddress.ip_address(addr))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.png",
        "http://localhost:8000/x.png",
        "http://10.1.2.3/x.png",
        "http://192.168.0.1/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x.png",
        "http://[::ffff:127.0.0.1]/x.png",
        "http://0.0.0.0/x.png",
        "http://[2002:7f00:1::]/x.png",
        "http://[fec0::1]/x.png",
        "http://100.64.1.1/x.png",
    ],
)
def test_non_public_urls_are_refused(url, monkeypatch):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    with pytest.raises(ImageError) as e:
        check_url(url)
    assert e.value.status == 403 and ALLOW_ENV in str(e.value)
    err = refused(url, allow=[])
    assert err.status == 403


def test_allow_list_by_name_or_address(monkeypatch):
    monkeypatch.setenv(ALLOW_ENV, "localhost, 10.1.2.3, [::1]")
    assert check_url("http://localhost:9/x.png") == ("localhost", 9)
    assert check_url("http://10.1.2.3/x.png") == ("10.1.2.3", 80)
    assert check_url("http://[::1]:8/x.png") == ("::1", 8)
    with pytest.raises(ImageError):
        check_url("http://10.9.9.9/x.png")


# ---- malformed URLs --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://example.com/x.png",
        "file:///etc/passwd",
        "http:///x",
        "http://a..b/",
        "http://.example.com/",
        "http://" + "a" * 64 + ".com/",
        "http://" + ("a" * 60 + ".") * 5 + "com/",  # over 253 characters
        "http://[::1/",
        "http://[not-ipv6]/",
        "http://[fe80::1%25eth0]/",
        "http://\u2100/",  # NFKC: "a/c"
        "http://exa\u2100mple.com/",
        "http://\ufe6b.example.com/",  # NFKC: "@"
        "http://xn--a.com\u00e9/",  # IDNA failure
        "http://\u0661\u0041.com/",  # IDNA bidi rule failure
        "http://example.com/a\x00b",
        "http://example.com/a\r\nHost: evil",
        "http://example.com/a\x7fb",
        "http://example.com/a b",
        "http://example.com/\u2028",
        "http://example.com/\u202e",
        "http://example.com/" + "a" * 70_000,
        "http://user:pass@example.com/",
        "http://user@example.com/",
        "http://example.com:99999/",
        "http://example.com:0/",
        "http://example.com:80:80/",
        "http://example.com:-1/",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f.0.0.1/",
        "http://0177.0.0.1/",
        "http://exa_mple-.com%2f/",
    ],
)
def test_malformed_urls_are_400_with_a_message(url):
    with pytest.raises(ImageError) as e:
        parse_url(url)
    assert (e.value.status, e.value.code) == (400, "invalid_image_url")
    assert "image_url" in str(e.value)
    # and the fetch path says the same thing, never another exception
    err = refused(url, allow=[])
    assert (err.status, err.code) == (400, "invalid_image_url")


@pytest.mark.parametrize(
    "url,host,port",
    [
        ("http://Example.COM./x.png", "example.com", 80),
        ("https://b\u00fccher.example/x", "xn--bcher-kva.example", 443),
        ("http://[2606:4700::1111]:8080/", "2606:4700::1111", 8080),
        ("http://a_b.example.com/", "a_b.example.com", 80),
        ("http://1.2.3.4/", "1.2.3.4", 80),
    ],
)
def test_valid_urls_parse(url, host, port):
    t = parse_url(url)
    assert (t.host, t.port) == (host, port)


@pytest.fixture
def tls_port(tmp_path):
    """A TLS listener on 127.0.0.1 with a self-signed certificate; yields (port, seen SNI)."""
    import shutil
    import socket
    import ssl
    import subprocess
    import threading

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=other.test", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    seen: list[str | None] = []
    ctx.sni_callback = lambda sock, name, c: seen.append(name)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)

    def serve():
        try:
            conn, _ = listener.accept()
            with ctx.wrap_socket(conn, server_side=True):
                pass
        except OSError:
            pass  # the client refuses the self-signed certificate: expected

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield listener.getsockname()[1], seen
    listener.close()
    t.join(5)


def test_https_sends_the_name_as_sni_and_checks_the_certificate(tls_port):
    port, seen = tls_port
    backend = PinnedBackend()
    err = refused(
        f"https://rebind.test:{port}/x.png",
        resolver=Rebinder(["127.0.0.1"], ["10.0.0.5"]),
        backend=backend,
    )
    # connected to the checked address, told the server the name, refused its certificate
    assert backend.connected == [("127.0.0.1", port)] and seen == ["rebind.test"]
    assert err.code == "image_fetch_failed" and "could not connect" in str(err)


def test_unresolvable_hosts_are_400():
    async def nxdomain(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    err = refused("http://no-such-host.example/x.png", resolver=nxdomain)
    assert (err.status, err.code) == (400, "image_fetch_failed")
    assert "could not be resolved" in str(err)
