"""The BatchRunner deployment: runs each batch as a Ray Data job through the graph's Ingress.

Every line goes through ``Ingress.run_line``, which serves it with the replica's own HTTP app
in-process: the same validation, routing, caption cache, cascade and disclaimers as an online
request, on the same replicas. Concurrency is bounded (``batch.max_concurrency`` lines in flight
across ``batch.actors`` Ray Data actors), so online traffic keeps priority. State lives in the
review queue's database (``seethink.store.batch``), so a restarted graph resumes its batches.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from collections.abc import Callable, Iterator

import numpy as np

from seethink.batch import BatchService, Line
from seethink.config import BatchConfig, SeethinkConfig
from seethink.store.batch import LineResult, open_batch_store

log = logging.getLogger("ray.serve")


class CallIngress:
    """A Ray Data actor: sends each line of its batch to ``Ingress.run_line``, at most
    ``in_flight`` at once across the batches it runs concurrently.

    Handle calls run on the actor's own event loop (in a thread): with
    ``RAY_SERVE_THROUGHPUT_OPTIMIZED`` a handle must be used inside a running loop."""

    def __init__(self, app_name: str, in_flight: int, timeout_s: float, retries: int = 2):
        self.timeout_s, self.retries = timeout_s, retries
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="call-ingress", daemon=True).start()

        async def setup():
            from ray import serve

            self.sem = asyncio.Semaphore(max(1, in_flight))
            self.handle = serve.get_deployment_handle("Ingress", app_name=app_name)

        asyncio.run_coroutine_threadsafe(setup(), self.loop).result()

    async def _one(self, method: str, url: str, body: str) -> tuple[int, str, str, str]:
        err = ""
        async with self.sem:
            for attempt in range(self.retries + 1):
                try:
                    out = await asyncio.wait_for(
                        self.handle.run_line.remote(method, url, body), self.timeout_s
                    )
                    status, rid = int(out["status_code"]), out["request_id"] or ""
                    return status, json.dumps(out["body"]), rid, ""
                except Exception as e:  # the replica went away or timed out: not the line's
                    first = str(e).splitlines()[0][:300] if str(e) else ""
                    err = f"{type(e).__name__}: {first}"
                    await asyncio.sleep(0.5 * (attempt + 1))
        return 0, "", "", err

    async def _all(self, batch: dict[str, np.ndarray]) -> list[tuple[int, str, str, str]]:
        calls = zip(batch["method"], batch["url"], batch["body"], strict=True)
        return await asyncio.gather(*(self._one(str(m), str(u), str(b)) for m, u, b in calls))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = asyncio.run_coroutine_threadsafe(self._all(batch), self.loop).result()
        return {
            "line": batch["line"],
            "status_code": np.array([r[0] for r in rows], dtype=np.int64),
            "body": np.array([r[1] for r in rows], dtype=object),
            "request_id": np.array([r[2] for r in rows], dtype=object),
            "error": np.array([r[3] for r in rows], dtype=object),
        }


def run_job(
    lines: list[Line],
    stopped: Callable[[], bool],
    *,
    app_name: str,
    cfg: BatchConfig,
    timeout_s: float = 300.0,
) -> Iterator[list[LineResult]]:
    """Run ``lines`` as one Ray Data job; yields results block by block as they complete."""
    import ray

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    by_line = {ln.line: ln for ln in lines}
    items = [
        {"line": ln.line, "method": ln.method, "url": ln.url, "body": json.dumps(ln.body)}
        for ln in lines
    ]
    blocks = max(1, math.ceil(len(items) / cfg.lines_per_block))
    per_actor = math.ceil(cfg.max_concurrency / cfg.actors)
    # several blocks per actor at once, so ``max_concurrency`` lines are in flight even with
    # small blocks (small blocks: progress is stored often)
    calls = max(1, math.ceil(per_actor / cfg.lines_per_block))
    ds = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
        CallIngress,
        fn_constructor_kwargs={
            "app_name": app_name,
            "in_flight": per_actor,
            "timeout_s": timeout_s,
        },
        batch_size=cfg.lines_per_block,
        compute=ray.data.ActorPoolStrategy(
            size=cfg.actors,
            max_tasks_in_flight_per_actor=calls,
            max_concurrent_calls_per_actor=calls,
            enable_true_multi_threading=True,
        ),
        num_cpus=cfg.actor_num_cpus,
        batch_format="numpy",
    )
    for out in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0):
        chunk = []
        for i, n in enumerate(out["line"]):
            ln = by_line[int(n)]
            code, body, err = int(out["status_code"][i]), out["body"][i], out["error"][i]
            chunk.append(
                LineResult(
                    line=ln.line,
                    custom_id=ln.custom_id,
                    status_code=code,
                    body=json.loads(body) if body else None,
                    error=None if code else {"code": "line_failed", "message": err or "no answer"},
                    request_id=out["request_id"][i] or None,
                )
            )
        yield chunk
        if stopped():
            return


class BatchRunner(BatchService):
    """One replica: the Batch API's store and the worker running batches (see BatchService)."""

    def __init__(self, cfg: SeethinkConfig, app_name: str | None = None):
        from ray import serve

        if app_name is None:
            app_name = serve.get_replica_context().app_name
        b = cfg.batch
        store = open_batch_store(
            cfg.arbiter.review_db, b.data_dir, b.max_file_bytes, file_bytes=b.file_bytes
        )
        timeout = cfg.server.request_timeout_s + 30

        def execute(lines: list[Line], stopped: Callable[[], bool]):
            return run_job(lines, stopped, app_name=app_name, cfg=b, timeout_s=timeout)

        super().__init__(b, store, execute)
        log.info("batch runner on %s, files in %s", store.db.dialect, store.files_location)
        self.start()

    def __del__(self) -> None:
        # Serve calls __del__ when it stops the replica: stop between lines, leave the batch
        # in_progress for the next replica
        try:
            self.stop()
        except Exception:
            pass
