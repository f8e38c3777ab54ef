"""Resumable uploads: one import fed by any number of requests, across broken
connections and restarts (tus 1.0 and the IETF draft speak to it: web/resumable.py).

An upload is made for an open import job (the job goes Running at once and shows the
upload's progress in ``GET /tasks``). Each request that appends to it is an
:class:`~osdepot.services.import_run.ImportRun` of its own, taken up where the last one
stopped: the staging area reopened at the upload's offset, the whole file's hashes
carried on from the last request in this process (or, when this process does not
have them — after a restart, or a request to another worker — computed by reading
the file back once at the end). When a request ends, however it ends, every byte it
brought is written and made durable (``Staging.checkpoint``) and only then is the new
offset recorded: the offset a client is told always has all its bytes on the store.
The request that brings the last byte finishes the import exactly as a multipart
upload does (verification, content checks, recognition, the atomic commit).

A long request checkpoints every ``upload_checkpoint_interval`` seconds too, so that
a server killed in the middle of a 10 GiB request loses seconds, not the request.

One request appends at a time. In this process a new request (or an offset
retrieval) stops the one still running, which a client whose connection broke
leaves behind; the old one keeps what it received, and the new one is told the
offset it must send from if it differs (409). Across processes a lease in the
catalog keeps a second request out (423) until the first one ends or stalls. Bytes
that fail a request's checksum (``Upload-Checksum``), or would go past the upload's
length, are dropped and the upload goes on from where it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import secrets

from osdepot.domain.images import ImageType, check_extension, resolve_os
from osdepot.domain.jobs import JobStatus
from osdepot.domain.names import clean_filename
from osdepot.domain.records import Upload, User
from osdepot.errors import OsdepotError, StoreUnavailable, error
from osdepot.messages import Messages
from osdepot.services.admission import admission, check_open_uploads
from osdepot.services.context import Context
from osdepot.services.import_params import UploadParams
from osdepot.services.import_run import CHUNK, ImportRun
from osdepot.services.imports import Imports
from osdepot.services.upload_request import (
    LEASE_MARGIN,
    SIZE_HINT,
    Active,
    Append,
    Appended,
    BodySource,
    Kept,
    Lease,
    Live,
    Stopped,
    ended,
    keep_bytes,
    params_json,
    params_of,
    raise_refusal,
    receive,
    stop_request,
)

log = logging.getLogger("osdepot.uploads")


class ResumableUploads:
    """Creating, continuing, ending and expiring resumable uploads (the module's
    docstring). Blocking catalog and store calls go to threads."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def _live(self) -> dict[str, Live]:
        return self.ctx.resumable

    @property
    def _node(self) -> str:
        """This server among the nodes (its name without the process id)."""
        return self.ctx.node.rpartition("/")[0] or self.ctx.node

    def _expires(self, now: float) -> float:
        return now + self.ctx.settings.upload_expiry

    # -- creation ------------------------------------------------------------------------

    async def create(
        self, user: User, params: UploadParams, length: int | None, raw_filename: str, protocol: str
    ) -> Upload:
        """A new upload for the open job ``params.job_id`` (claimed now: Running)."""
        ctx = self.ctx
        imports = Imports(ctx)
        job, itype = await imports.check_upload(user, params)
        if job.status is not JobStatus.PENDING or itype is ImageType.BUNDLESIG:
            raise error(
                Messages.NOT_SUPPORTED,
                detail="A BUNDLESIG signature is sent with POST /files/osImages; resumable "
                "uploads take an import job's first file.",
            )
        filename = clean_filename(raw_filename)
        check_extension(itype, resolve_os(itype, params.os), filename)
        if length is not None:
            if job.declared_size is not None and job.declared_size != length:
                raise error(
                    Messages.UPLOAD_LENGTH,
                    upload_id="(new)",
                    detail=f"Import job {job.id} declared a file of {job.declared_size} "
                    f"bytes; the upload says {length}.",
                )
            await ctx.run(imports.check_space, length, itype, job.declared_size or 0)
            if job.declared_size is None:
                await ctx.run(imports._check_user_reservations, user, length)
        check_open_uploads(ctx, await ctx.run(ctx.catalog.count_uploads, user.name))
        # The same checks once more in the transaction that opens the upload, after
        # every admission before it (admission.py): creations at once cannot together
        # pass the free space, the user's share or the number of uploads.
        admit = admission(
            ctx,
            user,
            itype,
            size=length,
            own=job.declared_size or 0,
            reserve=length if length is not None and job.declared_size is None else None,
            uploads=1,
        )
        staging = await ctx.run(ctx.blobs.create_staging, length)
        now = ctx.clock()
        up = Upload(
            id=secrets.token_hex(16),
            job_id=job.id,
            created_by=user.name,
            length=length,
            offset=0,
            filename=filename,
            params={**params_json(params), SIZE_HINT: length},
            protocol=protocol,
            staging=staging.name,
            node=self._node,
            created_at=now,
            expires_at=self._expires(now),
        )
        try:
            await ctx.run(staging.close)
            opened = await ctx.run(ctx.catalog.open_upload, up, job.uploads, now, admit)
        except BaseException:
            await ctx.run(staging.abort)
            raise
        if not opened:
            await ctx.run(staging.abort)
            raise error(Messages.JOB_ALREADY_USED, job_id=job.id, status="Running")
        self._live[up.id] = Live()
        log.info(
            "job %s: resumable upload %s of %s (%s bytes, %s) created by %s",
            job.id,
            up.id[:8],
            filename,
            length if length is not None else "unknown",
            protocol,
            user.name,
        )
        return up

    # -- finding -------------------------------------------------------------------------

    async def mine(self, user: User, upload_id: str) -> Upload:
        """The upload, if ``user`` made it (404 otherwise: others' ids are not told)."""
        up = None
        if len(upload_id) == 32 and all(c in "0123456789abcdef" for c in upload_id):
            up = await self.ctx.read(lambda c: c.get_upload(upload_id))
        if up is None or up.created_by != user.name:
            raise error(
                Messages.UPLOAD_NOT_FOUND,
                upload_id=upload_id[:40],
                detail="No upload in progress has this id for your account: it finished, "
                "was cancelled or expired, or never existed.",
            )
        if up.node != self._node and not self.ctx.blobs.shared:
            raise error(Messages.UPLOAD_ELSEWHERE, upload_id=up.id, node=up.node)
        return up

    async def head(self, user: User, upload_id: str) -> Upload:
        """The upload's state for an offset retrieval: a request still appending to it
        in this process is stopped first (its client has given up on it), so that the
        offset answered is the one the next request must send."""
        up = await self.mine(user, upload_id)
        live = self._live.get(up.id)
        if live is not None and live.active is not None:
            async with live.lock:
                await stop_request(live)
        up = await self.mine(user, upload_id)
        now = self.ctx.clock()
        if up.holder is not None and (up.held_until or 0) > now:
            raise error(
                Messages.UPLOAD_BUSY,
                upload_id=up.id,
                detail="Another server process is receiving its bytes now; its offset is "
                "not final yet.",
            )
        return up

    # -- appending -----------------------------------------------------------------------

    async def append(self, user: User, up: Upload, req: Append, body: BodySource) -> Appended:
        """Append the request's body at ``req.offset``; finish the import when it ends
        the file. ``up``: the upload as :meth:`mine` answered it for ``user`` (read
        again once the request has its turn). Raises the refusal (nothing changed), or
        the interruption after keeping every byte that arrived."""
        ctx = self.ctx
        live = self._live.setdefault(up.id, Live())
        # whose it is (restarts free them); "" when no other process can append to it
        holder = f"{ctx.node}#{secrets.token_hex(8)}" if self._shared else ""
        async with live.lock:
            await stop_request(live)
            now = ctx.clock()
            if holder and not await ctx.run(
                ctx.catalog.lease_upload, up.id, holder, now, now + self._lease_seconds()
            ):
                raise error(
                    Messages.UPLOAD_BUSY,
                    upload_id=up.id,
                    detail="Another request, in another server process, is appending to it.",
                )
            active = Active(start=req.offset)
            live.active = active
        try:
            return await self._append(user, up.id, req, body, live, active, holder)
        finally:
            if holder:
                with contextlib.suppress(Exception):
                    await ctx.run(ctx.catalog.release_upload, up.id, holder)
            if live.active is active:
                live.active = None
            active.done.set()  # after the lease is released: a HEAD then sees it free

    @property
    def _shared(self) -> bool:
        """Whether another process may append to this server's uploads (several
        workers, or nodes on one object store): then one request at a time is kept
        by a lease in the catalog, and in one process by the in-process lock alone
        (which saves two catalog writes, with their fsyncs, per request)."""
        return self.ctx.settings.workers > 1 or self.ctx.blobs.shared

    def _lease_seconds(self) -> float:
        return self.ctx.settings.upload_stall_timeout + LEASE_MARGIN

    async def _append(
        self,
        user: User,
        upload_id: str,
        req: Append,
        body: BodySource,
        live: Live,
        active: Active,
        holder: str,
    ) -> Appended:
        ctx = self.ctx
        up = await ctx.run(ctx.catalog.get_upload, upload_id)
        job = await ctx.run(ctx.catalog.get_job, up.job_id) if up else None
        if up is None or job is None or job.status is not JobStatus.RUNNING:
            if up is not None:  # its job ended elsewhere: its bytes go with it
                keep = job is not None and job.status is JobStatus.COMPLETE
                await ctx.run(self._remove, up, not keep)
            raise ended(upload_id, job)
        if req.offset != up.offset:
            raise error(
                Messages.UPLOAD_OFFSET_MISMATCH,
                upload_id=up.id,
                expected=up.offset,
                provided=req.offset,
            )
        length, learnt = self._length(up, req)
        params = params_of(up.params)
        itype = params.image_type or job.image_type
        if learnt is not None:
            await ctx.run(Imports(ctx).check_space, learnt - up.offset, itype)
        run = ImportRun(
            ctx,
            user,
            job,
            itype,
            resolve_os(itype, params.os),
            params,
            up.filename,
            length,
            length,
        )
        extra = {CHUNK: hashlib.new(req.chunk[0])} if req.chunk else {}
        if live.hashing is not None:  # the last request's hashes, finishing
            await asyncio.wait((live.hashing,))
            live.hashing = None
        carried = None
        if live.hashers is not None and live.at == up.offset:
            carried = {name: h.copy() for name, h in live.hashers.items()}
        try:
            await run.reopen(up.staging, up.offset, carried, extra, up.params.get(SIZE_HINT))
        except FileNotFoundError:
            await self._lost(up)
            raise ended(upload_id, None) from None
        ctx.running.add(run)
        try:
            return await self._feed(run, up, req, body, live, active, holder, learnt)
        except Kept as kept:  # a refusal: the upload goes on
            raise kept.error from None
        except asyncio.CancelledError:
            # the server stops: the upload stays at its last checkpoint, to go on later
            raise
        except BaseException as exc:
            if not run.done:
                failure = await run.failure(exc)
                await run.fail(failure)
                await self.forget(up)
                if failure.message is Messages.JOB_CANCELLED:
                    raise failure from None  # (ended by another node meanwhile)
            raise
        finally:
            await run.release()

    def _length(self, up: Upload, req: Append) -> tuple[int | None, int | None]:
        """The upload's length for this request, and the length learnt from it (None
        when it was known already, or is not known yet)."""
        known = up.length
        said = []
        if req.length is not None:
            said.append(req.length)
        if req.complete and req.content_length is not None:
            said.append(up.offset + req.content_length)
        for value in said:
            if (known is not None and value != known) or value != said[0]:
                raise error(
                    Messages.UPLOAD_LENGTH,
                    upload_id=up.id,
                    detail=f"The upload's length is {known if known is not None else said[0]} "
                    f"bytes; this request says {value}.",
                )
        length = known if known is not None else (said[0] if said else None)
        if (
            length is not None
            and req.content_length is not None
            and up.offset + req.content_length > length
        ):
            raise error(
                Messages.UPLOAD_LENGTH,
                upload_id=up.id,
                detail=f"{req.content_length} bytes at byte {up.offset} go past the "
                f"upload's length of {length} bytes.",
            )
        return length, (length if known is None else None)

    async def _feed(
        self,
        run: ImportRun,
        up: Upload,
        req: Append,
        body: BodySource,
        live: Live,
        active: Active,
        holder: str,
        learnt: int | None,
    ) -> Appended:
        ctx = self.ctx
        lease = Lease(ctx, up.id, holder, self._lease_seconds())
        length = up.length if up.length is not None else learnt
        recorded = up.offset  # the last offset recorded (what a refusal goes back to)

        async def checkpoint() -> None:
            """A long request's bytes so far made durable and their offset recorded
            (not for a request with a checksum: its bytes count only once checked)."""
            nonlocal recorded
            if req.chunk:
                return
            offset = await run.pause()
            pct = min(99, offset * 100 // length) if length else 0
            recorded = offset
            await ctx.run(
                ctx.catalog.set_upload_offset,
                up.id,
                offset,
                learnt,
                self._expires(ctx.clock()),
                pct,
            )
            if req.on_checkpoint is not None:
                req.on_checkpoint(offset)

        interrupted: BaseException | None = None
        overflow = False
        try:
            interval = ctx.settings.upload_checkpoint_interval
            await receive(run, body, active, lease, checkpoint, interval)
        except Stopped as exc:
            interrupted = exc
        except OsdepotError as exc:
            if exc.message is Messages.SIZE_MISMATCH:
                overflow = True
            elif exc.message in (Messages.UPLOAD_INTERRUPTED, Messages.UPLOAD_TOO_SLOW):
                interrupted = exc
            else:
                raise
        offset, bad_chunk = await keep_bytes(
            run, up, req, live, length, interrupted, overflow, recorded
        )
        now = ctx.clock()
        pct = min(99, offset * 100 // length) if length else 0
        if not await ctx.run(
            ctx.catalog.set_upload_offset, up.id, offset, learnt, self._expires(now), pct
        ):
            raise ended(up.id, await ctx.run(ctx.catalog.get_job, up.job_id))
        up = dataclasses.replace(up, offset=offset, length=length, expires_at=self._expires(now))
        try:
            raise_refusal(up, overflow, bad_chunk, interrupted)
        except OsdepotError as exc:
            raise Kept(exc) from None
        complete = req.complete if req.complete is not None else offset == length
        if not complete:
            return Appended(up)
        if length is None:
            length = offset
        run.declared = run.expected = length
        params = params_of(up.params)
        ctype, cvalue = params.checksum_type, params.checksum_value
        if cvalue is None and req.digest is not None:
            ctype, cvalue = req.digest
        stored = await run.finish(ctype, cvalue)
        await self.forget(up)
        log.info("job %s: resumable upload %s complete", up.job_id, up.id[:8])
        return Appended(up, stored, run.image_id)

    # -- ending --------------------------------------------------------------------------

    async def terminate(self, user: User, upload_id: str) -> None:
        """End the upload at its client's request (tus termination, IETF cancellation):
        the job Cancelled, its bytes removed."""
        ctx = self.ctx
        up = await self.mine(user, upload_id)
        msg = Messages.JOB_CANCELLED.render({"job_id": up.job_id, "user": user.name})
        await ctx.run(
            ctx.catalog.finish_job,
            up.job_id,
            JobStatus.CANCELLED,
            ctx.clock(),
            msg,
            cancelled_by=user.name,
        )
        ctx.running.cancel(up.job_id, user.name)
        await self.cancelled(up.job_id)

    async def cancelled(self, job_id: int) -> None:
        """The upload's job was cancelled: a request appending to it in this process
        stops and removes its bytes itself; otherwise they are removed here (one
        appending in another process stops at its next progress update)."""
        up = await self.ctx.run(self.ctx.catalog.upload_of_job, job_id)
        if up is None:
            return
        live = self._live.get(up.id)
        if live is not None and live.active is not None:
            return
        await self.ctx.run(self._remove, up)

    async def forget(self, up: Upload) -> None:
        """The import ended (committed, or failed with its staging removed)."""
        self._live.pop(up.id, None)
        await self.ctx.run(self.ctx.catalog.delete_upload, up.id)

    async def _lost(self, up: Upload) -> None:
        """The staging area is gone (removed by hand, or a store that lost it)."""
        ctx = self.ctx
        await ctx.run(
            ctx.catalog.finish_job,
            up.job_id,
            JobStatus.STOPPED,
            ctx.clock(),
            Messages.INTERNAL.render(
                {"detail": "The bytes of the resumable upload were lost from the store."}
            ),
        )
        await ctx.run(self._remove, up)

    def _remove(self, up: Upload, remove_staging: bool = True) -> None:
        """Forget the upload and remove its staging area (blocking)."""
        self._live.pop(up.id, None)
        if self.ctx.catalog.delete_upload(up.id) is None:
            return  # another caller did it
        if remove_staging:
            try:
                self.ctx.blobs.remove_staging(up.staging)
            except StoreUnavailable as exc:
                log.warning(
                    "could not remove the staging area of upload %s (%s); the orphan sweep "
                    "removes it later",
                    up.id[:8],
                    exc,
                )
            except (OSError, ValueError):
                log.exception("could not remove the staging area of upload %s", up.id[:8])

    def sweep(self) -> int:
        """Housekeeping (blocking): uploads idle past their expiry are removed and
        their jobs Stopped; uploads whose job ended elsewhere are forgotten."""
        ctx = self.ctx
        now = ctx.clock()
        n = 0
        for up in ctx.catalog.expired_uploads(now):
            msg = Messages.UPLOAD_EXPIRED.render(
                {"job_id": up.job_id, "seconds": ctx.settings.upload_expiry, "offset": up.offset}
            )
            ctx.catalog.finish_job(up.job_id, JobStatus.STOPPED, now, msg)
            self._remove(up)
            log.info("job %s: resumable upload %s expired", up.job_id, up.id[:8])
            n += 1
        for up in ctx.catalog.ended_uploads():
            job = ctx.catalog.get_job(up.job_id)
            self._remove(up, remove_staging=job is None or job.status is not JobStatus.COMPLETE)
        return n
