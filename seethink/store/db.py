"""One small database layer under every durable table: SQLite (embedded) or PostgreSQL (cluster).

Stores write SQL once, with ``?`` placeholders, against :class:`Database`; the two backends differ
only in how they connect, lock and name column types. Tables are declared (:class:`Table`) and
:meth:`Database.migrate` creates what is missing and adds missing columns to old tables, so a
database written by an older version keeps its rows and new tables (batches, files) can join the
same database later without a migration framework.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

ColumnType = Literal["text", "real", "integer", "blob"]
# Stable key for PostgreSQL's advisory lock: replicas starting together migrate one at a time.
_MIGRATE_LOCK_KEY = 0x5EE7_0001


class StoreURLError(ValueError):
    """A store URL this module cannot open."""


class StoreUnavailable(RuntimeError):
    """The database cannot be reached or opened."""


class StoreRequestError(ValueError):
    """A request a store refuses (unknown id, conflicting change, too large); ``status`` and
    ``code`` are what the API answers with."""

    status = 400
    code = "invalid_request"


def error_message(e: StoreRequestError) -> str:
    """The client-safe message of a store refusal, also after it crossed a Ray handle: Ray's
    wrapper (a subclass of the original) prints the replica's traceback as its ``str()``."""
    cause = getattr(e, "cause", None)
    return str(cause if isinstance(cause, StoreRequestError) else e)


@dataclass(frozen=True)
class Column:
    """One column; ``default`` is an SQL literal. Columns added to an existing table by a
    migration must be nullable or have a default (old rows need a value)."""

    name: str
    type: ColumnType = "text"
    nullable: bool = True
    default: str | None = None


@dataclass(frozen=True)
class Table:
    """A table: columns, primary key, and indexes as ``name -> (column, ...)``."""

    name: str
    columns: tuple[Column, ...]
    primary_key: str
    indexes: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class Result:
    """Rows (as dicts) of a statement, and how many rows it changed."""

    rows: list[dict[str, Any]]
    rowcount: int


class Tx(ABC):
    """Statements run inside one transaction."""

    @abstractmethod
    def run(self, sql: str, params: Sequence[Any] = ()) -> Result: ...


class Database(ABC):
    """A connection (or pool) to one database, safe to share between threads."""

    dialect: Literal["sqlite", "postgresql"]
    _TYPES: dict[str, str]

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """All statements inside commit together, or none does."""

    def run(self, sql: str, params: Sequence[Any] = ()) -> Result:
        """One statement in its own transaction."""
        with self.transaction() as tx:
            return tx.run(sql, params)

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def _existing_columns(self, tx: Tx, table: str) -> set[str]: ...

    @abstractmethod
    def _lock_for_migration(self, tx: Tx) -> None:
        """Serialise migrations between processes starting together."""

    def _column_sql(self, c: Column, *, new: bool) -> str:
        sql = f"{c.name} {self._TYPES[c.type]}"
        if c.default is not None:
            sql += f" DEFAULT {c.default}"
        if not c.nullable and (not new or c.default is not None):
            sql += " NOT NULL"
        return sql

    def migrate(self, *tables: Table) -> None:
        """Create missing tables and indexes; add columns an older schema lacks."""
        with self.transaction() as tx:
            self._lock_for_migration(tx)
            for t in tables:
                cols = ", ".join(self._column_sql(c, new=False) for c in t.columns)
                pk = f"PRIMARY KEY ({t.primary_key})"
                tx.run(f"CREATE TABLE IF NOT EXISTS {t.name} ({cols}, {pk})")
                have = self._existing_columns(tx, t.name)
                for c in t.columns:
                    if c.name not in have:
                        log.info("migrating %s: adding column %s", t.name, c.name)
                        tx.run(f"ALTER TABLE {t.name} ADD COLUMN {self._column_sql(c, new=True)}")
                for name, on in t.indexes.items():
                    tx.run(f"CREATE INDEX IF NOT EXISTS {name} ON {t.name} ({', '.join(on)})")


# ---- SQLite ---------------------------------------------------------------------------------


class _SQLiteTx(Tx):
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def run(self, sql: str, params: Sequence[Any] = ()) -> Result:
        cur = self.conn.execute(sql, tuple(params))
        rows = [dict(r) for r in cur.fetchall()] if cur.description else []
        return Result(rows, cur.rowcount)


