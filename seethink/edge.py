"""Middleware for Ray Serve's HTTP servers: the true edge, before the app.

Serve runs these around its HTTP servers (its proxy, and each Ingress replica's own port, where
HAProxy sends requests: ``ENV`` below) when ``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH`` is
``seethink.edge:proxy_middlewares`` in the environment Ray starts with (``scripts/serve.sh`` and
the tests set it). There:
- the proxy's own answers (a full ingress queue: 503/429 with Retry-After; its request timeout:
  408; a dead ingress replica: 500/503) are plain text: they become the API's JSON error shape,
  with the request id and without internals;
- bodies are capped while they are read and must arrive in time, before the proxy buffers them
  for a replica (the ingress app checks again: it can run behind other proxies too);
- Host headers outside ``server.allowed_hosts`` are refused.

Settings come from the profile and ``SEETHINK_*`` variables the proxy sees (``load_config``).
"""

from __future__ import annotations

import atexit
import logging
import os
import shlex
import shutil
import tempfile

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .limits import send_json
from .ports import free_port
from .protocol import APIError

logger = logging.getLogger("ray.serve")

_MESSAGES = {
    408: ("the request took too long", "request_timeout"),
    429: ("the server is overloaded; retry after the Retry-After delay", "overloaded"),
    503: (
        "the server is overloaded or a node is unavailable; retry after the Retry-After delay",
        "overloaded",
    ),  # fmt: skip
    500: ("internal error", "internal_error"),
}


class JSONErrorMiddleware:
    """Rewrites non-JSON error answers (the proxy's plain text) into ``{"error": {...}}``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start: Message | None = None

        async def send_json_errors(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                ctype = _header(message, b"content-type") or b""
                if message["status"] >= 400 and not ctype.startswith(b"application/json"):
                    start = message  # hold it: the body is replaced
                    return
                await send(message)
            elif message["type"] == "http.response.body" and start is not None:
                if message.get("more_body"):
                    return  # drop the proxy's text
                await _send_error(send, start)
                start = None
            else:
                await send(message)

        await self.app(scope, receive, send_json_errors)


async def _send_error(send: Send, start: Message) -> None:
    status = start["status"]
    text, code = _MESSAGES.get(status, ("request failed", "http_error"))
    if status >= 500 and status not in _MESSAGES:
        text, code = _MESSAGES[500]
    rid = (_header(start, b"x-request-id") or b"").decode("latin-1") or None
    keep = [(k, v) for k, v in start.get("headers", []) if k.lower() in (b"retry-after",
            b"x-request-id")]  # fmt: skip
    await send_json(send, status, APIError(text, status, code).body(rid), keep)


def _header(message: Message, name: bytes) -> bytes | None:
    for k, v in message.get("headers", []):
        if k.lower() == name:
            return v
    return None


def proxy_middlewares() -> list[Middleware]:
    """What Serve's proxy runs (``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH``)."""
    from .api import HostCheckMiddleware
    from .config import load_config
    from .limits import BodyLimitMiddleware

    cfg = load_config()
    srv = cfg.server
    logger.info("seethink edge: JSON errors, body cap %d bytes, hosts %s",
                srv.max_body_bytes, srv.allowed_hosts)  # fmt: skip
    # the last is outermost: host check, then body limits, then JSON errors around the proxy
    return [
        Middleware(JSONErrorMiddleware),
        Middleware(
            BodyLimitMiddleware,
            max_body_bytes=srv.max_body_bytes,
            body_timeout_s=srv.body_timeout_s,
            max_json_depth=srv.max_json_depth,
            # batch input files may be larger than a request body (multipart framing on top)
            paths_max={"/v1/files": cfg.batch.max_file_bytes + 64 * 1024},
        ),
        Middleware(HostCheckMiddleware, allowed=srv.allowed_hosts),
    ]


