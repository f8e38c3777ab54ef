"""osdepot's uvicorn protocol: bodies read straight into the application's buffers,
body chunks handed on whole otherwise, and every byte of every request arrives.

The protocol is driven as uvicorn and uvloop drive it: ``connection_made`` with a
transport, which then reads through the buffered protocol the server installs
(``get_buffer``/``buffer_updated``), honouring pause/resume as a socket does. The
application reads the body through ASGI ``receive`` (as ``request.stream()`` does)
or through the ``osdepot.direct_body`` extension.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.requests import ClientDisconnect
from uvicorn.config import Config
from uvicorn.server import ServerState

from osdepot.web.body import DIRECT_BODY
from osdepot.web.protocol import _SCRATCH, BodyProtocol, DirectBody


class Transport(asyncio.Transport):
    """A socket's worth of transport: what the client sent waits in ``inbox`` and is
    read, at most ``read_size`` bytes a time, into the protocol's buffers while
    reading is not paused."""

    def __init__(self, read_size: int = 1 << 30) -> None:
        super().__init__()
        self.written = b""
        self.reading = True
        self.closed = False
        self.inbox = bytearray()
        self.read_size = read_size
        self.protocol: Any = None
        self.into: list[int] = []  # id() of the object behind each buffer read into
        self.aborted = False
        self.buffered = 0  # bytes written and not yet sent, as the transport reports

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def set_protocol(self, protocol: Any) -> None:
        assert isinstance(protocol, asyncio.BufferedProtocol)
        self.protocol = protocol

    def send(self, data: bytes) -> None:
        """The client sends ``data``."""
        self.inbox += data
        self.pump()

    def pump(self) -> None:
        while self.reading and self.inbox and not self.closed:
            buf = memoryview(self.protocol.get_buffer(-1))
            assert len(buf) > 0
            n = min(len(buf), len(self.inbox), self.read_size)
            buf[:n] = self.inbox[:n]
            self.into.append(id(buf.obj))
            del self.inbox[:n]
            self.protocol.buffer_updated(n)

    def write(self, data: Any) -> None:
        self.written += bytes(data)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        if not self.reading:
            self.reading = True
            asyncio.get_running_loop().call_soon(self.pump)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = self.aborted = True

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


class Recording(BodyProtocol):
    """Keeps the objects the HTTP parser produced, to compare with what the app got."""

    parsed: list[bytes] = []

    def on_body(self, body: bytes) -> None:
        self.parsed.append(body)
        super().on_body(body)


App = Callable[[Any, Any, Any], Awaitable[None]]


async def answer(send: Any, status: int = 201, body: bytes = b"ok") -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


def request(body: bytes, path: str = "/files", extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


def connect(app: App, read_size: int = 1 << 30) -> tuple[Recording, Transport]:
    config = Config(app=app, log_level="warning", lifespan="off")
    config.load()
    Recording.parsed = []
    proto = Recording(config=config, server_state=ServerState(), app_state={})
    transport = Transport(read_size)
    proto.connection_made(transport)
    return proto, transport


async def settle(transport: Transport, responses: int = 1) -> None:
    for _ in range(300):
        if transport.written.count(b"HTTP/1.1 2") >= responses:
            return
        await asyncio.sleep(0.01)


# -- ASGI receive: chunks handed on whole -------------------------------------------------


def run(pieces: list[bytes], *, app_waits: bool) -> tuple[list[Any], bytes, Transport]:
    """Send a POST with ``pieces`` as its body; the app reads it chunk by chunk.
    With ``app_waits`` every piece arrives before the app first asks for the body."""
    body = b"".join(pieces)
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if app_waits:
            await asyncio.sleep(0.05)
        while True:
            message = await receive()
            seen.append(message["body"])
            if not message.get("more_body"):
                break
        await answer(send)

    async def main() -> Transport:
        _, transport = connect(app)
        transport.send(request(body)[: -len(body)])
        for piece in pieces:
            transport.send(piece)
            if not app_waits:
                await asyncio.sleep(0.01)  # the app takes each piece as it comes
        await settle(transport)
        return transport

    transport = asyncio.run(main())
    assert b"".join(seen) == body
    return seen, body, transport


def test_a_piece_reaches_the_application_as_the_same_object() -> None:
    pieces = [os.urandom(70_000), os.urandom(100_000), os.urandom(5)]
    seen, _, transport = run(pieces, app_waits=False)
    assert transport.written.startswith(b"HTTP/1.1 201")
    chunks = [c for c in seen if c]
    assert len(chunks) == 3
    assert all(c is p for c, p in zip(chunks, Recording.parsed, strict=True))
    # Nothing but the protocol's own read buffer was read into.
    assert set(transport.into) == {id(_SCRATCH)}


@pytest.mark.parametrize("sizes", [[10, 20, 30], [70_000, 1, 70_000, 3], [1] * 50])
def test_pieces_that_wait_are_gathered_in_order(sizes: list[int]) -> None:
    pieces = [os.urandom(n) for n in sizes]
    seen, _, transport = run(pieces, app_waits=True)
    assert transport.written.startswith(b"HTTP/1.1 201")
    assert all(type(c) is bytes for c in seen)
    assert len([c for c in seen if c]) < len(pieces)  # gathered, not one by one


# -- the direct_body extension -----------------------------------------------------------


def direct_app(
    got: list[bytes], sizes: list[int], *, after: Callable[[DirectBody], None] | None = None
) -> tuple[App, list[int]]:
    """An app reading its body with readinto into buffers of ``sizes`` (repeating the
    last) until the body ends; records each request's body and the ids of its buffers."""
    buffers: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body: DirectBody = scope["extensions"][DIRECT_BODY]
        data = bytearray()
        i = 0
        while True:
            buf = bytearray(sizes[min(i, len(sizes) - 1)])
            buffers.append(id(buf))
            i += 1
            n = await body.readinto(memoryview(buf))
            data += buf[:n]
            if n < len(buf):
                break
        got.append(bytes(data))
        if after:
            after(body)
        await answer(send)

    return app, buffers


