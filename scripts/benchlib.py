"""Shared pieces of the benchmark scripts: test images, the load loop, servers we start, memory.

Not a test helper and not part of the graph: ``scripts/bench.py``, ``scripts/model_limits.py``
and ``scripts/peer_vision_server.py`` import it (they put the repository root on ``sys.path``).
"""

from __future__ import annotations

import asyncio
import io
import os
import random
import signal
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

IMAGE_SIZE = (320, 240)
QUESTION = "What is in this picture?"


def caption_prompt(lang: str = "en") -> str:
    """The graph's own caption prompt (seethink.prompts; older checkouts kept it elsewhere)."""
    try:
        from seethink.prompts import CAPTION_PROMPTS
    except ImportError:
        from deployments.vision_backends import CAPTION_PROMPTS
    return CAPTION_PROMPTS[lang]


def cascade_messages(caption: str, question: str, lang: str = "en") -> list[dict]:
    """The chat the graph's cascade sends its LLM: system prompt, then caption and question."""
    try:
        from seethink.prompts import CASCADE_TEMPLATES, SYSTEM_PROMPTS
    except ImportError:
        from seethink.pipeline import CASCADE_TEMPLATES, SYSTEM_PROMPTS
    return [
        {"role": "system", "content": SYSTEM_PROMPTS[lang]},
        {
            "role": "user",
            "content": CASCADE_TEMPLATES[lang].format(caption=caption, question=question),
        },
    ]


class BenchError(RuntimeError):
    """A benchmark step that cannot go on; the message says which and why."""


