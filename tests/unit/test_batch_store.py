"""The batch store and service on both backends (SQLite file, private PostgreSQL): files,
batches, idempotent line results, counts, paging, cancel, a whole run and a resume."""

from __future__ import annotations

import json

import pytest

from seethink.batch import BatchService, Line
from seethink.config import BatchConfig
from seethink.store.batch import (
    BatchConflict,
    BatchError,
    BatchNotFound,
    FileTooLarge,
    LineResult,
    open_batch_store,
)
from tests.pg import empty_store_url, postgres_dsn  # noqa: F401  (module-scoped fixture)


# (database, where file bytes live): disk is the default, the database the cluster profiles'
@pytest.fixture(
    params=[
        ("sqlite", "disk"),
        ("sqlite", "database"),
        ("postgres", "disk"),
        ("postgres", "database"),
    ],
    ids=lambda p: "-".join(p),
)
def store(request, tmp_path):
    db, file_bytes = request.param
    url = empty_store_url(request, tmp_path, db)
    s = open_batch_store(url, str(tmp_path / "files"), max_file_bytes=4096, file_bytes=file_bytes)
    yield s
    s.close()


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_file_bytes_in_the_database_reach_every_node_and_touch_no_disk(request, tmp_path, db):
    url = empty_store_url(request, tmp_path, db)
    data = bytes(range(256)) * 4  # any bytes, not only text
    one = open_batch_store(url, str(tmp_path / "a"), max_file_bytes=4096, file_bytes="database")
    other = open_batch_store(url, str(tmp_path / "b"), max_file_bytes=4096, file_bytes="database")
    try:
        f = one.add_file("in.jsonl", "batch", data)
        # a replica on another node (another store object, no shared disk) reads the same bytes
        assert other.file_bytes(f["id"]) == data and other.get_file(f["id"])["bytes"] == 1024
        assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
        # the same id again (a resumed batch writing its results) replaces, never duplicates
        one.add_file("in.jsonl", "batch", b"new", file_id=f["id"])
        assert other.file_bytes(f["id"]) == b"new"
        assert "database" in one.files_location
    finally:
        one.close()
        other.close()


def _file(store, n: int = 3, extra: list[str] | None = None) -> str:
    lines = [
        json.dumps({"custom_id": f"c{i}", "method": "POST", "url": "/infer", "body": {"i": i}})
        for i in range(n)
    ]
    return store.add_file("in.jsonl", "batch", "\n".join(lines + (extra or [])).encode())["id"]


def test_files_and_limits(store):
    f = store.add_file("a.jsonl", "batch", b"{}\n")
    assert store.get_file(f["id"]) == f and store.file_bytes(f["id"]) == b"{}\n"
    assert store.get_file("file-nope") is None
    with pytest.raises(BatchNotFound):
        store.file_bytes("file-nope")
    with pytest.raises(FileTooLarge):
        store.add_file("big", "batch", b"x" * 5000)
    with pytest.raises(BatchNotFound):
        store.create_batch("file-nope", "/infer", "24h", None)
    out = store.add_file("o", "batch_output", b"x")
    with pytest.raises(BatchError, match="purpose 'batch'"):
        store.create_batch(out["id"], "/infer", "24h", None)


def test_results_are_stored_once_and_counted(store):
    b = store.create_batch(_file(store), "/infer", "24h", {"k": "v"})
    assert b["metadata"] == {"k": "v"} and b["status"] == "validating"
    first = [LineResult(1, "c0", 200, {"a": 1}), LineResult(2, "c1", 400, {"error": {}})]
    assert store.record(b["id"], first) == 2
    # a resumed job sending the same line again never overwrites or double counts it
    assert store.record(b["id"], [LineResult(1, "c0", 500, {"other": 1})]) == 0
    got = store.get_batch(b["id"])["request_counts"]
    assert got == {"total": 0, "completed": 1, "failed": 1}
    assert store.results(b["id"])[0].body == {"a": 1}
    assert store.done_lines(b["id"]) == {1, 2}


def test_paging_and_cancel_transitions(store):
    fid = _file(store)
    ids = [store.create_batch(fid, "/infer", "24h", None)["id"] for _ in range(3)]
    p1 = store.list_batches(limit=2)
    p2 = store.list_batches(after=p1["last_id"], limit=2)
    assert p1["has_more"] and not p2["has_more"]
    assert [b["id"] for b in p1["data"] + p2["data"]] == ids[::-1]
    assert store.cancel(ids[0])["status"] == "cancelling"
    assert store.cancel(ids[0])["status"] == "cancelling"
    assert store.transition(ids[1], "failed", ("validating",))
    with pytest.raises(BatchConflict):
        store.cancel(ids[1])


def test_a_whole_run_and_a_resume(store):
    calls: list[int] = []

    def echo(lines: list[Line], stopped):
        for ln in lines:
            calls.append(ln.line)
            yield [LineResult(ln.line, ln.custom_id, 200, {"echo": ln.body})]

    cfg = BatchConfig(lines_per_block=1)
    bid = store.create_batch(_file(store, 4, ["{bad"]), "/infer", "24h", None)["id"]
    store.record(bid, [LineResult(2, "c1", 200, {"echo": "before a restart"})])
    store.transition(bid, "in_progress", ("validating",))
    b = BatchService(cfg, store, echo).run_batch(bid)
    assert b["status"] == "completed" and sorted(calls) == [1, 3, 4]
    assert b["request_counts"] == {"total": 5, "completed": 4, "failed": 1}
    out = [json.loads(x) for x in store.file_bytes(b["output_file_id"]).splitlines()]
    assert [x["custom_id"] for x in out] == ["c0", "c1", "c2", "c3"]
    assert out[1]["response"]["body"] == {"echo": "before a restart"}
    (err,) = [json.loads(x) for x in store.file_bytes(b["error_file_id"]).splitlines()]
    assert err["custom_id"] is None and err["error"]["code"] == "invalid_json"


def test_lines_not_run_within_the_window_are_reported_expired(store):
    def never(lines, stopped):
        raise AssertionError("an expired batch runs nothing")
        yield

    bid = store.create_batch(_file(store, 3), "/infer", "24h", None)["id"]
    store.record(bid, [LineResult(1, "c0", 200, {"ok": 1})])
    store.db.run("UPDATE batches SET expires_at = ? WHERE id = ?", (1, bid))
    b = BatchService(BatchConfig(), store, never).run_batch(bid)
    assert b["status"] == "expired" and b["expired_at"]
    assert b["request_counts"] == {"total": 3, "completed": 1, "failed": 2}
    errs = [json.loads(x) for x in store.file_bytes(b["error_file_id"]).splitlines()]
    assert [(e["custom_id"], e["error"]["code"]) for e in errs] == [
        ("c1", "batch_expired"),
        ("c2", "batch_expired"),
    ]
