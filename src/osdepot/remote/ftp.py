"""FTP with the standard library's ftplib (passive mode, binary, REST to resume),
each blocking call in a worker thread."""

from __future__ import annotations

import ftplib
import io
import socket
from collections.abc import AsyncIterator

import anyio.to_thread

from osdepot.domain.records import RemoteServer
from osdepot.remote.base import (
    CHUNK,
    Failure,
    Opened,
    RemoteCredentials,
    RemoteFailure,
    part_name,
)

#: The longest reply (all its lines) taken from an FTP server. ftplib gathers a
#: multi-line reply ("220-…" until "220 …") without end: a server that never ended its
#: greeting grew the process by about 250 MB a second (2 GB in 8 s, measured).
MAX_REPLY_BYTES = 64 * 1024


class _ReplyTooLong(ftplib.error_proto):
    """A reply past MAX_REPLY_BYTES: the server misbehaves, trying again will not help."""


def _said(exc: BaseException) -> str:
    """What a server said, as far as a message should quote it."""
    text = str(exc)
    return text if len(text) <= 200 else text[:200] + "…"


def _too_long(exc: _ReplyTooLong) -> RemoteFailure:
    return RemoteFailure(Failure.TRANSFER, f"{str(exc).capitalize()}; osdepot reads no more.")


class _BoundedFTP(ftplib.FTP):
    """ftplib's client, with a multi-line reply held to MAX_REPLY_BYTES (each line is
    already held to ftplib's 8 KiB), and replies that are not UTF-8 read with U+FFFD
    for what is not: ftplib decodes them strictly, and a server greeting in ISO-8859-1
    or CP1252 (a localised "Willkommen") made the import an internal error and left
    the connection open."""

    def getline(self) -> str:
        reader = self.file
        if isinstance(reader, io.TextIOWrapper) and reader.errors != "replace":
            reader.reconfigure(errors="replace")  # (the encoding stays UTF-8)
        return super().getline()

    def getmultiline(self) -> str:
        line = self.getline()
        if line[3:4] != "-":
            return line
        code, lines, size = line[:3], [line], len(line)
        while True:
            nextline = self.getline()
            size += len(nextline) + 1
            if size > MAX_REPLY_BYTES:
                raise _ReplyTooLong(
                    f"the server's reply {code} went on past {MAX_REPLY_BYTES} bytes"
                )
            lines.append(nextline)
            if nextline[:3] == code and nextline[3:4] != "-":
                return "\n".join(lines)


