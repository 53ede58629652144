"""The review store: the same tests on SQLite (a temp file) and PostgreSQL (a private server).

PostgreSQL comes from ``tests/pg.py``: one server per module, one fresh schema per test.
"""

from __future__ import annotations

import pickle
import sqlite3
import threading
import time

import psycopg
import pytest

from deployments.review import (
    STATUSES,
    ReviewConflict,
    ReviewError,
    ReviewNotFound,
    ReviewQueue,
    error_message,
)
from seethink.store import (
    PostgresReviewStore,
    SQLiteReviewStore,
    StoreUnavailable,
    StoreURLError,
    open_review_store,
)
from seethink.store.thumbnail import thumbnail_data_url
from tests.helpers import free_port, png_bytes
from tests.pg import empty_store_url, postgres_dsn  # noqa: F401  (module-scoped fixture)

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path) -> str:
    """A URL of an empty store; both backends."""
    return empty_store_url(request, tmp_path, request.param)


@pytest.fixture
def store(store_url):
    s = open_review_store(store_url)
    yield s
    s.close()


def case(n: int = 0, **over) -> dict:
    c = {
        "request_id": f"req-{n}",
        "image_sha256": f"{n:064x}",
        "question": f"what is this? #{n}",
        "caption": "a red box",
        "answer": f"a blue ball #{n}",
        "scores": {"consistency": 0.125, "verification": 0.1 + n / 1000},
    }
    return {**c, **over}


def walk(store, status: str = "all", limit: int = 5) -> tuple[list[str], list[bool]]:
    ids, more, cursor = [], [], None
    while True:
        page = store.list(status, limit, cursor)
        ids += [c["id"] for c in page["data"]]
        more.append(page["has_more"])
        assert (page["next_cursor"] is None) == (not page["has_more"])
        if not page["has_more"]:
            return ids, more
        cursor = page["next_cursor"]


# ---- add, get, list ---------------------------------------------------------------------------


def test_add_then_get_round_trips_every_field(store):
    thumb = thumbnail_data_url(png_bytes(size=(400, 200)))
    c = case(
        question="这张图里的药每天吃几次?",
        answer="每天两次,饭后服用。",
        scores={
            "consistency": 0.0625,
            "verification": 0.03,
            "detail": {"zh": "不一致", "n": [1, 2]},
        },
        thumbnail=thumb,
    )
    before = time.time()
    cid = store.add(c)
    got = store.get(cid)
    assert got["id"] == cid and got["status"] == "open"
    assert before <= got["created"] <= time.time()
    for k in ("request_id", "image_sha256", "question", "caption", "answer", "scores"):
        assert got[k] == c[k], k
    assert got["thumbnail"] == thumb and thumb.startswith("data:image/jpeg;base64,")
    assert got["resolution"] is None and got["reviewer"] is None and got["resolved"] is None
    assert store.get("no-such-id") is None


def test_non_finite_scores_are_stored_as_null_and_bad_thumbnails_dropped(store):
    cid = store.add(case(scores={"a": float("nan"), "b": float("inf"), "c": 0.5}, thumbnail="x"))
    got = store.get(cid)
    assert got["scores"] == {"a": None, "b": None, "c": 0.5}
    assert got["thumbnail"] is None


def test_add_refuses_a_case_with_missing_or_unknown_fields(store):
    bad = case()
    del bad["answer"]
    with pytest.raises(ReviewError, match="missing fields \\['answer'\\].*expected request_id"):
        store.add(bad)
    with pytest.raises(ReviewError, match="unknown fields \\['colour'\\]"):
        store.add(case(colour="red"))
    assert store.list("all")["data"] == []


def test_list_filters_by_status_newest_first(store):
    ids = [store.add(case(i)) for i in range(4)]
    store.resolve(ids[1], "answer ok", "alice")
    assert [c["id"] for c in store.list("open")["data"]] == [ids[3], ids[2], ids[0]]
    assert [c["id"] for c in store.list("resolved")["data"]] == [ids[1]]
    assert [c["id"] for c in store.list("all")["data"]] == ids[::-1]
    assert store.stats() == {"backend": store.backend, "open": 3, "resolved": 1}


