"""The registry of imports running in one process (services/running.py)."""

from __future__ import annotations

import asyncio

from osdepot.services.running import RunningImports


class Run:
    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.cancelled_by: str | None = None

    def cancel(self, user: str) -> None:
        self.cancelled_by = user


def test_a_cancel_reaches_the_run_and_its_background_task() -> None:
    async def scenario() -> None:
        running = RunningImports()
        run, other = Run(1), Run(2)
        running.add(run)
        running.add(other)
        started = asyncio.Event()

        async def pull() -> None:
            started.set()
            await asyncio.sleep(60)

        running.start(1, pull())
        await started.wait()
        assert running.cancel(1, "ops")
        assert run.cancelled_by == "ops" and other.cancelled_by is None
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        running.remove(run)
        assert 1 not in running  # the task removed itself when it ended
        assert not running.cancel(1, "ops") and not running.cancel(99, "ops")
        # Removing a run replaced by a newer one for the same job keeps the newer one.
        newer = Run(2)
        running.add(newer)
        running.remove(other)
        assert 2 in running

    asyncio.run(scenario())


def test_stop_ends_every_background_pull_and_slots_keep_their_first_limit() -> None:
    async def scenario() -> None:
        running = RunningImports()
        ended: list[int] = []

        async def pull(n: int) -> None:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                ended.append(n)
                raise

        for n in range(3):
            running.start(n, pull(n))
        await asyncio.sleep(0)
        await running.stop(timeout=5)
        assert sorted(ended) == [0, 1, 2] and not any(n in running for n in range(3))
        slots = running.transfer_slots(2)
        assert running.transfer_slots(9) is slots
        async with slots, slots:
            assert slots.locked()

    asyncio.run(scenario())
