"""Exporting customised profiles (``GET /osImages/{profileId}``, contract §4.1) and
importing the archives again (``imageType=OSPROFILE``).

An export is a job like an import: the archive (content/profile_archive.py) is
written as a stream into the same :class:`~osdepot.services.import_run.ImportRun` an
upload feeds, so it is hashed, checked (its manifest verified) and committed the
same way, and stored as an ``OSPROFILE`` file that downloads like any other. With
``serverId`` and ``path`` it is first written to that remote file server, whole or
not at all; the job completes only when both copies are there.

Importing such an archive again is services/profile_unpack.py.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import IO, Any

from osdepot.content.profile_archive import Member, member_path, write_archive
from osdepot.domain.images import ImageType
from osdepot.domain.jobs import EXPORT_PREFIX
from osdepot.domain.names import clean_filename
from osdepot.domain.profiles import (
    options_json,
    os_kind,
)
from osdepot.domain.records import (
    Job,
    OsImage,
    Profile,
    RemoteServer,
    StoredFile,
    User,
)
from osdepot.domain.text import shown
from osdepot.errors import OsdepotError, RemoteFailure, error
from osdepot.messages import Messages
from osdepot.ports import RandomAccess
from osdepot.services.admission import admission
from osdepot.services.context import Context
from osdepot.services.downloads import deleted_meanwhile
from osdepot.services.import_params import UploadParams
from osdepot.services.import_run import ImportRun
from osdepot.services.imports import Imports
from osdepot.services.job_quota import make_room_for_jobs
from osdepot.services.profiles import Profiles
from osdepot.services.remote_import import MAX_DETAIL, RemoteImports, check_remote_path
from osdepot.services.remote_servers import parse_server_id

log = logging.getLogger("osdepot.profiles")

#: bytes the archive writer hands over at a time
PIECE = 1 << 20


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def file_labels(f: StoredFile) -> dict[str, Any]:
    """What the manifest keeps of a file's catalog entry."""
    return {
        "id": f.id,
        "type": f.image_type.value,
        "name": f.name,
        "os": f.os or "",
        "osrelease": f.osrelease or "",
        "description": f.description,
        "version": f.version,
        "imageName": f.image_name or "",
    }


# -- export -----------------------------------------------------------------------------


class ProfileExports:
    """Export jobs."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def start(
        self, user: User, profile_id: str, server_id: str | None, path: str | None
    ) -> Job:
        profile = await Profiles(self.ctx).profile(profile_id)
        if not profile.custom:
            raise error(
                Messages.NOT_SUPPORTED,
                detail=f"{profile_id} is a predefined profile: every osdepot with the same "
                "OS image has it. Only customised profiles are exported.",
            )
        image = await Profiles(self.ctx).image_of(profile)
        server = await self._target(server_id, path)
        files = [await self.ctx.run(self.ctx.catalog.get_file, fid) for fid in profile.file_ids]
        medium = await self.ctx.run(self.ctx.catalog.get_file, image.file_id)
        if medium is None or any(f is None for f in files):
            raise error(
                Messages.IN_USE,
                what="Profile",
                name=profile_id,
                detail="A file of the profile was deleted just now.",
            )
        stored = [f for f in files if f is not None]
        definition = _definition(profile, image, medium, stored, user, self.ctx.clock())
        filename = clean_filename(f"{profile.id.split('|')[-1]}.tar.gz")
        imports = Imports(self.ctx)
        # the archive holds the files (compressed at most a little) and two small
        # JSON documents: refuse at once an export that cannot fit
        await self.ctx.run(
            imports.check_space, sum(f.size for f in stored) + (1 << 20), ImageType.OSPROFILE
        )
        await self.ctx.run(make_room_for_jobs, self.ctx, user.name)
        job = await self.ctx.run(
            self.ctx.catalog.create_job,
            ImageType.OSPROFILE,
            user.name,
            self.ctx.clock(),
            None,
            EXPORT_PREFIX + profile.id,
            admission(self.ctx, user, ImageType.OSPROFILE, jobs=1),
        )
        params = UploadParams(
            job_id=job.id,
            image_type=ImageType.OSPROFILE,
            image_name=None,
            os=None,
            osrelease=None,
            description=EXPORT_PREFIX + profile.id,
            checksum_type=None,
            checksum_value=None,
        )
        run = await imports.claim(user, job, ImageType.OSPROFILE, params, filename, None, "export")
        run.exporting = True
        run.complete_message = functools.partial(_done, profile.id, len(stored))
        if server is not None:
            assert path is not None
            run.before_commit = self._pusher(run.job.id, server, path)
        members = [
            (Member(member_path(n, f.name), f.size, f.sha256, file_labels(f)), f)
            for n, f in enumerate(stored, 1)
        ]
        self.ctx.running.start(job.id, self._write(run, definition, members, server, path))
        log.info("job %s: exporting profile %s for %s", job.id, profile.id, user.name)
        return job

    async def _target(self, server_id: str | None, path: str | None) -> RemoteServer | None:
        if not server_id:
            if path:
                raise error(
                    Messages.MISSING_PARAMETER,
                    name="serverId",
                    detail="path names where the archive goes on a remote file server; "
                    "serverId names the server.",
                )
            return None
        sid = parse_server_id(server_id)
        if not path:
            raise error(
                Messages.MISSING_PARAMETER,
                name="path",
                detail="With serverId, path names the archive's full path on that server.",
            )
        check_remote_path(path)
        server = await self.ctx.run(self.ctx.catalog.get_server, sid)
        if server is None:
            raise error(Messages.REMOTE_SERVER_UNKNOWN, server_id=sid)
        await RemoteImports(self.ctx).allowed(server)
        return server

    async def _write(
        self,
        run: ImportRun,
        definition: dict[str, Any],
        members: list[tuple[Member, StoredFile]],
        server: RemoteServer | None,
        path: str | None,
    ) -> None:
        """The export job's background task: the archive written by a thread, its
        pieces fed to the run (which hashes and stages them), then the commit."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=4)
        stop = threading.Event()

        def opener(f: StoredFile) -> Callable[[], IO[bytes]]:
            def open_blob() -> IO[bytes]:
                try:
                    return self.ctx.blobs.open(f.blob_key)
                except FileNotFoundError:  # the job ends Stopped, saying so
                    raise deleted_meanwhile(f) from None

            return open_blob

        def produce() -> None:
            sink: Any = _QueueSink(queue, loop, stop)
            try:
                write_archive(
                    sink, definition, [(m, opener(f)) for m, f in members], self.ctx.clock()
                )
                sink.flush()
            finally:
                if not stop.is_set():
                    asyncio.run_coroutine_threadsafe(queue.put(None), loop).result()

        producer: asyncio.Future[None] | None = None
        # exports take the slots of remote transfers: at most remote_max_transfers
        # archives are written at once (memory, threads), the rest wait their turn
        slots = self.ctx.running.transfer_slots(self.ctx.settings.remote_max_transfers)
        try:
            async with run, slots:
                await run.open()
                producer = asyncio.ensure_future(asyncio.to_thread(produce))
                while (piece := await queue.get()) is not None:
                    await run.write(piece)
                await producer
                stored = await run.finish(None, None)
                log.info("job %s: exported as %s", run.job.id, stored.id)
        except (OsdepotError, asyncio.CancelledError):
            pass  # the job says how it ended
        except Exception as exc:
            if not self.ctx.unreachable(exc):  # (the run said that one: FQXHMFC9067M)
                log.exception("job %s: export failed", run.job.id)
        finally:
            stop.set()
            while not queue.empty():
                queue.get_nowait()
            if producer is not None and not producer.done():
                await asyncio.wait([producer], timeout=10)

    def _pusher(
        self, job_id: int, server: RemoteServer, path: str
    ) -> Callable[[RandomAccess], Awaitable[str]]:
        remote = RemoteImports(self.ctx)

        async def push(reader: RandomAccess) -> str:
            await remote.allowed(server)
            fetcher = remote.fetcher_for(server)
            size = reader.size
            try:
                await fetcher.put(path, _pieces(self.ctx, reader, size), size)
            except RemoteFailure as exc:
                name = f"{server.display_name} ({server.protocol.lower()}://{server.address}:"
                raise error(
                    Messages.REMOTE_PUSH_FAILED,
                    server=f"{name}{server.port})",
                    path=path,
                    detail=shown(exc.detail, MAX_DETAIL),  # it may quote the server
                ) from None
            finally:
                await fetcher.close()
            log.info("job %s: wrote %s to %s", job_id, path, server.display_name)
            return f"{server.display_name}:{path}"

        return push