# The environment Ray should start with for this graph (scripts/serve.sh exports the same):
# - the edge middleware in Serve's HTTP servers (proxy_middlewares above);
# - Serve's throughput-oriented mode (no per-call access-log lines, user code on the replica's
#   event loop) less one part: the handle router runs on its own loop (on the caller's loop,
#   synchronous callers such as scripts and tests could not use handles). The mode's other half,
#   gRPC between deployments and the router on the caller's loop, does not reach the handles a
#   replica is given (their options are made where the app is built), so the replicas set both on
#   their own handles (deployments/handles.py: on_this_loop). Serve's proxy sends each request
#   to the Ingress over the same gRPC transport (RAY_SERVE_PROXY_USE_GRPC, which the mode leaves
#   off): on the instant profile's direct route, about 1 CPU-ms fewer in the proxy and 1-2 in
#   the Ingress per request (scripts/graph_cost.py, two runs each way).
# Ray's HAProxy mode is ON: an HAProxy process, which Serve starts and reconfigures as replicas
# come and go, listens on the graph's address and forwards each request to an Ingress replica's
# own HTTP port (direct ingress, wrapped in the same middleware); Serve's proxy stays up beside it
# as its backup. One Python hop fewer, and no callback from the Ingress to Serve's proxy for each
# request's body: on the instant profile, direct route at one client 18-20 -> 11-12 ms p50, 81-85
# -> 128-141 req/s at 64 clients, cascades 55-69 -> 86-104/s (scripts/graph_cost.py, each way
# twice, alternated). It was opt-in while streamed answers reached
# readers behind it in bursts; the bursts came from Ray Serve LLM, which passes a stream's tokens
# on every 50 ms (HAProxy merely delivers a burst in one read), and the cpu profile now passes
# each token on as it comes (llm.stream_interval_ms). A client silent for 60 s is dropped by it
# (Ray's default is an hour). RAY_SERVE_ENABLE_HA_PROXY=0 RAY_SERVE_ENABLE_DIRECT_INGRESS=0 in
# the environment opts out. The cluster files keep Serve's proxy on every node (their load
# balancers target it).
# A graph at rest is kept quiet: Serve's controller runs its control loop every 0.5 s (default
# 0.1; autoscaling decisions and replica changes wait at most that much longer), and every
# replica and handle passes its request metrics to Ray's metrics agent every second (default
# 0.1 s; Prometheus scrapes every few seconds). The idle cpu graph took 17% of one core (5 points
# of it Serve's controller) and now takes 8-9% (scratch measurement, 2 x 20 s each way), which
# on two shared cores is time the models' low-priority threads no longer lose at one client.
# Ray starts its worker processes at nice 15, below its own daemons: every replica, the
# models' compute included, then competes at one priority. Here they start at nice 0 and the
# profile lowers the models' compute threads instead (vision.nice, llm.nice; 19 on the cpu
# profile; seethink/priority.py), so on shared cores the request plumbing (HTTP, handle calls,
# tokenising, Serve's controller and proxies) goes first and requests gather into bigger batches:
# on the cpu profile at 32 clients, 68.8 cascades/s against 60.2 with Ray's default, at 27.9
# CPU-ms each against 32.2 (four alternated pairs of 640 cascades, same boot). The other way
# round (compute above the plumbing) gave 43 cascades/s at 45 CPU-ms: requests wait to be parsed
# and handed on while batch steps run half-empty.
ENV = {
    "RAY_worker_niceness": "0",
    "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH": "seethink.edge:proxy_middlewares",
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "1",
    "RAY_SERVE_PROXY_USE_GRPC": "1",
    "RAY_SERVE_ENABLE_DIRECT_INGRESS": "1",
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_SERVE_HAPROXY_TIMEOUT_CLIENT_S": "60",
    "RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "0.5",
    "RAY_SERVE_METRICS_EXPORT_INTERVAL_MS": "1000",
}


def haproxy_on() -> bool:
    """Whether Ray will start in HAProxy mode: the environment wins over ENV (on)."""
    key = "RAY_SERVE_ENABLE_HA_PROXY"
    return os.environ.get(key, ENV[key]) == "1"


