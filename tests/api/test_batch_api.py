"""The Batch API (/v1/files, /v1/batches) over stand-in handles: shapes, pagination, errors,
cancel, resume. Lines run through the real HTTP app in-process (``call_app``), as the Ingress's
``run_line`` does; the batch worker is driven synchronously (``run_pending``)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from deployments.review import ReviewQueue
from deployments.router import Router
from seethink.api import Handles, make_app
from seethink.batch import BatchService, Line
from seethink.batch.asgi import call_app
from seethink.config import load_config
from seethink.store.batch import LineResult, open_batch_store
from tests.fakes.handles import FakeChat, FakeHandle, FakeVisionBackend, unbatched_vision
from tests.helpers import b64, batch_line, png_bytes


@dataclass
class BatchApp:
    client: TestClient
    service: BatchService
    seen: list[int]  # line numbers the executor was asked to run, in order
    fail_once: set[int]  # lines whose first call fails without an answer


def _jsonl(*lines: dict | str) -> bytes:
    return "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines).encode() + b"\n"


@pytest.fixture
def make(tmp_path):
    made = []

    def build(**overrides) -> BatchApp:
        over = {
            "llm": {"timeout_s": 0.5},
            "arbiter": {"review_db": str(tmp_path / "review.sqlite3")},
            **overrides,
        }
        cfg = load_config("cpu", over)
        vision = FakeHandle(unbatched_vision(cfg.vision, FakeVisionBackend()))
        chat = FakeChat()
        store = open_batch_store(cfg.arbiter.review_db, None, cfg.batch.max_file_bytes)
        seen: list[int] = []
        fail_once: set[int] = set()
        holder: dict = {}

        def execute(lines: list[Line], stopped):
            # as the Ray Data job does: blocks of lines, each through the app in-process
            for i in range(0, len(lines), cfg.batch.lines_per_block):
                chunk = []
                for ln in lines[i : i + cfg.batch.lines_per_block]:
                    seen.append(ln.line)
                    if ln.line in fail_once:
                        fail_once.discard(ln.line)
                        chunk.append(
                            LineResult(
                                ln.line,
                                ln.custom_id,
                                0,
                                error={"code": "line_failed", "message": "x"},
                            )
                        )
                        continue
                    out = asyncio.run(call_app(holder["app"], ln.method, ln.url, ln.body))
                    chunk.append(
                        LineResult(
                            ln.line,
                            ln.custom_id,
                            out["status_code"],
                            out["body"],
                            request_id=out["request_id"],
                        )
                    )
                yield chunk
                if stopped():
                    return

        service = BatchService(cfg.batch, store, execute)
        handles = Handles(
            router=FakeHandle(Router(cfg.router)),
            vision=vision,
            review=FakeHandle(ReviewQueue(cfg.arbiter.review_db)),
            chat=chat,
            llm_health=chat.check_health,
            batch=FakeHandle(service),
        )
        holder["app"] = make_app(cfg, handles)
        client = TestClient(
            holder["app"], base_url="http://127.0.0.1", raise_server_exceptions=False
        )
        made.append(client)
        return BatchApp(client, service, seen, fail_once)

    yield build
    for c in made:
        c.close()


def upload(client: TestClient, data: bytes, purpose: str = "batch", name: str = "in.jsonl"):
    return client.post("/v1/files", files={"file": (name, data)}, data={"purpose": purpose})


def create(client: TestClient, file_id: str, endpoint: str = "/v1/chat/completions"):
    return client.post(
        "/v1/batches",
        json={"input_file_id": file_id, "endpoint": endpoint, "completion_window": "24h"},
    )


def error_of(r, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["message"] and err["type"]
    if code:
        assert err["code"] == code, err
    return err


def records(client: TestClient, file_id: str | None) -> list[dict]:
    if file_id is None:
        return []
    r = client.get(f"/v1/files/{file_id}/content")
    assert r.status_code == 200, r.text
    return [json.loads(x) for x in r.content.splitlines() if x.strip()]


# ---- files ------------------------------------------------------------------------------


def test_upload_retrieve_and_download_a_file(make):
    app = make()
    data = _jsonl(batch_line("a", "what is it?"))
    r = upload(app.client, data)
    assert r.status_code == 200, r.text
    f = r.json()
    assert f["object"] == "file" and f["purpose"] == "batch" and f["bytes"] == len(data)
    assert f["filename"] == "in.jsonl" and f["id"].startswith("file-")
    assert app.client.get(f"/v1/files/{f['id']}").json() == f
    assert app.client.get(f"/v1/files/{f['id']}/content").content == data


def test_file_errors(make):
    app = make(batch={"max_file_bytes": 2048})
    error_of(upload(app.client, b"{}\n", purpose="fine-tune"), 400, "invalid_purpose")
    error_of(upload(app.client, b"x" * 3000), 413, "file_too_large")
    error_of(app.client.post("/v1/files", data={"purpose": "batch"}), 400)
    error_of(app.client.get("/v1/files/file-nope"), 404, "not_found")
    error_of(app.client.get("/v1/files/file-nope/content"), 404, "not_found")
    error_of(app.client.get("/v1/files/..%2Fetc/content"), 404)


def test_api_keys_guard_every_batch_route(make):
    app = make(auth={"api_keys": ["sk-1"]})
    error_of(upload(app.client, b"{}\n"), 401, "invalid_api_key")
    error_of(app.client.get("/v1/batches"), 401, "invalid_api_key")
    ok = app.client.get("/v1/batches", headers={"Authorization": "Bearer sk-1"})
    assert ok.status_code == 200 and ok.json()["data"] == []


# ---- batches ----------------------------------------------------------------------------


def test_a_batch_runs_every_line_once_and_bad_lines_are_line_errors(make):
    app = make()
    data = _jsonl(
        batch_line("ok-1", "What is in this picture?", seed=1),
        batch_line("ok-2", "Is this rash serious? What should I do?", seed=2),
        "{not json",
        batch_line("dup", "What colour is it?", seed=3),
        batch_line("dup", "And this one?", seed=4),
        {
            **batch_line("bad-model", "x"),
            "body": {**batch_line("m", "x")["body"], "model": "gpt-9"},
        },
        {**batch_line("bad-url", "x"), "url": "/v1/embeddings"},
        {
            "custom_id": "bad-image",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "seethink",
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "what?"},
                            {
                                "type": "image_url",
                                "image_url": {
                                    "url": "data:image/png;base64,"
                                    + b64(b"not an image at all" * 5)
                                },
                            },
                        ],
                    }
                ],
            },
        },
        batch_line("streamed", "x", stream=True),
    )
    fid = upload(app.client, data).json()["id"]
    r = create(app.client, fid)
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["object"] == "batch" and b["status"] == "validating" and b["input_file_id"] == fid
    assert b["endpoint"] == "/v1/chat/completions" and b["completion_window"] == "24h"
    assert b["request_counts"] == {"total": 0, "completed": 0, "failed": 0}

    app.service.run_pending()
    b = app.client.get(f"/v1/batches/{b['id']}").json()
    assert b["status"] == "completed", b
    assert b["request_counts"] == {"total": 9, "completed": 3, "failed": 6}
    assert b["in_progress_at"] and b["finalizing_at"] and b["completed_at"]
    out, err = records(app.client, b["output_file_id"]), records(app.client, b["error_file_id"])
    assert len(out) == 3 and len(err) == 6
    # every custom_id exactly once; the duplicate line is reported without its id
    ids = [x["custom_id"] for x in out + err if x["custom_id"] is not None]
    assert sorted(ids) == sorted(
        ["ok-1", "ok-2", "dup", "bad-model", "bad-url", "bad-image", "streamed"]
    )
    for x in out:
        assert x["response"]["status_code"] == 200 and x["error"] is None
        body = x["response"]["body"]
        assert body["object"] == "chat.completion" and "seethink" in body
        assert x["response"]["request_id"] == body["seethink"]["request_id"]
    medical = next(x for x in out if x["custom_id"] == "ok-2")["response"]["body"]["seethink"]
    assert medical["route"] == "cascade" and medical["disclaimer"]
    codes = {
        x["custom_id"]: (x["error"]["code"], (x["response"] or {}).get("status_code"))
        for x in err
        if x["custom_id"]
    }
    assert codes["bad-model"] == ("model_not_found", 404)
    assert codes["bad-image"][1] == 400
    assert codes["bad-url"] == ("invalid_url", None)
    assert codes["streamed"] == ("invalid_body", None)
    unnamed = sorted(x["error"]["code"] for x in err if x["custom_id"] is None)
    assert unnamed == ["duplicate_custom_id", "invalid_json"]
    assert len({x["id"] for x in out + err}) == 9


def test_infer_endpoint_lines(make):
    app = make()
    line = {
        "custom_id": "i1",
        "method": "POST",
        "url": "/infer",
        "body": {"image_base64": b64(png_bytes(seed=5)), "prompt": "What is it?"},
    }
    fid = upload(
        app.client, _jsonl(line, {**line, "custom_id": "i2", "url": "/v1/chat/completions"})
    )
    bid = create(app.client, fid.json()["id"], endpoint="/infer").json()["id"]
    app.service.run_pending()
    b = app.client.get(f"/v1/batches/{bid}").json()
    assert b["request_counts"] == {"total": 2, "completed": 1, "failed": 1}
    (ok,) = records(app.client, b["output_file_id"])
    assert ok["custom_id"] == "i1" and ok["response"]["body"]["route"] == "direct"
    (bad,) = records(app.client, b["error_file_id"])
    assert bad["custom_id"] == "i2" and bad["error"]["code"] == "invalid_url"


def test_batch_create_errors(make):
    app = make()
    error_of(create(app.client, "file-nope"), 404, "not_found")
    fid = upload(app.client, _jsonl(batch_line("a", "x"))).json()["id"]
    err = error_of(create(app.client, fid, endpoint="/v1/embeddings"), 400)
    assert "/infer" in err["message"]
    error_of(app.client.post("/v1/batches", json={"input_file_id": fid}), 400)
    error_of(
        app.client.post(
            "/v1/batches",
            json={"input_file_id": fid, "endpoint": "/infer", "completion_window": "1h"},
        ),
        400,
    )
    error_of(app.client.get("/v1/batches/batch-nope"), 404, "not_found")
    error_of(app.client.post("/v1/batches/batch-nope/cancel"), 404, "not_found")


def test_an_empty_or_oversized_file_fails_the_batch(make):
    app = make(batch={"max_lines": 2})
    empty = upload(app.client, b"\n\n").json()["id"]
    many = upload(app.client, _jsonl(*[batch_line(str(i), "x") for i in range(3)])).json()["id"]
    ids = [create(app.client, f).json()["id"] for f in (empty, many)]
    app.service.run_pending()
    for bid, words in zip(ids, ("no request lines", "limit is 2"), strict=True):
        b = app.client.get(f"/v1/batches/{bid}").json()
        assert b["status"] == "failed" and b["failed_at"]
        assert words in b["errors"]["data"][0]["message"]


def test_list_pages_newest_first_with_after_and_has_more(make):
    app = make()
    fid = upload(app.client, _jsonl(batch_line("a", "x"))).json()["id"]
    made = [create(app.client, fid).json()["id"] for _ in range(5)]
    seen, after, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = app.client.get("/v1/batches", params=params).json()
        pages += 1
        assert page["object"] == "list" and len(page["data"]) <= 2
        ids = [b["id"] for b in page["data"]]
        assert page["first_id"] == ids[0] and page["last_id"] == ids[-1]
        seen += ids
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert pages == 3 and seen == made[::-1]
    error_of(app.client.get("/v1/batches", params={"limit": 0}), 400)
    error_of(app.client.get("/v1/batches", params={"after": "batch-nope"}), 400)


def test_cancel_before_running_and_after_completion(make):
    app = make()
    fid = upload(app.client, _jsonl(batch_line("a", "x"))).json()["id"]
    bid = create(app.client, fid).json()["id"]
    r = app.client.post(f"/v1/batches/{bid}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelling"
    app.service.run_pending()
    b = app.client.get(f"/v1/batches/{bid}").json()
    assert b["status"] == "cancelled" and b["cancelled_at"] and app.seen == []
    assert app.client.post(f"/v1/batches/{bid}/cancel").json()["status"] == "cancelled"
    done = create(app.client, fid).json()["id"]
    app.service.run_pending()
    error_of(app.client.post(f"/v1/batches/{done}/cancel"), 409, "conflict")


def test_cancel_mid_run_keeps_the_lines_done(make):
    app = make(batch={"lines_per_block": 2})
    fid = upload(app.client, _jsonl(*[batch_line(f"c{i}", "x", seed=i) for i in range(6)]))
    bid = create(app.client, fid.json()["id"]).json()["id"]
    inner = app.service.execute

    def cancel_after_first_block(lines, stopped):
        for k, chunk in enumerate(inner(lines, stopped)):
            yield chunk
            if k == 0:
                app.service.cancel_batch(bid)

    app.service.execute = cancel_after_first_block
    app.service.run_pending()
    b = app.client.get(f"/v1/batches/{bid}").json()
    assert b["status"] == "cancelled"
    assert b["request_counts"] == {"total": 6, "completed": 2, "failed": 0}
    assert [x["custom_id"] for x in records(app.client, b["output_file_id"])] == ["c0", "c1"]
    assert app.seen == [1, 2]


def test_resume_runs_only_the_lines_not_yet_stored(make):
    app = make(batch={"lines_per_block": 2})
    fid = upload(app.client, _jsonl(*[batch_line(f"r{i}", "x", seed=i) for i in range(5)]))
    bid = create(app.client, fid.json()["id"]).json()["id"]
    inner = app.service.execute

    def die_after_first_block(lines, stopped):
        gen = inner(lines, stopped)
        yield next(gen)
        app.service.stop()  # the replica goes away mid-batch
        yield next(gen)  # this block's results still arrive; the rest never runs

    app.service.execute = die_after_first_block
    app.service.run_pending()
    assert app.client.get(f"/v1/batches/{bid}").json()["status"] == "in_progress"
    # a new replica on the same store
    fresh = BatchService(app.service.cfg, app.service.store, inner)
    fresh.run_pending()
    b = fresh.get_batch(bid)
    assert b["status"] == "completed" and b["request_counts"]["completed"] == 5
    out = records(app.client, b["output_file_id"])
    assert sorted(x["custom_id"] for x in out) == [f"r{i}" for i in range(5)]
    assert sorted(app.seen) == [1, 2, 3, 4, 5]  # no line ran twice


def test_a_call_without_an_answer_is_retried_not_reported(make):
    app = make()
    fid = upload(app.client, _jsonl(*[batch_line(f"t{i}", "x", seed=i) for i in range(3)]))
    bid = create(app.client, fid.json()["id"]).json()["id"]
    app.fail_once.add(2)
    app.service.run_pending()
    b = app.client.get(f"/v1/batches/{bid}").json()
    assert b["status"] == "completed" and b["request_counts"]["completed"] == 3
    assert b["error_file_id"] is None and app.seen.count(2) == 2


def test_openapi_documents_the_batch_routes(make):
    spec = make().client.get("/openapi.json").json()
    paths = spec["paths"]
    for path, method in [
        ("/v1/files", "post"),
        ("/v1/files/{file_id}", "get"),
        ("/v1/files/{file_id}/content", "get"),
        ("/v1/batches", "post"),
        ("/v1/batches", "get"),
        ("/v1/batches/{batch_id}", "get"),
        ("/v1/batches/{batch_id}/cancel", "post"),
    ]:
        op = paths[path][method]
        assert "200" in op["responses"] and "401" in op["responses"], (path, method)
    assert "Batch" in spec["components"]["schemas"]


# ---- online priority --------------------------------------------------------------------


def test_online_load_counts_online_requests_not_batch_lines():
    from fastapi import FastAPI

    from seethink.batch.asgi import OnlineLoad, OnlineLoadMiddleware

    load, seen = OnlineLoad(), []
    app = FastAPI()

    @app.post("/infer")
    async def infer() -> dict:
        seen.append(load.in_flight)
        return {}

    app.add_middleware(OnlineLoadMiddleware, load=load)
    with TestClient(app) as c:
        c.post("/infer")
        asyncio.run(call_app(app, "POST", "/infer", {}))  # a batch line, in-process
    assert seen == [1, 0] and load.in_flight == 0 and load.last_end > 0


def test_batch_lines_wait_for_a_quiet_moment_but_not_forever():
    from seethink.batch.asgi import OnlineLoad

    load = OnlineLoad()
    assert asyncio.run(load.wait_quiet(0.05, 1.0)) < 0.05  # idle for long: go at once
    load.in_flight = 1
    waited = asyncio.run(load.wait_quiet(0.05, 0.2))  # busy: wait, then go anyway
    assert 0.2 <= waited < 0.5
