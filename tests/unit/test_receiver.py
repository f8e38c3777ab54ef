"""ingest/receiver.py: the buffers of an import, made when it starts and backed by huge
pages where the kernel gives them."""

from __future__ import annotations

import ctypes
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
