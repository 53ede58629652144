"""The batch service: the API's files/batches operations, and the loop that runs batches.

No Ray here: the deployment (``deployments/batch.py``) gives it an ``execute`` function that
runs lines as a Ray Data job through the graph's Ingress; tests give it a stand-in. One worker
thread takes active batches oldest first, also those a previous replica left half done:
validating -> in_progress (lines run, each result stored as it arrives, request_counts kept
current) -> finalizing (output and error files written) -> completed; a cancel makes it stop and
finish as cancelled with the lines done so far.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

from seethink.config import BatchConfig
from seethink.store.batch import BatchError, BatchNotFound, BatchStore, LineResult

from .lines import Line, parse_lines, to_jsonl

log = logging.getLogger(__name__)

# Runs lines; yields results as they complete. A result with status_code 0 means the call
# failed without an answer (a replica went away): the line is tried again later.
Execute = Callable[[list[Line], Callable[[], bool]], Iterator[list[LineResult]]]


class BatchService:
    """Files and batches over a :class:`BatchStore`, and the worker that runs batches."""

    def __init__(self, cfg: BatchConfig, store: BatchStore, execute: Execute):
        self.cfg, self.store, self.execute = cfg, store, execute
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the API's operations (each a short blocking call) ------------------------------

    def create_file(self, filename: str, purpose: str, data: bytes) -> dict:
        if purpose != "batch":
            raise BatchError(f"unknown purpose '{purpose[:40]}'; expected one of: batch")
        return self.store.add_file(filename, purpose, data)

    def get_file(self, file_id: str) -> dict:
        f = self.store.get_file(file_id)
        if f is None:
            raise BatchNotFound(f"no file with id '{file_id[:80]}'")
        return f

    def file_content(self, file_id: str) -> bytes:
        return self.store.file_bytes(file_id)

    def create_batch(
        self,
        input_file_id: str,
        endpoint: str,
        completion_window: str = "24h",
        metadata: dict | None = None,
    ) -> dict:
        b = self.store.create_batch(input_file_id, endpoint, completion_window, metadata)
        self._wake.set()
        return b

    def get_batch(self, batch_id: str) -> dict:
        return self.store.require_batch(batch_id)

    def list_batches(self, after: str | None = None, limit: int = 20) -> dict:
        return self.store.list_batches(after, limit)

    def cancel_batch(self, batch_id: str) -> dict:
        b = self.store.cancel(batch_id)
        self._wake.set()
        return b

    # ---- the worker ---------------------------------------------------------------------

    def start(self) -> None:
        """Run batches in a background thread (picks up unfinished ones first)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="batch-runner", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pending()
            except Exception:  # the store was unreachable, ...: log, wait, try again
                log.exception("batch runner pass failed")
            self._wake.wait(self.cfg.poll_s)
            self._wake.clear()

    def run_pending(self) -> int:
        """Work every active batch to an end (or until stopped); returns how many."""
        n = 0
        for b in self.store.active_batches():
            if self._stop.is_set():
                break
            self.run_batch(b["id"])
            n += 1
        return n

    def run_batch(self, batch_id: str) -> dict:
        """Take one batch from wherever it stands to a final status."""
        b = self.store.require_batch(batch_id)
        lines: list[Line] | None = None
        if b["status"] in ("validating", "in_progress"):
            try:
                data = self.store.file_bytes(b["input_file_id"])
                lines, bad = parse_lines(
                    data, b["endpoint"], self.cfg.max_lines, self.cfg.max_line_bytes
                )
            except BatchError as e:
                self.store.fail(
                    batch_id, [{"code": e.code, "message": str(e), "line": None, "param": None}]
                )
                return self.store.require_batch(batch_id)
            self.store.set_total(batch_id, len(lines) + len(bad))
            self.store.record(batch_id, bad)  # again on resume: a no-op
            self.store.transition(batch_id, "in_progress", ("validating",))
            b = self.store.require_batch(batch_id)
        if b["status"] == "in_progress" and lines is not None:
            self._run_lines(batch_id, lines)
            if self._stop.is_set():
                return b  # shutting down: the next replica resumes it
            if self._expired(batch_id):
                self._expire(batch_id, lines)
                self._finalize(batch_id, "expired", ("in_progress",))
                return self.store.require_batch(batch_id)
            self.store.transition(batch_id, "finalizing", ("in_progress",))
            b = self.store.require_batch(batch_id)
        if b["status"] == "finalizing":
            self._finalize(batch_id, "completed", ("finalizing",))
        elif b["status"] == "cancelling":
            self._finalize(batch_id, "cancelled", ("cancelling",))
        return self.store.require_batch(batch_id)

    def _status(self, batch_id: str) -> str:
        return self.store.require_batch(batch_id)["status"]

    def _expired(self, batch_id: str) -> bool:
        expires = self.store.require_batch(batch_id)["expires_at"]
        return expires is not None and time.time() >= expires

    def _expire(self, batch_id: str, lines: list[Line]) -> None:
        """Lines not run within the completion window become errors (OpenAI's
        ``batch_expired``), so every custom_id still appears exactly once."""
        done = self.store.done_lines(batch_id)
        msg = "this request was not run before the batch's completion window ended"
        self.store.record(batch_id, [
            LineResult(ln.line, ln.custom_id, 0, error={"code": "batch_expired", "message": msg})
            for ln in lines if ln.line not in done
        ])  # fmt: skip

    def _run_lines(self, batch_id: str, lines: list[Line]) -> None:
        """Run the lines not yet stored; store each result as it arrives. A pass in which
        calls failed without an answer is repeated (a restarting graph); after ``max_passes``
        passes that made progress, lines still failing are stored as errors."""

        def stopped() -> bool:
            return (
                self._stop.is_set()
                or self._status(batch_id) != "in_progress"
                or self._expired(batch_id)
            )

        passes, idle_waits = 0, 0
        while True:
            done = self.store.done_lines(batch_id)
            pending = [ln for ln in lines if ln.line not in done]
            if not pending or stopped():
                return
            last = passes + 1 >= self.cfg.max_passes
            progress, failed = self._one_pass(batch_id, pending, stopped, give_up=last)
            if progress:
                passes += 1
                idle_waits = 0
            elif failed:
                # nothing answered at all: the graph is down or restarting; wait for it
                idle_waits += 1
                self._stop.wait(min(30.0, 2.0 * idle_waits))

    def _one_pass(
        self, batch_id: str, pending: list[Line], stopped: Callable[[], bool], give_up: bool
    ) -> tuple[int, int]:
        progress = failed = 0
        chunks = self.execute(pending, stopped)
        try:
            for chunk in chunks:
                keep = [r for r in chunk if r.status_code or give_up]
                failed += len(chunk) - sum(1 for r in chunk if r.status_code)
                progress += self.store.record(batch_id, keep) if keep else 0
                if stopped():
                    break
        except Exception as e:  # the job itself failed: every pending line is retried
            log.warning("batch %s: job failed (%s: %s); retrying", batch_id, type(e).__name__, e)
            failed += 1
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()  # stops the Ray Data job when we leave early
        return progress, failed

    def _finalize(self, batch_id: str, final: str, from_: tuple[str, ...]) -> None:
        """Write the output and error files (ids derived from the batch: a resumed finalize
        overwrites, never duplicates) and set the final status."""
        results = self.store.results(batch_id)
        ok = [r for r in results if r.ok]
        bad = [r for r in results if not r.ok]
        short = batch_id.removeprefix("batch-")
        out_id = err_id = None
        if ok:
            out_id = self.store.add_file(
                f"{batch_id}_output.jsonl",
                "batch_output",
                to_jsonl(batch_id, ok),
                f"file-{short}-output",
            )["id"]
        if bad:
            err_id = self.store.add_file(
                f"{batch_id}_error.jsonl",
                "batch_output",
                to_jsonl(batch_id, bad),
                f"file-{short}-errors",
            )["id"]
        if final == "completed":
            self.store.db.run(
                "UPDATE batches SET finalizing_at = COALESCE(finalizing_at, ?) WHERE id = ?",
                (int(time.time()), batch_id),
            )
        self.store.transition(batch_id, final, from_, output_file_id=out_id, error_file_id=err_id)
        log.info("batch %s %s: %d ok, %d failed", batch_id, final, len(ok), len(bad))
