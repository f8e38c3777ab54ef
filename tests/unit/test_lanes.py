"""The upload sink's lanes: calls in order, one at a time, chained in the worker."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import pytest

from osdepot.ingest.lanes import Lane


class CountingPool(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(4)
        self.tasks = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.tasks += 1
        return super().submit(fn, *args, **kwargs)


def test_calls_run_in_order_one_at_a_time() -> None:
    seen: list[int] = []
    running = 0
    most = 0
    guard = threading.Lock()
    rng = random.Random(5)
    pauses = [rng.random() / 2000 for _ in range(300)]

    def call(i: int) -> int:
        nonlocal running, most
        with guard:
            running += 1
            most = max(most, running)
        time.sleep(pauses[i])
        seen.append(i)
        with guard:
            running -= 1
        return i * 2

    with ThreadPoolExecutor(8) as pool:
        lane = Lane(pool, call)
        futures = []
        for i in range(300):
            futures.append(lane.submit(i))
            if i % 7 == 0:
                time.sleep(pauses[i])  # sometimes the lane runs dry and starts again
        assert [f.result(timeout=30) for f in futures] == [i * 2 for i in range(300)]
    assert seen == list(range(300)) and most == 1


def test_queued_calls_follow_each_other_in_the_worker() -> None:
    """Arguments queued while a call runs need no new pool task: the worker that
    finished a call takes the next one (no event loop, no dispatcher in between)."""
    gate = threading.Event()
    done: list[int] = []

    def call(i: int) -> None:
        if i == 0:
            gate.wait(10)
        done.append(i)

    with CountingPool() as pool:
        lane = Lane(pool, call)
        futures = [lane.submit(i) for i in range(5)]
        gate.set()
        finished, _ = wait(futures, timeout=10)
        assert len(finished) == 5 and done == [0, 1, 2, 3, 4]
        assert pool.tasks == 1
        deadline = time.monotonic() + 10
        while lane._running and time.monotonic() < deadline:  # until the worker has left
            time.sleep(0.001)  # the empty lane: a new call then starts a task
        assert lane.submit(5).result(timeout=10) is None
        assert pool.tasks == 2


def gated(fail_at: int | None = None) -> tuple[threading.Event, list[int], Any]:
    """A call that waits for the gate, records its argument and fails at ``fail_at``."""
    gate = threading.Event()
    calls: list[int] = []

    def call(i: int) -> None:
        gate.wait(10)
        calls.append(i)
        if i == fail_at:
            raise OSError(5, "Input/output error")

    return gate, calls, call


def test_after_a_failed_call_the_rest_get_its_error_without_a_call() -> None:
    gate, calls, call = gated(fail_at=1)
    with ThreadPoolExecutor(2) as pool:
        lane = Lane(pool, call)
        futures = [lane.submit(i) for i in range(4)]
        gate.set()
        wait(futures, timeout=10)
        assert futures[0].result() is None
        for f in futures[1:]:
            with pytest.raises(OSError, match="Input/output error"):
                f.result()
        with pytest.raises(OSError, match="Input/output error"):
            lane.submit(9).result(timeout=10)
    assert calls == [0, 1]


def test_after_a_cancelled_argument_nothing_more_is_called() -> None:
    gate, calls, call = gated()
    with ThreadPoolExecutor(2) as pool:
        lane = Lane(pool, call)
        futures = [lane.submit(i) for i in range(3)]
        assert futures[1].cancel()
        gate.set()
        assert futures[0].result(timeout=10) is None
        with pytest.raises(RuntimeError, match="cancelled"):
            futures[2].result(timeout=10)
    assert calls == [0]
