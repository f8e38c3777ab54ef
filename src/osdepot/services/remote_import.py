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
from osdepot.domain.text import shown
from osdepot.errors import ConfigError, Failure, NotAllowed, OsdepotError, RemoteFailure, error
from osdepot.messages import Messages
from osdepot.ports import Fetcher, RemoteCredentials
from osdepot.services.context import Context
from osdepot.services.import_params import UploadParams, check_checksum_pair
from osdepot.services.import_run import ImportRun
from osdepot.services.imports import Imports
from osdepot.services.networks import NetworkPolicy
from osdepot.services.remote_servers import fingerprint, parse_server_id
from osdepot.services.secrets import SecretBox

#: most characters of a failure's detail, which may quote the remote server
MAX_DETAIL = 1000

log = logging.getLogger("osdepot.remote")


def parse_remote_body(body: Any) -> tuple[int, str, str | None, str | None]:
    """serverId, path and an optional checksum from the JSON body."""
    if not isinstance(body, dict):
        raise error(
            Messages.INVALID_VALUE,
            name="request body",
            detail='A remote import body is a JSON object {"serverId": …, "path": …}.',
        )
    for name in ("serverId", "path"):
        if body.get(name) in (None, ""):
            raise error(
                Messages.MISSING_PARAMETER,
                name=name,
                detail="A remote import names the registered server (serverId) and the "
                "file's path on it (path).",
            )
    path = check_remote_path(body["path"])
    ctype = body.get("checksumType")
    cvalue = body.get("checksumValue")
    return (
        parse_server_id(body["serverId"]),
        path,
        str(ctype) if ctype else None,
        str(cvalue) if cvalue else None,
    )


def check_remote_path(path: Any) -> str:
    """A file's path on a registered server: not a URL, no control characters, not a
    folder."""
    if not isinstance(path, str) or len(path) > 4096:
        raise error(Messages.INVALID_VALUE, name="path", detail="path must be a string.")
    if "://" in path or path.startswith("//") or any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise error(
            Messages.INVALID_VALUE,
            name="path",
            detail="path is the file's path on the registered server, not a URL; it cannot "
            "name another host.",
        )
    if path.endswith("/"):
        raise error(
            Messages.INVALID_VALUE, name="path", detail=f"{path} names a folder, not a file."
        )
    return path


