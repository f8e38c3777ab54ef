"""The buffer ring of one import: bytes placed in page-aligned buffers, each full
buffer written to a staging area and hashed, in lanes, while the next is filled.

A :class:`Receiver` knows nothing of jobs, the catalog, HTTP or metrics: its owner
(the import service) checks sizes against what was declared, reports progress and
turns an ``OSError`` of the write into the user's message.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import mmap
from collections.abc import Iterable
from concurrent.futures import Executor
from typing import Any

from osdepot.ingest.lanes import Lane, gather_all
from osdepot.ports import Staging

#: Room past a buffer's capacity (see :meth:`Receiver.buffer`): a reader may look this far
#: past the end of a full buffer (for a multipart delimiter that starts inside it).
LOOKAHEAD = 4096
#: Buffers per import: one being filled, the others written and hashed meanwhile.
BUFFERS = 3


def new_buffer(size: int) -> mmap.mmap:
    """Page-aligned memory for one buffer (a blob store may write it in whatever way
    suits it best, ``O_DIRECT`` included): a private anonymous map, backed by huge
    pages where the kernel has them to give (transparent huge pages in ``madvise``
    mode). A 4 MiB buffer is then two page faults instead of 1,024 when a request
    first fills it, and two pages to pin for each ``O_DIRECT`` write."""
    try:
        buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return mmap.mmap(-1, size)
    advice = getattr(mmap, "MADV_HUGEPAGE", None)
    if advice is not None:
        with contextlib.suppress(OSError):  # a kernel without transparent huge pages
            buf.madvise(advice)
    return buf


class Receiver:
    """Receives one file's bytes into its buffers; writes and hashes them off the event
    loop. ``hashes`` names the hashlib algorithms computed while the bytes arrive.

    It holds no reference to its owner (no callback): an owner and its receiver are
    freed, buffers included, as soon as the owner is dropped, not at a later garbage
    collection."""

    def __init__(
        self,
        capacity: int,
        pool: Executor,
        hashes: Iterable[str],
        seeded: dict[str, Any] | None = None,
        at: int = 0,
    ) -> None:
        """``seeded``: hash objects that have taken the file's first ``at`` bytes already
        (a resumable upload going on), used as they are; of ``hashes`` those not seeded
        are new. With ``at`` and a hash missing from ``seeded``, that hash is unknown
        until :meth:`digests` reads the staged file back."""
        self.capacity = capacity
        self._pool = pool
        #: made by start(): a receiver replaced before it starts costs no memory
        self._bufs: list[mmap.mmap] = []
        self._cur = 0
        self._fill = 0
        #: each buffer's write and hashes, until they are done
        self._pending: list[asyncio.Future[None] | None] = [None] * BUFFERS
        #: each buffer's write alone (see writes_done)
        self._written: list[asyncio.Future[Any] | None] = [None] * BUFFERS
        #: the write and each hash, by name (made in start)
        self._lanes: dict[str, Lane] = {}
        seeded = dict(seeded or {})
        self._hashers: dict[str, Any] = {}
        #: hashes of the whole file that cannot be computed as the bytes arrive (they
        #: lack the bytes before ``at``): read back by digests()
        self.missing: set[str] = set()
        for name in hashes:
            if name in seeded:
                self._hashers[name] = seeded.pop(name)
            elif at:
                self.missing.add(name)
            else:
                self._hashers[name] = hashlib.new(name)
        self._hashers.update(seeded)
        self.staging: Staging | None = None
        #: bytes committed so far, and of those handed to the lanes
        self.received = at
        self.dispatched = at

    def start(self, staging: Staging) -> None:
        """Write into ``staging`` from now on."""
        self.staging = staging
        if not self._bufs:
            self._bufs = [new_buffer(self.capacity + LOOKAHEAD) for _ in range(BUFFERS)]
        self._lanes["write"] = Lane(self._pool, staging.write)
        for name, h in self._hashers.items():
            self._lanes[name] = Lane(self._pool, h.update)

    def buffer(self) -> tuple[mmap.mmap, int]:
        """The buffer being filled and how many of its bytes are file data so far.

        A caller may place the next file bytes at ``fill`` itself and report them
        with :meth:`commit`; bytes from ``capacity`` to ``capacity + LOOKAHEAD`` are
        scratch room, never written out.
        """
        return self._bufs[self._cur], self._fill

    def check_room(self, n: int) -> None:
        """ValueError unless ``n`` more bytes fit in the buffer being filled."""
        if n < 0 or self._fill + n > self.capacity:
            raise ValueError(f"cannot commit {n} bytes at {self._fill} of {self.capacity}")

    async def commit(self, n: int) -> None:
        """The next ``n`` bytes of the file are in place in :meth:`buffer`; a full buffer
        goes to the lanes. Raises the write's ``OSError`` of an earlier buffer."""
        self.check_room(n)
        self.received += n
        self._fill += n
        if self._fill == self.capacity:
            await self.dispatch()

    async def _await_buffer(self, i: int) -> None:
        pending, self._pending[i] = self._pending[i], None
        self._written[i] = None
        if pending is not None:
            await pending

    def _hand_over(self) -> None:
        """Give the buffer being filled, if it holds bytes, to the lanes."""
        if not self._fill:
            return
        chunk = memoryview(self._bufs[self._cur])[: self._fill]
        self.dispatched += self._fill
        # The write and each hash have a lane of their own, which takes the buffers
        # in order in a worker thread (hashlib and os.write release the GIL): the
        # slowest lane sets the pace, not their sum, and with buffers queued a lane
        # goes from one to the next without waiting for the event loop.
        futures = [asyncio.wrap_future(lane.submit(chunk)) for lane in self._lanes.values()]
        self._written[self._cur] = futures[0]  # the write lane, made first in start()
        self._pending[self._cur] = asyncio.ensure_future(gather_all(futures))
        self._cur = (self._cur + 1) % len(self._bufs)
        self._fill = 0

    async def dispatch(self) -> None:
        """Hand the buffer being filled to the lanes; make the next one ready to fill."""
        self._hand_over()
        await self._await_buffer(self._cur)

    async def writes_done(self) -> None:
        """Every committed byte is written (or the write's error raised); the hashes of
        the last buffers may still be running (:meth:`drain` waits for them). No more
        bytes are to be committed after it."""
        self._hand_over()
        for i, written in enumerate(self._written):
            self._written[i] = None
            if written is not None:
                await written

    async def drain(self) -> None:
        """Everything committed is written and hashed (or the write's error raised)."""
        await self.dispatch()
        for i in range(len(self._bufs)):
            await self._await_buffer(i)

    async def settle(self, writes_only: bool = False) -> None:
        """Wait for whatever is in flight, ignoring its errors (before an abort, or
        before the staging area is closed); with ``writes_only`` for the writes
        alone (the hashes read nothing but the buffers)."""
        for i, pending in enumerate(self._written if writes_only else self._pending):
            if pending is not None:
                with contextlib.suppress(Exception):
                    await pending
                if not writes_only:
                    self._pending[i] = None
            self._written[i] = None

    def hashers(self) -> dict[str, Any]:
        """The hash objects, by name, after :meth:`drain` (a resumable upload keeps
        them between its requests)."""
        return dict(self._hashers)

    def digests(self, algo: str | None = None) -> dict[str, str]:
        """Hex digests (blocking); an algorithm first named now, and those that missed
        the first bytes, are computed by reading the staging area back once (the file
        is still written only once)."""
        later = set(self.missing)
        if algo and algo not in self._hashers:
            later.add(algo)
        if later:
            assert self.staging is not None
            new = {name: hashlib.new(name) for name in sorted(later)}
            for chunk in self.staging.read_chunks():
                for h in new.values():
                    h.update(chunk)
            self._hashers.update(new)
            self.missing.clear()
        return {name: h.hexdigest() for name, h in self._hashers.items()}
