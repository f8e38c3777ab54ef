"""Import jobs: created, claimed, progressing, finished, expired, purged."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError

from osdepot.domain.images import ImageType
from osdepot.domain.jobs import FINISHED, JobStatus
from osdepot.domain.records import (
    Job,
)
from osdepot.errors import Missing
from osdepot.ports import Admit
from osdepot.storage.catalog.base import Base, admit_in, job_event, jobs_stopped
from osdepot.storage.schema import jobs, nodes, uploads

#: Running jobs that a resumable upload feeds: they outlive the process that made them
#: (restarts and node watches leave them to the upload's expiry).
_RESUMABLE = jobs.c.id.in_(select(uploads.c.job_id))


def _running_on(node_prefix: str | None) -> Any:
    """Running jobs: all, or those of the nodes named ``node_prefix``… and of none;
    those of resumable uploads never."""
    where = and_(jobs.c.status == JobStatus.RUNNING.value, ~_RESUMABLE)
    if node_prefix is None:
        return where
    mine = or_(jobs.c.node.is_(None), jobs.c.node.startswith(node_prefix, autoescape=True))
    return and_(where, mine)


class JobsCatalog(Base):
    """The jobs part of :class:`osdepot.storage.catalog.SqlCatalog`."""

    # -- jobs ----------------------------------------------------------------------

    @staticmethod
    def _job(row: Any) -> Job:
        d = dict(row)
        d["image_type"] = ImageType(d["image_type"])
        d["status"] = JobStatus(d["status"])
        d["message"] = json.loads(d["message"]) if d["message"] else None
        return Job(**d)

    def create_job(
        self,
        image_type: ImageType,
        created_by: str,
        now: float,
        declared_size: int | None,
        description: str,
        admit: Admit | None = None,
    ) -> Job:
        with self._write() as c:
            admit_in(c, created_by, admit)
            job_id = c.execute(
                insert(jobs).values(
                    uuid=uuid.uuid4().hex,
                    image_type=image_type.value,
                    status=JobStatus.PENDING.value,
                    created_by=created_by,
                    created_at=now,
                    declared_size=declared_size,
                    bytes_total=declared_size,
                    description=description,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            row = c.execute(select(jobs).where(jobs.c.id == job_id)).mappings().one()
        job_event(int(job_id), JobStatus.PENDING)
        return self._job(row)

    #: The reads behind clients that poll (GET /tasks/{id}; on SQLite by id through
    #: _jobs_sqlite), built once: building and cache-keying a statement cost more than
    #: running it.
    _ALL_JOBS = select(jobs).order_by(jobs.c.id)
    _JOBS_BY_ID = _ALL_JOBS.where(jobs.c.id.in_(bindparam("ids", expanding=True)))

    def get_job(self, job_id: int) -> Job | None:
        with self._read_statement() as c:
            row = c.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
        return self._job(row) if row else None

    def list_jobs(self, ids: Sequence[int] | None = None) -> list[Job]:
        if ids is not None and self.engine.dialect.driver in ("pysqlite", "psycopg"):
            return self._jobs_raw(ids)
        with self._read_statement() as c:
            if ids is None:
                rows = c.execute(self._ALL_JOBS)
            else:
                rows = c.execute(self._JOBS_BY_ID, {"ids": list(ids)})
            return [self._job(r) for r in rows.mappings()]

    #: The columns of ``jobs``, for :meth:`_jobs_raw`.
    _JOB_COLUMNS = tuple(c.name for c in jobs.c)
    _JOBS_SQL = f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs"

    def _jobs_raw(self, ids: Sequence[int]) -> list[Job]:
        """``list_jobs(ids)`` on the driver's own connection: the read behind every
        ``GET /tasks/{id}`` of a polling client. SQLAlchemy's connection, execution
        context and result rows cost about three times the query itself. One statement,
        run atomically on one snapshot, as ``_read_statement`` does: on SQLite outside
        any transaction, on PostgreSQL in autocommit (no BEGIN/COMMIT round trips) with
        one statement text for any number of ids, which psycopg prepares after a few
        runs. Errors are raised as SQLAlchemy's (a locked catalog, a lost server: an
        ``OperationalError``; a lost connection also invalidates the pool)."""
        raw = self._raw_connection()
        driver: Any = raw.driver_connection
        try:
            if isinstance(driver, sqlite3.Connection):
                sql = f"{self._JOBS_SQL} WHERE id IN ({', '.join('?' * len(ids))}) ORDER BY id"
                params: Any = tuple(ids)
                try:
                    rows = driver.execute(sql, params).fetchall()
                except sqlite3.Error as e:
                    raise DBAPIError.instance(sql, params, e, sqlite3.Error) from e
            else:
                sql = f"{self._JOBS_SQL} WHERE id = ANY(%s) ORDER BY id"
                params = (list(ids),)
                rows = self._psycopg_rows(raw, driver, sql, params)
        finally:
            raw.close()
        return [self._job(dict(zip(self._JOB_COLUMNS, r, strict=True))) for r in rows]

    def _raw_connection(self) -> Any:
        """The pool's connection; a driver error in making one (the server is down or
        restarting) raised as SQLAlchemy's, as ``engine.connect()`` would (the pool
        itself raises the driver's own)."""
        try:
            return self.engine.raw_connection()
        except Exception as e:
            dbapi: Any = self.engine.dialect.loaded_dbapi
            if isinstance(e, dbapi.Error):
                raise DBAPIError.instance(
                    None, None, e, dbapi.Error, connection_invalidated=True
                ) from e
            raise

    def _psycopg_rows(self, raw: Any, driver: Any, sql: str, params: Any) -> list[Any]:
        import psycopg  # the driver of this engine: installed

        try:
            driver.autocommit = True  # client side only: no round trip
            try:
                with driver.cursor() as cur:
                    rows: list[Any] = cur.execute(sql, params).fetchall()
                    return rows
            finally:
                if not driver.closed:
                    driver.autocommit = False
        except psycopg.Error as e:
            lost = driver.closed or self.engine.dialect.is_disconnect(e, driver, None)  # type: ignore[arg-type]
            if lost:  # as SQLAlchemy does: this connection and the pool's others go
                raw.invalidate(e)
                self.engine.dispose()
            raise DBAPIError.instance(
                sql, params, e, psycopg.Error, connection_invalidated=lost
            ) from e

    def claim_job(
        self,
        job_id: int,
        from_status: JobStatus,
        uploads: int,
        now: float,
        bytes_total: int | None,
        file_name: str,
        node: str | None = None,
    ) -> bool:
        with self._write() as c:
            n = c.execute(
                update(jobs)
                .where(
                    jobs.c.id == job_id,
                    jobs.c.status == from_status.value,
                    jobs.c.uploads == uploads,
                )
                .values(
                    node=node,
                    status=JobStatus.RUNNING.value,
                    uploads=uploads + 1,
                    start_time=now,
                    end_time=None,
                    bytes_received=0,
                    percentage=0,
                    bytes_total=bytes_total,
                    file_name=file_name,
                    message=None,
                )
            ).rowcount
        if n == 1:
            job_event(job_id, JobStatus.RUNNING)
        return n == 1

    def set_job_source(self, job_id: int, server_id: int, bytes_total: int | None) -> bool:
        """Record the remote server (and, once known, the size) a running job pulls."""
        with self._write() as c:
            n = c.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status == JobStatus.RUNNING.value)
                .values(server_id=server_id, bytes_total=bytes_total)
            ).rowcount
        return n == 1

    def update_progress(self, job_id: int, received: int, percentage: int) -> bool:
        with self._write() as c:
            n = c.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status == JobStatus.RUNNING.value)
                .values(bytes_received=received, percentage=percentage)
            ).rowcount
        return n == 1

    def finish_job(
        self,
        job_id: int,
        status: JobStatus,
        now: float,
        message: dict[str, object],
        only_if: Iterable[JobStatus] = (JobStatus.RUNNING,),
        cancelled_by: str | None = None,
    ) -> bool:
        values: dict[str, Any] = {
            "status": status.value,
            "end_time": now,
            "message": json.dumps(message),
        }
        if cancelled_by is not None:
            values["cancelled_by"] = cancelled_by
        with self._write() as c:
            n = c.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status.in_([s.value for s in only_if]))
                .values(**values)
            ).rowcount
        if n == 1:
            job_event(job_id, status, message)
        return n == 1

    def delete_jobs(self, ids: Sequence[int]) -> int:
        wanted = set(ids)
        with self._write() as c:
            removed = c.execute(
                delete(jobs)
                .where(
                    jobs.c.id.in_(sorted(wanted)), jobs.c.status.in_([s.value for s in FINISHED])
                )
                .returning(jobs.c.id)
            ).scalars()
            left = wanted - set(removed)
            if left:  # removed meanwhile, or running again: all or nothing
                raise Missing([str(i) for i in sorted(left)])
        return len(wanted)

    def expire_jobs(self, created_before: float, now: float, message: dict[str, object]) -> int:
        with self._write() as c:
            n = int(
                c.execute(
                    update(jobs)
                    .where(
                        jobs.c.status == JobStatus.PENDING.value, jobs.c.created_at < created_before
                    )
                    .values(
                        status=JobStatus.STOPPED.value, end_time=now, message=json.dumps(message)
                    )
                ).rowcount
            )
        jobs_stopped(n, message)
        return n

    def job_counts_of(self, user_name: str) -> tuple[int, int]:
        """How many open and how many finished jobs ``user_name`` has."""
        with self._read_statement() as c:
            rows = c.execute(
                select(jobs.c.status, func.count())
                .where(jobs.c.created_by == user_name)
                .group_by(jobs.c.status)
            ).all()
        finished = {s.value for s in FINISHED}
        done = sum(int(n) for status, n in rows if status in finished)
        return sum(int(n) for _s, n in rows) - done, done

    def trim_finished_jobs(self, user_name: str, keep: int) -> int:
        """Remove ``user_name``'s finished jobs but the ``keep`` that ended last."""
        with self._write() as c:
            newest = (
                select(jobs.c.id)
                .where(
                    jobs.c.created_by == user_name,
                    jobs.c.status.in_([s.value for s in FINISHED]),
                )
                .order_by(jobs.c.end_time.desc(), jobs.c.id.desc())
                .limit(keep)
            )
            return int(
                c.execute(
                    delete(jobs).where(
                        jobs.c.created_by == user_name,
                        jobs.c.status.in_([s.value for s in FINISHED]),
                        jobs.c.id.not_in(newest.scalar_subquery()),
                    )
                ).rowcount
            )

    def purge_jobs(self, ended_before: float) -> int:
        with self._write() as c:
            return int(
                c.execute(
                    delete(jobs).where(
                        jobs.c.status.in_([s.value for s in FINISHED]),
                        jobs.c.end_time < ended_before,
                    )
                ).rowcount
            )

    def fail_open_jobs(
        self, now: float, message: dict[str, object], node_prefix: str | None = None
    ) -> int:
        """Stop Running jobs: all of them, or (``node_prefix``) those run by the nodes
        whose names start with it, and those no node claimed."""
        where = _running_on(node_prefix)
        with self._write() as c:
            n = int(
                c.execute(
                    update(jobs)
                    .where(where)
                    .values(
                        status=JobStatus.STOPPED.value, end_time=now, message=json.dumps(message)
                    )
                ).rowcount
            )
        jobs_stopped(n, message)
        return n

    def open_staging(self, node_prefix: str | None = None) -> list[str]:
        """The staging areas of the Running jobs ``fail_open_jobs`` would stop."""
        with self._read() as c:
            q = select(jobs.c.staging).where(_running_on(node_prefix), jobs.c.staging.is_not(None))
            return [str(r[0]) for r in c.execute(q)]

    def set_job_staging(self, job_id: int, name: str) -> None:
        with self._write() as c:
            c.execute(update(jobs).where(jobs.c.id == job_id).values(staging=name))

    # -- nodes -------------------------------------------------------------------------

    def heartbeat(self, node: str, address: str, now: float) -> None:
        """Record that ``node`` is alive (registering it when new, or forgotten)."""
        with self._write() as c:
            n = c.execute(
                update(nodes).where(nodes.c.name == node).values(heartbeat_at=now)
            ).rowcount
            if not n:
                c.execute(
                    insert(nodes).values(
                        name=node, address=address, started_at=now, heartbeat_at=now
                    )
                )

    def list_nodes(self) -> list[tuple[str, str, float, float]]:
        with self._read() as c:
            rows = c.execute(select(nodes).order_by(nodes.c.name)).all()
        return [(r.name, r.address, r.started_at, r.heartbeat_at) for r in rows]

    def lost_nodes(self, silent_since: float) -> list[str]:
        """Nodes whose last heartbeat is older than ``silent_since``."""
        with self._read_statement() as c:
            q = select(nodes.c.name).where(nodes.c.heartbeat_at < silent_since)
            return [r[0] for r in c.execute(q)]

    def fail_node_jobs(
        self, node: str, silent_since: float, now: float, message: dict[str, object]
    ) -> list[tuple[int, str | None]]:
        """Stop the Running jobs of a node that is still silent since ``silent_since``
        and forget the node, in one transaction (two survivors never both act); the
        jobs stopped, with their staging areas."""
        with self._write() as c:
            gone = c.execute(
                delete(nodes).where(nodes.c.name == node, nodes.c.heartbeat_at < silent_since)
            ).rowcount
            if not gone:
                return []
            found = [
                (int(r[0]), r[1])
                for r in c.execute(
                    select(jobs.c.id, jobs.c.staging).where(
                        jobs.c.node == node,
                        jobs.c.status == JobStatus.RUNNING.value,
                        ~_RESUMABLE,
                    )
                )
            ]
            ids = [i for i, _ in found]
            if ids:
                c.execute(
                    update(jobs)
                    .where(jobs.c.id.in_(ids), jobs.c.status == JobStatus.RUNNING.value)
                    .values(
                        status=JobStatus.STOPPED.value, end_time=now, message=json.dumps(message)
                    )
                )
        jobs_stopped(len(found), message)
        return found