def private_env() -> dict[str, str]:
    """ENV for one more Ray instance on a machine that may run others (tests, benchmarks), with
    this run's files in a new directory of this process (removed when it exits): vLLM's IPC
    sockets (``run_files``) and, in HAProxy mode (``haproxy_on``), HAProxy's files, with its
    side ports (stats, Prometheus exporter, Serve's backup proxy) on free ports instead of the
    fixed 8404, 9101 and 8500. The directory's name is short: HAProxy takes socket paths of at
    most 97 characters, and Ray adds the node id (56) and the file's name under it."""
    d = tempfile.mkdtemp(prefix="sthap-", dir="/tmp")
    atexit.register(stop_haproxy, d)
    if not haproxy_on():
        return {**ENV, **run_files(d)}
    return {**ENV, **run_files(d), **haproxy_files(d), **{k: str(free_port()) for k in SIDE_PORTS}}


def run_files(d: str) -> dict[str, str]:
    """vLLM's engines bind their ZMQ IPC sockets under ``d`` instead of the temp directory
    itself, where nothing removes them (Ray stopping a replica leaves three per engine start)."""
    return {"VLLM_RPC_BASE_PATH": d}


SIDE_PORTS = (
    "RAY_SERVE_HAPROXY_STATS_PORT",
    "RAY_SERVE_HAPROXY_METRICS_PORT",
    "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT",
)


def haproxy_files(d: str) -> dict[str, str]:
    """Every file HAProxy mode writes, under ``d`` (Ray adds a directory per node id)."""
    return {
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": f"{d}/haproxy.cfg",
        "RAY_SERVE_HAPROXY_SOCKET_PATH": f"{d}/admin.sock",
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": d,
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": f"{d}/server-state",
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": f"{d}/metrics.sock",
    }


def stop_haproxy(d: str, grace_s: float = 5.0) -> list[int]:
    """Stop the HAProxy processes that run from ``d``'s files and remove ``d``; returns their
    PIDs. Ray stops its HAProxy when it shuts down, but one killed without a shutdown (SIGTERM
    to `serve run`, a killed test run) leaves HAProxy holding the graph's port."""
    import psutil

    mine = []
    for p in psutil.process_iter(["name", "cmdline"]):
        cmd = p.info["cmdline"] or []
        if "haproxy" in (p.info["name"] or "") and any(a.startswith(f"{d}/") for a in cmd):
            mine.append(p)
    for p in mine:
        p.terminate()
    _, alive = psutil.wait_procs(mine, timeout=grace_s)
    for p in alive:
        p.kill()
    shutil.rmtree(d, ignore_errors=True)
    return [p.pid for p in mine]


def shell_exports(run_dir: str | None = None) -> str:
    """ENV as shell exports for scripts/serve.sh (a variable already set in its environment keeps
    its value) and, under ``run_dir``, vLLM's IPC sockets and, in HAProxy mode, HAProxy's files."""
    lines = [f'export {k}="${{{k}:-{v}}}"' for k, v in ENV.items()]
    if run_dir:
        lines += [f'export {k}="${{{k}:-{v}}}"' for k, v in run_files(run_dir).items()]
    if run_dir and haproxy_on():
        lines += [f"export {k}={shlex.quote(v)}" for k, v in haproxy_files(run_dir).items()]
    return "".join(line + "\n" for line in lines)


if __name__ == "__main__":  # scripts/serve.sh: python -m seethink.edge env DIR | stop-haproxy DIR
    import sys

    if len(sys.argv) in (2, 3) and sys.argv[1] == "env":
        print(shell_exports(*sys.argv[2:]), end="")
    elif len(sys.argv) == 3 and sys.argv[1] == "stop-haproxy":
        stopped = stop_haproxy(sys.argv[2])
        if stopped:
            print(f"stopped HAProxy {stopped}, which outlived Ray")
    else:
        sys.exit("usage: python -m seethink.edge env [DIR] | stop-haproxy DIR")