@pytest.mark.parametrize("read_size", [1 << 30, 1000, 7])
@pytest.mark.parametrize("sizes", [[100_000], [3, 5000, 1 << 20], [1]])
def test_a_body_is_read_into_the_applications_buffers(read_size: int, sizes: list[int]) -> None:
    got: list[bytes] = []
    app, buffers = direct_app(got, sizes)
    small = read_size == 7 or sizes == [1]  # a byte a time: keep it short
    first, second = os.urandom(3000 if small else 300_000), os.urandom(4000)

    async def main() -> Transport:
        _, transport = connect(app, read_size)
        transport.send(request(first)[: -len(first)] + first[:50])  # head and a few bytes
        await asyncio.sleep(0.02)
        transport.send(first[50:])
        await settle(transport)
        # The connection is kept: the next request is parsed by a fresh parser.
        transport.send(request(second, "/again"))
        await settle(transport, 2)
        return transport

    transport = asyncio.run(main())
    assert got == [first, second]
    assert transport.written.count(b"HTTP/1.1 201") == 2
    # After the first bytes the parser took, the body went into the app's buffers.
    direct = sum(1 for i in transport.into if i in set(buffers))
    assert direct >= 1
    assert not transport.inbox


def test_pipelined_requests_with_bodies() -> None:
    got: list[bytes] = []
    app, _ = direct_app(got, [4096])
    bodies = [os.urandom(n) for n in (10, 50_000, 0, 9000)]

    async def main() -> Transport:
        _, transport = connect(app, read_size=3000)
        transport.send(b"".join(request(b) for b in bodies if b))
        await settle(transport, 3)
        return transport

    asyncio.run(main())
    assert got == [b for b in bodies if b]


def test_an_early_answer_leaves_the_rest_of_the_body_unread_and_the_next_request_works() -> None:
    got: list[bytes] = []
    served: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        served.append(scope["path"])
        if scope["path"] == "/refuse":
            body: DirectBody = scope["extensions"][DIRECT_BODY]
            buf = bytearray(1000)
            assert await body.readinto(memoryview(buf)) == 1000  # then stops reading
            await answer(send, 200, b"no")
            return
        data = bytearray()
        while True:
            message = await receive()
            data += message["body"]
            if not message.get("more_body"):
                break
        got.append(bytes(data))
        await answer(send)

    async def main() -> Transport:
        _, transport = connect(app, read_size=5000)
        refused, kept = os.urandom(200_000), os.urandom(20_000)
        transport.send(request(refused, "/refuse")[:20_000])
        await asyncio.sleep(0.05)
        transport.send(request(refused, "/refuse")[20_000:] + request(kept, "/keep"))
        await settle(transport, 2)
        got.append(kept)
        return transport

    transport = asyncio.run(main())
    assert served == ["/refuse", "/keep"]
    assert got[0] == got[1]
    assert transport.written.count(b"HTTP/1.1 20") == 2


