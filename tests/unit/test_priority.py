"""CPU priority for the models' compute (seethink/priority.py): which threads it reaches, that it
is only ever lowered, and that the profiles' values reach the nodes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from seethink.config import load_config
from seethink.priority import (
    ENGINE_NICE_KEY,
    LINUX,
    compute_executor,
    lower_process_priority,
    lower_thread_priority,
    thread_ids,
)

pytestmark = pytest.mark.skipif(not LINUX, reason="per-thread nice")


def _nice(tid: int | None = None) -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id() if tid is None else tid)


def _in_thread(fn):
    out = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


def test_the_compute_thread_runs_below_its_caller():
    base = _nice()
    target = min(19, base + 7)
    with compute_executor(target, "test-model") as ex:
        assert ex.submit(_nice).result() == target
        assert ex.submit(_nice).result() == target  # the same thread, still lowered
    assert _nice() == base  # the caller's own priority is untouched


def test_nice_zero_leaves_the_compute_thread_alone():
    base = _nice()
    with compute_executor(0, "test-model") as ex:
        assert ex.submit(_nice).result() == base


def test_a_priority_is_only_ever_lowered():
    def lowered_twice():
        first = lower_thread_priority(min(19, _nice() + 10))
        at = _nice()
        second = lower_thread_priority(max(1, at - 5))  # asks for a higher priority: refused
        return first, second, at, _nice()

    first, second, at, after = _in_thread(lowered_twice)
    assert first is True and second is False
    assert after == at


CHILD = r"""
import os, sys, threading, time
stop = threading.Event()
for _ in range(2):
    threading.Thread(target=stop.wait, daemon=True).start()
print("ready", flush=True)
sys.stdin.readline()  # the parent lowers our priority here
seen = []
def look():
    seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
t = threading.Thread(target=look)
t.start(); t.join()
print(seen[0], flush=True)
stop.set()
"""


def test_a_whole_process_and_the_threads_it_starts_later_are_lowered():
    """As the LLM node lowers vLLM's engine core: every thread now, and new ones inherit."""
    target = min(19, _nice() + 9)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        tids = thread_ids(child.pid)
        assert len(tids) >= 3
        assert lower_process_priority(child.pid, target) == len(tids)
        assert {_nice(t) for t in tids} == {target}
        assert lower_process_priority(child.pid, target) == 0  # already there: nothing to do
        child.stdin.write("go\n")
        child.stdin.flush()
        assert int(child.stdout.readline()) == target
    finally:
        child.kill()
        child.wait()


def test_a_process_that_is_gone_is_skipped():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert lower_process_priority(child.pid, 10) == 0


def test_the_profiles_priorities_reach_the_llm_node():
    from deployments.llm import build_llm_config

    def engine_nice(profile: str, overrides: dict | None = None):
        cfg = load_config(profile, overrides or {})
        return build_llm_config(cfg.llm).experimental_configs.get(ENGINE_NICE_KEY)

    assert engine_nice("cpu") == load_config("cpu").llm.nice > 0
    assert engine_nice("cpu", {"llm": {"nice": 0}}) is None  # nothing for the node to do
    # on GPUs the engine's thread feeds the card: never lowered
    for profile in ("gpu-24g", "gpu-80g", "cluster"):
        cfg = load_config(profile)
        assert cfg.vision.nice == 0 and cfg.llm.nice == 0, profile
        assert engine_nice(profile) is None
    for bad in (-1, 20):
        with pytest.raises(Exception, match="nice"):
            load_config("cpu", {"vision": {"nice": bad}})