class FtpFetcher:
    def __init__(
        self,
        server: RemoteServer,
        credentials: RemoteCredentials,
        connect_timeout: float,
        stall_timeout: float,
    ) -> None:
        self.server = server
        password = credentials.password
        self.password = password
        self.connect_timeout = connect_timeout
        self.stall_timeout = stall_timeout
        self.ftp: ftplib.FTP | None = None
        self.data: socket.socket | None = None

    def _connect(self) -> ftplib.FTP:
        ftp = _BoundedFTP()
        try:
            ftp.connect(self.server.address.strip("[]"), self.server.port, self.connect_timeout)
        except TimeoutError:
            raise RemoteFailure(Failure.UNREACHABLE, "The connection timed out.") from None
        except OSError as exc:
            raise RemoteFailure(
                Failure.UNREACHABLE, f"The connection failed: {exc.strerror or exc}."
            ) from None
        except _ReplyTooLong as exc:
            ftp.close()
            raise _too_long(exc) from None
        except ftplib.error_proto as exc:  # not an FTP server
            ftp.close()
            raise RemoteFailure(
                Failure.TRANSFER, f"The server does not greet as FTP servers do: {_said(exc)}."
            ) from None
        except (EOFError, ftplib.Error) as exc:  # cut short, or busy (4xx)
            ftp.close()
            raise RemoteFailure(
                Failure.INTERRUPTED,
                f"The server's greeting broke off: {_said(exc) or 'the connection closed'}.",
            ) from None
        user = self.server.username or "anonymous"
        try:
            ftp.login(user, self.password or ("anonymous@" if user == "anonymous" else ""))
        except ftplib.error_perm as exc:
            ftp.close()
            raise RemoteFailure(Failure.AUTH, f"The login as {user} failed: {exc}.") from None
        except _ReplyTooLong as exc:
            ftp.close()
            raise _too_long(exc) from None
        except (OSError, EOFError, ftplib.Error) as exc:
            ftp.close()
            raise RemoteFailure(
                Failure.INTERRUPTED,
                f"The login broke off: {_said(exc) or 'the connection closed'}.",
            ) from None
        ftp.set_pasv(True)
        if ftp.sock is not None:
            ftp.sock.settimeout(self.stall_timeout)
        return ftp

    def _open(self, path: str, offset: int) -> tuple[int | None, socket.socket]:
        self._close()
        ftp = self._connect()
        self.ftp = ftp
        try:
            ftp.voidcmd("TYPE I")
            try:
                size = ftp.size(path)
            except ftplib.error_perm as exc:
                try:
                    ftp.cwd(path)
                except ftplib.error_perm:
                    raise RemoteFailure(
                        Failure.PATH, f"The server has no file {path} ({exc})."
                    ) from None
                raise RemoteFailure(Failure.PATH, f"{path} is a folder, not a file.") from None
            try:
                data = ftp.transfercmd(f"RETR {path}", rest=offset or None)
            except ftplib.error_perm as exc:
                raise RemoteFailure(
                    Failure.PATH, f"The server refused to send {path}: {exc}."
                ) from None
            except ftplib.error_reply as exc:
                raise RemoteFailure(
                    Failure.TRANSFER, f"The server cannot resume at byte {offset}: {exc}."
                ) from None
        except RemoteFailure:
            self._close()
            raise
        except _ReplyTooLong as exc:
            self._close()
            raise _too_long(exc) from None
        except (OSError, EOFError, ftplib.Error) as exc:
            self._close()
            raise RemoteFailure(Failure.INTERRUPTED, f"The connection broke: {exc}.") from None
        data.settimeout(self.stall_timeout)
        self.data = data
        return size, data

    async def open(self, path: str, offset: int) -> Opened:
        size, data = await anyio.to_thread.run_sync(self._open, path, offset)
        return Opened(size, self._chunks(data))

    async def _chunks(self, data: socket.socket) -> AsyncIterator[bytes]:
        while True:
            try:
                chunk = await anyio.to_thread.run_sync(data.recv, CHUNK)
            except TimeoutError:
                raise RemoteFailure(Failure.INTERRUPTED, "No bytes arrived in time.") from None
            except OSError as exc:
                raise RemoteFailure(Failure.INTERRUPTED, f"The connection broke: {exc}.") from None
            if not chunk:
                break
            yield chunk
        await anyio.to_thread.run_sync(self._end)

    def _end(self) -> None:
        if self.data is not None:
            self.data.close()
            self.data = None
        if self.ftp is not None:
            try:
                self.ftp.voidresp()
            except (OSError, EOFError, ftplib.Error) as exc:
                raise RemoteFailure(
                    Failure.INTERRUPTED, f"The server did not confirm the transfer: {exc}."
                ) from None

    def _close(self) -> None:
        if self.data is not None:
            self.data.close()
            self.data = None
        if self.ftp is not None:
            try:
                self.ftp.close()
            finally:
                self.ftp = None

    # -- writing (exports) -------------------------------------------------------------

    def _put_start(self, part: str) -> socket.socket:
        self._close()
        ftp = self._connect()
        self.ftp = ftp
        try:
            ftp.voidcmd("TYPE I")
            data = ftp.transfercmd(f"STOR {part}")
        except ftplib.error_perm as exc:
            self._close()
            raise RemoteFailure(
                Failure.PATH, f"The server refused to store {part}: {exc}."
            ) from None
        except (OSError, EOFError, ftplib.Error) as exc:
            self._close()
            raise RemoteFailure(Failure.INTERRUPTED, f"The connection broke: {exc}.") from None
        data.settimeout(self.stall_timeout)
        self.data = data
        return data

    def _put_end(self, part: str, path: str) -> None:
        if self.data is not None:
            self.data.close()
            self.data = None
        assert self.ftp is not None
        try:
            self.ftp.voidresp()
            self.ftp.rename(part, path)
        except ftplib.error_perm as exc:
            raise RemoteFailure(
                Failure.PATH, f"The server refused to store {path}: {exc}."
            ) from None
        except (OSError, EOFError, ftplib.Error) as exc:
            raise RemoteFailure(
                Failure.INTERRUPTED, f"The server did not confirm the transfer: {exc}."
            ) from None

    def _put_abort(self, part: str) -> None:
        """Remove what was written (on a fresh connection: the old one may be broken)."""
        self._close()
        try:
            ftp = self._connect()
        except RemoteFailure:
            return
        try:
            ftp.delete(part)
        except (OSError, EOFError, ftplib.Error):
            pass
        finally:
            ftp.close()

    async def put(self, path: str, chunks: AsyncIterator[bytes], size: int) -> None:
        part = part_name(path)
        data = await anyio.to_thread.run_sync(self._put_start, part)
        try:
            async for chunk in chunks:
                try:
                    await anyio.to_thread.run_sync(data.sendall, chunk)
                except OSError as exc:
                    raise RemoteFailure(
                        Failure.INTERRUPTED, f"The connection broke: {exc}."
                    ) from None
            await anyio.to_thread.run_sync(self._put_end, part, path)
        except BaseException:
            await anyio.to_thread.run_sync(self._put_abort, part)
            raise

    async def reset(self) -> None:
        await anyio.to_thread.run_sync(self._close)

    async def close(self) -> None:
        await anyio.to_thread.run_sync(self._close)
