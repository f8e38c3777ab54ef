"""Resumable uploads: their rows, opened with their job's claim in one transaction,
their durable offsets, and the lease of the one request appending to each."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update

from osdepot.domain.jobs import JobStatus
from osdepot.domain.records import Upload
from osdepot.ports import Admit
from osdepot.storage.catalog.base import Base, admit_in
from osdepot.storage.schema import jobs, uploads


class UploadsCatalog(Base):
    """The uploads part of :class:`osdepot.storage.catalog.SqlCatalog`."""

    @staticmethod
    def _upload(row: Any) -> Upload:
        d = dict(row)
        d["offset"] = int(d.pop("offset_bytes"))
        d["params"] = json.loads(d["params"] or "{}")
        return Upload(**d)

    def open_upload(
        self, up: Upload, uploads_before: int, now: float, admit: Admit | None = None
    ) -> bool:
        """Claim the Pending job ``up.job_id`` (``uploads_before`` files received) for
        the upload and record the upload, in one transaction, after ``admit`` passed
        (:func:`osdepot.storage.catalog.base.admit_in`); False when another request
        claimed the job first. The job's declared size becomes the upload's length when
        it had none (it reserves the space)."""
        with self._write() as c:
            admit_in(c, up.created_by, admit)
            values: dict[str, Any] = {
                "status": JobStatus.RUNNING.value,
                "uploads": uploads_before + 1,
                "start_time": now,
                "end_time": None,
                "bytes_received": 0,
                "percentage": 0,
                "bytes_total": up.length,
                "file_name": up.filename,
                "staging": up.staging,
                "node": None,
            }
            if up.length is not None:
                values["declared_size"] = func.coalesce(jobs.c.declared_size, up.length)
            n = c.execute(
                update(jobs)
                .where(
                    jobs.c.id == up.job_id,
                    jobs.c.status == JobStatus.PENDING.value,
                    jobs.c.uploads == uploads_before,
                )
                .values(**values)
            ).rowcount
            if n != 1:
                return False
            c.execute(
                insert(uploads).values(
                    id=up.id,
                    job_id=up.job_id,
                    created_by=up.created_by,
                    length=up.length,
                    offset_bytes=up.offset,
                    filename=up.filename,
                    params=json.dumps(up.params),
                    protocol=up.protocol,
                    staging=up.staging,
                    node=up.node,
                    created_at=up.created_at,
                    expires_at=up.expires_at,
                )
            )
        return True

    def get_upload(self, upload_id: str) -> Upload | None:
        with self._read_statement() as c:
            row = c.execute(select(uploads).where(uploads.c.id == upload_id)).mappings().first()
        return self._upload(row) if row else None

    def upload_of_job(self, job_id: int) -> Upload | None:
        with self._read_statement() as c:
            row = c.execute(select(uploads).where(uploads.c.job_id == job_id)).mappings().first()
        return self._upload(row) if row else None

    def count_uploads(self, user_name: str) -> int:
        with self._read_statement() as c:
            q = select(func.count()).select_from(uploads).where(uploads.c.created_by == user_name)
            return int(c.execute(q).scalar_one())

    def list_uploads(self) -> list[Upload]:
        with self._read() as c:
            rows = c.execute(select(uploads).order_by(uploads.c.created_at)).mappings()
            return [self._upload(r) for r in rows]

    def upload_stagings(self) -> list[str]:
        """The staging areas of every upload (kept at start-up)."""
        with self._read() as c:
            return [str(r[0]) for r in c.execute(select(uploads.c.staging))]

    def lease_upload(self, upload_id: str, holder: str, now: float, until: float) -> bool:
        """Take (or renew) the right to append to the upload until ``until``: free, its
        earlier lease run out, or already ``holder``'s."""
        with self._write() as c:
            n = c.execute(
                update(uploads)
                .where(
                    uploads.c.id == upload_id,
                    or_(
                        uploads.c.holder.is_(None),
                        uploads.c.holder == holder,
                        uploads.c.held_until < now,
                    ),
                )
                .values(holder=holder, held_until=until)
            ).rowcount
        return n == 1

    def release_upload(self, upload_id: str, holder: str) -> None:
        with self._write() as c:
            c.execute(
                update(uploads)
                .where(uploads.c.id == upload_id, uploads.c.holder == holder)
                .values(holder=None, held_until=None)
            )

    def release_leases(self, holder_prefix: str) -> int:
        """Free the leases of requests a process that ended held (``NODE/…``: a
        restart or a dead node's): their requests are gone with it."""
        with self._write() as c:
            return int(
                c.execute(
                    update(uploads)
                    .where(uploads.c.holder.startswith(holder_prefix, autoescape=True))
                    .values(holder=None, held_until=None)
                ).rowcount
            )

    def set_upload_offset(
        self, upload_id: str, offset: int, length: int | None, expires_at: float, percentage: int
    ) -> bool:
        """Record a checkpointed offset (and a length learnt now), and the job's
        progress; False when the upload is gone (cancelled, expired)."""
        with self._write() as c:
            values: dict[str, Any] = {"offset_bytes": offset, "expires_at": expires_at}
            if length is not None:
                values["length"] = length
            n = c.execute(update(uploads).where(uploads.c.id == upload_id).values(**values))
            if n.rowcount != 1:
                return False
            job_id = select(uploads.c.job_id).where(uploads.c.id == upload_id).scalar_subquery()
            job_values: dict[str, Any] = {"bytes_received": offset, "percentage": percentage}
            if length is not None:
                job_values["bytes_total"] = length
            c.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status == JobStatus.RUNNING.value)
                .values(**job_values)
            )
        return True

    def delete_upload(self, upload_id: str) -> Upload | None:
        """Forget the upload; the row it had (None when it was gone already — also when
        another deletion at the same instant removed it: one of them gets the row)."""
        with self._write() as c:
            row = c.execute(select(uploads).where(uploads.c.id == upload_id)).mappings().first()
            if row is None:
                return None
            if c.execute(delete(uploads).where(uploads.c.id == upload_id)).rowcount != 1:
                return None  # (PostgreSQL) deleted by the other after the read above
        return self._upload(row)

    def expired_uploads(self, now: float) -> list[Upload]:
        """Uploads idle past their expiry that no request is appending to."""
        with self._read() as c:
            rows = c.execute(
                select(uploads).where(
                    uploads.c.expires_at < now,
                    or_(uploads.c.holder.is_(None), uploads.c.held_until < now),
                )
            ).mappings()
            return [self._upload(r) for r in rows]

    def ended_uploads(self) -> list[Upload]:
        """Uploads whose job is not Running any more (cancelled elsewhere, or a crash
        between an upload's commit and the removal of its row)."""
        with self._read() as c:
            running = select(jobs.c.id).where(jobs.c.status == JobStatus.RUNNING.value)
            rows = c.execute(
                select(uploads).where(and_(uploads.c.job_id.not_in(running)))
            ).mappings()
            return [self._upload(r) for r in rows]
