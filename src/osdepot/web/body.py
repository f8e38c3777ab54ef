"""Reading an upload's body into the upload's own buffers.

:class:`BodyReader` fills a buffer the caller gives with the next bytes of the
request body. Under ``osdepot serve`` (web/protocol.py) the bytes are read from the
socket straight into that buffer; under any other ASGI server (or the test client)
they are copied out of the ASGI ``receive`` stream. Either way a client that stalls
gets FQXHMFC9030J.

:func:`receive_file` uses it to read a file part's data into the
:class:`~osdepot.services.import_run.ImportRun`'s buffers in place, looking for the
multipart delimiter in them, so that the file's bytes are copied once on the event
loop thread (by the kernel) instead of three or four times.
"""

from __future__ import annotations

import asyncio
import contextlib
import mmap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from starlette.requests import ClientDisconnect, Request

from osdepot.errors import error
from osdepot.messages import Messages
from osdepot.web import memsearch

#: The ASGI scope extension through which the server offers a body to be read into
#: the application's buffers (web/protocol.py's DirectBody, under ``osdepot serve``).
DIRECT_BODY = "osdepot.direct_body"

#: The ASGI scope extension through which the server sends an informational (1xx)
#: response before the final one (web/protocol.py's _Interim, under ``osdepot serve``).
INTERIM = "osdepot.interim"

#: A body must deliver at least this much per ``upload_stall_timeout`` seconds.
MIN_PROGRESS_BYTES = 64 * 1024


class Pace:
    """The stall rule: a body must deliver MIN_PROGRESS_BYTES within ``window`` seconds
    of waiting for the client. Only the time spent waiting for the client counts, not
    the time the server takes with what it received (a slow disk is not the client's
    fault)."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._waited = 0.0
        self._got = 0

    def left(self) -> float:
        """Seconds the client may still take before it has stalled."""
        return max(self.window - self._waited, 0.0)

    def add(self, waited: float, got: int) -> None:
        """``got`` bytes arrived in ``waited`` seconds of waiting."""
        self._waited += waited
        self._got += got
        if self._got >= MIN_PROGRESS_BYTES:
            self._got, self._waited = 0, 0.0

    def stalled(self) -> Exception:
        return error(
            Messages.UPLOAD_TOO_SLOW, min_bytes=MIN_PROGRESS_BYTES, seconds=f"{self.window:g}"
        )


async def paced(stream: AsyncIterator[bytes], window: float) -> AsyncIterator[bytes]:
    """The body's chunks, failing FQXHMFC9030J when the client stalls or trickles
    (:class:`Pace`). Only this request waits; others are served meanwhile."""
    it = stream.__aiter__()
    pace = Pace(window)
    while True:
        start = time.monotonic()
        try:
            async with asyncio.timeout(pace.left()):
                chunk = await it.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise pace.stalled() from None
        pace.add(time.monotonic() - start, len(chunk))
        yield chunk


class DirectBody(Protocol):
    """What :class:`BodyReader` uses of the server's ``DIRECT_BODY`` extension."""

    #: body bytes read from the socket so far
    received: int

    @property
    def filled(self) -> int: ...

    def readinto(self, view: memoryview, *, some: bool = False) -> asyncio.Future[int]: ...


#: Called while a read waits, with the bytes placed in the buffer so far.
Waiting = Callable[[int], Awaitable[None]]


