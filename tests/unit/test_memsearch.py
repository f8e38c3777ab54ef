"""web/memsearch.find: the same answers as ``bytes.find`` on the buffers of an upload."""

from __future__ import annotations

import mmap
import random

import pytest

from osdepot.ingest.receiver import new_buffer
from osdepot.web import memsearch

DELIM = b"\r\n--osdepotBenchBoundary7MA4YWxk"
SIZE = 4 * 1024 * 1024 + 4096


def _cases(rng: random.Random) -> list[tuple[int, int, list[int]]]:
    """(start, stop, where the delimiter is placed) for one buffer."""
    return [
        (0, SIZE, []),  # not there
        (0, SIZE, [0]),  # at the very start
        (0, SIZE, [SIZE - len(DELIM)]),  # ending at the very end
        (0, SIZE - 1, [SIZE - len(DELIM)]),  # cut by stop: not wholly inside
        (100, SIZE, [50]),  # before start: not seen
        (100, SIZE, [98]),  # straddling start: not seen
        (100, SIZE, [5000, 3_000_000]),  # the first of two
        (rng.randrange(70_000), SIZE - rng.randrange(70_000), [rng.randrange(SIZE - 64)]),
        (0, memsearch.SMALL - 1, [1000]),  # below the ctypes threshold
    ]


@pytest.mark.parametrize("kind", ["buffer", "mmap", "bytearray"])
def test_find_agrees_with_bytes_find(kind: str) -> None:
    rng = random.Random(7)
    noise = rng.randbytes(SIZE)
    for start, stop, spots in _cases(rng):
        data = bytearray(noise)
        for at in spots:
            data[at : at + len(DELIM)] = DELIM
        if kind == "buffer":
            buf: object = new_buffer(SIZE)
        elif kind == "mmap":
            buf = mmap.mmap(-1, SIZE)
        else:
            buf = bytearray(SIZE)
        buf[:] = data  # type: ignore[index]
        want = bytes(data).find(DELIM, start, stop)
        assert memsearch.find(buf, DELIM, start, stop) == want, (start, stop, spots)
        if isinstance(buf, mmap.mmap):
            buf.close()  # no buffer export is left behind


def test_partial_delimiters_are_not_matches() -> None:
    data = bytearray(random.Random(1).randbytes(1 << 20))
    for i in range(1, len(DELIM)):  # every proper prefix, many times over
        data[i * 20_000 : i * 20_000 + i] = DELIM[:i]
    assert memsearch.find(data, DELIM, 0, len(data)) == -1
    data[900_000 : 900_000 + len(DELIM)] = DELIM
    assert memsearch.find(data, DELIM, 0, len(data)) == 900_000


def test_read_only_and_odd_bounds_fall_back_to_find() -> None:
    data = random.Random(2).randbytes(1 << 20) + DELIM
    assert memsearch.find(data, DELIM, 0, len(data)) == 1 << 20  # bytes: read-only
    assert memsearch.find(bytearray(data), DELIM, 0, len(data) + 10) == 1 << 20
    assert memsearch.find(bytearray(data), DELIM, 5, 2) == -1


def test_without_memmem_the_buffer_find_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memsearch, "_memmem", None)
    data = bytearray(random.Random(3).randbytes(1 << 20)) + DELIM
    assert memsearch.find(data, DELIM, 0, len(data)) == 1 << 20


def test_memmem_is_found_here() -> None:
    """The fast path is the one the tests above exercise on this machine (glibc)."""
    assert memsearch._memmem is not None
