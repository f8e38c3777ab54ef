"""One request of a resumable upload (services/resumable.py): what it asks, how its
body is read into the upload's import, how it stops when a newer request takes over,
and how it ends when it does not go through."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from osdepot.domain.images import ImageType
from osdepot.domain.records import Job, StoredFile, Upload
from osdepot.errors import OsdepotError, error
from osdepot.messages import Messages
from osdepot.services.context import Context
from osdepot.services.import_params import UploadParams
from osdepot.services.import_run import CHUNK, ImportRun

log = logging.getLogger("osdepot.uploads")

#: hash algorithms a request's bytes may be checked with (tus ``Upload-Checksum``)
CHUNK_ALGORITHMS = ("sha1", "sha256", "md5")
#: seconds a request's lease outlives the stall rule (renewed while bytes arrive)
LEASE_MARGIN = 60.0
#: seconds a new request waits for an older one in this process to stop
STOP_WAIT = 30.0


@dataclass(frozen=True)
class Append:
    """What one request appending to an upload says."""

    offset: int
    #: the request body's length, when it has one
    content_length: int | None = None
    #: IETF ``Upload-Complete``: True, the body ends the file; None: a tus request,
    #: complete when the offset reaches the length
    complete: bool | None = None
    #: ``Upload-Length`` sent with this request
    length: int | None = None
    #: a checksum of this request's bytes: algorithm and digest
    chunk: tuple[str, bytes] | None = None
    #: the whole file's checksum sent with the request that completes it (RFC 9530
    #: ``Repr-Digest``): checksumType and hex value, when the upload has none
    digest: tuple[str, str] | None = None
    #: told each offset a long request records before it ends (the draft's 104
    #: progress answers)
    on_checkpoint: Callable[[int], object] | None = None


@dataclass(frozen=True)
class Appended:
    """An upload after a request: its state, and the stored file when it completed."""

    upload: Upload
    stored: StoredFile | None = None
    image_id: str | None = None


class BodySource(Protocol):
    """A request body read into the caller's buffers (web/body.py's BodyReader)."""

    async def readinto(
        self, view: memoryview, *, some: bool = False, waiting: Waiting | None = None
    ) -> int:
        """The next bytes into ``view`` (0 at the end). An exception that stops it may
        carry ``received``: the bytes it had placed in ``view`` before."""


Waiting = Callable[[int], Awaitable[None]]


class Kept(Exception):
    """A request refused after its bytes were dealt with: the upload goes on."""

    def __init__(self, exc: OsdepotError) -> None:
        super().__init__(str(exc))
        self.error = exc


class Stopped(Exception):
    """A newer request (or an offset retrieval) took over this request's upload."""


@dataclass
class Active:
    """The request appending to an upload in this process."""

    start: int
    stop: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Live:
    """What this process keeps of an upload between its requests: the whole file's
    hash objects at offset ``at`` (None: unknown here), and the running request.
    ``hashing``: the last request's hashes still finishing after its answer; they
    become ``hashers`` when it ends (the next request waits for it)."""

    at: int = 0
    hashers: dict[str, Any] | None = None
    hashing: asyncio.Future[None] | None = None
    active: Active | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def params_json(p: UploadParams) -> dict[str, Any]:
    d = dataclasses.asdict(p)
    d["image_type"] = p.image_type.value if p.image_type else None
    return d


#: the key of an upload's parameters that keeps the size its staging area was created
#: for (an object store sizes its parts by it; a length learnt later must not change it)
SIZE_HINT = "stagingSizeHint"


def params_of(d: dict[str, Any]) -> UploadParams:
    d = dict(d)
    d.pop(SIZE_HINT, None)
    d["image_type"] = ImageType(d["image_type"]) if d.get("image_type") else None
    return UploadParams(**d)


class Lease:
    """Renews a request's lease on its upload while bytes arrive."""

    def __init__(self, ctx: Context, upload_id: str, holder: str, seconds: float) -> None:
        self.ctx, self.upload_id, self.holder, self.seconds = ctx, upload_id, holder, seconds
        self._due = time.monotonic() + seconds / 3

    async def renew(self) -> None:
        if not self.holder or time.monotonic() < self._due:
            return
        self._due = time.monotonic() + self.seconds / 3
        now = self.ctx.clock()
        await self.ctx.run(
            self.ctx.catalog.lease_upload, self.upload_id, self.holder, now, now + self.seconds
        )


async def stop_request(live: Live) -> None:
    """Stop the request appending to the upload in this process, and wait for it to
    have kept what it received."""
    active = live.active
    if active is None:
        return
    active.stop = True
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(STOP_WAIT):
            await active.done.wait()


