"""Continuous batching for a model that takes a list of inputs (no Ray).

``@serve.batch`` forms the next batch as soon as its first request arrives and then waits
``batch_wait_timeout_s`` for company, even while the model is still busy with the previous batch:
under load, batches hold only what arrived in that window, and at one client every request pays
the whole wait. ``ContinuousBatcher`` forms a batch when the model is free instead, as vLLM's
scheduler does: everything that queued while the last batch ran goes into the next one (up to
``max_batch_size``), and a request that finds the model idle starts at once (or after
``idle_wait_s``, if set). Batchers that share one model pass the same ``lock``, so a caption
batch and a yes/no batch do not run side by side on the same cores, and each forms its batch
only once it holds the model.

``fn`` takes the batch's argument tuples and returns one result per item, in order; a result
that is an exception fails only its own caller. A caller that is cancelled (a client that went
away) is dropped from the queue before its batch is formed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

logger = logging.getLogger(__name__)

BatchFn = Callable[[list[tuple]], Awaitable[Sequence[Any]]]


class ContinuousBatcher:
    def __init__(
        self,
        fn: BatchFn,
        max_batch_size: int,
        idle_wait_s: float = 0.0,
        lock: asyncio.Lock | None = None,
        name: str = "batch",
    ):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if idle_wait_s < 0:
            raise ValueError(f"idle_wait_s must be >= 0, got {idle_wait_s}")
        self.fn = fn
        self.max_batch_size = max_batch_size
        self.idle_wait_s = idle_wait_s
        self.lock = lock
        self.name = name
        self._queue: deque[tuple[tuple, asyncio.Future]] = deque()
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches = 0  # batches run
        self.items = 0  # items run in them
        self.largest = 0  # the largest batch so far

    async def submit(self, *args: Any) -> Any:
        """Queue one item and wait for its result (or its exception)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._worker is None or self._worker.done():
            # first call, or a new event loop (a test's asyncio.run): start a worker on this one
            self._loop, self._wake = loop, asyncio.Event()
            self._queue = deque(item for item in self._queue if item[1].get_loop() is loop)
            self._worker = loop.create_task(self._run(), name=f"{self.name}-batcher")
        fut = loop.create_future()
        self._queue.append((args, fut))
        self._wake.set()
        return await fut

    async def _run(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        idle = True  # no batch ran since the queue was last empty
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                idle = True
            if idle and self.idle_wait_s:
                await self._fill(loop.time() + self.idle_wait_s)
            idle = False
            async with self.lock or contextlib.nullcontext():
                await self._run_one()

    async def _fill(self, deadline: float) -> None:
        """Wait until the queue holds a full batch or the deadline passes."""
        loop = asyncio.get_running_loop()
        while len(self._queue) < self.max_batch_size:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except TimeoutError:
                return

    async def _run_one(self) -> None:
        batch: list[tuple[tuple, asyncio.Future]] = []
        while self._queue and len(batch) < self.max_batch_size:
            args, fut = self._queue.popleft()
            if not fut.done():  # a cancelled caller is not worth a slot
                batch.append((args, fut))
        if not batch:
            return
        self.batches += 1
        self.items += len(batch)
        self.largest = max(self.largest, len(batch))
        try:
            results = list(await self.fn([args for args, _ in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"{self.name}: {len(results)} results for {len(batch)} inputs")
        except Exception as e:  # fn is meant to return per-item errors; this fails the batch
            logger.exception("%s batch of %d failed", self.name, len(batch))
            results = [e] * len(batch)
        for (_, fut), result in zip(batch, results, strict=True):
            if fut.done():
                continue
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)
