"""Import jobs and the upload pipeline.

``create_job`` opens a job (``POST /osImages``). ``check_upload`` validates an upload
request before its body is read; ``begin_upload`` claims the job and returns an
:class:`UploadSink` that the web layer feeds with the file's bytes as they arrive.
The sink hashes and writes each buffer in a worker thread while the next buffer is
being received, writes the file exactly once into staging, and on ``finish``
verifies size and checksum, fsyncs, commits the blob and records the catalog rows
and the completed job in one transaction. Any failure removes the staging file and
ends the job ``Stopped`` with the same message the HTTP response carries.
"""

from __future__ import annotations

import errno
import hmac
import logging
import mmap
import time
from dataclasses import replace
from typing import Any

from osdepot import metrics
from osdepot.content.inspect import inspect_content
from osdepot.content.media import MediaInfo
from osdepot.domain.images import (
    ImageType,
    OsFamily,
    check_extension,
    parse_image_type,
    resolve_os,
)
from osdepot.domain.jobs import JobStatus
from osdepot.domain.names import check_image_id, clean_filename, make_file_id
from osdepot.domain.records import Job, OsImage, Profile, StoredFile, User
from osdepot.errors import M, OsdepotError, error
from osdepot.ingest.receiver import Receiver
from osdepot.services.context import Context
from osdepot.services.import_params import (
    UploadParams,
    check_checksum_pair,
    check_label,
    parse_checksum_type,
    parse_size,
)