async def receive(
    run: ImportRun,
    body: BodySource,
    active: Active,
    lease: Lease,
    checkpoint: Callable[[], Awaitable[None]],
    interval: float,
) -> None:
    """The request body into the run's buffers, in place, to its end; a checkpoint
    every ``interval`` seconds."""

    async def waiting(pending: int) -> None:
        if active.stop:
            raise Stopped()
        await run.waiting(pending)
        await lease.renew()

    due = time.monotonic() + interval
    while True:
        buf, fill = run.buffer()
        view = memoryview(buf)[fill : run.capacity]
        try:
            n = await body.readinto(view, waiting=waiting)
        except Exception as exc:
            # the bytes the read placed before it was stopped (the client gone, or
            # stalled, or a newer request) are the file's: kept
            got = getattr(exc, "received", 0)
            if isinstance(got, int) and 0 < got <= len(view):
                await run.commit(got)
            raise
        if n:
            await run.commit(n)
        if n < len(view):
            return
        if active.stop:
            raise Stopped()
        await lease.renew()
        if interval and time.monotonic() >= due:
            await checkpoint()
            due = time.monotonic() + interval


def raise_refusal(
    up: Upload,
    overflow: bool,
    bad_chunk: OsdepotError | None,
    interrupted: BaseException | None,
) -> None:
    """A request that did not go through ends with why (its bytes kept or dropped)."""
    if overflow:
        raise error(
            Messages.UPLOAD_LENGTH,
            upload_id=up.id,
            detail=f"The request sent bytes past the upload's length of {up.length} bytes; "
            "its bytes were dropped.",
        )
    if bad_chunk is not None and interrupted is None:
        raise bad_chunk
    if isinstance(interrupted, Stopped):
        raise error(
            Messages.UPLOAD_BUSY,
            upload_id=up.id,
            detail="A newer request for the same upload took over from this one.",
        )
    if interrupted is not None:
        raise interrupted


def chunk_refusal(
    run: ImportRun, req: Append, interrupted: BaseException | None, offset: int
) -> OsdepotError | None:
    """Why this request's bytes are dropped for their checksum (``Upload-Checksum``):
    they do not match it, or only a part of them arrived (a part cannot be checked;
    it is sent again whole). None when there is no checksum or it matches."""
    if not req.chunk:
        return None
    algo, expected = req.chunk
    if interrupted is None and hmac.compare_digest(run.hashers()[CHUNK].digest(), expected):
        return None
    return error(Messages.UPLOAD_BAD_CHUNK, algorithm=algo, offset=offset)


def ended(upload_id: str, job: Job | None) -> OsdepotError:
    """The refusal for an upload whose import has ended."""
    detail = "The upload's import ended."
    if job is not None and job.message:
        detail = f"Its import job {job.id} ended ({job.status.value}): {job.message.get('text')}"
    return error(Messages.UPLOAD_NOT_FOUND, upload_id=upload_id, detail=detail)


async def keep_bytes(
    run: ImportRun,
    up: Upload,
    req: Append,
    live: Live,
    length: int | None,
    interrupted: BaseException | None,
    overflow: bool,
    recorded: int,
) -> tuple[int, OsdepotError | None]:
    """The end of a request's bytes: kept and made durable (the new offset), or, for
    bytes past the length or a chunk that fails its checksum, dropped back to the
    offset ``recorded`` (and the refusal). The whole file's hashes are kept in
    ``live`` for the next request.

    A request that goes on to another one (no checksum of its own to check, not the
    last) is answered once its bytes are written and durable: its last buffers'
    hashes finish meanwhile (about 3 ms of a 64 MiB request here), and the next
    request waits for them."""
    ends = req.complete if req.complete is not None else run.received == length
    later = interrupted is None and not overflow and not req.chunk and not ends
    offset = await (run.pause_writes() if later else run.pause(durable=False))
    bad_chunk = chunk_refusal(run, req, interrupted, recorded)
    if overflow or bad_chunk is not None:
        await run.rollback(recorded)
        return recorded, bad_chunk
    await run.checkpoint()
    if later:
        live.at, live.hashers = offset, None
        live.hashing = asyncio.ensure_future(hashed_later(run, live, offset, up.id))
    else:
        hashers = None if run.hashes_missing else run.hashers()
        if hashers is not None:
            hashers.pop(CHUNK, None)
        live.at, live.hashers = offset, hashers
    return offset, bad_chunk


async def hashed_later(run: ImportRun, live: Live, offset: int, upload_id: str) -> None:
    """The hashes of a request answered before they were done (see
    :func:`keep_bytes`): kept for the next request when they end, unless another
    offset has been recorded since. Should they fail, the next requests do without
    them (the digests are then computed by reading the staged file back at the end)."""
    try:
        hashers = await run.hashes_done()
    except Exception:  # the import goes on without them
        log.warning("upload %s: hashing failed; the file is read back at its end", upload_id[:8])
        hashers = None
    if hashers is not None:
        hashers.pop(CHUNK, None)
    if live.at == offset:
        live.hashers = hashers
