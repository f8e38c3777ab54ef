"""Reading a file part in place (web/body.py): the file's bytes are exactly those
before the first delimiter, wherever it falls against the sink's buffers; and a
body read from the socket straight into buffers still lets a stalled client go.
"""

from __future__ import annotations

import asyncio
import mmap
import os
import random
from typing import Any

import pytest
from starlette.requests import Request

from osdepot.errors import OsdepotError
from osdepot.ingest.receiver import LOOKAHEAD
from osdepot.messages import Messages
from osdepot.services.import_run import ImportRun
from osdepot.web.body import DIRECT_BODY, MIN_PROGRESS_BYTES, BodyReader
from osdepot.web.protocol import DirectBody
from osdepot.web.upload_form import UploadForm
from tests.unit.test_protocol import answer, connect, request, settle

BOUNDARY = b"b0undary-x"
DELIM = b"\r\n--" + BOUNDARY


class Sink:
    """An import's buffers and commit, keeping what it would write out."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._bufs = [mmap.mmap(-1, capacity + LOOKAHEAD) for _ in range(2)]
        self._cur = 0
        self._fill = 0
        self.written = bytearray()
        self.waits: list[int] = []

    def buffer(self) -> tuple[mmap.mmap, int]:
        return self._bufs[self._cur], self._fill

    async def commit(self, n: int) -> None:
        assert n >= 0 and self._fill + n <= self.capacity
        self._fill += n
        if self._fill == self.capacity:
            self.flush()
            self._cur ^= 1
            # Whatever the reader left in the other buffer must not be written out.
            self._bufs[self._cur][:] = b"\xee" * len(self._bufs[self._cur])

    def flush(self) -> None:
        self.written += self._bufs[self._cur][: self._fill]
        self._fill = 0

    async def waiting(self, pending: int) -> None:
        self.waits.append(pending)

    write = ImportRun.write  # the real copying path, over this buffer and commit


class Reader:
    """BodyReader's contract over bytes: fills the view unless the body ends."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)

    async def readinto(self, view: memoryview, **_: Any) -> int:
        n = min(len(view), len(self.data))
        view[:n] = self.data[:n]
        self.data = self.data[n:]
        return n


def form(file: bytes, after: bytes = b"") -> bytes:
    return (
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="uploadedfile"; '
        b'filename="f.bin"\r\n\r\n' + file + DELIM + after + b"--\r\n"
    )


def parse(body: bytes, capacity: int, head: int) -> tuple[bytes, dict[str, str], bool]:
    """What the upload handler does (web/upload_form.py): ``head`` bytes a time
    through the parser until the file's data, then receive_file. Returns the file,
    the fields and whether the parser saw the closing boundary."""
    sink, reader = Sink(capacity), Reader(body)
    upload = UploadForm(reader, BOUNDARY, head)  # type: ignore[arg-type]  # Reader stands in for BodyReader
    refused: list[bool] = []

    async def run() -> None:
        try:
            await upload.file_part()
            await upload.receive_file(sink)
            await upload.rest()
        except OsdepotError as exc:
            # A body that ends early is refused; the caller checks ``finished``.
            refused.append(exc.message is Messages.MALFORMED_BODY and not upload.finished)
        sink.flush()

    asyncio.run(run())
    assert refused in ([], [True])
    return bytes(sink.written), upload.fields, upload.finished