class RemoteImports:
    """Imports pulled from registered remote file servers: checks the request, claims
    the job, and runs the transfer in the background through the same pipeline as an
    upload, resuming after interruptions."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.imports = Imports(ctx)
        self.secrets = SecretBox.of(ctx.settings)
        s = ctx.settings
        try:
            self.policy = NetworkPolicy.parse(s.remote_allow_networks, s.remote_deny_networks)
        except ValueError as exc:
            raise error(Messages.INVALID_VALUE, name="remote networks", detail=str(exc)) from None

    async def start(self, user: User, params: UploadParams, body: Any) -> Job:
        server_id, path, ctype, cvalue = parse_remote_body(body)
        job, itype = await self.imports.check_upload(user, params)
        server = await self.ctx.run(self.ctx.catalog.get_server, server_id)
        if server is None:
            raise error(Messages.REMOTE_SERVER_UNKNOWN, server_id=server_id)
        await self.allowed(server)
        if server.protocol in ("HTTP", "HTTPS") and ("?" in path or "#" in path):
            raise error(
                Messages.INVALID_VALUE,
                name="path",
                detail="An HTTP server would read ? and # in a path as the start of a query "
                "or a fragment; write them as %3F and %23.",
            )
        filename = clean_filename(posixpath.basename(path))
        family = resolve_os(itype, params.os)
        check_extension(itype, family, filename)
        if ctype or cvalue:
            check_checksum_pair(ctype, cvalue, final=True)
        run = await self.imports.claim(user, job, itype, params, filename, None, "remote")
        async with run:
            await self.ctx.run(self.ctx.catalog.set_job_source, job.id, server.id, None)
            self.ctx.running.start(job.id, self._pull(run, server, path, ctype, cvalue))
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

    async def allowed(self, server: RemoteServer) -> None:
        """FQXHMFC9036J when the server resolves to a network imports may not reach."""
        try:
            await self.policy.check(server.address, server.port)
        except NotAllowed as exc:
            raise error(
                Messages.REMOTE_NOT_ALLOWED, server=server.display_name, detail=str(exc)
            ) from None

    # -- the transfer ------------------------------------------------------------------

    def fetcher_for(self, server: RemoteServer) -> Fetcher:
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

    async def _pull(
        self,
        run: ImportRun,
        server: RemoteServer,
        path: str,
        ctype: str | None,
        cvalue: str | None,
    ) -> None:
        """The background task of one remote import; every way it ends goes through
        the run's failure path, and nothing escapes the task."""
        fetcher: Fetcher | None = None
        try:
            slots = self.ctx.running.transfer_slots(self.ctx.settings.remote_max_transfers)
            async with run, slots:
                fetcher = self.fetcher_for(server)
                try:
                    await self._transfer(run, server, fetcher, path)
                except RemoteFailure as exc:
                    raise self._message(exc, server, path) from None
                await run.finish(
                    ctype or run.params.checksum_type, cvalue or run.params.checksum_value
                )
        except (OsdepotError, asyncio.CancelledError):
            pass  # the job says how it ended
        except Exception as exc:
            if not self.ctx.unreachable(exc):  # (the run said that one: FQXHMFC9067M)
                log.exception("job %s: remote import failed", run.job.id)
        finally:
            if fetcher is not None:
                with contextlib.suppress(Exception):
                    await fetcher.close()

    async def _transfer(
        self, run: ImportRun, server: RemoteServer, fetcher: Fetcher, path: str
    ) -> None:
        s = self.ctx.settings
        attempt = 0
        opened_staging = False
        remote_size: int | None = None
        while True:
            if run.cancelled_by is not None:
                raise error(Messages.JOB_CANCELLED, job_id=run.job.id, user=run.cancelled_by)
            await self.allowed(server)  # again: the name may resolve elsewhere now
            try:
                opened = await fetcher.open(path, run.received)
                await self._pin_host_key(server, fetcher)
                if not opened_staging:
                    remote_size = opened.size
                    await self._size_known(run, server, remote_size)
                    await run.open()
                    opened_staging = True
                async for chunk in _guard(opened.chunks, s.remote_stall_timeout):
                    await run.write(chunk)
                if remote_size is not None and run.received < remote_size:
                    raise RemoteFailure(
                        Failure.INTERRUPTED,
                        f"The transfer ended after {run.received} of {remote_size} bytes.",
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
                    run.job.id,
                    exc.detail,
                    run.received,
                    attempt,
                    s.remote_retries,
                )
                await asyncio.sleep(s.remote_retry_delay * attempt)

    async def _size_known(self, run: ImportRun, server: RemoteServer, size: int | None) -> None:
        if size is not None and run.declared is not None and size != run.declared:
            raise error(
                Messages.SIZE_MISMATCH,
                declared=run.declared,
                received=f"{size} (the size the remote server announces)",
            )
        if size is not None:
            run.declared = size
            run.expected = size
            own = run.job.declared_size or 0
            await self.ctx.run(self.imports.check_space, size, run.itype, own)
        await self.ctx.run(self.ctx.catalog.set_job_source, run.job.id, server.id, size)

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
        # What the server said, quoted in the detail, is kept printable: a hostile
        # server's escape sequences would reach the terminal of `osdepot import`.
        detail = shown(exc.detail, MAX_DETAIL)
        if exc.kind is Failure.UNREACHABLE:
            return error(Messages.REMOTE_UNREACHABLE, server=name, detail=detail)
        if exc.kind is Failure.AUTH:
            return error(Messages.REMOTE_AUTH_FAILED, server=name, detail=detail)
        if exc.kind is Failure.HOST_KEY:
            return error(
                Messages.REMOTE_HOST_KEY,
                server=name,
                presented=exc.extra.get("presented", "?"),
                expected=exc.extra.get("expected", "?"),
            )
        if exc.kind is Failure.PATH:
            return error(Messages.REMOTE_PATH, server=name, path=path, detail=detail)
        return error(Messages.REMOTE_TRANSFER, server=name, path=path, detail=detail)


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
