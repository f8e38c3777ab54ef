"""Lanes: ordered calls of one function on the buffers of an upload, in a shared
thread pool, without a trip through the event loop between them."""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any


class Lane:
    """Calls ``fn`` on one argument after another, in order, in a shared thread pool.

    The worker that finishes a call takes the next queued argument itself, so a lane
    that is kept fed never waits for the event loop between calls. After a call fails
    or an argument is cancelled before its call, the arguments queued since and later
    get that error without a call: a lane never skips one buffer and writes the next.
    """

    def __init__(self, pool: Executor, fn: Callable[[Any], Any]) -> None:
        self._pool, self._fn = pool, fn
        self._queue: collections.deque[tuple[Any, Future[Any]]] = collections.deque()
        self._lock = threading.Lock()
        self._running = False
        self._error: BaseException | None = None

    def submit(self, arg: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            self._queue.append((arg, future))
            if self._running:
                return future
            self._running = True
        try:
            self._pool.submit(self._run)
        except BaseException:
            with self._lock:
                self._running = False
                self._queue.clear()
            raise
        return future

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._running = False
                    return
                arg, future = self._queue.popleft()
            if not future.set_running_or_notify_cancel():
                if self._error is None:
                    self._error = RuntimeError("an earlier call of this lane was cancelled")
                continue
            if self._error is not None:
                future.set_exception(self._error)
                continue
            try:
                result = self._fn(arg)
            except BaseException as exc:
                self._error = exc
                future.set_exception(exc)
            else:
                future.set_result(result)


async def gather_all(futures: list[asyncio.Future[None]]) -> None:
    """Wait for every future, then raise the first error (none is left running)."""
    results = await asyncio.gather(*futures, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r
