"""Continuous batching (seethink/batcher.py): batches form when the model is free."""

from __future__ import annotations

import asyncio

import pytest

from seethink.batcher import ContinuousBatcher


class SlowModel:
    """Takes ``delay`` seconds per batch and records every batch it was given."""

    def __init__(self, delay: float = 0.1, fail_on: str | None = None):
        self.delay = delay
        self.fail_on = fail_on
        self.batches: list[list[str]] = []
        self.running = 0
        self.most_at_once = 0

    async def __call__(self, items: list[tuple]) -> list:
        self.batches.append([x for (x,) in items])
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.running -= 1
        if self.fail_on is not None and self.fail_on in [x for (x,) in items]:
            raise RuntimeError("the whole batch broke")
        return [ValueError(x) if x.startswith("bad") else x.upper() for (x,) in items]


def test_requests_that_arrive_while_a_batch_runs_form_the_next_batch():
    model = SlowModel(delay=0.2)
    b = ContinuousBatcher(model, max_batch_size=8)

    async def go():
        first = asyncio.create_task(b.submit("a"))
        await asyncio.sleep(0.05)  # "a" is running alone: the model was idle, nobody waited
        rest = [asyncio.create_task(b.submit(x)) for x in "bcdef"]
        return await asyncio.gather(first, *rest)

    assert asyncio.run(go()) == list("ABCDEF")
    assert model.batches == [["a"], list("bcdef")]
    assert (b.batches, b.items, b.largest) == (2, 6, 5)


def test_an_idle_wait_gathers_company_and_a_full_batch_starts_at_once():
    model = SlowModel(delay=0.01)
    b = ContinuousBatcher(model, max_batch_size=3, idle_wait_s=0.3)

    async def go():
        first = asyncio.create_task(b.submit("a"))
        await asyncio.sleep(0.05)  # within the idle wait: "b" joins "a"
        return await asyncio.gather(first, b.submit("b"), b.submit("c"), b.submit("d"))

    assert asyncio.run(go()) == list("ABCD")
    assert model.batches[0] == ["a", "b", "c"]  # full at three: did not wait out the 0.3 s
    assert model.batches[1:] == [["d"]]


def test_max_batch_size_splits_a_burst():
    model = SlowModel(delay=0.01)
    b = ContinuousBatcher(model, max_batch_size=4)

    async def go():
        return await asyncio.gather(*(b.submit(str(i)) for i in range(10)))

    assert asyncio.run(go()) == [str(i) for i in range(10)]
    assert [len(x) for x in model.batches] == [4, 4, 2]


def test_a_bad_item_fails_alone_and_a_broken_batch_fails_only_its_items():
    model = SlowModel(delay=0.01, fail_on="boom")
    b = ContinuousBatcher(model, max_batch_size=8)

    async def go():
        one = await asyncio.gather(b.submit("x"), b.submit("bad"), return_exceptions=True)
        two = await asyncio.gather(b.submit("y"), b.submit("boom"), return_exceptions=True)
        three = await b.submit("z")  # the worker survived the broken batch
        return one, two, three

    one, two, three = asyncio.run(go())
    assert one[0] == "X" and isinstance(one[1], ValueError)
    assert all(isinstance(r, RuntimeError) for r in two)
    assert three == "Z"


def test_a_cancelled_caller_is_dropped_before_its_batch_forms():
    model = SlowModel(delay=0.2)
    b = ContinuousBatcher(model, max_batch_size=8)

    async def go():
        running = asyncio.create_task(b.submit("a"))
        await asyncio.sleep(0.05)
        gone = asyncio.create_task(b.submit("gone"))
        kept = asyncio.create_task(b.submit("kept"))
        await asyncio.sleep(0.01)
        gone.cancel()  # the client went away while "a" was running
        return await asyncio.gather(running, kept), gone.cancelled()

    (results, cancelled) = asyncio.run(go())
    assert results == ["A", "KEPT"] and cancelled
    assert model.batches == [["a"], ["kept"]]


def test_batchers_sharing_a_model_take_turns_and_each_forms_its_batch_holding_it():
    model = SlowModel(delay=0.1)
    lock = asyncio.Lock()
    gen = ContinuousBatcher(model, max_batch_size=8, lock=lock, name="generate")
    ver = ContinuousBatcher(model, max_batch_size=8, lock=lock, name="verify")

    async def go():
        g1 = asyncio.create_task(gen.submit("g1"))
        await asyncio.sleep(0.02)
        v1 = asyncio.create_task(ver.submit("v1"))  # waits for the model
        await asyncio.sleep(0.02)
        v2 = asyncio.create_task(ver.submit("v2"))  # still waiting: joins v1's batch
        return await asyncio.gather(g1, v1, v2)

    assert asyncio.run(go()) == ["G1", "V1", "V2"]
    assert model.most_at_once == 1
    assert model.batches == [["g1"], ["v1", "v2"]]


def test_a_batcher_works_across_event_loops():
    model = SlowModel(delay=0.0)
    b = ContinuousBatcher(model, max_batch_size=2)
    assert asyncio.run(b.submit("a")) == "A"
    assert asyncio.run(b.submit("b")) == "B"  # a new loop (a new asyncio.run) gets a new worker


def test_a_wrong_result_count_is_an_error_for_the_batch():
    async def short(items):
        return ["only one"]

    b = ContinuousBatcher(short, max_batch_size=4)

    async def go():
        return await asyncio.gather(b.submit(1), b.submit(2), return_exceptions=True)

    assert all(
        isinstance(r, RuntimeError) and "1 results for 2" in str(r) for r in asyncio.run(go())
    )


@pytest.mark.parametrize(("size", "wait"), [(0, 0.0), (1, -1.0)])
def test_bad_settings_are_refused(size, wait):
    with pytest.raises(ValueError):
        ContinuousBatcher(SlowModel(), max_batch_size=size, idle_wait_s=wait)
