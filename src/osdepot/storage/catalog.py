"""The SQL catalog (:class:`osdepot.ports.Catalog`) on SQLAlchemy Core.

Portable SQL only: it runs on SQLite (embedded default) and PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from osdepot.domain.images import ImageType
from osdepot.domain.jobs import FINISHED, OPEN, JobStatus
from osdepot.domain.records import (
    Job,
    LoginFailures,
    OsImage,
    Profile,
    RemoteServer,
    Session,
    StoredFile,
    Usage,
    User,
)
from osdepot.errors import M, OsdepotException, error
from osdepot.storage.schema import (
    files,
    jobs,
    login_failures,
    os_images,
    profiles,
    remote_servers,
    repo_state,
    sessions,
    users,
)

log = logging.getLogger("osdepot.jobs")


def _job_event(job_id: int, status: JobStatus, message: dict[str, object] | None = None) -> None:
    """One log line per job transition (structured: event, job, status, messageId)."""
    mid = str(message.get("id", "")) if message else ""
    log.info(
        "job %s -> %s%s",
        job_id,
        status.value,
        f" ({mid})" if mid else "",
        extra={"event": "job", "job": job_id, "status": status.value, "messageId": mid},
    )


def _jobs_stopped(n: int, message: dict[str, object]) -> None:
    """One log line for jobs stopped together (expired, or interrupted by a restart)."""
    if n:
        mid = str(message.get("id", ""))
        log.info(
            "%d jobs -> Stopped (%s)",
            n,
            mid,
            extra={"event": "jobs", "count": n, "status": "Stopped", "messageId": mid},
        )


class SqlCatalog:
    """Catalog on any SQLAlchemy engine (see :func:`osdepot.storage.db.make_engine`)."""

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
    def _read1(self) -> Iterator[Connection]:
        """For a read of one statement (no explicit transaction on SQLite)."""
        conn = self.engine.connect().execution_options(single_statement=True)
        with conn, conn.begin():
            yield conn

    # -- users ---------------------------------------------------------------------

    def add_user(self, user: User) -> None:
        try:
            with self._write() as c:
                c.execute(
                    insert(users).values(
                        name=user.name,
                        password_hash=user.password_hash,
                        role=user.role,
                        created_at=user.created_at,
                        failed_logins=0,
                    )
                )
        except IntegrityError:
            raise error(M.ALREADY_EXISTS, what="User", name=user.name) from None

    def get_user(self, name: str) -> User | None:
        with self._read1() as c:
            row = c.execute(select(users).where(users.c.name == name)).mappings().first()
        return User(**row) if row else None

    def list_users(self) -> list[User]:
        worst = (
            select(
                login_failures.c.name,
                func.max(login_failures.c.failures).label("failures"),
                func.max(login_failures.c.locked_until).label("locked"),
            )
            .group_by(login_failures.c.name)
            .subquery()
        )
        query = (
            select(
                users.c.name,
                users.c.role,
                users.c.password_hash,
                users.c.created_at,
                func.coalesce(worst.c.failures, 0).label("failed_logins"),
                worst.c.locked.label("locked_until"),
            )
            .select_from(users.outerjoin(worst, worst.c.name == users.c.name))
            .order_by(users.c.name)
        )
        with self._read1() as c:
            rows = c.execute(query).mappings().all()
        return [User(**r) for r in rows]

    def record_login_failure(
        self, address: str, name: str, now: float, max_failures: int, lockout: float
    ) -> LoginFailures:
        key = (login_failures.c.address == address) & (login_failures.c.name == name)
        with self._write() as c:
            row = c.execute(select(login_failures).where(key)).mappings().first()
            failures = (int(row["failures"]) if row else 0) + 1
            locked = row["locked_until"] if row else None
            if max_failures and failures >= max_failures:
                locked, failures = now + lockout, 0
            values = {"failures": failures, "locked_until": locked, "updated_at": now}
            if row is None:
                c.execute(insert(login_failures).values(address=address, name=name, **values))
            else:
                c.execute(update(login_failures).where(key).values(**values))
        return LoginFailures(address, name, failures, locked)

    def login_failures(self, address: str, name: str) -> LoginFailures:
        key = (login_failures.c.address == address) & (login_failures.c.name == name)
        with self._read1() as c:
            row = c.execute(select(login_failures).where(key)).mappings().first()
        if row is None:
            return LoginFailures(address, name)
        return LoginFailures(address, name, int(row["failures"]), row["locked_until"])

    def clear_login_failures(self, address: str, name: str) -> None:
        key = (login_failures.c.address == address) & (login_failures.c.name == name)
        with self._write() as c:
            c.execute(delete(login_failures).where(key))

    def reset_login_failures(self, name: str) -> bool:
        with self._write() as c:
            c.execute(delete(login_failures).where(login_failures.c.name == name))
            n = c.execute(
                update(users).where(users.c.name == name).values(failed_logins=0, locked_until=None)
            ).rowcount
        return n == 1

    def purge_login_failures(self, before: float) -> int:
        ended = login_failures.c.locked_until.is_(None) | (login_failures.c.locked_until < before)
        with self._write() as c:
            n = c.execute(
                delete(login_failures).where((login_failures.c.updated_at < before) & ended)
            ).rowcount
        return int(n)

    def count_users(self) -> int:
        with self._read1() as c:
            return int(c.execute(select(func.count()).select_from(users)).scalar_one())

    def set_password(self, name: str, password_hash: str) -> bool:
        with self._write() as c:
            n = c.execute(
                update(users).where(users.c.name == name).values(password_hash=password_hash)
            ).rowcount
            c.execute(delete(sessions).where(sessions.c.user_name == name))
        return bool(n)

    def delete_user(self, name: str) -> bool:
        with self._write() as c:
            c.execute(delete(sessions).where(sessions.c.user_name == name))
            n = c.execute(delete(users).where(users.c.name == name)).rowcount
        return bool(n)

    # -- sessions ------------------------------------------------------------------

    def add_session(self, session: Session) -> None:
        with self._write() as c:
            c.execute(
                insert(sessions).values(
                    token_hash=session.token_hash,
                    csrf=session.csrf,
                    user_name=session.user_name,
                    created_at=session.created_at,
                    last_seen=session.last_seen,
                    address=session.address,
                )
            )

    _SESSION = select(sessions).where(sessions.c.token_hash == bindparam("th"))

    def get_session(self, token_hash: str) -> Session | None:
        with self._read1() as c:
            row = c.execute(self._SESSION, {"th": token_hash}).mappings().first()
        return Session(**row) if row else None

    def touch_session(self, token_hash: str, now: float) -> None:
        with self._write() as c:
            c.execute(
                update(sessions).where(sessions.c.token_hash == token_hash).values(last_seen=now)
            )

    def delete_session(self, token_hash: str) -> None:
        with self._write() as c:
            c.execute(delete(sessions).where(sessions.c.token_hash == token_hash))

    def purge_sessions(self, idle_before: float) -> int:
        with self._write() as c:
            return int(
                c.execute(delete(sessions).where(sessions.c.last_seen < idle_before)).rowcount
            )

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
    ) -> Job:
        with self._write() as c:
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
        _job_event(int(job_id), JobStatus.PENDING)
        return self._job(row)

    #: The reads behind clients that poll (GET /tasks/{id}; on SQLite by id through
    #: _jobs_sqlite), built once: building and cache-keying a statement cost more than
    #: running it.
    _ALL_JOBS = select(jobs).order_by(jobs.c.id)
    _JOBS_BY_ID = _ALL_JOBS.where(jobs.c.id.in_(bindparam("ids", expanding=True)))

    def get_job(self, job_id: int) -> Job | None:
        with self._read1() as c:
            row = c.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
        return self._job(row) if row else None

    def list_jobs(self, ids: Sequence[int] | None = None) -> list[Job]:
        if ids is not None and self.engine.dialect.name == "sqlite":
            return self._jobs_sqlite(ids)
        with self._read1() as c:
            if ids is None:
                rows = c.execute(self._ALL_JOBS)
            else:
                rows = c.execute(self._JOBS_BY_ID, {"ids": list(ids)})
            return [self._job(r) for r in rows.mappings()]

    #: The columns of ``jobs``, for :meth:`_jobs_sqlite`.
    _JOB_COLUMNS = tuple(c.name for c in jobs.c)

    def _jobs_sqlite(self, ids: Sequence[int]) -> list[Job]:
        """``list_jobs(ids)`` on SQLite's own connection: the read behind every
        ``GET /tasks/{id}`` of a polling client. SQLAlchemy's connection, execution
        context and result rows cost about three times the query itself. One statement, run
        atomically on one snapshot, as ``_read1`` does; errors are raised as
        SQLAlchemy's (a locked catalog is an ``OperationalError``)."""
        sql = (
            f"SELECT {', '.join(self._JOB_COLUMNS)} FROM jobs"
            f" WHERE id IN ({', '.join('?' * len(ids))}) ORDER BY id"
        )
        params = tuple(ids)
        raw = self.engine.raw_connection()
        try:
            rows = raw.cursor().execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise DBAPIError.instance(sql, params, e, sqlite3.Error) from e
        finally:
            raw.close()
        return [self._job(dict(zip(self._JOB_COLUMNS, r, strict=True))) for r in rows]

    def claim_job(
        self,
        job_id: int,
        from_status: JobStatus,
        uploads: int,
        now: float,
        bytes_total: int | None,
        file_name: str,
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
            _job_event(job_id, JobStatus.RUNNING)
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
            _job_event(job_id, status, message)
        return n == 1

    def delete_jobs(self, ids: Sequence[int]) -> int:
        with self._write() as c:
            return int(c.execute(delete(jobs).where(jobs.c.id.in_(list(ids)))).rowcount)

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
        _jobs_stopped(n, message)
        return n

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

    def fail_open_jobs(self, now: float, message: dict[str, object]) -> int:
        with self._write() as c:
            n = int(
                c.execute(
                    update(jobs)
                    .where(jobs.c.status == JobStatus.RUNNING.value)
                    .values(
                        status=JobStatus.STOPPED.value, end_time=now, message=json.dumps(message)
                    )
                ).rowcount
            )
        _jobs_stopped(n, message)
        return n

    # -- repository ----------------------------------------------------------------

    def commit_import(
        self,
        job_id: int,
        file: StoredFile,
        image: OsImage | None,
        now: float,
        message: dict[str, object],
    ) -> None:
        try:
            with self._write() as c:
                c.execute(
                    insert(files).values(
                        id=file.id,
                        image_type=file.image_type.value,
                        name=file.name,
                        os=file.os,
                        osrelease=file.osrelease,
                        description=file.description,
                        image_name=file.image_name,
                        size=file.size,
                        sha256=file.sha256,
                        checksums=json.dumps(file.checksums),
                        blob_key=file.blob_key,
                        imported_by=file.imported_by,
                        imported_at=file.imported_at,
                        job_id=file.job_id,
                    )
                )
                _bump(c)
                if image is not None:
                    c.execute(
                        insert(os_images).values(
                            id=image.id,
                            name=image.name,
                            description=image.description,
                            os=image.os,
                            osrelease=image.osrelease,
                            file_id=image.file_id,
                            created_at=image.created_at,
                            version=image.version,
                            arch=image.arch,
                            osinfo_id=image.osinfo_id,
                            build=image.build,
                            details=json.dumps(image.details),
                        )
                    )
                    for p in image.profiles:
                        c.execute(
                            insert(profiles).values(
                                id=p.id,
                                image_id=p.image_id,
                                name=p.name,
                                profile=p.profile,
                                type=p.type,
                                description=p.description,
                            )
                        )
                n = c.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id, jobs.c.status == JobStatus.RUNNING.value)
                    .values(
                        status=JobStatus.COMPLETE.value,
                        end_time=now,
                        percentage=100,
                        bytes_received=file.size,
                        file_id=file.id,
                        message=json.dumps(message),
                    )
                ).rowcount
                if n != 1:
                    raise _JobGone()
        except _JobGone:
            job = self.get_job(job_id)
            raise error(
                M.JOB_CANCELLED,
                job_id=job_id,
                user=(job.cancelled_by if job else None) or "another request",
            ) from None
        except IntegrityError:
            if image is not None and self.get_image(image.id) is not None:
                raise error(M.ALREADY_EXISTS, what="OS image", name=image.id) from None
            raise error(M.ALREADY_EXISTS, what="File", name=file.id) from None
        else:
            _job_event(job_id, JobStatus.COMPLETE, message)

    _GENERATION = select(repo_state.c.generation)

    def generation(self) -> int:
        """Raised by every import and delete: equal numbers mean equal contents."""
        with self._read1() as c:
            return int(c.execute(self._GENERATION).scalar_one())

    def file_id_exists(self, file_id: str) -> bool:
        with self._read1() as c:
            return c.execute(select(files.c.id).where(files.c.id == file_id)).first() is not None

    @staticmethod
    def _file(row: Any) -> StoredFile:
        d = dict(row)
        d["image_type"] = ImageType(d["image_type"])
        d["checksums"] = json.loads(d["checksums"] or "{}")
        return StoredFile(**d)

    def list_files(self) -> list[StoredFile]:
        with self._read() as c:
            rows = c.execute(select(files).order_by(files.c.imported_at, files.c.id)).mappings()
            return [self._file(r) for r in rows]

    def _images(self, c: Connection, image_id: str | None = None) -> list[OsImage]:
        q = select(os_images).order_by(os_images.c.id)
        pq = select(profiles).order_by(profiles.c.id)
        if image_id is not None:
            q = q.where(os_images.c.id == image_id)
            pq = pq.where(profiles.c.image_id == image_id)
        by_image: dict[str, list[Profile]] = {}
        for r in c.execute(pq).mappings():
            by_image.setdefault(r["image_id"], []).append(Profile(**r))
        out = []
        for r in c.execute(q).mappings():
            d = dict(r)
            d["details"] = json.loads(d["details"] or "{}")
            out.append(OsImage(**d, profiles=tuple(by_image.get(r["id"], ()))))
        return out

    def get_image(self, image_id: str) -> OsImage | None:
        with self._read() as c:
            found = self._images(c, image_id)
        return found[0] if found else None

    def list_images(self) -> list[OsImage]:
        with self._read() as c:
            return self._images(c)

    def find_profiles(self, ids: Sequence[str]) -> list[Profile]:
        with self._read() as c:
            rows = c.execute(
                select(profiles).where(profiles.c.id.in_(list(ids))).order_by(profiles.c.id)
            ).mappings()
            return [Profile(**r) for r in rows]

    def delete_objects(self, ids: Sequence[str]) -> list[str]:
        wanted = list(dict.fromkeys(ids))
        with self._write() as c:
            img_rows = {
                r.id: r
                for r in c.execute(
                    select(os_images.c.id, os_images.c.file_id).where(os_images.c.id.in_(wanted))
                )
            }
            prof_rows = {
                r.id: r
                for r in c.execute(
                    select(profiles.c.id, profiles.c.image_id).where(profiles.c.id.in_(wanted))
                )
            }
            file_rows = {
                r.id: r
                for r in c.execute(
                    select(files.c.id, files.c.blob_key).where(files.c.id.in_(wanted))
                )
            }
            unknown = [
                i for i in wanted if i not in img_rows and i not in prof_rows and i not in file_rows
            ]
            if unknown:
                raise error(
                    M.NOT_FOUND,
                    what="Object",
                    name=", ".join(unknown),
                    detail="No OS image, profile or file has this id. Nothing was deleted.",
                )
            mixed = [p for p, r in prof_rows.items() if r.image_id in img_rows]
            if mixed:
                raise error(
                    M.INVALID_VALUE,
                    name="id list",
                    detail="The list names an OS image together with its own "
                    f"profile(s) {', '.join(mixed)}; deleting the image deletes its "
                    "profiles. Nothing was deleted.",
                )
            file_ids = set(file_rows)
            for r in img_rows.values():
                file_ids.add(r.file_id)
            c.execute(delete(profiles).where(profiles.c.id.in_(list(prof_rows))))
            c.execute(delete(profiles).where(profiles.c.image_id.in_(list(img_rows))))
            # An OS image's own file goes with the image; deleting that file directly
            # deletes the image too.
            img_of_files = [
                r.id
                for r in c.execute(
                    select(os_images.c.id).where(os_images.c.file_id.in_(list(file_ids)))
                )
            ]
            c.execute(delete(profiles).where(profiles.c.image_id.in_(img_of_files)))
            c.execute(delete(os_images).where(os_images.c.id.in_(img_of_files)))
            keys = [
                r.blob_key
                for r in c.execute(select(files.c.blob_key).where(files.c.id.in_(list(file_ids))))
            ]
            c.execute(delete(files).where(files.c.id.in_(list(file_ids))))
            _bump(c)
        return keys

    def usage(self) -> Usage:
        with self._read() as c:
            images = int(c.execute(select(func.count()).select_from(os_images)).scalar_one())
            nfiles = int(c.execute(select(func.count()).select_from(files)).scalar_one())
            stored = int(c.execute(select(func.coalesce(func.sum(files.c.size), 0))).scalar_one())
            rows = c.execute(
                select(jobs.c.declared_size, jobs.c.bytes_received).where(
                    jobs.c.status.in_([s.value for s in OPEN]), jobs.c.declared_size.is_not(None)
                )
            ).all()
        reserved = sum(max(int(r[0]) - int(r[1]), 0) for r in rows)
        return Usage(images=images, bytes_stored=stored, bytes_reserved=reserved, files=nfiles)

    def reserved_bytes(self, user_name: str) -> int:
        with self._read1() as c:
            rows = c.execute(
                select(jobs.c.declared_size, jobs.c.bytes_received).where(
                    jobs.c.status.in_([s.value for s in OPEN]),
                    jobs.c.declared_size.is_not(None),
                    jobs.c.created_by == user_name,
                )
            ).all()
        return sum(max(int(r[0]) - int(r[1]), 0) for r in rows)

    def job_counts(self) -> dict[str, int]:
        with self._read1() as c:
            rows = c.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status)).all()
        counts = {s.value: 0 for s in JobStatus}
        counts.update({str(r[0]): int(r[1]) for r in rows})
        return counts

    def blob_keys(self) -> set[str]:
        with self._read() as c:
            return {r[0] for r in c.execute(select(files.c.blob_key))}

    # -- remote file servers -------------------------------------------------------

    @staticmethod
    def _server(row: Any) -> RemoteServer:
        d = dict(row)
        d["verify_tls"] = bool(d["verify_tls"])
        return RemoteServer(**d)

    def add_server(self, server: RemoteServer) -> RemoteServer:
        values = {k: v for k, v in server.__dict__.items() if k != "id"}
        try:
            with self._write() as c:
                new_id = c.execute(insert(remote_servers).values(**values)).inserted_primary_key
        except IntegrityError:
            raise _name_taken(server.display_name) from None
        assert new_id is not None
        found = self.get_server(int(new_id[0]))
        assert found is not None
        return found

    def update_server(self, server: RemoteServer) -> bool:
        values = {k: v for k, v in server.__dict__.items() if k not in ("id", "created_at")}
        try:
            with self._write() as c:
                n = c.execute(
                    update(remote_servers).where(remote_servers.c.id == server.id).values(**values)
                ).rowcount
        except IntegrityError:
            raise _name_taken(server.display_name) from None
        return bool(n == 1)

    def pin_host_key(self, server_id: int, host_key: str) -> bool:
        """Pin an SSH host key on first use (only while none is pinned)."""
        with self._write() as c:
            n = c.execute(
                update(remote_servers)
                .where(remote_servers.c.id == server_id, remote_servers.c.host_key == "")
                .values(host_key=host_key)
            ).rowcount
        return n == 1

    def get_server(self, server_id: int) -> RemoteServer | None:
        with self._read1() as c:
            row = (
                c.execute(select(remote_servers).where(remote_servers.c.id == server_id))
                .mappings()
                .first()
            )
        return self._server(row) if row else None

    def list_servers(self) -> list[RemoteServer]:
        with self._read1() as c:
            rows = c.execute(select(remote_servers).order_by(remote_servers.c.id)).mappings()
            return [self._server(r) for r in rows]

    def delete_server(self, server_id: int) -> bool:
        """Delete a profile unless an open job pulls from it (then raise IN_USE)."""
        with self._write() as c:
            busy = c.execute(
                select(jobs.c.id).where(
                    jobs.c.server_id == server_id,
                    jobs.c.status.in_([s.value for s in OPEN]),
                )
            ).first()
            if busy is not None:
                raise error(
                    M.IN_USE,
                    what="Remote file server",
                    name=str(server_id),
                    detail=f"Import job {busy[0]} is transferring a file from it.",
                )
            n = c.execute(delete(remote_servers).where(remote_servers.c.id == server_id)).rowcount
        return n == 1


def _bump(c: Connection) -> None:
    c.execute(update(repo_state).values(generation=repo_state.c.generation + 1))


def _name_taken(name: str) -> Exception:
    # §5.3: a second server with the same name is an invalid attribute (400).
    return error(
        M.INVALID_VALUE,
        name="displayName",
        detail=f"A remote file server named {name!r} already exists; display names are unique.",
    )


class _JobGone(OsdepotException):
    pass
