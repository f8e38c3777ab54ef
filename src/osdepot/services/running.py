"""The imports running in this server process: what a cancel reaches at once.

The catalog is the durable record of every job (a cancel made on another process or
node is seen there at the next progress update). This registry adds what only the
process running an import has: the object receiving its bytes, which stops at the
next buffer when cancelled, and the background task of a remote pull, which stops
at once, even while it connects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Protocol


class Cancellable(Protocol):
    """What the registry needs of a running import."""

    @property
    def job_id(self) -> int: ...

    def cancel(self, user: str) -> None:
        """Stop the import as cancelled by ``user`` (the catalog already says so)."""


class RunningImports:
    """Imports running in this process, by job id, and the background tasks that
    run remote pulls. Owned by the import service (services/imports.py); one per
    process, held by the context."""

    def __init__(self) -> None:
        self._runs: dict[int, Cancellable] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._later: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None

    def add(self, run: Cancellable) -> None:
        self._runs[run.job_id] = run

    def remove(self, run: Cancellable) -> None:
        if self._runs.get(run.job_id) is run:
            del self._runs[run.job_id]

    def __contains__(self, job_id: int) -> bool:
        return job_id in self._runs or job_id in self._tasks

    def cancel(self, job_id: int, user: str) -> bool:
        """Stop job ``job_id``'s import if it runs here; whether it did."""
        run = self._runs.get(job_id)
        if run is not None:
            run.cancel(user)
        task = self._tasks.get(job_id)
        if task is not None:
            task.cancel()  # a remote pull stops at once, even while connecting
        return run is not None or task is not None

    # -- background pulls --------------------------------------------------------------

    def start(self, job_id: int, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as job ``job_id``'s background task, kept until it ends."""
        task = asyncio.create_task(work)
        self._tasks[job_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job_id, None))

    def later(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background apart from any job's task (an ended job's
        end, recorded once the catalog answers again); stopped at the server's stop."""
        task = asyncio.create_task(work)
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    def transfer_slots(self, limit: int) -> asyncio.Semaphore:
        """Lets ``limit`` remote transfers run at once; the rest wait their turn
        (created on first use, inside the event loop, with the limit of that time)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(max(1, limit))
        return self._slots

    async def stop(self, timeout: float) -> None:
        """Stop every background pull (server shutdown): each ends as interrupted,
        its staging removed. Waits up to ``timeout`` seconds for them."""
        tasks = [*self._tasks.values(), *self._later]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
