"""The Batch API on the real graph, driven by the official openai SDK: upload, create, poll,
download; every custom_id exactly once; a restart of the whole graph mid-batch resumes it."""

from __future__ import annotations

import json
import time

import openai
import pytest

from tests.harness import restart_graph
from tests.helpers import batch_line, png_bytes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(graph):
    return openai.OpenAI(base_url=graph.url + "/v1", api_key="unused", max_retries=0, timeout=120)


QUESTIONS = [
    "What is in this picture?",
    "Is this rash serious? What should I do?",
    "What colour is the box?",
    "Why is this price so high? Is it worth it?",
]


def _upload(client, lines: list) -> str:
    data = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines).encode()
    f = client.files.create(file=("requests.jsonl", data), purpose="batch")
    assert f.purpose == "batch" and f.bytes == len(data)
    return f.id


def _wait(client, batch_id: str, until, timeout_s: float = 120):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        b = client.batches.retrieve(batch_id)
        if until(b):
            return b
        time.sleep(0.3)
    raise AssertionError(f"batch {batch_id} still {b.status} {b.request_counts}")


def _results(client, b) -> tuple[list[dict], list[dict]]:
    def read(fid):
        if fid is None:
            return []
        return [json.loads(x) for x in client.files.content(fid).text.splitlines() if x.strip()]

    return read(b.output_file_id), read(b.error_file_id)


def test_batch_through_the_sdk_every_custom_id_once(client):
    good = [batch_line(f"ok-{i}", QUESTIONS[i % 4], seed=40 + i) for i in range(8)]
    lines = [
        *good,
        batch_line("broken-image", "What is it?", 0, image=png_bytes(size=(400, 300))[:300]),
        "{this is not json",
        batch_line("unknown-model", "What is it?", 50, model="gpt-nope"),
        batch_line("ok-0", "Again?", 51),  # a duplicate custom_id
    ]
    fid = _upload(client, lines)
    b = client.batches.create(
        input_file_id=fid, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert b.status in ("validating", "in_progress") and b.input_file_id == fid
    b = _wait(client, b.id, lambda b: b.status in ("completed", "failed", "cancelled"))
    assert b.status == "completed", b
    assert b.request_counts.total == 12
    assert (b.request_counts.completed, b.request_counts.failed) == (8, 4)
    out, err = _results(client, b)
    assert len(out) == 8 and len(err) == 4
    named = [x["custom_id"] for x in out + err if x["custom_id"] is not None]
    assert sorted(named) == sorted(
        [f"ok-{i}" for i in range(8)] + ["broken-image", "unknown-model"]
    )
    for x in out:
        body = x["response"]["body"]
        assert x["response"]["status_code"] == 200 and body["object"] == "chat.completion"
        assert body["seethink"]["route"] in ("direct", "cascade")
    med = next(x for x in out if x["custom_id"] == "ok-1")["response"]["body"]["seethink"]
    assert med["domain"] == "medical" and med["disclaimer"]
    errs = {x["custom_id"]: x for x in err}
    assert errs["broken-image"]["response"]["status_code"] == 400
    assert errs["unknown-model"]["error"]["code"] == "model_not_found"
    assert sorted(x["error"]["code"] for x in err if x["custom_id"] is None) == [
        "duplicate_custom_id",
        "invalid_json",
    ]
    page = client.batches.list(limit=1)
    assert len(page.data) == 1 and page.data[0].id == b.id and page.last_id == b.id


def test_a_restart_mid_batch_resumes_where_it_stopped(client, graph):
    n = 30
    fid = _upload(client, [batch_line(f"r-{i}", QUESTIONS[i % 4], seed=100 + i) for i in range(n)])
    b = client.batches.create(
        input_file_id=fid, endpoint="/v1/chat/completions", completion_window="24h"
    )
    b = _wait(client, b.id, lambda b: b.status == "in_progress" and b.request_counts.completed)
    assert b.request_counts.completed < n  # stopped mid-batch
    restart_graph(graph)
    mid = client.batches.retrieve(b.id)
    assert mid.status in ("in_progress", "finalizing", "completed")
    b = _wait(client, b.id, lambda b: b.status in ("completed", "failed", "cancelled"))
    assert b.status == "completed", b
    assert b.request_counts.total == n and b.request_counts.completed == n, b.request_counts
    out, err = _results(client, b)
    assert err == [] and sorted(x["custom_id"] for x in out) == sorted(f"r-{i}" for i in range(n))


def test_cancel_through_the_sdk(client):
    fid = _upload(client, [batch_line(f"c-{i}", QUESTIONS[i % 4], seed=200 + i) for i in range(20)])
    b = client.batches.create(
        input_file_id=fid, endpoint="/v1/chat/completions", completion_window="24h"
    )
    c = client.batches.cancel(b.id)
    assert c.status in ("cancelling", "cancelled")
    b = _wait(client, b.id, lambda b: b.status == "cancelled")
    out, err = _results(client, b)
    assert len(out) + len(err) == b.request_counts.completed + b.request_counts.failed < 20
