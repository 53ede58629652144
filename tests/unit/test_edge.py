"""The proxy-side middleware: Serve's plain-text errors become the API's JSON errors."""

from __future__ import annotations

import os

import httpx
import pytest

from seethink.edge import ENV, JSONErrorMiddleware, private_env, proxy_middlewares


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


def test_private_env_without_haproxy_keeps_only_vllm_sockets_apart(monkeypatch):
    monkeypatch.setenv("RAY_SERVE_ENABLE_HA_PROXY", "0")
    a, b = private_env(), private_env()
    # no HAProxy files or ports; vLLM's IPC sockets in a directory of this run's own
    assert set(a) == set(ENV) | {"VLLM_RPC_BASE_PATH"}
    assert {k: a[k] for k in ENV} == ENV
    assert a["VLLM_RPC_BASE_PATH"] != b["VLLM_RPC_BASE_PATH"]
    assert os.path.isdir(a["VLLM_RPC_BASE_PATH"])


def test_private_env_keeps_haproxy_files_and_side_ports_apart(monkeypatch):
    monkeypatch.delenv("RAY_SERVE_ENABLE_HA_PROXY", raising=False)  # on by default
    a, b = private_env(), private_env()
    assert a["RAY_SERVE_ENABLE_HA_PROXY"] == ENV["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
    assert a["RAY_SERVE_ENABLE_DIRECT_INGRESS"] == ENV["RAY_SERVE_ENABLE_DIRECT_INGRESS"] == "1"
    files = ("CONFIG_FILE_LOC", "SOCKET_PATH", "METRICS_SOCKET_PATH", "SERVER_STATE_FILE")
    for k in (f"RAY_SERVE_HAPROXY_{f}" for f in files):
        assert a[k] != b[k] and os.path.isdir(os.path.dirname(a[k]))
        # HAProxy's limit for socket paths (97) with Ray's node id (56 + "/") under the dir
        assert len(a[k]) + 57 <= 97, a[k]
    ports = [
        int(e[k])
        for e in (a, b)
        for k in (
            "RAY_SERVE_HAPROXY_STATS_PORT",
            "RAY_SERVE_HAPROXY_METRICS_PORT",
            "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT",
        )  # fmt: skip
    ]
    # never Ray's fixed ones, never in Serve's replica port range (30000-31000)
    assert not {8404, 9101, 8500} & set(ports) and all(p < 30000 for p in ports)


def test_stop_haproxy_stops_only_the_haproxy_running_from_its_directory(tmp_path):
    import subprocess
    import time

    from seethink.edge import stop_haproxy

    fake = tmp_path / "bin" / "haproxy"  # a process named haproxy (bash under that name)
    fake.parent.mkdir()
    fake.symlink_to("/bin/bash")
    ours, other = tmp_path / "ours", tmp_path / "other"
    ours.mkdir()
    other.mkdir()
    script = "trap exit TERM; sleep 60 & wait"
    procs = {
        d: subprocess.Popen([str(fake), "-c", script, f"{d}/haproxy.cfg"]) for d in (ours, other)
    }
    try:
        time.sleep(0.3)
        assert stop_haproxy(str(ours)) == [procs[ours].pid]
        assert procs[ours].wait(timeout=5) is not None and not ours.exists()
        assert procs[other].poll() is None and other.exists()  # not ours to stop
    finally:
        for p in procs.values():
            p.kill()
            p.wait()


def test_shell_exports_give_env_where_the_environment_sets_nothing_else():
    import subprocess

    from seethink.edge import shell_exports

    script = shell_exports() + "env"
    keep = {"PATH": os.environ["PATH"], "RAY_SERVE_ENABLE_HA_PROXY": "0"}
    out = subprocess.run(["bash", "-c", script], env=keep, capture_output=True, text=True)
    got = dict(line.split("=", 1) for line in out.stdout.splitlines() if line.startswith("RAY_"))
    assert got == {**ENV, "RAY_SERVE_ENABLE_HA_PROXY": "0"}  # the caller's setting wins


def test_shell_exports_name_haproxy_files_under_the_run_directory_in_haproxy_mode(monkeypatch):
    from seethink.edge import haproxy_files, shell_exports

    monkeypatch.delenv("RAY_SERVE_ENABLE_HA_PROXY", raising=False)  # on by default
    assert all(f"export {k}=/tmp/run" in shell_exports("/tmp/run") for k in haproxy_files("d"))
    monkeypatch.setenv("RAY_SERVE_ENABLE_HA_PROXY", "0")
    # Serve's proxy alone: no HAProxy files, only vLLM's sockets under the run directory
    vllm = 'export VLLM_RPC_BASE_PATH="${VLLM_RPC_BASE_PATH:-/tmp/run}"\n'
    assert shell_exports("/tmp/run") == shell_exports() + vllm