log = logging.getLogger("osdepot.uploads")


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
                M.INVALID_VALUE,
                name="request body",
                detail='The body must be a JSON object like {"Action": "Init"}.',
            )
        action = body.get("Action", body.get("action"))
        if not isinstance(action, str) or action.strip().lower() != "init":
            raise error(
                M.INVALID_VALUE, name="Action", detail='The body must contain "Action": "Init".'
            )
        size = parse_size(body.get("fileSize"))
        if size is not None:
            await self.ctx.run(self._check_space, size, itype)
            await self.ctx.run(self._check_user_reservations, user, size)
        return await self.ctx.run(
            self.ctx.catalog.create_job,
            itype,
            user.name,
            self.ctx.clock(),
            size,
            f"Import of a {itype.value} file into the OS images repository",
        )

    def _check_user_reservations(self, user: User, size: int) -> None:
        """One user's open jobs may hold at most ``max_reserved_bytes_per_user`` of free
        space with their declared sizes (0: half of the free space), so that no single
        account can keep everyone else from importing for a day."""
        cap = self.ctx.settings.max_reserved_bytes_per_user
        if not cap:
            free = self.ctx.blobs.free_bytes()
            if free is None:
                return
            cap = free // 2
        held = self.ctx.catalog.reserved_bytes(user.name)
        if held + size > cap:
            raise error(
                M.REPOSITORY_FULL,
                detail=f"Your open import jobs already reserve {held} bytes; with {size} more "
                f"they would reserve more than the {cap} bytes one user may hold. Upload "
                "the files of your open jobs, or cancel the ones you no longer need.",
            )

    def _check_space(self, size: int, itype: ImageType, exclude_own: int = 0) -> None:
        """Refuse a file of ``size`` bytes that the repository cannot hold."""
        s = self.ctx.settings
        usage = self.ctx.catalog.usage()
        reserved = max(usage.bytes_reserved - exclude_own, 0)
        free = self.ctx.blobs.free_bytes()
        if free is not None and size > free - reserved:
            raise error(
                M.REPOSITORY_FULL,
                detail=f"The file needs {size} bytes; the repository storage has {free} bytes "
                f"free, of which {reserved} are reserved by imports in progress.",
            )
        if s.max_repository_bytes and (
            usage.bytes_stored + reserved + size > s.max_repository_bytes
        ):
            raise error(
                M.REPOSITORY_FULL,
                detail=f"The repository is limited to {s.max_repository_bytes} bytes; it holds "
                f"{usage.bytes_stored} bytes and {reserved} are reserved by imports in "
                f"progress, so {size} more bytes do not fit.",
            )
        if itype is ImageType.OS and s.max_images and usage.images >= s.max_images:
            raise error(
                M.REPOSITORY_FULL,
                detail=f"The repository is limited to {s.max_images} OS images and holds "
                f"{usage.images}.",
            )

    # -- POST /files/osImages ----------------------------------------------------------

    async def check_upload(self, user: User, p: UploadParams) -> tuple[Job, ImageType]:
        """Validate an upload request before its body is read."""
        job = await self.ctx.run(self.ctx.catalog.get_job, p.job_id)
        if job is None:
            raise error(M.JOB_NOT_FOUND, job_id=p.job_id)
        if job.created_by != user.name:
            raise error(M.JOB_NOT_USABLE, job_id=p.job_id)
        itype = p.image_type or job.image_type
        bundle_sig = job.image_type is ImageType.BUNDLE and itype is ImageType.BUNDLESIG
        if itype is not job.image_type and not bundle_sig:
            raise error(
                M.INVALID_VALUE,
                name="imageType",
                detail=f"Job {job.id} was created for {job.image_type.value} files, "
                f"not {itype.value}.",
            )
        if bundle_sig:
            sig_ok = job.status is JobStatus.COMPLETE and job.uploads == 1
            if not sig_ok and job.status is not JobStatus.PENDING:
                raise error(M.JOB_ALREADY_USED, job_id=job.id, status=job.status.value)
        elif job.status is not JobStatus.PENDING:
            if job.message and job.message.get("id") == M.JOB_EXPIRED.id:
                raise error(M.JOB_EXPIRED, job_id=job.id, seconds=self.ctx.settings.job_expiry)
            raise error(M.JOB_ALREADY_USED, job_id=job.id, status=job.status.value)
        resolve_os(itype, p.os)
        check_label(p.description, "description", 2000)
        check_label(p.image_name, "imageName", 300)
        check_label(p.osrelease, "osrelease", 64)
        if itype is ImageType.DUD:
            if not p.image_name:
                raise error(
                    M.MISSING_PARAMETER,
                    name="imageName",
                    detail="For DUD files imageName names the OS image the driver belongs to.",
                )
            check_image_id(p.image_name)
            if await self.ctx.run(self.ctx.catalog.get_image, p.image_name) is None:
                raise error(M.TARGET_IMAGE_MISSING, image_name=p.image_name)
        # For OS media the image id comes from the medium itself (docs/media.md);
        # imageName, which pylxca always sends, is kept as a label only.
        if p.checksum_type is not None or p.checksum_value is not None:
            check_checksum_pair(p.checksum_type, p.checksum_value, final=False)
        return job, itype

    async def claim(self, job: Job, filename: str, expected: int | None) -> None:
        """Mark the job Running for this file; exactly one of two racing claims wins
        (a BUNDLESIG claims the Complete BUNDLE job for its second file)."""
        from_status = JobStatus.PENDING if job.uploads == 0 else JobStatus.COMPLETE
        claimed = await self.ctx.run(
            self.ctx.catalog.claim_job,
            job.id,
            from_status,
            job.uploads,
            self.ctx.clock(),
            expected,
            filename,
        )
        if not claimed:
            raise error(M.JOB_ALREADY_USED, job_id=job.id, status="Running")

    async def begin_upload(
        self,
        user: User,
        job: Job,
        itype: ImageType,
        p: UploadParams,
        raw_filename: str,
        body_length: int | None,
    ) -> UploadSink:
        """Claim the job for this upload and open its staging file."""
        filename = clean_filename(raw_filename)
        family = resolve_os(itype, p.os)
        check_extension(itype, family, filename)
        declared = job.declared_size if job.uploads == 0 else None
        expected = declared if declared is not None else body_length
        if expected is not None:
            own = (job.declared_size or 0) if job.status is JobStatus.PENDING else 0
            await self.ctx.run(self._check_space, expected, itype, own)
        await self.claim(job, filename, expected)
        sink = UploadSink(self, user, job, itype, family, p, filename, declared, expected)
        try:
            await sink.open()
        except OsdepotError as exc:
            await sink.fail(exc)
            raise
        except BaseException:
            await sink.fail(error(M.INTERNAL, detail="The staging file could not be created."))
            raise
        return sink


