"""The batch store: uploaded files, batches and per-line results, in the review queue's database.

Metadata lives in the same database as the review queue (:mod:`seethink.store.db`: SQLite by
default, PostgreSQL on the cluster profiles); file bytes live on disk under ``data_dir``, or in
the same database (``file_bytes="database"``, the cluster profiles: every node reaches them, and
a file's row and bytes are written in one transaction). A
line's result is keyed by (batch_id, line number): a resumed job inserts with ``ON CONFLICT DO
NOTHING`` and skips lines already stored, so no line is ever written twice. Status changes are
conditional UPDATEs, so a cancel racing the runner has one winner.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .db import Column, Database, StoreRequestError, Table, open_database, sqlite_path

# The statuses are seethink.batch_protocol.BatchStatus (OpenAI's).
# What the runner still has work to do for (also after a restart).
ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")
FINAL = ("completed", "failed", "expired", "cancelled")
MAX_LIST_LIMIT = 100
WINDOW_S = {"24h": 24 * 3600}

FILES_TABLE = Table(
    name="batch_files",
    columns=(
        Column("id", nullable=False),
        Column("created_at", "integer", nullable=False),
        Column("bytes", "integer", nullable=False),
        Column("filename", nullable=False),
        Column("purpose", nullable=False),
    ),
    primary_key="id",
)

# File bytes when they live in the database (file_bytes="database").
FILE_BYTES_TABLE = Table(
    name="batch_file_bytes",
    columns=(Column("id", nullable=False), Column("data", "blob", nullable=False)),
    primary_key="id",
)

BATCHES_TABLE = Table(
    name="batches",
    columns=(
        Column("id", nullable=False),
        Column("created_at", "integer", nullable=False),
        Column("created", "real", nullable=False),  # exact time: the list order
        Column("endpoint", nullable=False),
        Column("input_file_id", nullable=False),
        Column("completion_window", nullable=False),
        Column("status", nullable=False, default="'validating'"),
        Column("output_file_id"),
        Column("error_file_id"),
        Column("errors"),
        Column("metadata"),
        Column("total", "integer", nullable=False, default="0"),
        Column("completed", "integer", nullable=False, default="0"),
        Column("failed", "integer", nullable=False, default="0"),
        Column("in_progress_at", "integer"),
        Column("expires_at", "integer"),
        Column("finalizing_at", "integer"),
        Column("completed_at", "integer"),
        Column("failed_at", "integer"),
        Column("expired_at", "integer"),
        Column("cancelling_at", "integer"),
        Column("cancelled_at", "integer"),
    ),
    primary_key="id",
    indexes={"batches_created_id": ("created", "id"), "batches_status": ("status",)},
)

RESULTS_TABLE = Table(
    name="batch_results",
    columns=(
        Column("batch_id", nullable=False),
        Column("line", "integer", nullable=False),
        Column("custom_id"),
        Column("status_code", "integer", nullable=False),
        Column("request_id"),
        Column("body"),  # the response body (JSON), when the line got an HTTP answer
        Column("error"),  # {"code", "message"} (JSON), when it failed
    ),
    primary_key="batch_id, line",
)


class BatchError(StoreRequestError):
    """A files/batches request that cannot be done; ``status`` is the HTTP status."""


class BatchNotFound(BatchError):
    status = 404
    code = "not_found"


class BatchConflict(BatchError):
    status = 409
    code = "conflict"


class FileTooLarge(BatchError):
    status = 413
    code = "file_too_large"


@dataclass(frozen=True)
class LineResult:
    """What one request line came to: an HTTP answer (``body``) or a failure (``error``)."""

    line: int
    custom_id: str | None
    status_code: int  # 0 when no HTTP answer (bad line, or the call failed)
    body: dict | None = None
    error: dict | None = None
    request_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code == 200


def default_data_dir(store_url: str) -> Path:
    """'files' next to a SQLite store; the user's cache with PostgreSQL."""
    path = sqlite_path(store_url)
    if path is not None:
        return Path(os.path.expanduser(path)).parent / "files"
    return Path.home() / ".cache" / "seethink" / "files"


