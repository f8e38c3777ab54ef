"""The import use case: opening jobs, checking an import before its bytes arrive,
and claiming the job for the one :class:`~osdepot.services.import_run.ImportRun`
that carries it to the commit.

``create_job`` opens a job (``POST /osImages``); ``check_upload`` validates an import
request before its body is read; ``claim`` marks the job Running and registers the
run, through which the multipart route and the remote pull alike feed the file.
"""

from __future__ import annotations

from typing import Any

from osdepot.domain.images import (
    ImageType,
    check_extension,
    parse_image_type,
    resolve_os,
)
from osdepot.domain.jobs import JobStatus
from osdepot.domain.names import check_image_id, clean_filename
from osdepot.domain.records import Job, User
from osdepot.errors import error
from osdepot.messages import Messages
from osdepot.services.admission import admission
from osdepot.services.context import Context
from osdepot.services.import_params import (
    UploadParams,
    check_checksum_pair,
    check_label,
    parse_size,
)
from osdepot.services.import_run import ImportRun
from osdepot.services.job_quota import make_room_for_jobs
from osdepot.services.space import check_space, check_user_reservations


class Imports:
    """The import use case: creating jobs, checking an upload before its body is read,
    claiming the job, and the space a file needs."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- POST /osImages ----------------------------------------------------------------

    async def create_job(self, user: User, image_type: str | None, body: Any) -> Job:
        itype = parse_image_type(image_type)
        if not isinstance(body, dict):
            raise error(
                Messages.INVALID_VALUE,
                name="request body",
                detail='The body must be a JSON object like {"Action": "Init"}.',
            )
        action = body.get("Action", body.get("action"))
        if not isinstance(action, str) or action.strip().lower() != "init":
            raise error(
                Messages.INVALID_VALUE,
                name="Action",
                detail='The body must contain "Action": "Init".',
            )
        size = parse_size(body.get("fileSize"))
        if size is not None:  # before make_room_for_jobs trims the user's old jobs
            await self.ctx.run(self.check_space, size, itype)
            await self.ctx.run(self._check_user_reservations, user, size)
        await self.ctx.run(make_room_for_jobs, self.ctx, user.name)
        # … and again in the job's own transaction, after every job admitted before it
        # (admission.py): requests at once cannot together pass a limit.
        return await self.ctx.run(
            self.ctx.catalog.create_job,
            itype,
            user.name,
            self.ctx.clock(),
            size,
            _job_name(itype),
            admission(self.ctx, user, itype, size=size, reserve=size, jobs=1),
        )

    def _check_user_reservations(self, user: User, size: int) -> None:
        """:func:`osdepot.services.space.check_user_reservations`."""
        check_user_reservations(self.ctx, user, size)

    def check_space(self, size: int, itype: ImageType, exclude_own: int = 0) -> None:
        """Refuse a file of ``size`` bytes that the repository cannot hold
        (:func:`osdepot.services.space.check_space`)."""
        check_space(self.ctx, size, itype, exclude_own)

    # -- POST /files/osImages ----------------------------------------------------------

    async def check_upload(self, user: User, p: UploadParams) -> tuple[Job, ImageType]:
        """Validate an upload request before its body is read."""
        job = await self.ctx.run(self.ctx.catalog.get_job, p.job_id)
        if job is None:
            raise error(Messages.JOB_NOT_FOUND, job_id=p.job_id)
        if job.created_by != user.name:
            raise error(Messages.JOB_NOT_USABLE, job_id=p.job_id)
        itype = p.image_type or job.image_type
        bundle_sig = job.image_type is ImageType.BUNDLE and itype is ImageType.BUNDLESIG
        if itype is not job.image_type and not bundle_sig:
            raise error(
                Messages.INVALID_VALUE,
                name="imageType",
                detail=f"Job {job.id} was created for {job.image_type.value} files, "
                f"not {itype.value}.",
            )
        if bundle_sig:
            sig_ok = job.status is JobStatus.COMPLETE and job.uploads == 1
            if not sig_ok and job.status is not JobStatus.PENDING:
                raise error(Messages.JOB_ALREADY_USED, job_id=job.id, status=job.status.value)
        elif job.status is not JobStatus.PENDING:
            if job.message and job.message.get("id") == Messages.JOB_EXPIRED.id:
                raise error(
                    Messages.JOB_EXPIRED, job_id=job.id, seconds=self.ctx.settings.job_expiry
                )
            raise error(Messages.JOB_ALREADY_USED, job_id=job.id, status=job.status.value)
        resolve_os(itype, p.os)
        check_label(p.description, "description", 2000)
        check_label(p.image_name, "imageName", 300)
        check_label(p.osrelease, "osrelease", 64)
        if itype is ImageType.DUD:
            if not p.image_name:
                raise error(
                    Messages.MISSING_PARAMETER,
                    name="imageName",
                    detail="For DUD files imageName names the OS image the driver belongs to.",
                )
            check_image_id(p.image_name)
            if await self.ctx.run(self.ctx.catalog.get_image, p.image_name) is None:
                raise error(Messages.TARGET_IMAGE_MISSING, image_name=p.image_name)
        # For OS media the image id comes from the medium itself (docs/media.md);
        # imageName, which pylxca always sends, is kept as a label only.
        if p.checksum_type is not None or p.checksum_value is not None:
            check_checksum_pair(p.checksum_type, p.checksum_value, final=False)
        return job, itype

    async def claim(
        self,
        user: User,
        job: Job,
        itype: ImageType,
        params: UploadParams,
        filename: str,
        expected: int | None,
        source: str = "upload",
    ) -> ImportRun:
        """Mark the job Running for this file and register the run that carries it;
        exactly one of two racing claims wins (a BUNDLESIG claims the Complete BUNDLE
        job for its second file). Use the run as ``async with run:`` at once."""
        family = resolve_os(itype, params.os)
        declared = job.declared_size if job.uploads == 0 else None
        if expected is None:
            expected = declared
        from_status = JobStatus.PENDING if job.uploads == 0 else JobStatus.COMPLETE
        claimed = await self.ctx.run(
            self.ctx.catalog.claim_job,
            job.id,
            from_status,
            job.uploads,
            self.ctx.clock(),
            expected,
            filename,
            self.ctx.node or None,
        )
        if not claimed:
            raise error(Messages.JOB_ALREADY_USED, job_id=job.id, status="Running")
        run = ImportRun(
            self.ctx, user, job, itype, family, params, filename, declared, expected, source
        )
        self.ctx.running.add(run)
        return run

    async def claim_upload(
        self,
        user: User,
        job: Job,
        itype: ImageType,
        p: UploadParams,
        raw_filename: str,
        body_length: int | None,
    ) -> ImportRun:
        """Claim the job for a file sent in a request's body, after checking its name
        and the space it needs (its declared size, or else the body's length)."""
        filename = clean_filename(raw_filename)
        family = resolve_os(itype, p.os)
        check_extension(itype, family, filename)
        declared = job.declared_size if job.uploads == 0 else None
        expected = declared if declared is not None else body_length
        if expected is not None:
            own = (job.declared_size or 0) if job.status is JobStatus.PENDING else 0
            await self.ctx.run(self.check_space, expected, itype, own)
        return await self.claim(user, job, itype, p, filename, expected)


def _job_name(itype: ImageType) -> str:
    """The job's name, as the task list shows it."""
    if itype is ImageType.OS:
        return "Import of an OS image into the OS images repository"
    return f"Import of a {itype.value} file into the OS images repository"
