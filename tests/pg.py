"""A throwaway PostgreSQL server for tests, from the distribution's binaries.

``postgres_server()`` initialises a data directory in a temp dir (owned by the postgres user when
running as root, as initdb requires), starts the server on a free port on 127.0.0.1 with its
socket in that dir, yields a DSN, and stops it (``pg_ctl stop -m fast``) and removes the dir.
Install the binaries with ``scripts/install_postgres.sh``. Without them the fixture fails when
``CI=true`` (CI must run the PostgreSQL tests) and skips otherwise. ``SEETHINK_TEST_POSTGRES_DSN``
points the fixture at an existing server instead (tests must then keep to their own schema).

Use it from a test module::

    from tests.pg import postgres_dsn  # noqa: F401  (a module-scoped fixture)

    def test_x(postgres_dsn): ...
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import free_port

PG_USER = "postgres"


class PostgresMissing(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    """The directory with initdb and pg_ctl: $SEETHINK_PG_BINDIR, Debian's versioned lib dir
    (newest first), or PATH."""
    candidates = [os.environ.get("SEETHINK_PG_BINDIR", "")]
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True
    )
    on_path = shutil.which("initdb")
    candidates.append(str(Path(on_path).resolve().parent) if on_path else "")
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    raise PostgresMissing(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in $SEETHINK_PG_BINDIR,"
        " /usr/lib/postgresql/*/bin or PATH; run scripts/install_postgres.sh"
    )


def _as_pg_user(args: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: drop to the postgres user when we are root."""
    if os.geteuid() != 0:
        return args
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", PG_USER, "--", *args]
    return ["su", PG_USER, "-s", "/bin/sh", "-c", " ".join(map(_quote, args))]


def _quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


def _run(args: list[str], what: str, timeout: float = 60) -> None:
    r = subprocess.run(_as_pg_user(args), capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{what} failed ({r.returncode}): {r.stderr.strip() or r.stdout}")


@contextmanager
def postgres_server(ready_timeout_s: float = 30) -> Iterator[str]:
    """Start a private PostgreSQL; yields a DSN ``postgresql://postgres@127.0.0.1:PORT/postgres``.
    Raises :class:`PostgresMissing` when the binaries are not installed."""
    bindir = find_bindir()
    # as root, under /tmp: the postgres user must be able to reach the dir ($TMPDIR may not be)
    base = "/tmp" if os.geteuid() == 0 and os.path.isdir("/tmp") else None
    root = Path(tempfile.mkdtemp(prefix="seethink-pg-", dir=base))
    data = root / "data"
    started = False
    try:
        if os.geteuid() == 0:
            pw = pwd.getpwnam(PG_USER)
            os.chown(root, pw.pw_uid, pw.pw_gid)
        _run([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", PG_USER,
              "-E", "UTF8", "--locale=C", "--no-sync"], "initdb")  # fmt: skip
        last_err = ""
        for _ in range(5):  # a port can be taken between the check and the bind: try another
            port = free_port()
            opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
            r = subprocess.run(
                _as_pg_user(
                    [
                        str(bindir / "pg_ctl"),
                        "-D",
                        str(data),
                        "-o",
                        opts,
                        "-l",
                        str(root / "server.log"),
                        "-w",
                        "-t",
                        str(int(ready_timeout_s)),
                        "start",
                    ]
                ),  # fmt: skip
                capture_output=True,
                text=True,
                timeout=ready_timeout_s + 10,
            )
            if r.returncode == 0:
                started = True
                break
            log = (root / "server.log").read_text(errors="replace")[-2000:]
            last_err = f"{r.stderr.strip()} {log}"
        if not started:
            raise RuntimeError(f"PostgreSQL did not start: {last_err}")
        dsn = f"postgresql://{PG_USER}@127.0.0.1:{port}/postgres"
        _wait_ready(dsn, ready_timeout_s)
        yield dsn
    finally:
        if started:
            try:
                _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                     "pg_ctl stop", timeout=60)  # fmt: skip
            except Exception as e:  # never mask the test's own failure
                print(f"warning: stopping the test PostgreSQL failed: {e}")
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(dsn: str, timeout_s: float) -> None:
    import psycopg

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(dsn, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextmanager
def postgres_or_skip() -> Iterator[str]:
    """``postgres_server()`` for tests: missing binaries fail under CI=true, skip elsewhere.
    ``SEETHINK_TEST_POSTGRES_DSN`` names a server to use instead (a CI service container)."""
    external = os.environ.get("SEETHINK_TEST_POSTGRES_DSN")
    if external:
        yield external
        return
    try:
        find_bindir()
    except PostgresMissing as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {e}", pytrace=False)
        pytest.skip(str(e))
    with postgres_server() as dsn:
        yield dsn


@pytest.fixture(scope="module")
def postgres_dsn() -> Iterator[str]:
    """A DSN of a private PostgreSQL server shared by the tests of one module."""
    with postgres_or_skip() as dsn:
        yield dsn


def empty_store_url(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> str:
    """The URL of an empty store: a SQLite file under ``tmp_path``, or (``backend`` "postgres")
    a fresh schema on the module's server from ``postgres_dsn``, so tests never see each
    other's rows and no database has to be created."""
    if backend == "sqlite":
        return f"sqlite://{tmp_path}/review.sqlite3"
    import uuid

    import psycopg

    dsn = request.getfixturevalue("postgres_dsn")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{dsn}?options=-csearch_path%3D{schema}"
