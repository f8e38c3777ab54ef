"""SFTP with asyncssh: password or the profile's key pair, the host key pinned on
first use (or checked against the profile's fingerprint) before authenticating,
reads at an offset to resume."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import asyncssh

from osdepot.domain.records import RemoteServer
from osdepot.remote.base import Failure, Opened, RemoteCredentials, RemoteFailure, part_name

_BLOCK = 64 * 1024  # one SFTP read request (servers cap requests at 64–256 KiB)
_DEPTH = 16  # requests in flight: 1 MiB, enough to fill a LAN link


class _HostKeyCheck(asyncssh.SSHClient):
    def __init__(self, check: Callable[[asyncssh.SSHKey], bool]) -> None:
        self.check = check

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        return self.check(key)


class SftpFetcher:
    def __init__(
        self,
        server: RemoteServer,
        credentials: RemoteCredentials,
        connect_timeout: float,
        stall_timeout: float,
    ) -> None:
        self.server = server
        self.password = credentials.password
        self.private_key = credentials.private_key
        self.passphrase = credentials.passphrase
        self.connect_timeout = connect_timeout
        self.stall_timeout = stall_timeout
        self.expected = credentials.host_key_fingerprint
        #: the host key the server presented (OpenSSH format), for pinning on first use
        self.presented_key = ""
        self.presented_fingerprint = ""
        self.conn: asyncssh.SSHClientConnection | None = None
        self.sftp: asyncssh.SFTPClient | None = None
        self.file: asyncssh.SFTPClientFile | None = None

    def _check(self, key: asyncssh.SSHKey) -> bool:
        self.presented_key = key.export_public_key("openssh").decode().strip()
        self.presented_fingerprint = key.get_fingerprint("sha256")
        return not self.expected or self.presented_fingerprint == self.expected

    async def _connect(self) -> asyncssh.SFTPClient:
        if self.sftp is not None:
            return self.sftp
        keys = []
        if self.private_key:
            keys = [asyncssh.import_private_key(self.private_key, self.passphrase or None)]
        try:
            self.conn = await asyncssh.connect(
                self.server.address.strip("[]"),
                self.server.port,
                username=self.server.username or None,
                password=self.password or None,
                client_keys=keys,
                known_hosts=([], [], []),
                client_factory=lambda: _HostKeyCheck(self._check),
                agent_path=None,
                config=[],
                connect_timeout=self.connect_timeout,
                login_timeout=self.connect_timeout,
            )
        except asyncssh.HostKeyNotVerifiable:
            raise RemoteFailure(
                Failure.HOST_KEY,
                "host key mismatch",
                presented=self.presented_fingerprint,
                expected=self.expected,
            ) from None
        except asyncssh.PermissionDenied as exc:
            raise RemoteFailure(
                Failure.AUTH, f"SSH authentication as {self.server.username!r} failed: {exc}."
            ) from None
        except TimeoutError:
            raise RemoteFailure(Failure.UNREACHABLE, "The connection timed out.") from None
        except (OSError, asyncssh.Error, ValueError) as exc:
            raise RemoteFailure(Failure.UNREACHABLE, f"The connection failed: {exc}.") from None
        try:
            self.sftp = await self.conn.start_sftp_client()
        except (OSError, asyncssh.Error) as exc:
            raise RemoteFailure(
                Failure.TRANSFER, f"The server offers no SFTP service: {exc}."
            ) from None
        return self.sftp

    async def open(self, path: str, offset: int) -> Opened:
        await self._close_file()
        try:
            sftp = await self._connect()
            try:
                attrs = await sftp.stat(path)
            except asyncssh.SFTPNoSuchFile:
                raise RemoteFailure(Failure.PATH, f"The server has no file {path}.") from None
            except asyncssh.SFTPPermissionDenied:
                raise RemoteFailure(Failure.PATH, f"Reading {path} is not permitted.") from None
            if attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY:
                raise RemoteFailure(Failure.PATH, f"{path} is a folder, not a file.")
            # block_size=0: each read is one request (the pipeline below is ours).
            self.file = await sftp.open(path, "rb", block_size=0)
        except RemoteFailure:
            raise
        except (OSError, asyncssh.Error) as exc:
            await self.close()
            raise RemoteFailure(Failure.INTERRUPTED, f"The connection broke: {exc}.") from None
        return Opened(attrs.size, self._chunks(self.file, offset))

    async def _chunks(self, f: asyncssh.SFTPClientFile, offset: int) -> AsyncIterator[bytes]:
        """Reads of _BLOCK bytes, _DEPTH of them in flight (one SFTP request each), in
        order. An empty read is the end of the file; a short one (a server that caps
        its replies) restarts the pipeline after the bytes it gave. The stall timeout
        is the caller's, which calls :meth:`reset` when it strikes."""
        pending: list[asyncio.Future[bytes]] = []
        pos = offset

        async def drop() -> None:
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            pending.clear()

        try:
            while True:
                while len(pending) < _DEPTH:
                    pending.append(
                        asyncio.ensure_future(f.read(_BLOCK, pos + _BLOCK * len(pending)))
                    )
                try:
                    data = await pending.pop(0)
                except (OSError, asyncssh.Error) as exc:
                    raise RemoteFailure(
                        Failure.INTERRUPTED, f"The connection broke: {exc}."
                    ) from None
                assert isinstance(data, bytes)
                if not data:
                    return
                if len(data) < _BLOCK:
                    await drop()
                pos += len(data)
                yield data
        finally:
            await drop()

    async def put(self, path: str, chunks: AsyncIterator[bytes], size: int) -> None:
        part = part_name(path)
        sftp = await self._connect()
        try:
            try:
                f = await sftp.open(part, "wb", block_size=0)
            except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPPermissionDenied) as exc:
                raise RemoteFailure(
                    Failure.PATH, f"The server refused to store {part}: {exc.reason}."
                ) from None
            try:
                pos = 0
                async for chunk in chunks:
                    await f.write(chunk, pos)
                    pos += len(chunk)
            finally:
                await f.close()
            if await sftp.exists(path):
                await sftp.remove(path)
            await sftp.rename(part, path)
        except RemoteFailure:
            await self._remove(sftp, part)
            raise
        except (OSError, asyncssh.Error) as exc:
            await self._remove(sftp, part)
            raise RemoteFailure(Failure.TRANSFER, f"Writing {path} failed: {exc}.") from None
        except BaseException:
            await self._remove(sftp, part)
            raise

    @staticmethod
    async def _remove(sftp: asyncssh.SFTPClient, part: str) -> None:
        with contextlib.suppress(OSError, asyncssh.Error):
            await sftp.remove(part)

    async def reset(self) -> None:
        """After a failure: drop the connection so that the next open starts afresh."""
        self.abort()

    def abort(self) -> None:
        """Drop the connection at once (a stalled server would not answer a close)."""
        self.file = None
        if self.sftp is not None:
            self.sftp.exit()
            self.sftp = None
        if self.conn is not None:
            self.conn.abort()
            self.conn = None

    async def _close_file(self) -> None:
        if self.file is not None:
            f, self.file = self.file, None
            with contextlib.suppress(OSError, asyncssh.Error, TimeoutError, asyncio.TimeoutError):
                await asyncio.wait_for(f.close(), self.stall_timeout)

    async def close(self) -> None:
        await self._close_file()
        if self.sftp is not None:
            self.sftp.exit()
            self.sftp = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None