class SQLiteDatabase(Database):
    """One connection in WAL mode behind a lock: Serve runs sync methods on a threadpool, and one
    writer is all SQLite allows anyway. A busy timeout covers another process (an old replica
    during a redeploy) holding the write lock for a moment."""

    dialect = "sqlite"
    _TYPES = {"text": "TEXT", "real": "REAL", "integer": "INTEGER", "blob": "BLOB"}

    def __init__(self, path: str | os.PathLike[str], busy_timeout_s: float = 10.0):
        self.path = Path(os.path.expanduser(path))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are ours (BEGIN IMMEDIATE), DDL included
            self.conn = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=busy_timeout_s
            )
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        except (OSError, sqlite3.Error) as e:
            raise StoreUnavailable(f"cannot open SQLite database {self.path}: {e}") from e
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._lock:
            # IMMEDIATE takes the write lock up front, so two processes never deadlock upgrading
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SQLiteTx(self.conn)
                self.conn.execute("COMMIT")
            except BaseException:
                # a failed COMMIT (busy) leaves the transaction open: end it, or every later
                # BEGIN on this shared connection would fail
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

    def _lock_for_migration(self, tx: Tx) -> None:
        pass  # BEGIN IMMEDIATE already holds SQLite's one write lock

    def _existing_columns(self, tx: Tx, table: str) -> set[str]:
        return {r["name"] for r in tx.run(f"PRAGMA table_info({table})").rows}

    def close(self) -> None:
        with self._lock:
            self.conn.close()


# ---- PostgreSQL -----------------------------------------------------------------------------


class _PgTx(Tx):
    def __init__(self, cur: Any):
        self.cur = cur

    def run(self, sql: str, params: Sequence[Any] = ()) -> Result:
        # our SQL never holds a literal '?' or '%': the placeholder swap is safe
        self.cur.execute(sql.replace("?", "%s"), tuple(params))
        rows = self.cur.fetchall() if self.cur.description else []
        return Result(rows, self.cur.rowcount)


def describe_dsn(dsn: str) -> str:
    """host:port/dbname of a DSN, for messages: never the password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        d = conninfo_to_dict(dsn)
    except Exception:
        return "<unparsable DSN>"
    return f"{d.get('host', 'localhost')}:{d.get('port', 5432)}/{d.get('dbname', '')}"


class PostgresDatabase(Database):
    """A small psycopg 3 pool; each connection is checked before use, so a restarted server
    costs one reconnect, not a dead replica."""

    dialect = "postgresql"
    _TYPES = {"text": "TEXT", "real": "DOUBLE PRECISION", "integer": "BIGINT", "blob": "BYTEA"}

    def __init__(self, dsn: str, max_size: int = 4, connect_timeout_s: float = 10.0):
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        self.where = describe_dsn(dsn)
        self.pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=max_size,
            timeout=connect_timeout_s,
            check=ConnectionPool.check_connection,
            kwargs={"autocommit": True, "row_factory": dict_row},
            open=False,
            name="seethink-store",
        )
        try:
            self.pool.open(wait=True, timeout=connect_timeout_s)
        except Exception as e:
            self.pool.close()
            raise StoreUnavailable(
                f"cannot reach PostgreSQL at {self.where} within {connect_timeout_s:g} s"
                f" ({type(e).__name__})"
            ) from None

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield _PgTx(cur)

    def _lock_for_migration(self, tx: Tx) -> None:
        tx.run("SELECT pg_advisory_xact_lock(?)", (_MIGRATE_LOCK_KEY,))

    def _existing_columns(self, tx: Tx, table: str) -> set[str]:
        rows = tx.run(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        ).rows
        return {r["column_name"] for r in rows}

    def close(self) -> None:
        self.pool.close()


# ---- opening by URL -------------------------------------------------------------------------

URL_FORMS = "sqlite:///ABSOLUTE/PATH, sqlite:///~/PATH, a plain file path, postgresql://..."


def sqlite_path(url: str) -> str | None:
    """The file path a SQLite URL (or a plain path) names; None for any other URL."""
    if url.startswith("sqlite://"):
        rest = url[len("sqlite://") :]
        if not rest.startswith("/") or rest.strip("/") == "":
            raise StoreURLError(f"a SQLite URL needs a path; expected one of: {URL_FORMS}")
        rest = "/" + rest.lstrip("/")  # sqlite:///abs and SQLAlchemy's sqlite:////abs
        return os.path.expanduser(rest[1:]) if rest.startswith("/~") else rest
    if "://" in url:
        return None
    if not url.strip():
        raise StoreURLError(f"empty store URL; expected one of: {URL_FORMS}")
    return os.path.expanduser(url)


def open_database(url: str) -> Database:
    """SQLite for ``sqlite:///path`` or a plain path, PostgreSQL for ``postgresql://``."""
    path = sqlite_path(url)
    if path is not None:
        return SQLiteDatabase(path)
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("postgresql", "postgres"):
        return PostgresDatabase(url)
    raise StoreURLError(f"unknown store URL scheme '{scheme}'; expected one of: {URL_FORMS}")
