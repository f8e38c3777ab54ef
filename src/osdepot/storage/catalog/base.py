"""What every part of the SQL catalog shares: the engine, its three kinds of
transaction, the job log lines, the repository's generation counter and the admission
of jobs and uploads (what is held, read in the transaction that adds to it)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Select, func, select, text, update

from osdepot.domain.jobs import OPEN, JobStatus
from osdepot.domain.records import Holdings, Usage, UserHolding
from osdepot.errors import Full
from osdepot.ports import Admit
from osdepot.storage.db import ADMISSION_LOCK, LIMIT_LOCK
from osdepot.storage.schema import files, jobs, os_images, repo_state, uploads

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
    """Raise the repository's generation: the last statement of every transaction that
    changes the repository. On PostgreSQL its row lock is held to the commit; taken
    earlier, a transaction waiting on another's row afterwards (a customised profile
    added under the same id) deadlocked with that one's own bump."""
    c.execute(update(repo_state).values(generation=repo_state.c.generation + 1))


def usage_in(c: Connection) -> Usage:
    """What the repository holds and what open jobs reserve (a job's declared size less
    what it received), read on ``c``."""
    images = int(c.execute(select(func.count()).select_from(os_images)).scalar_one())
    nfiles = int(c.execute(select(func.count()).select_from(files)).scalar_one())
    stored = int(c.execute(select(func.coalesce(func.sum(files.c.size), 0))).scalar_one())
    return Usage(images=images, bytes_stored=stored, bytes_reserved=reserved_in(c), files=nfiles)


def reserved_in(c: Connection) -> int:
    """Bytes that open jobs declared and have not received."""
    q = select(jobs.c.declared_size, jobs.c.bytes_received).where(
        jobs.c.status.in_([s.value for s in OPEN]), jobs.c.declared_size.is_not(None)
    )
    return sum(max(int(r[0]) - int(r[1]), 0) for r in c.execute(q))


def holding_in(c: Connection, user_name: str, exclude_job: int | None = None) -> UserHolding:
    """What ``user_name``'s open jobs (but ``exclude_job``) hold, read on ``c``."""
    q = select(jobs.c.declared_size, jobs.c.bytes_received).where(
        jobs.c.status.in_([s.value for s in OPEN]), jobs.c.created_by == user_name
    )
    if exclude_job is not None:
        q = q.where(jobs.c.id != exclude_job)
    held = staged = 0
    for declared, received in c.execute(q):
        held += max(int(declared or 0), int(received or 0))
        staged += int(received or 0)
    return UserHolding(held=held, staged=staged)


def take_turns(c: Connection, lock: int) -> None:
    """On PostgreSQL, the transaction ``c`` waits for the others holding the advisory
    lock ``lock`` and holds it to its end (SQLite's writing transactions take turns
    already)."""
    if c.dialect.name == "postgresql":
        c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock})


def admit_in(c: Connection, user_name: str, admit: Admit | None) -> None:
    """Run ``admit`` on what is held, in the transaction ``c`` that is about to add a job
    or an upload of ``user_name``. Admissions take turns: on SQLite every writing
    transaction holds the database's write lock from its start (``BEGIN IMMEDIATE``);
    on PostgreSQL they take one transaction-scoped advisory lock first, and each
    statement after it sees what the admissions before committed (READ COMMITTED)."""
    if admit is None:
        return
    take_turns(c, ADMISSION_LOCK)
    open_jobs = c.execute(
        select(func.count())
        .select_from(jobs)
        .where(jobs.c.created_by == user_name, jobs.c.status.in_([s.value for s in OPEN]))
    ).scalar_one()
    n_uploads = c.execute(
        select(func.count()).select_from(uploads).where(uploads.c.created_by == user_name)
    ).scalar_one()
    admit(
        Holdings(
            usage=usage_in(c),
            user=holding_in(c, user_name),
            user_open_jobs=int(open_jobs),
            user_uploads=int(n_uploads),
        )
    )


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

    @staticmethod
    def _take_turns(c: Connection) -> None:
        """Make the writing transaction ``c`` wait for others that check a count limit:
        on SQLite every writing transaction holds the database's write lock from its
        start already (``BEGIN IMMEDIATE``); on PostgreSQL it takes one
        transaction-scoped advisory lock, and each statement after it sees what the
        transactions before committed (READ COMMITTED)."""
        take_turns(c, LIMIT_LOCK)

    @classmethod
    def _room(cls, c: Connection, held: Select[Any], most: int) -> None:
        """Raise errors.Full when ``held`` (a count) is ``most`` or more (no limit for
        0), in the writing transaction ``c`` that is about to add one: two additions at
        the same instant cannot both pass the limit (a count read before the
        transaction could be passed by as many requests as came at once)."""
        if most:
            cls._take_turns(c)
            if int(c.execute(held).scalar_one()) >= most:
                raise Full(most)
