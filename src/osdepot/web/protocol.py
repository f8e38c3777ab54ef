"""uvicorn's httptools protocol, reading large request bodies straight into the
application's buffers.

With uvicorn's own protocol every byte of an upload is copied three times on the
event-loop thread, the busiest thread of an upload: out of the event loop's read
buffer into a ``bytes`` object, by the HTTP parser into another ``bytes`` object
per body chunk, and by uvicorn into the ``bytearray`` it hands the application.
This protocol removes the copies:

* Reads go through a buffered protocol (``get_buffer``/``buffer_updated``): the
  socket is read into a buffer of this module and the HTTP parser reads it there.
* A request with a ``Content-Length`` carries a :class:`DirectBody` in
  ``scope["extensions"]["osdepot.direct_body"]``. Its ``readinto(view)`` makes the
  next socket reads land in the application's ``view`` itself: the body bytes the
  parser has not seen go from the kernel to their final buffer in one copy, past
  the parser (which is replaced by a fresh one for the next request on the
  connection once the body has been read).
* Otherwise the parser's ``bytes`` for a body chunk reach the application as they
  are when it is the only one waiting (``bytes(b)`` of a ``bytes`` object is the
  object itself); waiting chunks are gathered as uvicorn does.
* On a plain-TCP connection every request carries a :class:`SendFile` in
  ``scope["extensions"]["osdepot.sendfile"]``: a response body that lies in a local
  file goes from the page cache to the socket with ``os.sendfile`` (zero copy), in
  one of :data:`SENDFILE_THREADS` threads, instead of being read into memory and
  written by the event loop (web/downloads.py). TLS connections do not get it.

It also bounds what a client can make the server hold before a request reaches the
application (docs/reliability.md): a request head (request line and header fields)
of at most :data:`MAX_HEAD_BYTES` and :data:`MAX_HEADERS` fields, answered 431
otherwise, and complete within ``OSDEPOT_HEADER_TIMEOUT`` seconds of its first byte
(or of the connection), answered 408 and closed otherwise. llhttp keeps no limit of
its own: before these, a 96 MiB header field was gathered whole.

Measured with benchmarks/upload.py (docs/benchmarks.md). The class overrides the
parser callbacks it needs and nothing else of uvicorn's; tests/unit/test_protocol.py
drives it as uvicorn does, and tests/e2e run every request of the real server
through it, over TCP and TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httptools
from starlette.requests import ClientDisconnect
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from osdepot.config import Settings
from osdepot.errors import OsdepotException
from osdepot.web.body import DIRECT_BODY, INTERIM
from osdepot.web.connections import ConnectionLimits

#: The largest request head (request line and header fields) accepted, in bytes.
MAX_HEAD_BYTES = 64 * 1024
#: The most header fields one request may carry.
MAX_HEADERS = 100
#: Seconds a request head may take from its first byte (or from the connection, for the
#: first request) to its end. Read once from ``OSDEPOT_HEADER_TIMEOUT`` (a worker
#: process of ``--workers N`` reads the variables its parent set).
_SETTINGS = Settings.from_env()
HEADER_TIMEOUT = _SETTINGS.header_timeout
#: The connections this process holds at once, in all and per address (web/connections.py).
LIMITS = ConnectionLimits(
    _SETTINGS.max_connections,
    _SETTINGS.max_connections_per_address,
    _SETTINGS.forwarded_allow_ips,
)

#: Socket reads that are not read into an application's buffer land here. One per
#: process is enough: each read is handed on (parsed or copied) before the next.
_SCRATCH = bytearray(256 * 1024)
_SCRATCH_VIEW = memoryview(_SCRATCH)


class DirectBody:
    """A request body of known length, read into buffers the application provides.

    ``readinto(view)`` returns a future of the number of bytes placed in ``view``:
    all of it, unless the body ended first (0 once it has ended); with ``some=True``
    as soon as there is at least one byte. Bytes the HTTP parser already took come
    first; the rest are read from the socket into ``view``. ``filled`` is how many
    bytes the waiting read has placed so far.
    The future fails with :class:`ClientDisconnect` when the client goes away.
    Cancelling it leaves the rest of the body unread by the application.
    """

    def __init__(self, proto: BodyProtocol, cycle: RequestResponseCycle, length: int) -> None:
        self._proto = proto
        self._cycle = cycle
        self.length = length
        #: body bytes read from the socket so far (by the parser or into buffers)
        self.received = 0
        self._target: memoryview | None = None
        self._filled = 0
        self._some = False
        self._future: asyncio.Future[int] | None = None

    @property
    def unread(self) -> int:
        """Body bytes still in the socket."""
        return self.length - self.received

    @property
    def filled(self) -> int:
        return self._filled if self._future is not None else 0

    def readinto(self, view: memoryview, *, some: bool = False) -> asyncio.Future[int]:
        proto, cycle = self._proto, self._cycle
        fut: asyncio.Future[int] = proto.loop.create_future()
        if self._future is not None and not self._future.done():
            raise RuntimeError("readinto() while another readinto() is waiting")
        if cycle.disconnected:
            fut.set_exception(ClientDisconnect())
            return fut
        if cycle.waiting_for_100_continue and not cycle.transport.is_closing():
            cycle.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        n = 0
        if cycle.body:
            n = min(len(view), len(cycle.body))
            view[:n] = cycle.body[:n]
            cycle.body = cycle.body[n:]
        if n == len(view) or self.unread == 0 or (some and n):
            fut.set_result(n)
            return fut
        self._target, self._filled, self._future, self._some = view, n, fut, some
        fut.add_done_callback(self._forget)
        proto._direct = self  # the connection's reads are this body's until it ends
        proto.flow.resume_reading()
        return fut

    def _forget(self, fut: asyncio.Future[int]) -> None:
        if self._future is fut:  # cancelled: the buffer is no longer ours to fill
            self._target, self._future = None, None

    def _got(self, n: int) -> None:
        """``n`` bytes were read into the target."""
        self.received += n
        self._filled += n
        assert self._target is not None and self._future is not None
        if self._some or self._filled == len(self._target) or self.unread == 0:
            fut, filled = self._future, self._filled
            self._target, self._future = None, None
            fut.set_result(filled)
            if self.unread:
                self._proto.flow.pause_reading()  # until the application has a buffer

    def _kept(self, data: memoryview) -> None:
        """Body bytes read while the application had no buffer waiting."""
        self.received += len(data)
        cycle = self._cycle
        if cycle.response_complete:
            return  # answered already: the rest of the body is read and dropped
        if not isinstance(cycle.body, bytearray):
            cycle.body = bytearray(cycle.body)
        cycle.body += data
        if len(cycle.body) > HIGH_WATER_LIMIT:
            self._proto.flow.pause_reading()
        cycle.message_event.set()  # as for the parser's body chunks (receive())

    def _lost(self) -> None:
        if self._future is not None:
            fut = self._future
            self._target, self._future = None, None
            exc = ClientDisconnect()
            exc.received = self._filled  # type: ignore[attr-defined]  # placed before
            fut.set_exception(exc)


#: downloads sent with os.sendfile at once (each takes a thread while it runs); more
#: are sent the ordinary way
SENDFILE_THREADS = 16
SENDFILE = "osdepot.sendfile"
ABORT = "osdepot.abort"
_sendfile_pool = ThreadPoolExecutor(SENDFILE_THREADS, thread_name_prefix="osdepot-sendfile")
_sendfile_busy = 0


def _sendfile(sock: int, fd: int, offset: int, count: int, stall: float) -> int:
    """Send ``count`` bytes of ``fd`` at ``offset`` to the non-blocking socket
    ``sock``; the bytes sent (fewer when the client left, took nothing for ``stall``
    seconds, or the file ended)."""
    sent = 0
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    while sent < count:
        try:
            n = os.sendfile(sock, fd, offset + sent, min(count - sent, 1 << 30))
        except BlockingIOError:
            if not poller.poll(stall * 1000):
                return sent  # the client took nothing for `stall` seconds
            continue
        except OSError:
            return sent  # the client left
        if n == 0:
            return sent  # the file ended early (fsck finds it)
        sent += n
    return sent


class SendFile:
    """The ``osdepot.sendfile`` extension of one request on a plain-TCP connection."""

    def __init__(self, proto: BodyProtocol, cycle: RequestResponseCycle) -> None:
        self._proto, self._cycle = proto, cycle
        self._reserved = False

    def reserve(self) -> bool:
        """Take one of the SENDFILE_THREADS; False when all are sending."""
        global _sendfile_busy
        if self._reserved or _sendfile_busy >= SENDFILE_THREADS:
            return self._reserved
        _sendfile_busy += 1
        self._reserved = True
        return True

    def release(self) -> None:
        global _sendfile_busy
        if self._reserved:
            self._reserved = False
            _sendfile_busy -= 1

    async def __call__(self, fd: int, offset: int, count: int, stall: float) -> int:
        """After ``http.response.start``: send the body from ``fd``; the bytes sent.
        The reservation ends with it."""
        cycle, transport = self._cycle, self._proto.transport
        try:
            # the head must be out before the body goes past the transport
            waited = 0.0
            while transport.get_write_buffer_size() and not cycle.disconnected:
                if waited > stall:
                    return 0
                await asyncio.sleep(0.005)
                waited += 0.005
            if cycle.disconnected or transport.is_closing():
                return 0
            sock = transport.get_extra_info("socket").fileno()
            loop = asyncio.get_running_loop()
            sent = await loop.run_in_executor(
                _sendfile_pool, _sendfile, sock, fd, offset, count, stall
            )
        finally:
            self.release()
        # what uvicorn counts against Content-Length when the body goes through it
        cycle.expected_content_length -= sent
        return sent


class _Reads(asyncio.BufferedProtocol):
    """The transport's protocol: reads into a buffer, hands them to :class:`BodyProtocol`."""

    def __init__(self, proto: BodyProtocol) -> None:
        self._proto = proto
        self._into_target = False

    def get_buffer(self, sizehint: int) -> memoryview:
        body = self._proto._direct
        if body is None:
            self._into_target = False
            return _SCRATCH_VIEW
        left = body.unread
        if body._future is not None and not body._future.done():
            self._into_target = True
            assert body._target is not None
            return body._target[body._filled : body._filled + left]
        self._into_target = False
        return _SCRATCH_VIEW[:left]

    def buffer_updated(self, nbytes: int) -> None:
        proto = self._proto
        body = proto._direct
        if body is None:
            proto.data_received(_SCRATCH_VIEW[:nbytes])  # type: ignore[arg-type]
            return
        if self._into_target:
            body._got(nbytes)
        else:
            body._kept(_SCRATCH_VIEW[:nbytes])
        if body.unread == 0:
            proto._body_read()

    def eof_received(self) -> None:
        self._proto.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        body = self._proto._direct
        if body is not None:
            body._lost()
        self._proto.connection_lost(exc)

    def pause_writing(self) -> None:
        self._proto.pause_writing()

    def resume_writing(self) -> None:
        self._proto.resume_writing()