def tricky(size: int, rng: random.Random) -> bytes:
    """File data sprinkled with beginnings of the delimiter (never all of it)."""
    data = bytearray(rng.randbytes(size))
    for _ in range(size // 40):
        at = rng.randrange(max(size, 1))
        piece = DELIM[: rng.randrange(1, len(DELIM))]
        data[at : at + len(piece)] = piece
    while DELIM in data:
        data[data.index(DELIM)] ^= 0xFF
    return bytes(data[:size])


@pytest.mark.parametrize("capacity", [64, 100, 4096])
def test_the_file_is_what_comes_before_the_delimiter_wherever_it_falls(capacity: int) -> None:
    rng = random.Random(capacity)
    for size in [0, 1, capacity - 1, capacity, capacity + 1, 3 * capacity - len(DELIM)]:
        for shift in range(-len(DELIM) - 2, len(DELIM) + 2):
            n = max(size + shift, 0)
            data = tricky(n, rng)
            for head in (7, 64):
                got, _, finished = parse(form(data), capacity, head)
                assert got == data, (capacity, n, head)
                assert finished


def test_a_delimiter_prefix_at_the_end_of_every_buffer() -> None:
    capacity = 50
    data = bytearray(os.urandom(20 * capacity))
    for k in range(1, 20):
        cut = k % len(DELIM) or 1
        data[k * capacity - cut : k * capacity] = DELIM[:cut]
        # The random byte after a prefix must not complete the delimiter (for the prefix
        # one byte short, 1 run in 256 did: then the data held a real delimiter).
        if data[k * capacity] == DELIM[cut]:
            data[k * capacity] ^= 0xFF
    got, _, _ = parse(form(bytes(data)), capacity, 16)
    assert got == bytes(data)


def test_fields_after_the_file_are_read() -> None:
    data = os.urandom(10_000)
    after = b'\r\nContent-Disposition: form-data; name="checksumValue"\r\n\r\nabc123' + DELIM
    got, fields, finished = parse(form(data, after), 256, 64)
    assert got == data and fields == {"checksumValue": "abc123"} and finished


def test_a_body_that_ends_inside_the_file_is_not_finished() -> None:
    data = os.urandom(5000)
    body = form(data)[: -len(DELIM) - 10]
    _, _, finished = parse(body, 256, 64)
    assert not finished


# -- BodyReader over the protocol's direct body ---------------------------------------


async def play(app: Any, sends: list[tuple[float, bytes]]) -> None:
    """The client sends each piece after its delay; then the app answers."""
    _, transport = connect(app)
    for delay, data in sends:
        await asyncio.sleep(delay)
        transport.send(data)
    await settle(transport)


def serve_reader(sends: list[tuple[float, bytes]], window: float, read: int) -> list[Any]:
    """A server whose app reads its body with BodyReader into buffers of ``read``
    bytes; the client sends each piece after its delay. Returns what the app saw."""
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert isinstance(scope["extensions"][DIRECT_BODY], DirectBody)
        reader = BodyReader(Request(scope, receive), window)
        assert reader.direct
        buf = memoryview(bytearray(read))
        total = 0
        try:
            while n := await reader.readinto(buf):
                total += n
            seen.append(total)
        except OsdepotError as exc:
            seen.append(exc.message.id)
        await answer(send)

    asyncio.run(play(app, sends))
    return seen


def test_a_silent_client_is_let_go() -> None:
    body = os.urandom(1 << 20)
    seen = serve_reader([(0, request(body)[:10_000])], window=0.3, read=1 << 20)
    assert seen == ["FQXHMFC9030J"]


def test_a_steady_client_is_not_let_go_though_a_buffer_takes_longer_than_the_window() -> None:
    piece = MIN_PROGRESS_BYTES + 1000
    body = os.urandom(8 * piece)
    raw = request(body)
    head = len(raw) - len(body)
    sends = [(0.0, raw[:head])] + [
        (0.12, raw[head + i * piece : head + (i + 1) * piece]) for i in range(8)
    ]
    # One read wants the whole body: it takes ~1 s, the window is 0.3 s.
    seen = serve_reader(sends, window=0.3, read=len(body))
    assert seen == [len(body)]


def test_a_waiting_read_reports_what_it_has_and_can_be_stopped() -> None:
    """While a buffer fills slowly, ``waiting`` sees the bytes placed so far (the
    upload's progress and cancellation check); an error it raises ends the read."""
    piece = 10_000
    body = os.urandom(10 * piece)
    raw = request(body)
    head = len(raw) - len(body)
    sends = [(0.0, raw[:head])] + [
        (0.1, raw[head + i * piece : head + (i + 1) * piece]) for i in range(10)
    ]
    seen: list[Any] = []
    waits: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reader = BodyReader(Request(scope, receive), window=5, tick=0.15)

        async def waiting(got: int) -> None:
            waits.append(got)
            if got >= 6 * piece:
                raise RuntimeError("cancelled")

        try:
            await reader.readinto(memoryview(bytearray(len(body))), waiting=waiting)
        except RuntimeError as exc:
            seen.append(str(exc))
        # The stopped read no longer fills its buffer; the rest of the body is there
        # for the next read.
        rest = bytearray(len(body))
        n = await reader.readinto(memoryview(rest), some=True)
        seen.append(n)
        await answer(send)

    asyncio.run(play(app, sends))
    assert len(waits) >= 3 and waits == sorted(waits) and waits[0] > 0
    assert seen[0] == "cancelled"
    assert 0 < seen[1] <= len(body) - waits[-1]


def test_a_read_of_some_bytes_returns_what_has_come() -> None:
    body = os.urandom(200_000)
    raw = request(body)
    head = len(raw) - len(body)
    seen = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reader = BodyReader(Request(scope, receive), window=5)
        buf = memoryview(bytearray(len(body)))
        seen.append(await reader.readinto(buf, some=True))
        seen.append(await reader.readinto(buf, some=True))
        await answer(send)

    sends = [(0.0, raw[: head + 5000]), (0.05, raw[head + 5000 : head + 12_000])]
    asyncio.run(play(app, [*sends, (0.2, raw[head + 12_000 :])]))
    assert seen == [5000, 7000]
