"""web/pieces.py on its own; tests/e2e/test_attacks.py holds it against a real server."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from osdepot.errors import DownloadCut
from osdepot.web.pieces import PIECE, Pieces


def _app(*bodies: tuple[bytes, bool]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for body, more in bodies:
            await send({"type": "http.response.body", "body": body, "more_body": more})

    return app


def _run(app: Any, send: Any, stall: float = 60.0) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    asyncio.run(Pieces(app, stall)({"type": "http", "path": "/x"}, receive, send))


def test_a_whole_answer_goes_in_pieces_and_others_as_they_are() -> None:
    body = os.urandom(3 * PIECE + 5)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    _run(_app((body, False)), send)
    pieces = [m for m in sent if m["type"] == "http.response.body"]
    assert [len(m["body"]) for m in pieces] == [PIECE, PIECE, PIECE, 5]
    assert [m["more_body"] for m in pieces] == [True, True, True, False]
    assert b"".join(m["body"] for m in pieces) == body
    # small answers, and answers already in several messages (downloads), pass as they are
    for bodies in (((b"small", False),), ((body, True), (body, False))):
        sent.clear()
        _run(_app(*bodies), send)
        got = [(m["body"], m["more_body"]) for m in sent if m["type"] == "http.response.body"]
        assert got == list(bodies)


def test_a_client_that_takes_nothing_is_cut_after_the_stall() -> None:
    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            await asyncio.sleep(3600)  # the connection's buffer never drains

    with pytest.raises(DownloadCut, match=r"took nothing of the answer for 0\.2 s"):
        _run(_app((b"x" * (2 * PIECE), False)), send, stall=0.2)
