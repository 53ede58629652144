"""The review store: cascade answers that disagree with the image, kept for a person to settle.

One interface (:class:`ReviewStore`) over :mod:`seethink.store.db`, so SQLite (embedded default)
and PostgreSQL (cluster profiles) behave the same and are tested with the same tests. Listing is
keyset-paginated by (created, id) descending; resolving is one conditional UPDATE, so of two
reviewers settling one case at once exactly one wins and the other gets :class:`ReviewConflict`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import time
import uuid
from abc import ABC, abstractmethod
from typing import Any, Literal

from .db import (
    URL_FORMS,
    Column,
    Database,
    SQLiteDatabase,
    StoreRequestError,
    StoreURLError,
    Table,
    error_message,
    sqlite_path,
)

__all__ = ["error_message"]  # re-exported: the review node and its tests import it from here

log = logging.getLogger(__name__)

STATUSES = ("open", "resolved", "all")
Status = Literal["open", "resolved", "all"]
MAX_LIMIT = 500
MAX_RESOLUTION_CHARS = 4000
MAX_REVIEWER_CHARS = 200
# A <=128 px JPEG as a data: URL is a few KB; anything far bigger is not a thumbnail.
MAX_THUMBNAIL_CHARS = 64 * 1024

REQUIRED_FIELDS = ("request_id", "image_sha256", "question", "caption", "answer")
OPTIONAL_FIELDS = ("scores", "thumbnail")

REVIEW_TABLE = Table(
    name="review",
    columns=(
        Column("id", nullable=False),
        Column("created", "real", nullable=False),
        Column("request_id", nullable=False),
        Column("image_sha256", nullable=False),
        Column("question", nullable=False),
        Column("caption", nullable=False),
        Column("answer", nullable=False),
        Column("scores", nullable=False, default="'{}'"),
        Column("status", nullable=False, default="'open'"),
        Column("resolution"),
        Column("reviewer"),
        Column("resolved", "real"),
        Column("thumbnail"),
    ),
    primary_key="id",
    indexes={
        "review_created_id": ("created", "id"),
        "review_status_created_id": ("status", "created", "id"),
    },
)
CASE_FIELDS = tuple(c.name for c in REVIEW_TABLE.columns)


class ReviewError(StoreRequestError):
    """A review request that cannot be done; ``status`` is the HTTP status to answer with."""


class ReviewNotFound(ReviewError):
    """No case with that id."""

    status = 404
    code = "not_found"


class ReviewConflict(ReviewError):
    """The case was already resolved differently; the first resolution is kept."""

    status = 409
    code = "conflict"


class ReviewStore(ABC):
    """Stores, lists and resolves review cases. Implementations are thread-safe and every
    method is one short blocking call (Serve runs sync methods on its threadpool)."""

    backend: str

    @abstractmethod
    def add(self, case: dict) -> str:
        """Store a new open case; returns its id."""

    @abstractmethod
    def get(self, case_id: str) -> dict | None:
        """The case, or None when there is none with that id."""

    @abstractmethod
    def list(self, status: Status = "open", limit: int = 50, cursor: str | None = None) -> dict:
        """Newest first: ``{"data": [case...], "next_cursor": str | None, "has_more": bool}``."""

    @abstractmethod
    def resolve(self, case_id: str, resolution: str, reviewer: str) -> dict:
        """Settle an open case; same resolution again is a no-op, a different one a conflict."""

    @abstractmethod
    def stats(self) -> dict:
        """``{"backend", "open", "resolved"}``."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SQLReviewStore(ReviewStore):
    """The review store over :class:`~seethink.store.db.Database` (SQLite or PostgreSQL)."""

    def __init__(self, db: Database):
        self.db = db
        self.backend = db.dialect
        db.migrate(REVIEW_TABLE)

    def close(self) -> None:
        self.db.close()

    def add(self, case: dict) -> str:
        """Store a new open case; returns its id."""
        row = _new_row(case)
        cols = ", ".join(row)
        self.db.run(
            f"INSERT INTO review ({cols}) VALUES ({', '.join('?' * len(row))})", list(row.values())
        )
        return row["id"]

    def get(self, case_id: str) -> dict | None:
        """The case, or None when there is none with that id."""
        rows = self.db.run("SELECT * FROM review WHERE id = ?", (case_id,)).rows
        return _case(rows[0]) if rows else None

    def list(self, status: Status = "open", limit: int = 50, cursor: str | None = None) -> dict:
        """Newest first: ``{"data": [case...], "next_cursor": str | None, "has_more": bool}``.
        Pass ``next_cursor`` back to get the next page; every case is listed exactly once."""
        if status not in STATUSES:
            raise ReviewError(f"unknown status '{status}'; expected one of: {', '.join(STATUSES)}")
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise ReviewError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
        where, args = [], []
        if status != "all":
            where.append("status = ?")
            args.append(status)
        if cursor is not None:
            where.append("(created < ? OR (created = ? AND id < ?))")
            created, last_id = _decode_cursor(cursor)
            args += [created, created, last_id]
        sql = "SELECT * FROM review"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created DESC, id DESC LIMIT ?"
        rows = self.db.run(sql, [*args, limit + 1]).rows
        has_more = len(rows) > limit
        data = [_case(r) for r in rows[:limit]]
        nxt = _encode_cursor(data[-1]["created"], data[-1]["id"]) if has_more else None
        return {"data": data, "next_cursor": nxt, "has_more": has_more}

    def resolve(self, case_id: str, resolution: str, reviewer: str) -> dict:
        """Settle an open case, recording who and when. The same resolution again returns the
        case unchanged; a different one raises :class:`ReviewConflict` and keeps the first."""
        resolution, reviewer = _check_resolution(resolution, reviewer)
        # One conditional UPDATE: the database, not this process, decides who wins a race.
        rows = self.db.run(
            "UPDATE review SET status = 'resolved', resolution = ?, reviewer = ?, resolved = ?"
            " WHERE id = ? AND status = 'open' RETURNING *",
            (resolution, reviewer, time.time(), case_id),
        ).rows
        if rows:
            return _case(rows[0])
        case = self.get(case_id)
        if case is None:
            raise ReviewNotFound(f"no review case with id '{case_id}'")
        if case["resolution"] == resolution:
            return case
        raise ReviewConflict(
            f"review case '{case_id}' was already resolved by '{case['reviewer']}'"
            f" as '{_short(case['resolution'])}'; the first resolution is kept"
        )

    def stats(self) -> dict:
        """Case counts by status, and the backend in use."""
        rows = self.db.run("SELECT status, COUNT(*) AS n FROM review GROUP BY status").rows
        counts = {r["status"]: int(r["n"]) for r in rows}
        return {
            "backend": self.backend,
            "open": counts.get("open", 0),
            "resolved": counts.get("resolved", 0),
        }


