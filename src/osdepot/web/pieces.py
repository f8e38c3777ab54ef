"""Whole answers sent in pieces, so that a client that does not read holds little.

uvicorn writes what an application sends into the connection's buffer whether or not
the client reads: a client that asks and never reads made the server hold each answer
whole — ``/openapi.json`` (217 KB, no login needed) asked on 1,000 such connections:
+252 MB; the repository listing is 3.4 MB at 10,000 entries. An answer whose body
comes in one message larger than :data:`PIECE` is sent here in pieces of that size;
before each piece uvicorn waits while the connection's buffer is over its high-water
mark (its flow control), so a connection holds about one piece more than that. A client
that takes nothing for ``stall`` seconds (``OSDEPOT_DOWNLOAD_STALL_TIMEOUT``) is cut:
:class:`~osdepot.errors.DownloadCut`, one line in the log.

Answers already sent in several messages (downloads, paced by web/sending.py) pass
as they are.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from osdepot.web.sending import send_within

#: The size of the pieces a whole answer is sent in. Each is a write of its own: to fast
#: clients over plain HTTP the uncompressed 3.4 MB listing went at 262–461 req/s against
#: 463–732 whole (alternating runs; 256 KiB pieces: no difference), but a client that
#: does not read then holds +19 MiB per 100 connections against +52 with 256 KiB, and
#: smaller answers (/openapi.json, 217 KB) are pieced too.
PIECE = 64 * 1024


class Pieces:
    """ASGI middleware: see the module."""

    def __init__(self, app: ASGIApp, stall: float = 60.0) -> None:
        self.app = app
        self.stall = stall

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        first = True

        async def send_in_pieces(message: Message) -> None:
            nonlocal first
            if message["type"] != "http.response.body" or not first:
                await send(message)
                return
            first = False
            body = message.get("body", b"")
            if message.get("more_body", False) or len(body) <= PIECE:
                await send(message)
                return
            view = memoryview(body)  # pieces are views of it: nothing is copied here
            for at in range(0, len(body), PIECE):
                piece: Message = {
                    "type": "http.response.body",
                    "body": view[at : at + PIECE],
                    "more_body": at + PIECE < len(body),
                }
                await send_within(
                    send,
                    piece,
                    self.stall,
                    f"{scope.get('path', '')}: the client took nothing of the answer for "
                    f"{self.stall:g} s",
                )

        await self.app(scope, receive, send_in_pieces)