@pytest.mark.parametrize(
    "args, message",
    [
        (("weird",), "unknown status 'weird'; expected one of: open, resolved, all"),
        (("open", 0), "limit must be an integer from 1 to 500"),
        (("open", 501), "limit must be an integer from 1 to 500"),
        (("open", 5, "not-a-cursor!"), "invalid cursor"),
    ],
)
def test_list_rejects_bad_arguments_with_a_400_message(store, args, message):
    with pytest.raises(ReviewError, match=message) as e:
        store.list(*args)
    assert e.value.status == 400


def test_cursor_walks_every_case_exactly_once(store):
    ids = [store.add(case(i)) for i in range(23)]
    seen, more = walk(store, "all", 5)
    assert seen == ids[::-1]
    assert more == [True, True, True, True, False]
    seen, more = walk(store, "all", 23)
    assert len(seen) == 23 and more == [False]


def test_cursor_breaks_ties_on_created_by_id(store):
    ids = [store.add(case(i)) for i in range(12)]
    store.db.run("UPDATE review SET created = ?", (1_700_000_000.5,))  # all at the same instant
    seen, _ = walk(store, "open", 5)
    assert sorted(seen) == sorted(ids) and len(set(seen)) == 12
    assert seen == sorted(ids, reverse=True)


def test_resolving_during_a_walk_never_repeats_a_case(store):
    ids = [store.add(case(i)) for i in range(10)]
    first = store.list("open", 4)
    for c in first["data"]:
        store.resolve(c["id"], "answer ok", "bob")  # the reviewer works through the page
    rest, _ = walk_from(store, first["next_cursor"])
    seen = [c["id"] for c in first["data"]] + rest
    assert seen == ids[::-1]


def walk_from(store, cursor):
    ids, more = [], []
    while cursor:
        page = store.list("open", 4, cursor)
        ids += [c["id"] for c in page["data"]]
        more.append(page["has_more"])
        cursor = page["next_cursor"]
    return ids, more


# ---- resolve ----------------------------------------------------------------------------------


def test_resolve_records_reviewer_and_time(store):
    cid = store.add(case())
    before = time.time()
    done = store.resolve(cid, "answer wrong: it is a box", "alice@example.org")
    assert done["status"] == "resolved" and done["resolution"] == "answer wrong: it is a box"
    assert done["reviewer"] == "alice@example.org"
    assert before <= done["resolved"] <= time.time()
    assert store.get(cid) == done
    assert cid not in [c["id"] for c in store.list("open")["data"]]


def test_same_resolution_again_is_idempotent(store):
    cid = store.add(case())
    first = store.resolve(cid, "answer ok", "alice")
    again = store.resolve(cid, "answer ok", "bob")
    assert again == first  # unchanged: first reviewer and time kept


def test_different_resolution_is_a_conflict_and_the_first_is_kept(store):
    cid = store.add(case())
    first = store.resolve(cid, "答案正确", "alice")
    with pytest.raises(ReviewConflict, match="already resolved by 'alice' as '答案正确'") as e:
        store.resolve(cid, "answer wrong", "bob")
    assert e.value.status == 409
    assert store.get(cid) == first


def test_unknown_case_is_not_found(store):
    with pytest.raises(ReviewNotFound, match="no review case with id 'nope'") as e:
        store.resolve("nope", "answer ok", "alice")
    assert e.value.status == 404


@pytest.mark.parametrize(
    "resolution, reviewer", [("", "a"), ("  ", "a"), ("ok", ""), ("x" * 4001, "a")]
)
def test_resolve_rejects_empty_or_oversized_values(store, resolution, reviewer):
    cid = store.add(case())
    with pytest.raises(ReviewError):
        store.resolve(cid, resolution, reviewer)
    assert store.get(cid)["status"] == "open"


