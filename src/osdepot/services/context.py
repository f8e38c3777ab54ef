"""The object that holds what every service needs: settings, catalog, blob store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import anyio.to_thread

from osdepot.config import Settings
from osdepot.ports import BlobStore, BmcReader, Catalog, FetcherFactory
from osdepot.services.running import RunningImports

if TYPE_CHECKING:
    from osdepot.services.repository import RenderedListing

P = ParamSpec("P")
T = TypeVar("T")


#: seconds the event loop leaves catalog reads to threads after one failed on it
LOOP_READ_PAUSE = 5.0


async def to_the_end(step: Awaitable[T]) -> T:
    """``step`` run to its end even when this task is cancelled (a job's cancel stops
    its background task at once; so does the server's stop), the cancel raised after
    it. A cancelled task lets go of the thread it waits for (``Context.run``), which
    goes on alone: a staging area made, a blob promoted, a BMC's media inserted or its
    server restarted after the task's cleanup ran, or a commit recorded after the task
    deleted its blob."""
    task = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # seen: the cancel is what the task ends with
        raise


def catalog_words(exc: BaseException) -> str:
    """The first line of what the catalog's database driver said (at most 200
    characters), for a message or a log line."""
    lines = str(getattr(exc, "orig", exc)).splitlines()
    return lines[0][:200] if lines else type(exc).__name__


@dataclass
class Context:
    """Shared state of one server process. Everything durable lives in the catalog."""

    settings: Settings
    catalog: Catalog
    blobs: BlobStore
    clock: Callable[[], float] = time.time
    #: This process among the nodes sharing the catalog: NODE_NAME/PID
    node: str = ""
    #: Threads that hash and write upload buffers (each import's write and hashes run
    #: in lanes on them: osdepot.ingest.lanes).
    io_pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(16, thread_name_prefix="osdepot-io")
    )
    #: Imports running in this process and the background tasks of remote pulls
    #: (services/running.py; what a cancel reaches at once).
    running: RunningImports = field(default_factory=RunningImports)
    #: What this process keeps of resumable uploads between their requests, by upload
    #: id (services/resumable.py).
    resumable: dict[str, Any] = field(default_factory=dict)
    #: The rendered repository listing and the catalog generation it shows
    #: (services/repository.py, Repository.rendered_listing).
    listing_cache: RenderedListing | None = None
    #: Makes the fetcher for a remote server's protocol (osdepot.remote.open_fetcher).
    fetchers: FetcherFactory | None = None
    #: Reads BMCs' Redfish services (osdepot.bmc).
    bmc_reader: BmcReader | None = None
    #: The addresses of a list that answer on the network (osdepot.bmc.probe: a ping;
    #: blocking): the deployments' duplicate-IP check; None: the catalog's check only.
    address_probe: Callable[[list[str]], set[str]] | None = None
    #: The PEM certificate this server answers TLS with ("" without TLS): deployed
    #: hosts check osdepot with it when they report their installation's progress.
    server_certificate: str = ""
    #: The exception types the catalog's driver raises (Context.read falls back to a
    #: thread on them), and which of its errors mean "busy, try again" (503).
    catalog_errors: tuple[type[BaseException], ...] = ()
    busy: Callable[[BaseException], bool] = field(default=lambda _exc: False)
    #: which of its errors mean "a value it does not store" (PostgreSQL: NUL): 400
    unstorable: Callable[[BaseException], bool] = field(default=lambda _exc: False)
    #: which of its errors mean "its disk is full": 507
    full: Callable[[BaseException], bool] = field(default=lambda _exc: False)
    #: which of its errors mean "its server cannot be reached": 503
    unreachable: Callable[[BaseException], bool] = field(default=lambda _exc: False)
    #: The room kept on the catalog's disk (storage/reserve.py; blocking calls): made
    #: while there is space, given back (bytes freed) when the disk refuses a write.
    keep_reserve: Callable[[], object] = field(default=lambda: None)
    release_reserve: Callable[[], int] = field(default=lambda: 0)
    #: The catalog again, on connections that never wait long (SQLite: for a lock;
    #: PostgreSQL: for a connection or a statement): for reads run on the event loop
    #: thread. See ``read``.
    loop_catalog: Catalog | None = None
    _loop_off_until: float = 0.0

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking call (catalog, blob store) off the event loop."""

        def call() -> T:
            return fn(*args, **kwargs)

        return await anyio.to_thread.run_sync(call)

    async def read(self, fn: Callable[[Catalog], T]) -> T:
        """A short catalog read, ``fn(catalog)``, for the hot paths of polling clients.

        It runs right here on the event loop thread: the two thread switches of ``run``
        cost more than the read itself (SQLite in WAL mode: a reader never waits for
        writers; PostgreSQL: one round trip). The loop catalog's connections do not
        wait long — not for SQLite's locks, not for PostgreSQL's pool, connection or
        statement (200 ms) — so should one be in the way anyway, the read goes to a
        thread with the usual timeouts instead of stopping the loop, and reads keep
        going to threads for LOOP_READ_PAUSE seconds. Without a loop catalog it is
        ``run``."""
        if self.loop_catalog is not None and time.monotonic() >= self._loop_off_until:
            try:
                return fn(self.loop_catalog)
            except self.catalog_errors:
                # in the way, or a database that does not answer: reads go to threads
                # for a while, so that the loop does not wait on it again and again
                self._loop_off_until = time.monotonic() + LOOP_READ_PAUSE
        return await self.run(fn, self.catalog)

    def close(self) -> None:
        self.io_pool.shutdown(wait=True)
        for catalog in (self.catalog, self.loop_catalog):
            engine: Any = getattr(catalog, "engine", None)
            if engine is not None:
                engine.dispose()
