"""What every part of the SQL catalog shares: the engine, its three kinds of
transaction, the job log lines and the repository's generation counter."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, update

from osdepot.domain.jobs import JobStatus
from osdepot.storage.schema import repo_state

log = logging.getLogger("osdepot.jobs")


def job_event(job_id: int, status: JobStatus, message: dict[str, object] | None = None) -> None:
    """One log line per job transition (structured: event, job, status, messageId)."""
    mid = str(message.get("id", "")) if message else ""
    log.info(
        "job %s -> %s%s",
        job_id,
        status.value,
        f" ({mid})" if mid else "",
        extra={"event": "job", "job": job_id, "status": status.value, "messageId": mid},
    )


def jobs_stopped(n: int, message: dict[str, object]) -> None:
    """One log line for jobs stopped together (expired, or interrupted by a restart)."""
    if n:
        mid = str(message.get("id", ""))
        log.info(
            "%d jobs -> Stopped (%s)",
            n,
            mid,
            extra={"event": "jobs", "count": n, "status": "Stopped", "messageId": mid},
        )


def bump(c: Connection) -> None:
    c.execute(update(repo_state).values(generation=repo_state.c.generation + 1))


class Base:
    """The engine and the transactions every part of the catalog uses."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        conn = self.engine.connect().execution_options(sqlite_immediate=True)
        with conn, conn.begin():
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _read_statement(self) -> Iterator[Connection]:
        """For a read of one statement: no explicit transaction (one statement reads
        one snapshot anyway) — on SQLite no BEGIN, elsewhere autocommit, which saves
        the BEGIN and COMMIT round trips of every poll on PostgreSQL."""
        conn = self.engine.connect().execution_options(single_statement=True)
        if self.engine.dialect.name != "sqlite":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        with conn, conn.begin():
            yield conn