@pytest.mark.parametrize("stores", ["one store", "a store per reviewer"])
def test_concurrent_resolutions_have_exactly_one_winner(store_url, stores):
    n = 8
    shared = open_review_store(store_url)
    mine = (
        [shared] * n if stores == "one store" else [open_review_store(store_url) for _ in range(n)]
    )
    try:
        for round_ in range(3):
            cid = shared.add(case(round_))
            gate = threading.Barrier(n)
            won, lost, other = [], [], []

            def reviewer(i: int, cid=cid, gate=gate, won=won, lost=lost, other=other) -> None:
                gate.wait()
                try:
                    won.append(mine[i].resolve(cid, f"verdict {i}", f"reviewer-{i}"))
                except ReviewConflict:
                    lost.append(i)
                except Exception as e:  # anything else is a bug
                    other.append(e)

            threads = [threading.Thread(target=reviewer, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert other == [] and len(won) == 1 and len(lost) == n - 1
            stored = shared.get(cid)
            assert stored["resolution"] == won[0]["resolution"]
            assert stored["reviewer"] == won[0]["reviewer"]
    finally:
        for s in {id(s): s for s in mine}.values():
            s.close()


# ---- durability and migration -----------------------------------------------------------------


def test_cases_survive_closing_and_reopening_the_store(store_url):
    """A replica restart: a new process opens the same URL and finds every case as it was."""
    s = open_review_store(store_url)
    open_id = s.add(case(1, question="还在吗?"))
    done_id = s.add(case(2))
    done = s.resolve(done_id, "answer ok", "alice")
    s.close()
    s2 = open_review_store(store_url)
    try:
        assert s2.get(open_id)["question"] == "还在吗?" and s2.get(open_id)["status"] == "open"
        assert s2.get(done_id) == done
        with pytest.raises(ReviewConflict):
            s2.resolve(done_id, "answer wrong", "bob")
    finally:
        s2.close()


OLD_SCHEMA = """
CREATE TABLE review (
    id TEXT PRIMARY KEY, created REAL NOT NULL, request_id TEXT NOT NULL,
    image_sha256 TEXT NOT NULL, question TEXT NOT NULL, caption TEXT NOT NULL,
    answer TEXT NOT NULL, scores TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'open',
    resolution TEXT, resolved REAL
)
"""


def test_an_old_sqlite_file_is_migrated_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute(OLD_SCHEMA)
    rows = [
        (
            "a1",
            100.0,
            "r1",
            "f" * 64,
            "旧问题",
            "cap",
            "ans",
            '{"consistency": 0.1}',
            "open",
            None,
            None,
        ),
        ("a2", 200.0, "r2", "e" * 64, "q2", "cap", "ans", "{}", "resolved", "fixed", 250.0),
    ]
    db.executemany("INSERT INTO review VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.commit()
    db.close()

    with SQLiteReviewStore(str(path)) as s:
        old = s.get("a1")
        assert old["question"] == "旧问题" and old["scores"] == {"consistency": 0.1}
        assert old["reviewer"] is None and old["thumbnail"] is None
        assert s.get("a2")["resolution"] == "fixed" and s.get("a2")["resolved"] == 250.0
        assert s.resolve("a1", "answer ok", "carol")["reviewer"] == "carol"
        new = s.add(case(thumbnail=thumbnail_data_url(png_bytes())))
        assert [c["id"] for c in s.list("all")["data"]] == [new, "a2", "a1"]
    cols = {r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(review)")}
    assert {"reviewer", "thumbnail"} <= cols


def test_sqlite_runs_in_wal_mode(tmp_path):
    with SQLiteReviewStore(str(tmp_path / "w.sqlite3")) as s:
        assert s.db.run("PRAGMA journal_mode").rows[0]["journal_mode"] == "wal"


# ---- opening by URL ---------------------------------------------------------------------------


def test_urls_pick_the_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for url, path in [
        (f"sqlite://{tmp_path}/a.db", tmp_path / "a.db"),
        (f"sqlite:///{tmp_path}/b.db", tmp_path / "b.db"),  # SQLAlchemy's four slashes
        ("sqlite:///~/c.db", tmp_path / "c.db"),
        ("~/sub/d.db", tmp_path / "sub" / "d.db"),
    ]:
        with open_review_store(url) as s:
            assert isinstance(s, SQLiteReviewStore) and s.db.path == path, url
        assert path.exists(), url
    with pytest.raises(StoreURLError, match="unknown store URL scheme 'mysql'; expected one of"):
        open_review_store("mysql://x/y")
    with pytest.raises(StoreURLError, match="needs a path"):
        open_review_store("sqlite://")


def test_postgres_url_opens_postgres(postgres_dsn):  # noqa: F811
    with open_review_store(postgres_dsn) as s:
        assert isinstance(s, PostgresReviewStore) and s.backend == "postgresql"


def test_unreachable_postgres_fails_fast_without_showing_the_password():
    dsn = f"postgresql://u:s3cret@127.0.0.1:{free_port()}/db"
    t = time.monotonic()
    with pytest.raises(StoreUnavailable, match="cannot reach PostgreSQL at 127.0.0.1:") as e:
        PostgresReviewStore(dsn, connect_timeout_s=1)
    assert time.monotonic() - t < 10
    assert "s3cret" not in str(e.value)


# ---- the deployment class and its errors ------------------------------------------------------


def test_review_queue_delegates_to_the_store(store_url):
    q = ReviewQueue(store_url)
    try:
        cid = q.add(case())
        assert q.get(cid)["id"] == cid
        page = q.list("open", 10)
        assert [c["id"] for c in page["data"]] == [cid] and page["has_more"] is False
        assert q.resolve(cid, "answer ok", "alice")["reviewer"] == "alice"
        with pytest.raises(ReviewConflict):
            q.resolve(cid, "answer wrong", "bob")
        assert q.stats()["resolved"] == 1 and q.stats()["open"] == 0
        assert STATUSES == ("open", "resolved", "all")
    finally:
        q.close()


@pytest.mark.parametrize("exc", [ReviewError, ReviewNotFound, ReviewConflict])
def test_errors_survive_pickling_with_their_status(exc):
    """Ray carries a replica's exception to the ingress by pickling it."""
    back = pickle.loads(pickle.dumps(exc("message")))
    assert type(back) is exc and str(back) == "message" and back.status == exc.status


def test_error_message_is_the_message_even_after_a_ray_handle():
    from ray.exceptions import RayTaskError

    cause = ReviewConflict("already resolved by 'alice'")
    tb = 'Traceback (most recent call last):\n  File "/srv/x.py"\nReviewConflict: ...'
    wrapped = RayTaskError("resolve", tb, cause).as_instanceof_cause()
    assert isinstance(wrapped, ReviewConflict) and wrapped.status == 409
    assert "/srv/x.py" in str(wrapped)  # what the ingress must not send
    assert error_message(wrapped) == "already resolved by 'alice'"
    assert error_message(ReviewNotFound("no review case")) == "no review case"


def test_thumbnails_are_small_jpegs():
    url = thumbnail_data_url(png_bytes(size=(1024, 300)))
    import base64
    import io

    from PIL import Image

    im = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert im.format == "JPEG" and max(im.size) == 128 and im.size[1] == round(300 * 128 / 1024)
    assert thumbnail_data_url(b"not an image") is None


def test_postgres_store_reconnects_after_its_sessions_are_killed(postgres_dsn):  # noqa: F811
    """A PostgreSQL restart or failover drops every connection; the next call must still work."""
    with open_review_store(postgres_dsn) as s:
        cid = s.add(case())
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = '' AND pid <> pg_backend_pid()"
                " AND datname = current_database()"
            ).fetchone()[0]
        assert killed >= 1
        assert s.get(cid)["id"] == cid
        assert s.resolve(cid, "answer ok", "alice")["status"] == "resolved"


@pytest.mark.parametrize(
    "ci, outcome", [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_missing_postgres_fails_under_ci_and_skips_elsewhere(monkeypatch, ci, outcome):
    import tests.pg

    def missing():
        raise tests.pg.PostgresMissing("PostgreSQL server binaries (initdb, pg_ctl) not found")

    monkeypatch.setattr(tests.pg, "find_bindir", missing)
    monkeypatch.delenv("SEETHINK_TEST_POSTGRES_DSN", raising=False)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="initdb, pg_ctl"):
        with tests.pg.postgres_or_skip():
            pass
