"""Bounds on what downloads can make a server process hold.

Every piece of a download is read into memory before it is sent, and the transport
(TLS above all) keeps it until the client has taken it. :class:`SendBudget` counts
those bytes across all downloads of the process: a piece is admitted only while the
total stays under ``OSDEPOT_DOWNLOAD_BUFFER_BYTES``, and is counted until the *next*
send of its download returns — by then the transport has drained below its low-water
mark, so the piece has left the process. A download whose client does not take a
piece within ``OSDEPOT_DOWNLOAD_STALL_TIMEOUT`` seconds is cut, so that slow or
stalled readers cannot keep the budget from everyone else; a download that finds no
room for its first piece within that time is answered 503 ``FQXHMFC9041M`` with
``Retry-After``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from osdepot import metrics
from osdepot.errors import DownloadCut, error
from osdepot.messages import Messages


class SendBudget:
    """Bytes read for downloads and not yet taken by their clients, per process."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(capacity, 1)
        self.held = 0
        self._changed = asyncio.Condition()

    async def acquire(self, n: int, timeout: float) -> bool:
        """Room for ``n`` bytes (a piece larger than the whole budget gets it when it is
        alone); False after ``timeout`` seconds without room."""
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(
                        lambda: self.held == 0 or self.held + n <= self.capacity
                    )
            except TimeoutError:
                return False
            self.held += n
            return True

    async def release(self, n: int) -> None:
        if n:
            async with self._changed:
                self.held = max(self.held - n, 0)
                self._changed.notify_all()


_budgets: dict[int, SendBudget] = {}


def budget_for(capacity: int) -> SendBudget:
    """The process's budget (one per event loop and capacity)."""
    key = id(asyncio.get_running_loop()) ^ capacity
    found = _budgets.get(key)
    if found is None:
        if len(_budgets) > 16:
            _budgets.clear()
        found = _budgets[key] = SendBudget(capacity)
    return found


def busy(seconds: float) -> Exception:
    refused = error(Messages.DOWNLOADS_BUSY, seconds=f"{seconds:g}")
    refused.headers["Retry-After"] = "5"
    return refused


def abort(scope: Scope) -> None:
    """Drop a cut download's connection at once, with whatever its transport still
    holds for the client (the server's ``osdepot.abort`` extension, web/protocol.py)."""
    drop = scope.get("extensions", {}).get("osdepot.abort")
    if drop is not None:
        drop()


class PacedResponse(StreamingResponse):
    """A streamed answer whose every send must complete within ``stall`` seconds: a
    client that stops taking the bytes is cut (the connection closed). ``done`` runs
    however the answer ends — also when the client left before its body began, when
    the body's own clean-up never runs."""

    def __init__(
        self,
        body: AsyncIterator[bytes],
        stall: float,
        done: Callable[[], Awaitable[None]],
        **kw: Any,
    ) -> None:
        super().__init__(body, **kw)
        self.stall = stall
        self.done = done

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except DownloadCut:
            abort(scope)
            raise
        finally:
            await self.done()

    async def stream_response(self, send: Send) -> None:
        async def paced(message: Any) -> None:
            await send_within(
                send,
                message,
                self.stall,
                f"the client took no bytes for {self.stall:g} s; the download was cut",
            )

        await super().stream_response(paced)


async def send_within(send: Send, message: Any, stall: float, cut: str) -> None:
    """``send(message)``, or DownloadCut(``cut``) when the client takes nothing of it
    for ``stall`` seconds (the connection's buffer stays full)."""
    try:
        async with asyncio.timeout(stall):
            await send(message)
    except TimeoutError:
        raise DownloadCut(cut) from None


class ZeroCopyResponse(Response):
    """An answer whose body goes from a local file to the socket with ``os.sendfile``
    (the server's ``osdepot.sendfile`` extension, web/protocol.py): nothing of it is
    read into memory. ``done`` runs however it ends; a client that takes nothing for
    ``stall`` seconds, or leaves, is cut as a paced download is."""

    def __init__(
        self,
        sendfile: Any,
        span: tuple[int, int],
        count: int,
        stall: float,
        done: Callable[[], Awaitable[None]],
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.sendfile, self.span, self.count, self.stall, self.done = (
            sendfile,
            span,
            count,
            stall,
            done,
        )
        self.headers["Content-Length"] = str(count)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {"type": "http.response.start", "status": self.status_code,
                 "headers": self.raw_headers}
            )  # fmt: skip
            fd, offset = self.span
            sent = await self.sendfile(fd, offset, self.count, self.stall)
            metrics.BYTES_SENT.labels("sendfile").inc(sent)
            if sent < self.count:
                abort(scope)
                raise DownloadCut(
                    f"the client took {sent} of {self.count} bytes and then nothing for "
                    f"{self.stall:g} s, or left; the download was cut"
                )
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.sendfile.release()
            await self.done()
