"""ingest/receiver.py: the buffers of an import, made when it starts and backed by huge
pages where the kernel gives them."""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from osdepot.ingest.receiver import BUFFERS, LOOKAHEAD, Receiver, new_buffer

MIB = 1 << 20


class _Staging:
    def __init__(self) -> None:
        self.written = bytearray()

    def write(self, data: memoryview) -> None:
        self.written += data


def test_buffers_are_made_when_the_receiver_starts() -> None:
    with ThreadPoolExecutor(2) as pool:
        rx = Receiver(4 * MIB, pool, ["sha256"])
        assert rx._bufs == []  # a receiver replaced before it starts holds no memory
        rx.start(_Staging())  # type: ignore[arg-type]
        assert len(rx._bufs) == BUFFERS
        assert all(len(b) == 4 * MIB + LOOKAHEAD for b in rx._bufs)
        buf, fill = rx.buffer()
        assert fill == 0
        buf[:3] = b"abc"  # writable


def _thp_mode() -> str:
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return "never"
    return text.split("[", 1)[1].split("]", 1)[0]


def _anon_huge_kib(address: int) -> int:
    """AnonHugePages of the mapping of this process that holds ``address``."""
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and all(c in "0123456789abcdef-" for c in head):
            lo, hi = (int(x, 16) for x in head.split("-"))
            inside = lo <= address < hi
        elif inside and line.startswith("AnonHugePages:"):
            return int(line.split()[1])
    return 0


def test_a_buffer_is_private_and_backed_by_huge_pages() -> None:
    if _thp_mode() == "never":
        pytest.skip("transparent huge pages are off on this kernel")
    buf = new_buffer(4 * MIB + LOOKAHEAD)
    view = (ctypes.c_char * 1).from_buffer(buf)
    address = ctypes.addressof(view)
    del view
    buf[: 4 * MIB] = b"\x01" * (4 * MIB)  # touched, as a request fills it
    # at least one whole 2 MiB page (the map's start need not be aligned to one)
    assert _anon_huge_kib(address) >= 2048
    buf.close()


class _HeldHash:
    """A SHA-256 whose updates wait until ``go`` is set (a hash lane that lags)."""

    def __init__(self, go: threading.Event) -> None:
        self._h, self._go = hashlib.sha256(), go
        self.updates = 0

    def update(self, data: memoryview) -> None:
        assert self._go.wait(10)
        self._h.update(data)
        self.updates += 1

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def test_writes_done_does_not_wait_for_the_hashes() -> None:
    """A resumable request is answered once its bytes are written (writes_done); its
    last buffers' hashes finish afterwards, in order, over every byte (drain)."""
    data = random.Random(4).randbytes(2 * MIB + 1000)
    go = threading.Event()
    held = _HeldHash(go)

    async def main() -> None:
        with ThreadPoolExecutor(4) as pool:
            rx = Receiver(MIB, pool, ["sha256"], seeded={"sha256": held})
            staging = _Staging()
            rx.start(staging)  # type: ignore[arg-type]
            pos = 0
            while pos < len(data):
                buf, fill = rx.buffer()
                n = min(rx.capacity - fill, len(data) - pos)
                buf[fill : fill + n] = data[pos : pos + n]
                pos += n
                await rx.commit(n)
            await asyncio.wait_for(rx.writes_done(), 10)  # the hashes are held back
            assert bytes(staging.written) == data and held.updates == 0
            go.set()
            await asyncio.wait_for(rx.drain(), 10)
            assert held.updates == 3
            assert rx.digests()["sha256"] == hashlib.sha256(data).hexdigest()

    asyncio.run(main())
