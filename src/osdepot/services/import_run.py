"""One import, from the claim of its job to the commit of its file.

:class:`ImportRun` is what every way of importing feeds — the multipart route
(web/osimages.py), the remote pull (services/remote_import.py) — and it is an async
context manager: whatever leaves the ``async with`` block as an exception ends the
import through the one failure path (:meth:`ImportRun.fail`: the staging area
removed, the job Stopped with the message the client is answered with, or left
Cancelled). Inside the block the caller opens the staging area, hands over the
file's bytes (``write``, or in place through ``buffer``/``commit``) and calls
``finish``, which verifies size and checksum, makes the file durable, inspects it,
and commits the blob, the catalog rows and the completed job in one transaction.

The byte path itself (buffers, lanes, the staging write and the hashes) is
:class:`osdepot.ingest.receiver.Receiver`; this module adds the job's rules,
progress, metrics and messages.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import hmac
import logging
import mmap
import time
from collections.abc import Awaitable, Callable
from typing import Any

from osdepot import metrics
from osdepot.content.inspect import inspect_content, verify_content
from osdepot.content.media import MediaInfo
from osdepot.content.media.tree import index_tree
from osdepot.domain.images import ImageType, OsFamily
from osdepot.domain.jobs import JobStatus
from osdepot.domain.records import Job, ProfileImport, StoredFile, TreeEntry, User
from osdepot.errors import ContentError, Missing, OsdepotError, StoreUnavailable, error
from osdepot.ingest.receiver import Receiver
from osdepot.messages import Messages
from osdepot.ports import RandomAccess
from osdepot.services.context import Context, catalog_words, to_the_end
from osdepot.services.import_params import UploadParams, check_checksum_pair, parse_checksum_type
from osdepot.services.import_record import record_import
from osdepot.services.job_end import record_end
from osdepot.services.profile_unpack import unpack_profile
from osdepot.services.space import check_growth

log = logging.getLogger("osdepot.uploads")

#: the name of the hash of one request's bytes only (a resumable upload's chunk
#: checksum), beside the whole file's
CHUNK = "chunk"

#: what an unexpected failure tells the client, by the import's source
UNEXPECTED = {
    "upload": "The upload failed unexpectedly.",
    "remote": "The remote import failed unexpectedly.",
    "export": "The export failed unexpectedly.",
}


class ImportRun:
    """One import from claim to commit (see the module's docstring). Made by
    :meth:`osdepot.services.imports.Imports.claim`, which has marked the job Running;
    registered in the process's :class:`~osdepot.services.running.RunningImports`
    until it ends, so that a cancel stops it at the next buffer."""

    def __init__(
        self,
        ctx: Context,
        user: User,
        job: Job,
        itype: ImageType,
        family: OsFamily | None,
        params: UploadParams,
        filename: str,
        declared: int | None,
        expected: int | None,
        source: str = "upload",
    ) -> None:
        self.ctx = ctx
        self.user, self.job, self.itype, self.family = user, job, itype, family
        self.params, self.filename = params, filename
        self.declared, self.expected = declared, expected
        #: "upload" (a request's body) or "remote" (pulled from a file server)
        self.source = source
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
        #: a file of unannounced size may reach this many bytes before its room is
        #: checked again (:meth:`_check_growth`)
        self._room_until = 0
        self._staging: Any = None
        self._next_tick = 0.0
        self.cancelled_by: str | None = None
        self.done = False
        self.media: MediaInfo | None = None
        #: what the medium's own metadata let osdepot check (OS media)
        self.verified: dict[str, Any] = {}
        #: the installation tree inside the medium (OS media)
        self.tree: list[TreeEntry] = []
        self.image_id: str | None = None
        #: an export (services/profile_archives.py): the archive is the profile's own,
        #: and the job ends with the export's message
        self.exporting = False
        self.complete_message: Callable[[StoredFile, str], dict[str, Any]] | None = None
        #: awaited with the staged file's reader just before the commit (an export's
        #: copy to a remote server): where it put the file; what it raises fails the
        #: run. Hooks must not refer to the run (a cycle would keep its buffers).
        self.before_commit: Callable[[RandomAccess], Awaitable[str]] | None = None
        #: where an export was also written ("server:path")
        self.pushed = ""
        #: a re-imported profile, and the blobs of the files it brought
        self.profile_import: ProfileImport | None = None
        self._profile_keys: list[str] = []
        self._created = time.monotonic()
        self._opened_at: float | None = None
        self._counted = False

    @property
    def job_id(self) -> int:
        return self.job.id

    def cancel(self, user: str) -> None:
        """Cancelled by ``user`` in this process: the next buffer stops the import."""
        self.cancelled_by = user

    # -- the one failure path ----------------------------------------------------------

    async def __aenter__(self) -> ImportRun:
        return self

    async def __aexit__(self, _type: object, exc: BaseException | None, _tb: object) -> None:
        """An exception leaving the block fails the import with its message (and goes
        on). A block left normally before ``finish`` leaves the import running: a
        remote import's request hands it over to its background task."""
        if exc is not None and not self.done:
            # run to its end: a cancel arriving while an import fails (a background
            # pull's task, cancelled at once) cut the cleanup short — its staging, or
            # an object store's completed object, left behind, and no line logged
            await to_the_end(self._fail_with(exc))

    async def _fail_with(self, exc: BaseException) -> None:
        await self.fail(await self.failure(exc))

    async def failure(self, exc: BaseException) -> OsdepotError:
        """The message an import ends with when ``exc`` stopped it. What it was writing
        gone (a staging file removed, a multipart upload aborted) after its job was
        cancelled elsewhere (another node ended it) is that cancel."""
        if isinstance(exc, FileNotFoundError) and self.cancelled_by is None:
            job = await self.ctx.run(self.ctx.catalog.get_job, self.job.id)
            if job is not None and job.status is JobStatus.CANCELLED:
                self.cancelled_by = job.cancelled_by or "another request"
        if isinstance(exc, OsdepotError):
            return exc
        if isinstance(exc, StoreUnavailable):
            return _os_error(exc)
        if self.ctx.unreachable(exc):
            return error(Messages.CATALOG_UNAVAILABLE, reason=catalog_words(exc))
        if isinstance(exc, FileNotFoundError) and self.cancelled_by is not None:
            return error(Messages.JOB_CANCELLED, job_id=self.job.id, user=self.cancelled_by)
        if isinstance(exc, asyncio.CancelledError):
            if self.cancelled_by is not None:
                return error(Messages.JOB_CANCELLED, job_id=self.job.id, user=self.cancelled_by)
            return error(Messages.SERVER_INTERRUPTED)
        return error(Messages.INTERNAL, detail=UNEXPECTED.get(self.source, UNEXPECTED["upload"]))

    async def open(self) -> None:
        """Open the staging area the file is written into."""
        try:
            await to_the_end(self._create_staging())
        except OSError as exc:
            raise _os_error(exc) from exc
        except Exception as exc:
            raise error(Messages.INTERNAL, detail="The staging file could not be created.") from exc
        await self.ctx.run(self.ctx.catalog.set_job_staging, self.job.id, self._staging.name)
        self._rx.start(self._staging)
        self._opened_at = time.monotonic()
        self._next_tick = self._opened_at + self.ctx.settings.progress_interval
        metrics.UPLOADS_IN_FLIGHT.labels(self.source).inc()

    async def _create_staging(self) -> None:
        self._staging = await self.ctx.run(self.ctx.blobs.create_staging, self.declared)

    async def reopen(
        self,
        name: str,
        at: int,
        hashers: dict[str, Any] | None,
        extra: dict[str, Any],
        size_hint: int | None = None,
    ) -> None:
        """Take up a resumable upload's staging area after its first ``at`` bytes
        (instead of :meth:`open`). ``hashers``: the whole file's hash objects at ``at``
        (None when this process does not have them: they are computed by reading the
        file back at the end); ``extra``: hash objects for this request's bytes only;
        ``size_hint``: the one the staging area was created with (an object store's
        parts are sized by it)."""
        try:
            self._staging = await self.ctx.run(self.ctx.blobs.reopen_staging, name, at, size_hint)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise _os_error(exc) from exc
        early = parse_checksum_type(self.params.checksum_type)
        self._rx = Receiver(
            self.capacity,
            self.ctx.io_pool,
            ["sha256", *([early] if early and early != "sha256" else [])],
            seeded={**(hashers or {}), **extra},
            at=at,
        )
        self._bytes_counted = at
        self._rx.start(self._staging)
        self._opened_at = time.monotonic()
        self._next_tick = self._opened_at + self.ctx.settings.progress_interval
        metrics.UPLOADS_IN_FLIGHT.labels(self.source).inc()

    async def pause(self, durable: bool = True) -> int:
        """Write out every byte received and (``durable``) make them durable (a
        resumable upload's checkpoint); the offset. The staging area stays open (see
        :meth:`rollback`, before which nothing is to be made durable)."""
        await self._drain()
        if durable:
            await self.checkpoint()
        return self.received

    async def pause_writes(self) -> int:
        """Like ``pause(durable=False)`` at the end of a request, without waiting for
        the hashes of its last buffers (:meth:`hashes_done`): the offset, whose bytes
        are all written."""
        await self._drain(writes_only=True)
        return self.received

    async def hashes_done(self) -> dict[str, Any] | None:
        """After :meth:`pause_writes`: the hash objects once every byte is hashed
        (None when they lack the bytes before this request: :attr:`hashes_missing`)."""
        await self._rx.drain()
        return None if self.hashes_missing else self.hashers()

    async def checkpoint(self) -> None:
        """Make every byte written durable."""
        try:
            await self.ctx.run(self._staging.checkpoint)
        except OSError as exc:
            raise _os_error(exc) from exc

    def hashers(self) -> dict[str, Any]:
        """The hash objects after :meth:`pause` (the whole file's, and the extra ones)."""
        return self._rx.hashers()

    @property
    def hashes_missing(self) -> bool:
        return bool(self._rx.missing)

    async def rollback(self, at: int) -> None:
        """Drop the bytes after ``at`` (a checkpoint): this request's, refused."""
        await self._rx.settle()
        await self.ctx.run(self._staging.truncate, at)
        await self.ctx.run(self._staging.checkpoint)

    async def release(self) -> None:
        """A resumable upload's request is over and the import goes on: close the
        staging area in this process; no longer cancellable here."""
        if self.done:
            return
        self.done = True
        self.ctx.running.remove(self)
        staging, self._staging = self._staging, None
        if staging is not None:
            # the writes, not the hashes, which may go on (pause_writes)
            await self._rx.settle(writes_only=True)
            await self.ctx.run(staging.close)
        if self._opened_at is not None:
            metrics.UPLOADS_IN_FLIGHT.labels(self.source).dec()
            self._opened_at = None

    @property
    def received(self) -> int:
        """Bytes of the file received so far."""
        return self._rx.received

    def _count_bytes(self) -> None:
        """Add the bytes handed to the lanes since the last call to the metrics."""
        n = self._rx.dispatched - self._bytes_counted
        if n:
            self._bytes_counted += n
            metrics.BYTES_RECEIVED.labels(self.source).inc(n)

    def _ended(self, result: str, message_id: str = "") -> None:
        """Count the end of an import in the metrics, once. A remote import that
        failed before its first byte (say, while connecting) counts too."""
        if self._counted:
            return
        self._counted = True
        if self._opened_at is not None:
            metrics.UPLOADS_IN_FLIGHT.labels(self.source).dec()
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
                Messages.SIZE_MISMATCH,
                declared=self.declared,
                received=f"more than {self.declared}",
            )
        if self.expected is None and self.received + n > self._room_until:
            await self._check_growth(n)
        try:
            await self._rx.commit(n)
        except OSError as exc:
            raise _os_error(exc) from exc
        self._count_bytes()
        if time.monotonic() >= self._next_tick:
            await self._progress()

    async def _check_growth(self, n: int) -> None:
        """A file of unannounced size (neither a declared size nor a body length was
        checked for it) grows: its next ``n`` bytes must fit, as a declared size would
        have had to (services/space.py); checked again every 256 MiB or so."""
        own = self.job.declared_size or 0
        room = await self.ctx.run(
            check_growth,
            self.ctx,
            self.received,
            n,
            max(own - self.received, 0),
            self.user.name,
            self.job.id,
        )
        self._room_until = self.received + room

    async def waiting(self, pending: int) -> None:
        """A reader is filling :meth:`buffer` in place and has ``pending`` bytes past
        ``fill`` so far: report progress and notice a cancellation while it waits."""
        self._check_cancelled()
        if time.monotonic() >= self._next_tick:
            await self._progress(pending)

    def _check_cancelled(self) -> None:
        """A cancel made in this process (:meth:`cancel`)."""
        if self.cancelled_by is not None:
            raise error(Messages.JOB_CANCELLED, job_id=self.job.id, user=self.cancelled_by)

    async def _drain(self, writes_only: bool = False) -> None:
        try:
            await (self._rx.writes_done() if writes_only else self._rx.drain())
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
                Messages.JOB_CANCELLED,
                job_id=self.job.id,
                user=(job.cancelled_by if job else None) or "another request",
            )

    # -- ending ------------------------------------------------------------------------

    async def finish(self, checksum_type: str | None, checksum_value: str | None) -> StoredFile:
        """Verify, make durable, inspect and commit; raises on any failure (the
        ``async with`` block then fails the import)."""
        await self._drain()
        if self.declared is not None and self.received != self.declared:
            raise error(Messages.SIZE_MISMATCH, declared=self.declared, received=self.received)
        algo = check_checksum_pair(checksum_type, checksum_value, final=True)
        try:  # on an object store this completes the object: to its end, as the commit
            await to_the_end(self.ctx.run(self._staging.finish))
        except FileNotFoundError:
            raise  # gone: perhaps cancelled elsewhere (failure() tells)
        except OSError as exc:
            raise _os_error(exc) from exc
        # After finish: a hash read back (named late, or a resumed upload's) reads the
        # whole staged file, which an object store has only once it is complete.
        checksums = await self.ctx.run(self._rx.digests, algo)
        checksums.pop(CHUNK, None)
        if algo and checksum_value:
            actual = checksums[algo]
            if not hmac.compare_digest(actual, checksum_value.strip().lower()):
                raise error(
                    Messages.CHECKSUM_MISMATCH,
                    algorithm=algo.upper(),
                    actual=actual,
                    expected=checksum_value.strip().lower(),
                )
        await self._inspect()
        if self.itype is ImageType.OSPROFILE and not self.exporting:
            await to_the_end(self._unpack_profile())
        if self.before_commit is not None:
            self.pushed = await self.before_commit(self._staging.reader())
        if self.itype is ImageType.OS:
            await self._verify()
            try:
                self.tree = await self.ctx.run(index_tree, self._staging.reader())
            except ContentError as exc:  # served trees only; the medium itself is sound
                log.warning("job %s: %s has no tree index: %s", self.job.id, self.filename, exc)
        stored = await to_the_end(self._commit(checksums))
        if self.tree:
            await self._keep_tree(stored)
        return stored

    async def _keep_tree(self, stored: StoredFile) -> None:
        """Keep the medium's tree index (served by services/downloads.py); should that
        fail, the index is made again on first use, so the import stands."""
        try:
            await self.ctx.run(self.ctx.catalog.add_tree, stored.id, self.tree)
        except Missing:
            log.info("job %s: %s was deleted before its tree was indexed", self.job.id, stored.id)
        except Exception:
            log.exception("job %s: the tree index of %s was not kept", self.job.id, stored.id)

    async def _unpack_profile(self) -> None:
        """Verify an exported profile's archive and store the files it brings
        (services/profile_unpack.py); they are committed with the archive."""
        self.profile_import, self._profile_keys = await self.ctx.run(
            unpack_profile,
            self.ctx,
            self._staging.reader(),
            self.user,
            self.job.id,
            self.filename,
            self.ctx.clock(),
        )

    async def _drop_profile_files(self) -> None:
        keys, self._profile_keys = self._profile_keys, []
        for key in keys:
            await self.ctx.run(self.ctx.blobs.delete, key)

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
            # the checks may read a structure more than once: what they read is no share
            "job %s: %s is a valid %s (%d bytes; its checks read %d)%s",
            self.job.id,
            self.filename,
            result.file_kind,
            result.size,
            result.bytes_read,
            f", recognised as {result.os.name}" if result.os else "",
        )

    async def _verify(self) -> None:
        """Check the medium against its own metadata: every checksum it declares and the
        files its installer needs (content/media/verify.py). It reads the declared
        files, which for a medium with a whole-medium list (md5sum.txt) is most of it."""
        started = time.monotonic()
        self.verified, failure = await self.ctx.run(
            verify_content, self._staging.reader(), self.filename
        )
        if failure is not None:
            raise failure
        log.info(
            "job %s: %s checked against %s: %d files, %d bytes hashed in %.1f s%s",
            self.job.id,
            self.filename,
            ", ".join(self.verified.get("sources", [])) or "no metadata",
            self.verified.get("files", 0),
            self.verified.get("bytes", 0),
            time.monotonic() - started,
            f" ({self.verified['listedNotFound']} listed files not found)"
            if self.verified.get("listedNotFound")
            else "",
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
            await self._drop_profile_files()
            raise
        self.done = True
        ctx.running.remove(self)
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
                Messages.REPOSITORY_FULL,
                detail=f"The repository is limited to {s.max_images} OS images.",
            )

    def _record(self, key: str, checksums: dict[str, str], now: float) -> StoredFile:
        return record_import(self, key, checksums, now)

    async def fail(self, exc: OsdepotError) -> None:
        """Remove staging and end the job Stopped (or keep it Cancelled) with ``exc``."""
        if self.done:
            return
        self.done = True
        self.ctx.running.remove(self)
        await self._rx.settle()
        staging = self._staging
        self._staging = None
        if staging is not None:
            await self.ctx.run(staging.abort)
        await self._drop_profile_files()
        if exc.message is not Messages.JOB_CANCELLED:
            await self._record_end(exc)
        cancelled = exc.message is Messages.JOB_CANCELLED
        self._ended("cancelled" if cancelled else "stopped", exc.render()["id"])
        log.info(
            "job %s: import of %s failed: %s %s",
            self.job.id,
            self.filename,
            exc,
            exc.render()["explanation"],
        )

    async def _record_end(self, exc: OsdepotError) -> None:
        """The job Stopped with ``exc``, the catalog restarting or not
        (services/job_end.py)."""
        ctx, job_id = self.ctx, self.job.id
        end = functools.partial(
            ctx.catalog.finish_job, job_id, JobStatus.STOPPED, ctx.clock(), exc.render()
        )
        await record_end(ctx, job_id, end)


def _os_error(exc: OSError) -> OsdepotError:
    if isinstance(exc, StoreUnavailable):
        return error(Messages.STORE_UNAVAILABLE, detail=str(exc))
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return error(
            Messages.REPOSITORY_FULL,
            detail="The repository storage ran out of space while the file was "
            "being written. Nothing was stored.",
        )
    return error(Messages.INTERNAL, detail=f"The file could not be written: {exc.strerror}.")
