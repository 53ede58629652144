"""The review queue node: cascade answers that disagree with the image, kept for a person.

A plain class (graph.py makes it a deployment) over a durable store from
:mod:`seethink.store`: a SQLite file by default, PostgreSQL on the cluster profiles, so a case
flagged before a replica restart, a redeploy or a move to another node is still there after it.
"""

from __future__ import annotations

import logging

from seethink.store.review import (
    MAX_LIMIT,
    STATUSES,
    ReviewConflict,
    ReviewError,
    ReviewNotFound,
    ReviewStore,
    Status,
    error_message,
    open_review_store,
)

__all__ = [
    "MAX_LIMIT",
    "STATUSES",
    "ReviewConflict",
    "ReviewError",
    "ReviewNotFound",
    "ReviewQueue",
    "error_message",
]

log = logging.getLogger(__name__)


class ReviewQueue:
    """Stores, lists and resolves review cases (see :class:`seethink.store.ReviewStore`)."""

    def __init__(self, store_url: str):
        self.store: ReviewStore = open_review_store(store_url)
        log.info("review queue on %s", self.store.backend)

    def add(self, case: dict) -> str:
        """Store a flagged case; returns its id."""
        return self.store.add(case)

    def get(self, case_id: str) -> dict | None:
        """One case, or None."""
        return self.store.get(case_id)

    def list(self, status: Status = "open", limit: int = 50, cursor: str | None = None) -> dict:
        """A page of cases, newest first: ``{"data", "next_cursor", "has_more"}``."""
        return self.store.list(status, limit, cursor)

    def resolve(self, case_id: str, resolution: str, reviewer: str) -> dict:
        """Settle a case; raises ReviewNotFound (404) or ReviewConflict (409)."""
        return self.store.resolve(case_id, resolution, reviewer)

    def stats(self) -> dict:
        """Counts by status and the backend, for /readyz and operators."""
        return self.store.stats()

    def close(self) -> None:
        """Close the store's connections (a test, or the replica shutting down)."""
        store = getattr(self, "store", None)
        if store is not None:
            store.close()

    def __del__(self) -> None:
        # Serve calls __del__ when it stops a replica gracefully: give PostgreSQL its sessions back
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing useful to do
            pass