def make_image(seed: int, size: tuple[int, int] = IMAGE_SIZE) -> bytes:
    """A distinct JPEG for every seed (so no cache anywhere can answer it), ``size`` pixels.

    Shapes over sensor-like noise, so the file is about the size of a photo of that size
    (~20 KB), not a few hundred bytes of flat colour.
    """
    import numpy as np
    from PIL import Image, ImageDraw

    w, h = size
    rng = random.Random(seed)
    im = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(im)
    for _ in range(6):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = min(w, x0 + rng.randrange(20, w // 2)), min(h, y0 + rng.randrange(20, h // 2))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rectangle((x0, y0, x1, y1), fill=colour)
    draw.text((6, 6), f"#{seed}", fill=(255, 255, 255))
    noise = np.random.default_rng(seed).integers(-24, 25, (h, w, 3))
    pixels = np.clip(np.asarray(im, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=85)
    return buf.getvalue()


class ImageSeeds:
    """Hands out image seeds that were never used before in this process."""

    def __init__(self, start: int = 1) -> None:
        self._next = start

    def take(self, n: int) -> list[int]:
        seeds = list(range(self._next, self._next + n))
        self._next += n
        return seeds


def boot_graph(workdir: Path, args: dict) -> str:
    """Start Ray and the graph in this process (loopback, a free port), as scripts/serve.sh
    starts it (seethink.edge.ENV; HAProxy's files and side ports private to this process);
    ``args`` go to graph.build_app. Returns the graph's URL."""
    import ray
    from ray import serve

    from graph import build_app
    from seethink.edge import private_env

    for k, v in private_env().items():
        os.environ.setdefault(k, v)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    ray.init(num_cpus=6, include_dashboard=False, _temp_dir=str(workdir), log_to_driver=False)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app(args), name="seethink", route_prefix="/")
    return f"http://127.0.0.1:{port}"


def ingress_replica_url() -> str | None:
    """The URL an Ingress replica of the graph started here serves itself (Serve's direct
    ingress, on only with RAY_SERVE_ENABLE_DIRECT_INGRESS=1): one hop fewer than the proxy.
    None when it serves none."""
    import psutil
    import requests

    for p in psutil.Process().children(recursive=True):
        try:
            if "ServeReplica:seethink:Ingress" not in " ".join(p.cmdline()):
                continue
            ports = sorted(c.laddr.port for c in p.net_connections("tcp")
                           if c.status == psutil.CONN_LISTEN)  # fmt: skip
        except psutil.Error:
            continue
        for port in ports:
            url = f"http://127.0.0.1:{port}"
            try:
                if requests.get(url + "/healthz", timeout=5).json() == {"status": "ok"}:
                    return url
            except (requests.RequestException, ValueError):
                continue  # Ray's own gRPC ports
    return None


def free_port() -> int:
    """A free loopback TCP port (seethink.ports), as a benchmark error when there is none."""
    from seethink.ports import NoFreePort
    from seethink.ports import free_port as pick

    try:
        return pick()
    except NoFreePort as e:
        raise BenchError(str(e)) from None


@dataclass
class LoadResult:
    """Latencies (seconds) and failures of one block of requests, and its wall time."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    wall_s: float = 0.0
    error_samples: list[str] = field(default_factory=list)

    def merge(self, other: LoadResult) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.wall_s += other.wall_s
        self.error_samples = (self.error_samples + other.error_samples)[:3]


# One request: returns None on success or a short reason for the failure.
Call = Callable[[int], Awaitable[str | None]]


async def run_load(call: Call, n: int, concurrency: int, timeout_s: float) -> LoadResult:
    """Run ``n`` calls with ``concurrency`` closed-loop clients; each call bounded by timeout_s."""
    res = LoadResult()
    counter = iter(range(n))

    async def client() -> None:
        for i in counter:
            t = time.perf_counter()
            try:
                err = await asyncio.wait_for(call(i), timeout_s)
            except TimeoutError:
                err = f"timeout after {timeout_s:.0f} s"
            except Exception as e:  # a benchmark counts failures, it does not stop on them
                err = f"{type(e).__name__}: {e}"[:200]
            res.latencies.append(time.perf_counter() - t)
            if err is not None:
                res.errors += 1
                if len(res.error_samples) < 3:
                    res.error_samples.append(err)

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(min(concurrency, n))))
    res.wall_s = time.perf_counter() - t0
    return res


@dataclass
class Row:
    """One line of the table: what was measured, at how many clients, and how it went."""

    what: str
    target: str  # graph | peer | instant ...
    clients: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    wall_s: float
    error_samples: list[str] = field(default_factory=list)
    # cores the other side's idle processes used meanwhile (interference on a shared box)
    background_cores: float = 0.0
    # cores that processes outside this benchmark used meanwhile (other users of the box)
    foreign_cores: float = 0.0

    @classmethod
    def of(cls, what: str, target: str, clients: int, r: LoadResult) -> Row:
        lat = sorted(r.latencies) or [float("nan")]
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        n = len(r.latencies)
        return cls(
            what=what,
            target=target,
            clients=clients,
            requests=n,
            rps=n / r.wall_s if r.wall_s > 0 else 0.0,
            p50_ms=statistics.median(lat) * 1000,
            p99_ms=p99 * 1000,
            errors=r.errors,
            wall_s=r.wall_s,
            error_samples=r.error_samples,
        )

    def as_dict(self) -> dict:
        return asdict(self)


def print_rows(rows: list[Row]) -> None:
    print(
        f"| {'what':<20} | clients | requests |  req/s |  p50 ms |  p99 ms | errors |"
        " idle side's cores | foreign cores |"
    )
    print(
        f"|{'-' * 22}|---------|----------|--------|---------|---------|--------|"
        f"{'-' * 19}|{'-' * 15}|"
    )
    for r in rows:
        print(
            f"| {r.what:<20} | {r.clients:>7} | {r.requests:>8} | {r.rps:>6.1f} |"
            f" {r.p50_ms:>7.0f} | {r.p99_ms:>7.0f} | {r.errors:>6} | {r.background_cores:>17.2f} |"
            f" {r.foreign_cores:>13.2f} |"
        )


class Server:
    """A server process we start (its own session, so its children go with it) and stop by PID."""

    def __init__(
        self, name: str, cmd: list[str], env: dict[str, str], log_path: Path, ready_url: str
    ):
        self.name, self.cmd, self.env, self.log_path, self.ready_url = (
            name,
            cmd,
            env,
            log_path,
            ready_url,
        )
        self.url = ""  # the base URL, once the caller knows it
        self.proc: subprocess.Popen | None = None
        self.startup_s: float | None = None
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child owns it while it runs
        self.proc = subprocess.Popen(
            self.cmd,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def wait_ready(self, timeout_s: float) -> float:
        """Poll ``ready_url`` until it answers 200; the seconds from start to ready."""
        assert self.proc is not None, "start() first"
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with status {self.proc.returncode} before it was "
                    f"ready; its log ({self.log_path}) ends with:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.ready_url, timeout=2) as r:
                    if r.status == 200:
                        self.startup_s = time.perf_counter() - self._t0
                        return self.startup_s
            except OSError:
                pass
            time.sleep(0.5)
        raise BenchError(
            f"{self.name} was not ready at {self.ready_url} after {timeout_s:.0f} s; "
            f"its log ({self.log_path}) ends with:\n{self.log_tail()}"
        )

    def log_tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def rss_bytes(self) -> int:
        """RSS of the server and every process under it."""
        if self.proc is None or self.proc.poll() is not None:
            return 0
        return tree_rss(self.proc.pid)

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM the server's process group (the group id is the PID we started), then KILL."""
        p = self.proc
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            p.wait(grace_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(5)


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    import psutil

    try:
        root = psutil.Process(pid)
        return _rss_sum([root, *root.children(recursive=True)])
    except psutil.NoSuchProcess:
        return 0


REPLICA_PREFIX = "ray::ServeReplica:"


def serve_replica_rss(
    root_pid: int | None = None, exclude: set[int] = frozenset()
) -> dict[str, int]:
    """RSS per Serve replica (``ray::ServeReplica:APP:DEPLOYMENT``) and its child processes
    (vLLM's EngineCore runs as the LLM replica's child), by deployment name.

    ``root_pid``: only processes under it (the Ray this script started); None: the whole host.
    Several replicas of one deployment are named ``Deployment#2``, ``#3``. The other Ray
    processes under ``root_pid`` (GCS, raylet, proxy, controller, idle workers) are summed as
    ``ray (other)``. ``exclude``: PIDs that are not the graph's (the peer servers we started).
    """
    import psutil

    if root_pid is not None:
        try:
            procs = psutil.Process(root_pid).children(recursive=True)
        except psutil.NoSuchProcess:
            procs = []
    else:
        procs = list(psutil.process_iter())
    procs = [p for p in procs if p.pid not in exclude]
    out: dict[str, int] = {}
    counted: set[int] = set()
    for p in procs:
        try:
            label = proc_label(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if not label.startswith(REPLICA_PREFIX):
            continue
        name = label.split(":")[-1]  # ray::ServeReplica:APP:DEPLOYMENT
        key, k = name, 1
        while key in out:
            k += 1
            key = f"{name}#{k}"
        try:
            tree = [p, *p.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        out[key] = _rss_sum(tree)
        counted.update(q.pid for q in tree)
    if root_pid is not None:
        out["ray (other)"] = _rss_sum([p for p in procs if p.pid not in counted])
    return out


def _rss_sum(procs) -> int:
    import psutil

    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return total


def proc_label(p) -> str:
    """A short, stable name for a process: its Ray/vLLM title, or the program and script."""
    cmd = p.cmdline() or [p.name()]
    first = cmd[0].split()[0] if cmd[0] else p.name()
    if "ServeReplica:" in first:  # also ray::SERVE_REPLICA::app#LLM#id:ServeReplica:app:LLM
        return REPLICA_PREFIX + first.split("ServeReplica:")[-1].split(".")[0]
    if "::" in first:  # ray::IDLE, ray::ServeReplica:app:Vision, VLLM::EngineCore
        # Ray appends the running method (ray::ServeController.record_...): drop it
        return first.split(".")[0]
    base = os.path.basename(first)
    if base.startswith("python"):
        rest = [a for a in cmd[1:] if not a.startswith("-")]
        if "-m" in cmd:
            return f"python -m {cmd[cmd.index('-m') + 1]}"
        if rest:
            return f"python {os.path.basename(rest[0])}"
    return base


def tree_procs(pid: int) -> list:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_by_label(procs) -> dict[str, float]:
    """CPU seconds (user + system) so far, summed per ``proc_label``."""
    import psutil

    out: dict[str, float] = {}
    for p in procs:
        try:
            t = p.cpu_times()
            label = proc_label(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        out[label] = out.get(label, 0.0) + t.user + t.system
    return out


def rss_by_label(procs) -> dict[str, dict]:
    """RSS and process count per ``proc_label``."""
    import psutil

    out: dict[str, dict] = {}
    for p in procs:
        try:
            rss, label = p.memory_info().rss, proc_label(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        e = out.setdefault(label, {"rss": 0, "count": 0})
        e["rss"] += rss
        e["count"] += 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["rss"]))


def tree_cpu_s(pid: int) -> float:
    """CPU seconds a process and its descendants have used so far (living ones)."""
    return sum(cpu_by_label(tree_procs(pid)).values())


def foreign_cpu_s(root_pid: int | None = None) -> float:
    """CPU seconds the whole host has been busy, less ``root_pid``'s process tree (this
    script's, by default): what other users of the machine take."""
    import psutil

    t = psutil.cpu_times()
    busy = sum(t) - t.idle - getattr(t, "iowait", 0.0)
    return busy - tree_cpu_s(root_pid or os.getpid())


def gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"
