"""The review queue node: cascade answers that disagree with the image, kept in SQLite.

One replica owns the database file, so writes never race; the file outlives the graph, so a case
flagged before a restart is still listed after it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS review (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    request_id TEXT NOT NULL,
    image_sha256 TEXT NOT NULL,
    question TEXT NOT NULL,
    caption TEXT NOT NULL,
    answer TEXT NOT NULL,
    scores TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    resolution TEXT,
    resolved REAL
)
"""

STATUSES = ("open", "resolved", "all")


class ReviewError(ValueError):
    """A review request that cannot be done; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class ReviewQueue:
    """Stores, lists and resolves review cases."""

    def __init__(self, db_path: str):
        path = Path(os.path.expanduser(db_path))
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(SCHEMA)
        self.db.commit()

    def add(self, case: dict) -> str:
        rid = uuid.uuid4().hex[:16]
        self.db.execute(
            "INSERT INTO review (id, created, request_id, image_sha256, question, caption, answer,"
            " scores) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                rid,
                time.time(),
                case["request_id"],
                case["image_sha256"],
                case["question"],
                case["caption"],
                case["answer"],
                json.dumps(case.get("scores", {})),
            ),
        )
        self.db.commit()
        return rid

    def list(self, status: str = "open", limit: int = 100) -> list[dict]:
        if status not in STATUSES:
            raise ReviewError(f"unknown status '{status}'; expected one of: {', '.join(STATUSES)}")
        q = "SELECT * FROM review"
        args: tuple = ()
        if status != "all":
            q += " WHERE status = ?"
            args = (status,)
        q += " ORDER BY created DESC LIMIT ?"
        cur = self.db.execute(q, (*args, max(1, min(limit, 1000))))
        cols = [c[0] for c in cur.description]
        rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        for r in rows:
            r["scores"] = json.loads(r["scores"])
        return rows

    def resolve(self, case_id: str, resolution: str) -> dict | None:
        """Mark a case resolved; None when there is no such case."""
        cur = self.db.execute(
            "UPDATE review SET status = 'resolved', resolution = ?, resolved = ? WHERE id = ?",
            (resolution, time.time(), case_id),
        )
        self.db.commit()
        if cur.rowcount == 0:
            return None
        return next(r for r in self.list("all", 1000) if r["id"] == case_id)