class BodyReader:
    """``await readinto(view)``: the next body bytes into ``view``; all of it unless
    the body ends first (0 at the end), or with ``some=True`` as soon as there are
    any. Raises FQXHMFC9013J when the client goes away and FQXHMFC9030J when it
    stalls (see :func:`paced`). ``waiting``, if given, is awaited every ``tick``
    seconds while a read waits (progress, cancellation), and once per piece when
    the bytes are copied from ``receive()``."""

    def __init__(self, request: Request, window: float, tick: float = 0.5) -> None:
        self.tick = tick
        self._direct: DirectBody | None = request.scope.get("extensions", {}).get(DIRECT_BODY)
        self._pace = Pace(window)  # for direct reads; paced() keeps its own
        self._chunks = paced(request.stream(), window).__aiter__()
        self._chunk = memoryview(b"")
        self._pending: asyncio.Future[bytes] | None = None

    @property
    def direct(self) -> bool:
        """Whether bytes go from the socket to the caller's buffer without copies."""
        return self._direct is not None

    async def readinto(
        self, view: memoryview, *, some: bool = False, waiting: Waiting | None = None
    ) -> int:
        try:
            return await self._readinto(view, some, waiting)
        except ClientDisconnect as exc:
            cut = error(
                Messages.UPLOAD_INTERRUPTED,
                detail="The client closed the connection before the whole file was received.",
            )
            cut.received = getattr(exc, "received", 0)  # type: ignore[attr-defined]
            raise cut from None

    async def _readinto(self, view: memoryview, some: bool, waiting: Waiting | None) -> int:
        if self._direct is not None:
            return await self._read_direct(self._direct, view, some, waiting)
        n = 0
        while n < len(view):
            if not self._chunk:
                if some and n:
                    break
                try:
                    self._chunk = memoryview(await self._next_chunk(n, waiting))
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    _placed(exc, n)
                    raise
            take = min(len(view) - n, len(self._chunk))
            view[n : n + take] = self._chunk[:take]
            self._chunk = self._chunk[take:]
            n += take
        return n

    async def _next_chunk(self, n: int, waiting: Waiting | None) -> bytes:
        """The next chunk of ``receive()``; while it is awaited, ``waiting(n)`` every
        ``tick`` seconds (a cancel, or a newer request, stops a read that waits for a
        client gone silent). Should ``waiting`` raise, the read is abandoned."""
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._chunks.__anext__())
        while waiting is not None:
            done, _ = await asyncio.wait((self._pending,), timeout=self.tick)
            if done:
                break
            try:
                await waiting(n)
            except BaseException:
                self._pending.cancel()
                self._pending = None
                raise
        pending, self._pending = self._pending, None
        return await pending

    async def _read_direct(
        self, body: DirectBody, view: memoryview, some: bool, waiting: Waiting | None
    ) -> int:
        fut = body.readinto(view, some=some)
        try:
            while True:
                start, before = time.monotonic(), body.received
                timeout = self._pace.left()
                if waiting is not None:
                    timeout = min(timeout, self.tick)
                done, _ = await asyncio.wait((fut,), timeout=timeout)
                self._pace.add(time.monotonic() - start, body.received - before)
                if done:
                    return fut.result()
                if not self._pace.left():
                    raise self._pace.stalled()
                if waiting is not None:
                    await waiting(body.filled)
        except Exception as exc:
            _placed(exc, body.filled)
            raise
        finally:
            fut.cancel()  # (nothing when it is done) the buffer is not to be filled later


def _placed(exc: BaseException, n: int) -> None:
    """Tell, on the exception that stopped a read, how many bytes it had placed in the
    caller's buffer (a resumable upload keeps them)."""
    if not hasattr(exc, "received"):
        with contextlib.suppress(AttributeError):
            exc.received = n  # type: ignore[attr-defined]


class FileSink(Protocol):
    """What :func:`receive_file` needs of an import
    (:class:`~osdepot.services.import_run.ImportRun`)."""

    capacity: int

    async def write(self, data: bytes | memoryview) -> None: ...

    def buffer(self) -> tuple[mmap.mmap, int]: ...

    async def commit(self, n: int) -> None: ...

    async def waiting(self, pending: int) -> None: ...


async def receive_file(reader: BodyReader, sink: FileSink, delimiter: bytes) -> bytes:
    """Read a file part's data into the sink's buffers in place, up to ``delimiter``.

    Call it when the multipart parser is at part data with nothing carried over
    (``MultipartParser.in_data``). Each read fills the sink's buffer to its capacity
    and ``len(delimiter) - 1`` bytes beyond: a delimiter that starts inside the
    buffer then lies wholly in what was read, so when none is found the buffer is all
    file data, and the bytes beyond it are moved to the start of the next buffer.
    Returns the body bytes read from the delimiter on (to be fed to the parser), or
    ``b""`` when the body ended without one.
    """
    keep = len(delimiter) - 1
    have = 0  # bytes after the sink's fill not yet known to be file data
    while True:
        buf, fill = sink.buffer()
        end = sink.capacity + keep
        assert len(buf) >= end, "the sink's buffers leave no room to look ahead"

        async def waiting(got: int, ahead: int = have) -> None:
            await sink.waiting(ahead + got)  # progress and cancellation while it waits

        n = await reader.readinto(memoryview(buf)[fill + have : end], waiting=waiting)
        stop = fill + have + n
        at = memsearch.find(buf, delimiter, fill, stop)
        if at >= 0:
            await sink.commit(at - fill)
            return bytes(buf[at:stop])
        if stop < end:
            return b""  # the body ended inside the file part
        beyond = bytes(buf[sink.capacity : stop])
        await sink.commit(sink.capacity - fill)
        buf, fill = sink.buffer()
        assert fill == 0
        buf[: len(beyond)] = beyond
        have = len(beyond)
