"""CPU priority for the models' compute threads (Unix nice).

On a CPU box the models share the cores with the request plumbing: HTTP, handle calls,
tokenising and detokenising, the replicas' event loops. At equal priority a batch step takes
its time slice while requests wait to be parsed and handed on, so fewer of them reach the next
batch. With the compute threads at a lower priority the plumbing goes first, requests gather in
front of the models, and each batch step serves more of them for the same cost. The
compute still gets every core the plumbing leaves idle, so one request alone runs as fast.

Linux keeps a nice value per thread (``setpriority(PRIO_PROCESS, tid)``); threads inherit their
creator's. Elsewhere nothing is changed. Priorities are only ever lowered: raising one needs a
privilege that replicas should not have.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

logger = logging.getLogger(__name__)

LINUX = sys.platform.startswith("linux")
# the LLM node's priority travels in its LLMConfig's experimental_configs (a dict Ray Serve LLM
# passes through untouched) under this key
ENGINE_NICE_KEY = "seethink_engine_nice"


def lower_thread_priority(nice: int, tid: int | None = None) -> bool:
    """Give thread ``tid`` (default: the calling one) at least ``nice``; False if unchanged."""
    if nice <= 0 or not LINUX:
        return False
    tid = threading.get_native_id() if tid is None else tid
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) >= nice:
            return False
        os.setpriority(os.PRIO_PROCESS, tid, nice)
        return True
    except OSError as e:  # the thread ended, or a sandbox forbids it: run at normal priority
        logger.warning("could not set nice %d on thread %d: %s", nice, tid, e)
        return False


def thread_ids(pid: int) -> list[int]:
    """The ids of process ``pid``'s threads (Linux), or none if it is gone."""
    try:
        return [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return []


def lower_process_priority(pid: int, nice: int) -> int:
    """Every thread of process ``pid`` (and so the threads it starts later) to at least
    ``nice``; returns how many threads were changed."""
    if nice <= 0 or not LINUX:
        return 0
    return sum(lower_thread_priority(nice, tid) for tid in thread_ids(pid))


def compute_executor(nice: int, name: str) -> ThreadPoolExecutor:
    """One thread for a model's blocking calls, at priority ``nice`` (0: unchanged)."""
    return ThreadPoolExecutor(
        max_workers=1, thread_name_prefix=name, initializer=lower_thread_priority, initargs=(nice,)
    )
