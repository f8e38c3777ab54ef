"""The upload stall guard: only the time spent waiting for the client counts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from osdepot.errors import OsdepotError
from osdepot.web.body import MIN_PROGRESS_BYTES, paced


async def source(chunks: int, size: int, pause: float) -> AsyncIterator[bytes]:
    for _ in range(chunks):
        await asyncio.sleep(pause)
        yield b"x" * size


async def consume(stream: AsyncIterator[bytes], work: float = 0.0) -> int:
    n = 0
    async for chunk in stream:
        n += len(chunk)
        await asyncio.sleep(work)  # the server busy with what it received
    return n


def test_a_slow_server_is_not_a_slow_client() -> None:
    # Each chunk arrives at once; the server spends longer than the window on each.
    n = asyncio.run(consume(paced(source(4, MIN_PROGRESS_BYTES, 0), 0.2), work=0.3))
    assert n == 4 * MIN_PROGRESS_BYTES


def test_a_trickling_client_is_let_go() -> None:
    start = time.monotonic()
    with pytest.raises(OsdepotError) as info:
        asyncio.run(consume(paced(source(1000, 100, 0.02), 0.3)))
    assert info.value.message_id == "FQXHMFC9030J"
    assert info.value.status == 408
    assert 0.25 < time.monotonic() - start < 1.5


def test_a_silent_client_is_let_go_and_a_steady_one_is_not() -> None:
    with pytest.raises(OsdepotError):
        asyncio.run(consume(paced(source(1, 10, 1.0), 0.2)))
    # 64 KiB every 0.1 s against a 0.3 s window: fine, however long it takes.
    n = asyncio.run(consume(paced(source(8, MIN_PROGRESS_BYTES, 0.1), 0.3)))
    assert n == 8 * MIN_PROGRESS_BYTES
