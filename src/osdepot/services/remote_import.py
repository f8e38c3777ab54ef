"""Remote imports: ``POST /files/osImages`` with ``{"serverId", "path"}`` answers at
once and pulls the file in the background through the same pipeline as an upload
(streamed, hashed, staged, checked, recognised, committed atomically).

An interrupted transfer resumes from the bytes already received (HTTP Range, FTP
REST, SFTP offset) up to ``remote_retries`` times; the hashes run over the bytes as
they arrive, so the checksum covers the whole file however often it resumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import posixpath
from collections.abc import AsyncIterator
from typing import Any

from osdepot.domain.images import check_extension, resolve_os
from osdepot.domain.names import clean_filename
from osdepot.domain.records import Job, RemoteServer, User
from osdepot.errors import (
    ConfigError,
    Failure,
    M,
    NotAllowed,
    OsdepotError,
    RemoteFailure,
    error,
)
from osdepot.ports import Fetcher, RemoteCredentials
from osdepot.services.context import Context
from osdepot.services.import_params import UploadParams, check_checksum_pair
from osdepot.services.networks import NetworkPolicy
from osdepot.services.remote_servers import fingerprint, parse_server_id
from osdepot.services.secrets import SecretBox
from osdepot.services.uploads import Imports, UploadSink

log = logging.getLogger("osdepot.remote")


def parse_remote_body(body: Any) -> tuple[int, str, str | None, str | None]:
    """serverId, path and an optional checksum from the JSON body."""
    if not isinstance(body, dict):
        raise error(
            M.INVALID_VALUE,
            name="request body",
            detail='A remote import body is a JSON object {"serverId": …, "path": …}.',
        )
    for name in ("serverId", "path"):
        if body.get(name) in (None, ""):
            raise error(
                M.MISSING_PARAMETER,
                name=name,
                detail="A remote import names the registered server (serverId) and the "
                "file's path on it (path).",
            )
    path = body["path"]
    if not isinstance(path, str) or len(path) > 4096:
        raise error(M.INVALID_VALUE, name="path", detail="path must be a string.")
    if "://" in path or path.startswith("//") or any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise error(
            M.INVALID_VALUE,
            name="path",
            detail="path is the file's path on the registered server, not a URL; it cannot "
            "name another host.",
        )
    if path.endswith("/"):
        raise error(M.INVALID_VALUE, name="path", detail=f"{path} names a folder, not a file.")
    ctype = body.get("checksumType")
    cvalue = body.get("checksumValue")
    return (
        parse_server_id(body["serverId"]),
        path,
        str(ctype) if ctype else None,
        str(cvalue) if cvalue else None,
    )


class RemoteImports:
    """Imports pulled from registered remote file servers: checks the request, claims
    the job, and runs the transfer in the background through the same pipeline as an
    upload, resuming after interruptions."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.imports = Imports(ctx)
        self.secrets = SecretBox(ctx.settings.data_dir)
        s = ctx.settings
        try:
            self.policy = NetworkPolicy.parse(s.remote_allow_networks, s.remote_deny_networks)
        except ValueError as exc:
            raise error(M.INVALID_VALUE, name="remote networks", detail=str(exc)) from None

    async def start(self, user: User, params: UploadParams, body: Any) -> Job:
        server_id, path, ctype, cvalue = parse_remote_body(body)
        job, itype = await self.imports.check_upload(user, params)
        server = await self.ctx.run(self.ctx.catalog.get_server, server_id)
        if server is None:
            raise error(M.REMOTE_SERVER_UNKNOWN, server_id=server_id)
        await self._allowed(server)
        if server.protocol in ("HTTP", "HTTPS") and ("?" in path or "#" in path):
            raise error(
                M.INVALID_VALUE,
                name="path",
                detail="An HTTP server would read ? and # in a path as the start of a query "
                "or a fragment; write them as %3F and %23.",
            )
        filename = clean_filename(posixpath.basename(path))
        family = resolve_os(itype, params.os)
        check_extension(itype, family, filename)
        if ctype or cvalue:
            check_checksum_pair(ctype, cvalue, final=True)
        await self.imports.claim(job, filename, None)
        await self.ctx.run(self.ctx.catalog.set_job_source, job.id, server.id, None)
        declared = job.declared_size if job.uploads == 0 else None
        sink = UploadSink(
            self.imports, user, job, itype, family, params, filename, declared, declared
        )
        sink.server_id = server.id
        self.ctx.active_uploads[job.id] = sink
        task = asyncio.create_task(self._run(sink, server, path, ctype, cvalue))
        self.ctx.transfers[job.id] = task
        log.info(
            "job %s: importing %s from %s (%s://%s:%s) for %s",
            job.id,
            path,
            server.display_name,
            server.protocol.lower(),
            server.address,
            server.port,
            user.name,
        )
        return job

    async def _allowed(self, server: RemoteServer) -> None:
        """FQXHMFC9036J when the server resolves to a network imports may not reach."""
        try:
            await self.policy.check(server.address, server.port)
        except NotAllowed as exc:
            raise error(M.REMOTE_NOT_ALLOWED, server=server.display_name, detail=str(exc)) from None

    # -- the transfer ------------------------------------------------------------------

    def _fetcher(self, server: RemoteServer) -> Fetcher:
        s = self.ctx.settings
        expected = server.host_key_fingerprint or (
            fingerprint(server.host_key) if server.host_key else ""
        )
        credentials = RemoteCredentials(
            password=self.secrets.open(server.password_enc),
            private_key=self.secrets.open(server.private_key_enc),
            passphrase=self.secrets.open(server.passphrase_enc),
            host_key_fingerprint=expected,
        )
        if self.ctx.fetchers is None:
            raise ConfigError("this server was started without remote fetchers")
        return self.ctx.fetchers(
            server, credentials, s.remote_connect_timeout, s.remote_stall_timeout
        )

    async def _run(
        self,
        sink: UploadSink,
        server: RemoteServer,
        path: str,
        ctype: str | None,
        cvalue: str | None,
    ) -> None:
        ctx = self.ctx
        if ctx.transfer_slots is None:
            ctx.transfer_slots = asyncio.Semaphore(max(1, ctx.settings.remote_max_transfers))
        fetcher: Fetcher | None = None
        try:
            async with ctx.transfer_slots:
                fetcher = self._fetcher(server)
                await self._transfer(sink, server, fetcher, path)
                await sink.finish(
                    ctype or sink.params.checksum_type, cvalue or sink.params.checksum_value
                )
        except RemoteFailure as exc:
            await sink.fail(self._message(exc, server, path))
        except OsdepotError as exc:
            await sink.fail(exc)
        except asyncio.CancelledError:
            if sink.cancelled_by is not None:
                await sink.fail(error(M.JOB_CANCELLED, job_id=sink.job.id, user=sink.cancelled_by))
            else:
                await sink.fail(error(M.SERVER_INTERRUPTED))
        except Exception:
            log.exception("job %s: remote import failed", sink.job.id)
            await sink.fail(error(M.INTERNAL, detail="The remote import failed unexpectedly."))
        finally:
            if fetcher is not None:
                with contextlib.suppress(Exception):
                    await fetcher.close()
            ctx.transfers.pop(sink.job.id, None)

    async def _transfer(
        self, sink: UploadSink, server: RemoteServer, fetcher: Fetcher, path: str
    ) -> None:
        s = self.ctx.settings
        attempt = 0
        opened_staging = False
        remote_size: int | None = None
        while True:
            if sink.cancelled_by is not None:
                raise error(M.JOB_CANCELLED, job_id=sink.job.id, user=sink.cancelled_by)
            await self._allowed(server)  # again: the name may resolve elsewhere now
            try:
                opened = await fetcher.open(path, sink.received)
                await self._pin_host_key(server, fetcher)
                if not opened_staging:
                    remote_size = opened.size
                    await self._size_known(sink, remote_size)
                    await sink.open()
                    opened_staging = True
                async for chunk in _guard(opened.chunks, s.remote_stall_timeout):
                    await sink.write(chunk)
                if remote_size is not None and sink.received < remote_size:
                    raise RemoteFailure(
                        Failure.INTERRUPTED,
                        f"The transfer ended after {sink.received} of {remote_size} bytes.",
                    )
                return
            except RemoteFailure as exc:
                if not exc.retryable or attempt >= s.remote_retries:
                    if exc.retryable and attempt:
                        exc.detail += f" osdepot resumed {attempt} time(s) and gave up."
                    raise
                attempt += 1
                await fetcher.reset()
                log.info(
                    "job %s: %s; resuming at byte %d (attempt %d of %d)",
                    sink.job.id,
                    exc.detail,
                    sink.received,
                    attempt,
                    s.remote_retries,
                )
                await asyncio.sleep(s.remote_retry_delay * attempt)

    async def _size_known(self, sink: UploadSink, size: int | None) -> None:
        if size is not None and sink.declared is not None and size != sink.declared:
            raise error(
                M.SIZE_MISMATCH,
                declared=sink.declared,
                received=f"{size} (the size the remote server announces)",
            )
        if size is not None:
            sink.declared = size
            sink.expected = size
            own = sink.job.declared_size or 0
            await self.ctx.run(self.imports._check_space, size, sink.itype, own)
        await self.ctx.run(self.ctx.catalog.set_job_source, sink.job.id, sink.server_id, size)

    async def _pin_host_key(self, server: RemoteServer, fetcher: Fetcher) -> None:
        presented = getattr(fetcher, "presented_key", "")
        if (
            server.protocol == "SFTP"
            and presented
            and not server.host_key
            and await self.ctx.run(self.ctx.catalog.pin_host_key, server.id, presented)
        ):
            log.info(
                "remote server %s: SSH host key %s pinned on first use",
                server.display_name,
                fingerprint(presented),
            )

    def _message(self, exc: RemoteFailure, server: RemoteServer, path: str) -> OsdepotError:
        name = f"{server.display_name} ({server.protocol.lower()}://{server.address}:{server.port})"
        if exc.kind is Failure.UNREACHABLE:
            return error(M.REMOTE_UNREACHABLE, server=name, detail=exc.detail)
        if exc.kind is Failure.AUTH:
            return error(M.REMOTE_AUTH_FAILED, server=name, detail=exc.detail)
        if exc.kind is Failure.HOST_KEY:
            return error(
                M.REMOTE_HOST_KEY,
                server=name,
                presented=exc.extra.get("presented", "?"),
                expected=exc.extra.get("expected", "?"),
            )
        if exc.kind is Failure.PATH:
            return error(M.REMOTE_PATH, server=name, path=path, detail=exc.detail)
        return error(M.REMOTE_TRANSFER, server=name, path=path, detail=exc.detail)


async def _guard(chunks: AsyncIterator[bytes], stall: float) -> AsyncIterator[bytes]:
    """The chunks, failing when none arrives for ``stall`` seconds."""
    it = chunks.__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(it.__anext__(), stall)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise RemoteFailure(
                Failure.INTERRUPTED, f"No bytes arrived for {stall:g} seconds (stalled)."
            ) from None
        yield chunk