def _checked_id(file_id: str) -> str:
    """A file id as the store makes them (letters, digits, '-'): never a path."""
    if not file_id.replace("-", "").isalnum():
        raise BatchNotFound(f"no file with id '{file_id[:80]}'")
    return file_id


def _now() -> int:
    return int(time.time())


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


class BatchStore:
    """Files, batches and line results. Thread-safe; every method is a short blocking call."""

    def __init__(self, db: Database, data_dir: str | os.PathLike[str] | None, max_file_bytes: int):
        """File bytes go under ``data_dir``, or into the database when it is None."""
        self.db = db
        self.data_dir = None if data_dir is None else Path(os.path.expanduser(data_dir))
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        self.max_file_bytes = max_file_bytes
        db.migrate(FILES_TABLE, BATCHES_TABLE, RESULTS_TABLE, FILE_BYTES_TABLE)

    @property
    def in_db(self) -> bool:
        """Whether file bytes live in the database (else on disk under ``data_dir``)."""
        return self.data_dir is None

    @property
    def files_location(self) -> str:
        """Where file bytes live, for logs."""
        return f"the {self.db.dialect} database" if self.in_db else str(self.data_dir)

    def close(self) -> None:
        self.db.close()

    # ---- files --------------------------------------------------------------------------

    def add_file(
        self, filename: str, purpose: str, data: bytes, file_id: str | None = None
    ) -> dict:
        """Store the bytes, then the row: on disk first (a crash between leaves an orphan
        file, never a row without bytes), or in the database in the row's own transaction. A
        given ``file_id`` makes it idempotent (batch results)."""
        if len(data) > self.max_file_bytes:
            raise FileTooLarge(
                f"the file is {len(data)} bytes; the limit is {self.max_file_bytes} bytes"
            )
        file_id = _checked_id(file_id or _id("file"))
        if not self.in_db:
            path = self._path(file_id)
            tmp = path.with_name(f".{file_id}.{uuid.uuid4().hex[:8]}.part")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        row = {
            "id": file_id,
            "created_at": _now(),
            "bytes": len(data),
            "filename": filename[:255] or "file",
            "purpose": purpose,
        }
        with self.db.transaction() as tx:
            if self.in_db:
                tx.run(
                    "INSERT INTO batch_file_bytes (id, data) VALUES (?, ?)"
                    " ON CONFLICT (id) DO UPDATE SET data = excluded.data",
                    (file_id, data),
                )
            tx.run(
                "INSERT INTO batch_files (id, created_at, bytes, filename, purpose)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET bytes = excluded.bytes",
                list(row.values()),
            )
        return self.get_file(file_id) or row

    def get_file(self, file_id: str) -> dict | None:
        rows = self.db.run("SELECT * FROM batch_files WHERE id = ?", (file_id,)).rows
        return _file(rows[0]) if rows else None

    def file_bytes(self, file_id: str) -> bytes:
        if self.get_file(file_id) is None:
            raise BatchNotFound(f"no file with id '{file_id}'")
        gone = BatchNotFound(f"the bytes of file '{file_id}' are gone from the store")
        if self.in_db:
            rows = self.db.run("SELECT data FROM batch_file_bytes WHERE id = ?", (file_id,)).rows
            if not rows:
                raise gone
            return bytes(rows[0]["data"])
        try:
            return self._path(file_id).read_bytes()
        except FileNotFoundError:
            raise gone from None

    def _path(self, file_id: str) -> Path:
        """Where a file's bytes live on disk (the disk mode only)."""
        assert self.data_dir is not None
        return self.data_dir / _checked_id(file_id)

    # ---- batches ------------------------------------------------------------------------

    def create_batch(
        self, input_file_id: str, endpoint: str, completion_window: str, metadata: dict | None
    ) -> dict:
        f = self.get_file(input_file_id)
        if f is None:
            raise BatchNotFound(f"no file with id '{input_file_id}'")
        if f["purpose"] != "batch":
            raise BatchError(
                f"file '{input_file_id}' has purpose '{f['purpose']}'; a batch needs a file "
                "uploaded with purpose 'batch'"
            )
        now = time.time()
        batch_id = _id("batch")
        window = WINDOW_S.get(completion_window, WINDOW_S["24h"])
        self.db.run(
            "INSERT INTO batches (id, created_at, created, endpoint, input_file_id,"
            " completion_window, status, metadata, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'validating', ?, ?)",
            (
                batch_id,
                int(now),
                now,
                endpoint,
                input_file_id,
                completion_window,
                json.dumps(metadata) if metadata else None,
                int(now) + window,
            ),
        )
        return self.get_batch(batch_id)  # type: ignore[return-value]

    def get_batch(self, batch_id: str) -> dict | None:
        rows = self.db.run("SELECT * FROM batches WHERE id = ?", (batch_id,)).rows
        return _batch(rows[0]) if rows else None

    def require_batch(self, batch_id: str) -> dict:
        b = self.get_batch(batch_id)
        if b is None:
            raise BatchNotFound(f"no batch with id '{batch_id[:80]}'")
        return b

    def list_batches(self, after: str | None = None, limit: int = 20) -> dict:
        """Newest first, OpenAI's cursor: ``after`` is the last id of the previous page."""
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise BatchError(f"limit must be between 1 and {MAX_LIST_LIMIT}, not {limit}")
        sql, args = "SELECT * FROM batches", []
        if after is not None:
            rows = self.db.run("SELECT created FROM batches WHERE id = ?", (after,)).rows
            if not rows:
                raise BatchError(
                    f"after='{after[:80]}' is not a batch id; pass the last_id of the previous page"
                )
            created = rows[0]["created"]
            sql += " WHERE (created < ? OR (created = ? AND id < ?))"
            args = [created, created, after]
        sql += " ORDER BY created DESC, id DESC LIMIT ?"
        rows = self.db.run(sql, [*args, limit + 1]).rows
        data = [_batch(r) for r in rows[:limit]]
        return {
            "data": data,
            "has_more": len(rows) > limit,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    def active_batches(self) -> list[dict]:
        """Batches the runner has work for, oldest first."""
        marks = ", ".join("?" * len(ACTIVE))
        rows = self.db.run(
            f"SELECT * FROM batches WHERE status IN ({marks}) ORDER BY created, id", ACTIVE
        ).rows
        return [_batch(r) for r in rows]

    def transition(self, batch_id: str, to: str, from_: tuple[str, ...], **extra: Any) -> bool:
        """Set ``status = to`` (and its ``<to>_at`` time) only if the status is one of
        ``from_``; True when this call made the change."""
        sets = {"status": to, f"{to}_at": _now(), **extra}
        cols = ", ".join(f"{k} = ?" for k in sets)
        marks = ", ".join("?" * len(from_))
        n = self.db.run(
            f"UPDATE batches SET {cols} WHERE id = ? AND status IN ({marks})",
            [*sets.values(), batch_id, *from_],
        ).rowcount
        return n > 0

    def cancel(self, batch_id: str) -> dict:
        """validating/in_progress -> cancelling (the runner then stops and keeps what is
        done); cancelling/cancelled again is a no-op; a finished batch is a 409."""
        b = self.require_batch(batch_id)
        if self.transition(batch_id, "cancelling", ("validating", "in_progress")):
            return self.require_batch(batch_id)
        b = self.require_batch(batch_id)
        if b["status"] in ("cancelling", "cancelled"):
            return b
        raise BatchConflict(
            f"batch '{batch_id}' is {b['status']}; only a validating or "
            "in_progress batch can be cancelled"
        )

    def set_total(self, batch_id: str, total: int) -> None:
        self.db.run("UPDATE batches SET total = ? WHERE id = ?", (total, batch_id))

    def fail(self, batch_id: str, errors: list[dict]) -> bool:
        return self.transition(
            batch_id, "failed", ("validating", "in_progress"), errors=json.dumps(errors)
        )

    # ---- results ------------------------------------------------------------------------

    def record(self, batch_id: str, results: list[LineResult]) -> int:
        """Store line results (a line already stored keeps its first result) and refresh
        ``request_counts``; returns how many were new."""
        if not results:
            return 0
        new = 0
        with self.db.transaction() as tx:
            for r in results:
                new += tx.run(
                    "INSERT INTO batch_results (batch_id, line, custom_id, status_code,"
                    " request_id, body, error) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (batch_id, line) DO NOTHING",
                    (
                        batch_id,
                        r.line,
                        r.custom_id,
                        r.status_code,
                        r.request_id,
                        _dumps(r.body),
                        _dumps(r.error),
                    ),
                ).rowcount
            tx.run(
                "UPDATE batches SET"
                " completed = (SELECT COUNT(*) FROM batch_results"
                "   WHERE batch_id = ? AND status_code = 200),"
                " failed = (SELECT COUNT(*) FROM batch_results"
                "   WHERE batch_id = ? AND status_code <> 200)"
                " WHERE id = ?",
                (batch_id, batch_id, batch_id),
            )
        return new

    def done_lines(self, batch_id: str) -> set[int]:
        rows = self.db.run("SELECT line FROM batch_results WHERE batch_id = ?", (batch_id,)).rows
        return {int(r["line"]) for r in rows}

    def results(self, batch_id: str) -> list[LineResult]:
        rows = self.db.run(
            "SELECT * FROM batch_results WHERE batch_id = ? ORDER BY line", (batch_id,)
        ).rows
        return [
            LineResult(
                line=int(r["line"]),
                custom_id=r["custom_id"],
                status_code=int(r["status_code"]),
                body=json.loads(r["body"]) if r["body"] else None,
                error=json.loads(r["error"]) if r["error"] else None,
                request_id=r["request_id"],
            )
            for r in rows
        ]


def open_batch_store(
    store_url: str, data_dir: str | None, max_file_bytes: int, file_bytes: str = "disk"
) -> BatchStore:
    """The batch store in the database ``store_url`` names (the review queue's); file bytes
    on disk (``data_dir``, by default next to a SQLite store) or in that database."""
    if file_bytes not in ("disk", "database"):
        raise ValueError(f"file_bytes={file_bytes!r}: expected 'disk' or 'database'")
    if file_bytes == "database":
        data_dir = None
    else:
        data_dir = data_dir or default_data_dir(store_url)
    return BatchStore(open_database(store_url), data_dir, max_file_bytes)


def _dumps(v: Any) -> str | None:
    return None if v is None else json.dumps(v, ensure_ascii=False)


def _file(row: dict) -> dict:
    return {
        "id": row["id"],
        "object": "file",
        "bytes": int(row["bytes"]),
        "created_at": int(row["created_at"]),
        "filename": row["filename"],
        "purpose": row["purpose"],
        "status": "processed",
    }


def _batch(row: dict) -> dict:
    errors = json.loads(row["errors"]) if row.get("errors") else None
    out = {
        "id": row["id"],
        "object": "batch",
        "endpoint": row["endpoint"],
        "errors": {"object": "list", "data": errors} if errors else None,
        "input_file_id": row["input_file_id"],
        "completion_window": row["completion_window"],
        "status": row["status"],
        "output_file_id": row.get("output_file_id"),
        "error_file_id": row.get("error_file_id"),
        "created_at": int(row["created_at"]),
        "request_counts": {
            "total": int(row["total"] or 0),
            "completed": int(row["completed"] or 0),
            "failed": int(row["failed"] or 0),
        },
        "metadata": json.loads(row["metadata"]) if row.get("metadata") else None,
    }
    for k in (
        "in_progress_at",
        "expires_at",
        "finalizing_at",
        "completed_at",
        "failed_at",
        "expired_at",
        "cancelling_at",
        "cancelled_at",
    ):
        out[k] = int(row[k]) if row.get(k) is not None else None
    return out
