"""Durable state: a small database layer (SQLite or PostgreSQL) and the stores built on it."""

from .db import Database, StoreUnavailable, StoreURLError, open_database
from .review import (
    MAX_LIMIT,
    STATUSES,
    PostgresReviewStore,
    ReviewConflict,
    ReviewError,
    ReviewNotFound,
    ReviewStore,
    SQLiteReviewStore,
    SQLReviewStore,
    error_message,
    open_review_store,
)

__all__ = [
    "MAX_LIMIT",
    "STATUSES",
    "Database",
    "PostgresReviewStore",
    "ReviewConflict",
    "ReviewError",
    "ReviewNotFound",
    "ReviewStore",
    "SQLiteReviewStore",
    "SQLReviewStore",
    "StoreURLError",
    "StoreUnavailable",
    "error_message",
    "open_database",
    "open_review_store",
]
