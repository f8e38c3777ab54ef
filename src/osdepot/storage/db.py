"""Database engine creation and schema migrations."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

#: What the catalog's driver raises when a database is locked, busy or unreachable, or
#: refuses a value (PostgreSQL: NUL in text).
CATALOG_ERRORS: tuple[type[BaseException], ...] = (OperationalError, DataError, PoolTimeout)

#: The PostgreSQL advisory lock that serialises schema migrations between nodes
#: starting at once ("osdp" in ASCII).
MIGRATION_LOCK = 0x6F736470
#: The PostgreSQL advisory lock admissions of jobs and uploads take turns on
#: (storage/catalog/base.py: admit_in), "osda".
ADMISSION_LOCK = 0x6F736461
#: The PostgreSQL advisory lock the count limits of remote file servers, BMCs,
#: customised profiles and links take turns on (storage/catalog/base.py), "osdc".
LIMIT_LOCK = 0x6F736463


def is_unstorable(exc: BaseException) -> bool:
    """A value the database refuses to store (PostgreSQL: text holding NUL)."""
    return isinstance(exc, DataError)


def is_busy(exc: BaseException) -> bool:
    """A catalog that stayed locked (SQLite) or a transaction that lost a conflict
    (PostgreSQL serialization failure or deadlock): worth a 503 and a retry."""
    if isinstance(exc, PoolTimeout):
        return True  # every connection of the pool stayed in use
    if not isinstance(exc, OperationalError):
        return False
    text = str(exc.orig).lower()
    code = getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None)
    return "locked" in text or "busy" in text or code in ("40001", "40P01", "55P03")


#: PostgreSQL's SQLSTATEs of a server that is not there for the connection: class 08
#: (connection exception), and 57P01–57P03 (shutting down, crashed, starting up).
_GONE_STATES = ("57P01", "57P02", "57P03")
#: psycopg's words when the connection cannot be made or broke (no SQLSTATE then).
_GONE_WORDS = (
    "connection refused",
    "server closed the connection",
    "connection is closed",
    "connection to server",
    "consuming input failed",
    "terminating connection",
    "the database system is",
)


def is_unreachable(exc: BaseException) -> bool:
    """A database server that cannot be reached or whose connection broke (restarted,
    stopped, the network between): worth a 503 and a retry once it is back (the pool
    checks connections before use, so the next request gets a new one)."""
    if not isinstance(exc, OperationalError):
        return False
    if getattr(exc, "connection_invalidated", False):
        return True
    code = str(getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None) or "")
    if code.startswith("08") or code in _GONE_STATES:
        return True
    text = str(exc.orig).lower()
    return any(words in text for words in _GONE_WORDS)


def is_full(exc: BaseException) -> bool:
    """A catalog whose disk is full: SQLite's SQLITE_FULL ("database or disk is full"),
    PostgreSQL's disk_full (53100) or a write it could not extend a file for."""
    if not isinstance(exc, OperationalError):
        return False
    text = str(exc.orig).lower()
    code = getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None)
    return "database or disk is full" in text or "no space left" in text or code == "53100"


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite catalog, or None (another database, or one in memory)."""
    return Path(url.split("///", 1)[1].split("?", 1)[0]) if sqlite_file(url) else None


def sqlite_file(url: str) -> bool:
    """Whether ``url`` is an SQLite database in a file (which a second engine can open;
    an in-memory database would be another, empty one)."""
    path = url.split("///", 1)[1] if url.startswith("sqlite") and "///" in url else ""
    return bool(path) and path != ":memory:" and not path.startswith("file::memory:")


def private_folder(path: Path) -> None:
    """The data folder, created (or set) 0700 whatever the umask: it holds the catalog,
    the key that encrypts remote-server secrets and the TLS key."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def private_database(path: Path) -> None:
    """The catalog file (password hashes, session and CSRF tokens) and its WAL and
    shared-memory files readable by the owner only, whatever the umask: the file is
    created 0600 before SQLite opens it (SQLite gives its -wal and -shm files the
    database file's mode), and an existing one is set to 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Never open an existing file: closing any descriptor of a file releases every POSIX
    # lock this process holds on it, SQLite's included (a second engine in the same
    # process would then read without its WAL read lock).
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    for name in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(name, 0o600)


def make_engine(url: str, busy_timeout: float = 30.0, pool_size: int = 8) -> Engine:
    """An engine for ``url``; SQLite gets WAL, FULL sync, foreign keys and a busy timeout
    (0: a locked database fails at once)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if sqlite_file(url):
            private_database(Path(path))
        engine = create_engine(
            url,
            connect_args={"timeout": busy_timeout, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=16,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's begin() issue BEGIN, so transactions are real.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Writers take the lock at the start (no read-to-write upgrade deadlocks);
            # readers use a deferred transaction and never block each other in WAL.
            # A single SELECT needs no transaction of its own: SQLite runs each
            # statement atomically on one snapshot (saves a BEGIN and a COMMIT).
            options = conn.get_execution_options()
            if options.get("sqlite_immediate"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif not options.get("single_statement"):
                conn.exec_driver_sql("BEGIN")

        return engine
    if busy_timeout == 0 and url.startswith("postgresql"):
        # The event loop's reads (compose.py): never wait long — not for a connection
        # of the pool, not to connect, not for a statement; Context.read then falls
        # back to a thread with the ordinary engine. No ping before each read (a round
        # trip as dear as the read): a connection the server lost fails its read, which
        # goes to a thread then, and the pool is renewed (SQLAlchemy's, and _jobs_raw's,
        # handling of a disconnect).
        return create_engine(
            url,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=0.05,
            connect_args={"connect_timeout": 1, "options": "-c statement_timeout=200"},
        )
    return create_engine(url, pool_pre_ping=True)


#: The newest migration (``storage/migrations/versions``). A catalog already at it is
#: not handed to alembic, whose import is about a quarter of a second of every start
#: (tests/storage/test_migrations.py checks that this is alembic's head).
HEAD = "0012"


def upgrade(engine: Engine) -> None:
    """Create or upgrade the catalog schema to the newest migration."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Nodes that start at once against an empty database take turns: the
            # second migrates nothing, the schema being at head when it gets the lock.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        if schema_version(conn) == [HEAD]:
            return
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", "osdepot.storage:migrations")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def schema_version(conn: Connection) -> list[str]:
    """The migrations the catalog is at (alembic's table; none for a new catalog)."""
    if not inspect(conn).has_table("alembic_version"):
        return []
    return [str(v) for v in conn.execute(text("SELECT version_num FROM alembic_version")).scalars()]