def _done(profile_id: str, n: int, f: StoredFile, pushed: str) -> dict[str, Any]:
    """The export job's closing message."""
    return Messages.EXPORT_COMPLETE.render(
        {
            "profile": profile_id,
            "filename": f.name,
            "file_id": f.id,
            "size": f.size,
            "sha256": f.sha256,
            "files": n,
            "pushed": f" It was also written to {pushed}." if pushed else "",
        }
    )


async def _pieces(ctx: Context, reader: RandomAccess, size: int) -> AsyncIterator[bytes]:
    pos = 0
    while pos < size:
        data = await ctx.run(reader.read_at, pos, min(PIECE, size - pos))
        if not data:
            break
        pos += len(data)
        yield data


class _QueueSink:
    """A file-like sink for the archive writer's thread: pieces of about PIECE bytes
    go to the event loop's queue (bounded: the writer waits for the run)."""

    def __init__(
        self, queue: asyncio.Queue[bytes | None], loop: asyncio.AbstractEventLoop, stop: Any
    ) -> None:
        self.queue, self.loop, self.stop = queue, loop, stop
        self.buf = bytearray()

    def write(self, data: bytes) -> int:
        self.buf += data
        if len(self.buf) >= PIECE:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if not self.buf:
            return
        piece, self.buf = bytes(self.buf), bytearray()
        fut = asyncio.run_coroutine_threadsafe(self.queue.put(piece), self.loop)
        while True:
            if self.stop.is_set():
                fut.cancel()
                raise OSError("the export was stopped")
            try:
                fut.result(timeout=0.5)
                return
            except TimeoutError:
                continue


def _definition(
    profile: Profile,
    image: OsImage,
    medium: StoredFile,
    files: list[StoredFile],
    user: User,
    now: float,
) -> dict[str, Any]:
    return {
        "profile": {
            "id": profile.id,
            "name": profile.name,
            "description": profile.description,
            "profile": profile.profile,
            "baseProfile": profile.base_profile,
        },
        "osImage": {
            "id": image.id,
            "name": image.name,
            "os": image.os or "",
            "osrelease": image.osrelease or "",
            "arch": image.arch or "",
            "build": image.build or "",
            "fileName": medium.name,
            "size": medium.size,
            "sha256": medium.sha256,
        },
        "customizationOptions": options_json(
            os_kind(image.os), [(f.id, f.image_type) for f in files]
        ),
        "exportedAt": _iso(now),
        "exportedBy": user.name,
    }