class SQLiteReviewStore(SQLReviewStore):
    """The embedded default: a WAL-mode SQLite file."""

    def __init__(self, path: str):
        super().__init__(SQLiteDatabase(path))


class PostgresReviewStore(SQLReviewStore):
    """The cluster store: PostgreSQL through psycopg 3, so any replica on any node sees it."""

    def __init__(self, dsn: str, connect_timeout_s: float = 10.0):
        from .db import PostgresDatabase

        super().__init__(PostgresDatabase(dsn, connect_timeout_s=connect_timeout_s))


def open_review_store(url: str) -> ReviewStore:
    """``sqlite:///path`` or a plain path -> SQLite; ``postgresql://...`` -> PostgreSQL."""
    path = sqlite_path(url)
    if path is not None:
        return SQLiteReviewStore(path)
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("postgresql", "postgres"):
        return PostgresReviewStore(url)
    raise StoreURLError(f"unknown store URL scheme '{scheme}'; expected one of: {URL_FORMS}")


# ---- rows <-> cases -------------------------------------------------------------------------


def _new_row(case: dict) -> dict[str, Any]:
    missing = [f for f in REQUIRED_FIELDS if case.get(f) is None]
    unknown = sorted(set(case) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS))
    if missing or unknown:
        raise ReviewError(
            f"review case has missing fields {missing} and unknown fields {unknown};"
            f" expected {', '.join(REQUIRED_FIELDS)} and optionally {', '.join(OPTIONAL_FIELDS)}"
        )
    return {
        "id": uuid.uuid4().hex[:16],
        "created": time.time(),
        **{f: str(case[f]) for f in REQUIRED_FIELDS},
        "scores": json.dumps(_finite(case.get("scores") or {}), ensure_ascii=False),
        "status": "open",
        "thumbnail": _thumbnail(case.get("thumbnail")),
    }


def _case(row: dict) -> dict:
    case = {f: row.get(f) for f in CASE_FIELDS}
    case["scores"] = json.loads(case["scores"] or "{}")
    return case


def _finite(v: Any) -> Any:
    """NaN and infinities become None: strict JSON (and HTTP clients) reject them."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _finite(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_finite(x) for x in v]
    return v


def _thumbnail(t: Any) -> str | None:
    """Keep a small image data: URL; drop anything else (a case is never refused for its
    thumbnail: losing the case would be worse than losing the picture)."""
    if t is None:
        return None
    if isinstance(t, str) and t.startswith("data:image/") and len(t) <= MAX_THUMBNAIL_CHARS:
        return t
    log.warning(
        "review case thumbnail dropped: not an image data: URL of <= %d chars", MAX_THUMBNAIL_CHARS
    )
    return None


def _check_resolution(resolution: Any, reviewer: Any) -> tuple[str, str]:
    if not isinstance(resolution, str) or not resolution.strip():
        raise ReviewError("resolution must be a non-empty string")
    if len(resolution) > MAX_RESOLUTION_CHARS:
        raise ReviewError(
            f"resolution is {len(resolution)} characters; at most {MAX_RESOLUTION_CHARS} allowed"
        )
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise ReviewError("reviewer must be a non-empty string (who resolved the case)")
    if len(reviewer) > MAX_REVIEWER_CHARS:
        raise ReviewError(f"reviewer is longer than {MAX_REVIEWER_CHARS} characters")
    return resolution, reviewer


def _short(s: str | None, n: int = 80) -> str:
    s = s or ""
    return s if len(s) <= n else s[: n - 1] + "…"


def _encode_cursor(created: float, case_id: str) -> str:
    raw = json.dumps([repr(created), case_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, case_id = json.loads(raw)
        return float(created), str(case_id)
    except (binascii.Error, ValueError, TypeError):
        raise ReviewError("invalid cursor; pass back the next_cursor of the previous page")