def test_a_client_that_goes_away_fails_the_waiting_read() -> None:
    outcome: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body: DirectBody = scope["extensions"][DIRECT_BODY]
        try:
            await body.readinto(memoryview(bytearray(1 << 20)))
        except ClientDisconnect as exc:
            outcome.append(exc)

    async def main() -> None:
        _, transport = connect(app)
        transport.send(request(os.urandom(1 << 20))[:5000])
        await asyncio.sleep(0.05)
        transport.protocol.connection_lost(None)
        await asyncio.sleep(0.05)

    asyncio.run(main())
    assert len(outcome) == 1 and isinstance(outcome[0], ClientDisconnect)


def test_a_cancelled_read_no_longer_fills_its_buffer() -> None:
    result: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body: DirectBody = scope["extensions"][DIRECT_BODY]
        buf = bytearray(100_000)
        fut = body.readinto(memoryview(buf))
        await asyncio.sleep(0.05)
        fut.cancel()
        await asyncio.sleep(0)
        filled = bytes(buf)
        await asyncio.sleep(0.1)  # the client sends the rest meanwhile
        result.append(bytes(buf) == filled)
        rest = bytearray(200_000)
        n = await body.readinto(memoryview(rest))
        result.append(n)
        await answer(send)

    async def main() -> Transport:
        _, transport = connect(app)
        data = request(os.urandom(150_000))
        transport.send(data[:-100_000])
        await asyncio.sleep(0.1)
        transport.send(data[-100_000:])
        await settle(transport)
        return transport

    asyncio.run(main())
    assert result[0] is True
    # The first read took the 50,000 bytes sent before it; the rest waited for the next.
    assert result[1] == 100_000


def test_expect_100_continue_is_answered_when_the_body_is_read() -> None:
    got: list[bytes] = []
    app, _ = direct_app(got, [1 << 16])
    body = os.urandom(10_000)

    async def main() -> Transport:
        _, transport = connect(app)
        transport.send(request(body, extra="Expect: 100-continue\r\n")[: -len(body)])
        await asyncio.sleep(0.05)
        assert transport.written == b"HTTP/1.1 100 Continue\r\n\r\n"
        transport.send(body)
        await settle(transport)
        return transport

    asyncio.run(main())
    assert got == [body]


@pytest.mark.parametrize("head", [b"Content-Length: 0\r\n", b"Transfer-Encoding: chunked\r\n", b""])
def test_no_direct_body_without_a_declared_length(head: bytes) -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope.get("extensions", {}).get(DIRECT_BODY))
        while (await receive()).get("more_body"):
            pass
        await answer(send)

    async def main() -> None:
        _, transport = connect(app)
        chunked = b"3\r\nabc\r\n0\r\n\r\n" if b"chunked" in head else b""
        transport.send(b"POST /x HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n" + chunked)
        await settle(transport)

    asyncio.run(main())
    assert seen == [None]


@pytest.mark.parametrize("how", ["shutdown", "keep-alive expired"])
@pytest.mark.parametrize("buffered", [0, 1])
def test_an_idle_connection_is_closed_without_waiting_for_the_client(
    how: str, buffered: int
) -> None:
    """Between requests, a stop or an expired keep-alive writes the close (TLS:
    close_notify) and drops the connection at once (web/protocol.py, _close_idle);
    while an answer is still buffered for the client, the close waits for it."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await answer(send)

    async def main() -> Transport:
        proto, transport = connect(app)
        transport.send(request(b"x"))
        await settle(transport)
        transport.buffered = buffered
        if how == "shutdown":
            proto.shutdown()
        else:
            proto.timeout_keep_alive_handler()
        return transport

    transport = asyncio.run(main())
    assert transport.closed
    assert transport.aborted is (buffered == 0)


def test_a_stop_lets_the_answer_in_progress_finish() -> None:
    started = asyncio.Event()
    finish = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        started.set()
        await finish.wait()
        await answer(send)

    async def main() -> Transport:
        proto, transport = connect(app)
        transport.send(request(b"x"))
        await started.wait()
        proto.shutdown()
        assert not transport.closed
        finish.set()
        await settle(transport)
        return transport

    transport = asyncio.run(main())
    assert b"HTTP/1.1 201" in transport.written
    assert transport.closed and not transport.aborted  # closed once the answer is written