class UploadSink:
    """Receives one file's bytes; hashes and writes them off the event loop."""

    def __init__(
        self,
        imports: Imports,
        user: User,
        job: Job,
        itype: ImageType,
        family: OsFamily | None,
        params: UploadParams,
        filename: str,
        declared: int | None,
        expected: int | None,
    ) -> None:
        self.ctx = imports.ctx
        self.user, self.job, self.itype, self.family = user, job, itype, family
        self.params, self.filename = params, filename
        self.declared, self.expected = declared, expected
        #: bytes per buffer handed to the worker threads
        self.capacity = self.ctx.settings.upload_buffer_bytes
        early = parse_checksum_type(params.checksum_type)
        #: the byte path: buffers, lanes, the write and the hashes (osdepot.ingest)
        self._rx = Receiver(
            self.capacity,
            self.ctx.io_pool,
            ["sha256", *([early] if early and early != "sha256" else [])],
        )
        self._bytes_counted = 0  # of the receiver's dispatched bytes, in the metrics
        self._staging: Any = None
        self._next_tick = 0.0
        self.cancelled_by: str | None = None
        self.done = False
        self.media: MediaInfo | None = None
        self.image_id: str | None = None
        #: the remote file server a remote import pulls from
        self.server_id: int = 0
        self._created = time.monotonic()
        self._opened_at: float | None = None
        self._counted = False

    async def open(self) -> None:
        try:
            self._staging = await self.ctx.run(self.ctx.blobs.create_staging, self.declared)
        except OSError as exc:
            raise _os_error(exc) from exc
        self._rx.start(self._staging)
        self.ctx.active_uploads[self.job.id] = self
        self._opened_at = time.monotonic()
        self._next_tick = self._opened_at + self.ctx.settings.progress_interval
        metrics.UPLOADS_IN_FLIGHT.labels(self._source).inc()

    @property
    def received(self) -> int:
        """Bytes of the file received so far."""
        return self._rx.received

    def _count_bytes(self) -> None:
        """Add the bytes handed to the lanes since the last call to the metrics."""
        n = self._rx.dispatched - self._bytes_counted
        if n:
            self._bytes_counted += n
            metrics.BYTES_RECEIVED.labels(self._source).inc(n)

    @property
    def _source(self) -> str:
        return "remote" if self.server_id else "upload"

    def _ended(self, result: str, message_id: str = "") -> None:
        """Count the end of an import in the metrics, once. A remote import that
        failed before its first byte (say, while connecting) counts too."""
        if self._counted:
            return
        self._counted = True
        if self._opened_at is not None:
            metrics.UPLOADS_IN_FLIGHT.labels(self._source).dec()
        kind = self.itype.value
        metrics.IMPORTS.labels(kind, result).inc()
        metrics.IMPORT_DURATION.labels(kind, result).observe(time.monotonic() - self._created)
        if message_id:
            metrics.IMPORT_FAILURES.labels(message_id).inc()

    # -- receiving ---------------------------------------------------------------------

    async def write(self, data: bytes | memoryview) -> None:
        """Copy ``data`` into the buffers (see :meth:`buffer` for writing in place)."""
        view = memoryview(data)
        while view:
            buf, fill = self.buffer()
            take = min(self.capacity - fill, len(view))
            buf[fill : fill + take] = view[:take]
            await self.commit(take)
            view = view[take:]

    def buffer(self) -> tuple[mmap.mmap, int]:
        """The buffer being filled and how many of its bytes are file data so far
        (:meth:`osdepot.ingest.receiver.Receiver.buffer`)."""
        return self._rx.buffer()

    async def commit(self, n: int) -> None:
        """The next ``n`` bytes of the file are in place in :meth:`buffer`."""
        self._check_cancelled()
        self._rx.check_room(n)
        if self.declared is not None and self.received + n > self.declared:
            raise error(
                M.SIZE_MISMATCH, declared=self.declared, received=f"more than {self.declared}"
            )
        try:
            await self._rx.commit(n)
        except OSError as exc:
            raise _os_error(exc) from exc
        self._count_bytes()
        if time.monotonic() >= self._next_tick:
            await self._progress()

    async def waiting(self, pending: int) -> None:
        """A reader is filling :meth:`buffer` in place and has ``pending`` bytes past
        ``fill`` so far: report progress and notice a cancellation while it waits."""
        self._check_cancelled()
        if time.monotonic() >= self._next_tick:
            await self._progress(pending)

    def _check_cancelled(self) -> None:
        """A cancel made in this process (Jobs.cancel sets ``cancelled_by``)."""
        if self.cancelled_by is not None:
            raise error(M.JOB_CANCELLED, job_id=self.job.id, user=self.cancelled_by)

    async def _drain(self) -> None:
        try:
            await self._rx.drain()
        except OSError as exc:
            raise _os_error(exc) from exc
        finally:
            self._count_bytes()

    async def _progress(self, pending: int = 0) -> None:
        self._next_tick = time.monotonic() + self.ctx.settings.progress_interval
        received = self.received + pending
        total = self.expected or 0
        pct = min(99, received * 100 // total) if total else 0
        still = await self.ctx.run(
            self.ctx.catalog.update_progress, self.job.id, received, int(pct)
        )
        if not still:
            job = await self.ctx.run(self.ctx.catalog.get_job, self.job.id)
            raise error(
                M.JOB_CANCELLED,
                job_id=self.job.id,
                user=(job.cancelled_by if job else None) or "another request",
            )

    # -- ending ------------------------------------------------------------------------

    async def finish(self, checksum_type: str | None, checksum_value: str | None) -> StoredFile:
        """Verify, make durable and commit. Raises (after cleaning up) on any failure."""
        try:
            await self._drain()
            if self.declared is not None and self.received != self.declared:
                raise error(M.SIZE_MISMATCH, declared=self.declared, received=self.received)
            algo = check_checksum_pair(checksum_type, checksum_value, final=True)
            checksums = await self.ctx.run(self._rx.digests, algo)
            if algo and checksum_value:
                actual = checksums[algo]
                if not hmac.compare_digest(actual, checksum_value.strip().lower()):
                    raise error(
                        M.CHECKSUM_MISMATCH,
                        algorithm=algo.upper(),
                        actual=actual,
                        expected=checksum_value.strip().lower(),
                    )
            try:
                await self.ctx.run(self._staging.finish)
            except OSError as exc:
                raise _os_error(exc) from exc
            await self._inspect()
            return await self._commit(checksums)
        except OsdepotError as exc:
            await self.fail(exc)
            raise
        except BaseException:
            await self.fail(error(M.INTERNAL, detail="The import failed unexpectedly."))
            raise

    async def _inspect(self) -> None:
        """Validate the staged content for its type; recognise an OS medium."""
        result = await self.ctx.run(
            inspect_content,
            self._staging.reader(),
            self.itype,
            self.family,
            self.filename,
            self.ctx.settings.osinfo_path or None,
            self.ctx.settings.content_check_cpu_seconds or None,
        )
        if result.error is not None:
            raise result.error
        self.media = result.os
        log.info(
            "job %s: %s is a valid %s (read %d of %d bytes)%s",
            self.job.id,
            self.filename,
            result.file_kind,
            result.bytes_read,
            result.size,
            f", recognised as {result.os.name}" if result.os else "",
        )

    async def _commit(self, checksums: dict[str, str]) -> StoredFile:
        ctx = self.ctx
        if self.itype is ImageType.OS:
            await ctx.run(self._check_image_limit)
        key = await ctx.run(ctx.blobs.commit, self._staging)
        self._staging = None
        try:
            now = ctx.clock()
            stored = await ctx.run(self._record, key, checksums, now)
        except BaseException:
            await ctx.run(ctx.blobs.delete, key)
            raise
        self.done = True
        ctx.active_uploads.pop(self.job.id, None)
        self._ended("complete")
        log.info(
            "job %s: imported %s as %s (%d bytes, sha256 %s)",
            self.job.id,
            self.filename,
            stored.id,
            stored.size,
            stored.sha256,
        )
        return stored

    def _check_image_limit(self) -> None:
        s = self.ctx.settings
        if s.max_images and self.ctx.catalog.usage().images >= s.max_images:
            raise error(
                M.REPOSITORY_FULL, detail=f"The repository is limited to {s.max_images} OS images."
            )

    def _record(self, key: str, checksums: dict[str, str], now: float) -> StoredFile:
        p = self.params
        catalog = self.ctx.catalog
        for attempt in range(100):
            file_id = make_file_id(self.filename, now, attempt)
            if not catalog.file_id_exists(file_id):
                break
        family = self.family.name if self.family else None
        stored = StoredFile(
            id=file_id,
            image_type=self.itype,
            name=self.filename,
            size=self.received,
            sha256=checksums["sha256"],
            blob_key=key,
            imported_by=self.user.name,
            imported_at=now,
            job_id=self.job.id,
            os=family,
            osrelease=p.osrelease,
            description=p.description,
            image_name=p.image_name,
            checksums=checksums,
        )
        image = None
        if self.itype is ImageType.OS:
            assert self.media is not None
            image_id = self._free_image_id(self.media)
            image = build_image(image_id, self.media, p.description, file_id, now)
            self.image_id = image_id
            stored = replace(stored, os=self.media.family, osrelease=self.media.version)
        message = M.IMPORT_COMPLETE.render(
            {
                "filename": self.filename,
                "file_id": file_id,
                "size": self.received,
                "sha256": checksums["sha256"],
            }
        )
        if image is not None:
            message["explanation"] += (
                f" The medium was recognised as {image.name} ({image.arch or 'any'}) and "
                f"added as OS image {image.id} with {len(image.profiles)} profile(s)."
            )
        catalog.commit_import(self.job.id, stored, image, now, message)
        return stored

    def _free_image_id(self, media: MediaInfo) -> str:
        """The medium's image id; 409 when its release is already in the repository.

        ESXi media are keyed by build: a second build of the same release gets the
        build number appended to its id.
        """
        assert media.image_id is not None
        catalog = self.ctx.catalog
        existing = catalog.get_image(media.image_id)
        if existing is None:
            return media.image_id
        if media.family == "esxi" and media.build and existing.build != media.build:
            alt = f"{media.image_id}-{media.build}"
            if catalog.get_image(alt) is None:
                return alt
            existing = catalog.get_image(alt) or existing
        what = media.name + (f" build {media.build}" if media.family == "esxi" else "")
        raise error(M.RELEASE_EXISTS, what=what, image_id=existing.id)

    async def fail(self, exc: OsdepotError) -> None:
        """Remove staging and end the job Stopped (or keep it Cancelled) with ``exc``."""
        if self.done:
            return
        self.done = True
        self.ctx.active_uploads.pop(self.job.id, None)
        await self._rx.settle()
        staging = self._staging
        self._staging = None
        if staging is not None:
            await self.ctx.run(staging.abort)
        if exc.message is not M.JOB_CANCELLED:
            await self.ctx.run(
                self.ctx.catalog.finish_job,
                self.job.id,
                JobStatus.STOPPED,
                self.ctx.clock(),
                exc.render(),
            )
        cancelled = exc.message is M.JOB_CANCELLED
        self._ended("cancelled" if cancelled else "stopped", exc.render()["id"])
        log.info(
            "job %s: import of %s failed: %s %s",
            self.job.id,
            self.filename,
            exc,
            exc.render()["explanation"],
        )


def build_image(
    image_id: str, media: MediaInfo, description: str, file_id: str, now: float
) -> OsImage:
    """The catalog entry of an imported OS image and its predefined profiles (§8.2).

    Profile ids are ``{imageId}|{imageId}-{arch}-install-{Profile}``; Windows media get
    one profile per edition and installation type found in install.wim.
    """
    arch = media.arch or "x86_64"
    profiles = tuple(
        Profile(
            id=f"{image_id}|{image_id}-{arch}-install-{name}",
            image_id=image_id,
            name=name.replace("_", " "),
            profile=name,
            type="predefined",
            description=f"{name.replace('_', ' ')} installation of {media.name}",
        )
        for name in media.profiles
    )
    return OsImage(
        id=image_id,
        name=media.name,
        file_id=file_id,
        os=media.family,
        osrelease=media.version,
        description=description or media.name,
        created_at=now,
        profiles=profiles,
        version=media.version,
        arch=media.arch,
        osinfo_id=media.osinfo_id,
        build=media.build,
        details={
            "editions": media.editions,
            "variants": media.variants,
            "recognisedBy": media.source,
            "evidence": media.evidence,
            "notes": media.notes,
        },
    )


def _os_error(exc: OSError) -> OsdepotError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return error(
            M.REPOSITORY_FULL,
            detail="The repository storage ran out of space while the file was "
            "being written. Nothing was stored.",
        )
    return error(M.INTERNAL, detail=f"The file could not be written: {exc.strerror}.")