class _HeadTooLarge(OsdepotException):
    """Raised in a parser callback: the head is over the limits."""


def _refusal(status: int, reason: str, text: str, extra: str = "") -> bytes:
    body = text.encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\n{extra}connection: close\r\n\r\n"
    ).encode() + body


TOO_LARGE = _refusal(
    431,
    "Request Header Fields Too Large",
    f"The request head is larger than {MAX_HEAD_BYTES} bytes or has more than "
    f"{MAX_HEADERS} header fields.",
)
TOO_SLOW = _refusal(
    408, "Request Timeout", "The request head was not complete in time; the connection is closed."
)


class BodyProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._body: DirectBody | None = None  # of the request being parsed
        self._direct: DirectBody | None = None  # the body the socket is read into
        # The head being parsed: bytes fed to the parser since the last request ended
        # (counted before each feed; at most one read more than the head itself),
        # header fields and their exact size, and the timer that ends a slow head.
        self._in_head = True
        self._head_fed = 0
        self._head_fields = 0
        self._head_size = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._counted: str | None = None  # the address this connection is counted under

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        transport.set_protocol(_Reads(self))
        host = self.client[0] if self.client else ""
        why = LIMITS.admit(host)
        if why is not None:
            self._refuse(_refusal(503, "Service Unavailable", why + ".", "retry-after: 1\r\n"), why)
            return
        self._counted = host
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        if self._counted is not None:
            LIMITS.release(self._counted)
            self._counted = None
        super().connection_lost(exc)

    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(HEADER_TIMEOUT, self._head_too_slow)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            self._start_head_timer()  # a pipelined head waits for the answer before it
            return
        if self._in_head and not self.transport.is_closing():
            self._refuse(TOO_SLOW, f"request head not complete in {HEADER_TIMEOUT:g} s")

    def shutdown(self) -> None:
        """uvicorn's, except that an idle connection is closed at once (below); one
        with an answer in progress is left to uvicorn (closed after the answer)."""
        if self.cycle is None or self.cycle.response_complete:
            self._close_idle()
        else:
            super().shutdown()

    def timeout_keep_alive_handler(self) -> None:
        if not self.transport.is_closing():
            self._close_idle()

    def _close_idle(self) -> None:
        """Close a connection between requests without waiting for the client.

        A TLS close sends close_notify and then waits for the client's own, up to the
        TLS shutdown timeout; a client that keeps the connection idle in its pool (as
        requests, browsers and pylxca do) never sends it until it next reads. Each
        such connection held a stopping server for ``OSDEPOT_HEADER_TIMEOUT`` seconds
        ("timeout graceful shutdown exceeded" when that is over
        ``OSDEPOT_SHUTDOWN_TIMEOUT``) and an expired one stayed counted as long.
        Waiting is not required (RFC 8446, 6.1): close_notify is written, then the
        connection is dropped. What is still buffered for the client is not dropped:
        such a close waits as before.
        """
        self.transport.close()
        if self.transport.get_write_buffer_size() == 0:
            self.transport.abort()

    def _refuse(self, answer: bytes, why: str) -> None:
        self.logger.warning("refused a request from %s: %s", _peer(self.client), why)
        self.transport.write(answer)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        """uvicorn's, with the head's limits (431 instead of uvicorn's 400 for them)."""
        self._unset_keepalive_if_required()
        if self._in_head:
            self._head_fed += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _HeadTooLarge) or isinstance(
                exc.__cause__, _HeadTooLarge
            ):
                self._refuse(TOO_LARGE, "request head over the limits")
                return
            self._invalid()
            return
        except httptools.HttpParserError:
            self._invalid()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._in_head and self._head_fed > MAX_HEAD_BYTES:
            # Still in the head after more than the limit (the count leaves out what
            # followed the end of the previous request in the same read: never more).
            self._refuse(TOO_LARGE, "request head over the limits")

    def _invalid(self) -> None:
        msg = "Invalid HTTP request received."
        self.logger.warning(msg)
        self.send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._body = None
        self._in_head = True
        self._head_fields = 0
        self._head_size = 0
        self._start_head_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._head_size += len(url)
        if self._head_size > MAX_HEAD_BYTES:
            raise _HeadTooLarge

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_fields += 1
        self._head_size += len(name) + len(value) + 4
        if self._head_fields > MAX_HEADERS or self._head_size > MAX_HEAD_BYTES:
            raise _HeadTooLarge
        super().on_header(name, value)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_fed = True, 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_timer()
        super().on_headers_complete()
        if self.parser.should_upgrade():
            return
        extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
        # A cut download drops what the transport still holds for its client and
        # closes at once (uvicorn's close would wait for a client that reads nothing).
        extensions[ABORT] = self.transport.abort
        extensions[INTERIM] = _Interim(self.transport, self.cycle)
        if self.transport.get_extra_info("sslcontext") is None:
            extensions[SENDFILE] = SendFile(self, self.cycle)
        length = _content_length(self.headers)
        if length:
            self._body = DirectBody(self, self.cycle, length)
            found: dict[str, Any] = self.scope.setdefault("extensions", {})
            found[DIRECT_BODY] = self._body

    def on_body(self, body: bytes) -> None:
        if self._body is not None:
            self._body.received += len(body)
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        waiting = cycle.body
        if not waiting:
            cycle.body = body  # type: ignore[assignment]  # handed on without a copy
        elif isinstance(waiting, bytearray):
            waiting += body
        else:
            cycle.body = bytearray(waiting) + body
        if len(cycle.body) > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.message_event.set()

    def _body_read(self) -> None:
        """The body read past the parser has ended: a fresh parser takes the next
        request on this connection, and the request's receive() sees the end."""
        body = self._direct
        assert body is not None
        self._direct = self._body = None
        self.parser = httptools.HttpRequestParser(self)
        with contextlib.suppress(AttributeError):  # httptools < 0.6.3 has no leniencies
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        cycle = body._cycle
        cycle.more_body = False
        cycle.message_event.set()
        self._in_head, self._head_fed = True, 0


class _Interim:
    """``interim(status, reason, headers)``: an informational (1xx) response written
    before the final one (the resumable-upload draft's 104); nothing once the final
    response has begun."""

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        self._transport, self._cycle = transport, cycle

    def __call__(self, status: int, reason: str, headers: list[tuple[str, str]]) -> bool:
        if self._cycle.response_started or self._transport.is_closing():
            return False
        lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
        self._transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        return True


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "a client"


def _content_length(headers: list[tuple[bytes, bytes]]) -> int:
    """The declared body length; 0 for none, a chunked body or an invalid value
    (the parser itself refuses what is not valid HTTP)."""
    length = 0
    for name, value in headers:
        if name == b"transfer-encoding":
            return 0
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return 0
    return max(length, 0)
