"""osdepot's uvicorn protocol hands body chunks on whole, and every byte arrives.

The protocol is driven as uvicorn drives it (``connection_made``, ``data_received``)
with a transport that records what is written back; the application reads the body
through ASGI ``receive``, as Starlette's ``request.stream()`` does.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from osdepot.web.protocol import BodyProtocol


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.reading = True
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def write(self, data: Any) -> None:
        self.written += bytes(data)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


class Recording(BodyProtocol):
    """Keeps the objects the HTTP parser produced, to compare with what the app got."""

    parsed: list[bytes] = []

    def on_body(self, body: bytes) -> None:
        self.parsed.append(body)
        super().on_body(body)


def run(pieces: list[bytes], *, app_waits: bool) -> tuple[list[Any], bytes, Transport]:
    """Feed a POST with ``pieces`` as its body; the app reads it chunk by chunk.
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
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def main() -> Transport:
        config = Config(app=app, log_level="warning", lifespan="off")
        config.load()
        Recording.parsed = []
        proto = Recording(config=config, server_state=ServerState(), app_state={})
        transport = Transport()
        proto.connection_made(transport)
        head = f"POST /files HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
        proto.data_received(head.encode())
        for piece in pieces:
            proto.data_received(piece)
            if not app_waits:
                await asyncio.sleep(0.01)  # the app takes each piece as it comes
        for _ in range(200):
            if b"ok" in transport.written:
                break
            await asyncio.sleep(0.01)
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


@pytest.mark.parametrize("sizes", [[10, 20, 30], [70_000, 1, 70_000, 3], [1] * 50])
def test_pieces_that_wait_are_gathered_in_order(sizes: list[int]) -> None:
    pieces = [os.urandom(n) for n in sizes]
    seen, _, transport = run(pieces, app_waits=True)
    assert transport.written.startswith(b"HTTP/1.1 201")
    assert all(type(c) is bytes for c in seen)
    assert len([c for c in seen if c]) < len(pieces)  # gathered, not one by one
