"""Nodes sharing a catalog watch each other: a node silent past OSDEPOT_NODE_TIMEOUT
has its Running jobs stopped by a survivor (once, however many survivors look), a
live node's jobs are left alone, and start-up recovery stops only the restarting
node's own jobs. On SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from osdepot.compose import open_context
from osdepot.domain.images import ImageType
from osdepot.domain.jobs import JobStatus
from osdepot.services.context import Context
from osdepot.services.nodes import Nodes
from osdepot.services.recovery import recover


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def other(ctx: Context, clock: Clock) -> Iterator[Context]:
    """A second node on the same catalog."""
    b = open_context(ctx.settings)
    b.node, b.clock = "node-b:8443/2", clock
    yield b
    b.close()


def running_job(ctx: Context, node: str | None) -> int:
    job = ctx.catalog.create_job(ImageType.OS, "admin", ctx.clock(), None, "")
    assert ctx.catalog.claim_job(job.id, JobStatus.PENDING, 0, ctx.clock(), None, "a.iso", node)
    return job.id


def test_a_silent_node_has_its_jobs_stopped_by_a_survivor(
    ctx: Context, other: Context, clock: Clock
) -> None:
    ctx.node, ctx.clock = "node-a:8443/1", clock
    timeout = ctx.settings.node_timeout
    a, b = Nodes(ctx), Nodes(other)
    a.beat()
    b.beat()
    mine = running_job(ctx, ctx.node)
    theirs = running_job(other, other.node)
    # a beats in time: nothing happens
    clock.now += timeout - 1
    a.beat()
    b.beat()
    clock.now += 2
    assert b.sweep() == [] and a.sweep() == []
    # then a goes silent
    clock.now += timeout + 1
    b.beat()
    assert b.sweep() == [mine]
    job = other.catalog.get_job(mine)
    assert job is not None and job.status is JobStatus.STOPPED and job.message is not None
    assert job.message["id"] == "FQXHMFC9048M"
    assert (
        "node-a:8443/1" in job.message["explanation"] and other.node in job.message["explanation"]
    )
    after = other.catalog.get_job(theirs)
    assert after is not None and after.status is JobStatus.RUNNING
    assert [n[0] for n in other.catalog.list_nodes()] == [other.node]
    assert b.sweep() == []


def test_two_survivors_stop_a_dead_nodes_jobs_once(
    ctx: Context, other: Context, clock: Clock
) -> None:
    third = open_context(ctx.settings)
    third.node, third.clock = "node-c:8443/3", clock
    try:
        ctx.node, ctx.clock = "node-a:8443/1", clock
        Nodes(ctx).beat()
        jobs = [running_job(ctx, ctx.node) for _ in range(3)]
        clock.now += ctx.settings.node_timeout + 5
        found: list[list[int]] = []
        barrier = threading.Barrier(2)

        def survivor(c: Context) -> None:
            Nodes(c).beat()
            barrier.wait()
            found.append(Nodes(c).sweep())

        threads = [threading.Thread(target=survivor, args=(c,)) for c in (other, third)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(found, key=len) == [[], jobs]
    finally:
        third.close()


def test_recovery_stops_only_the_restarting_nodes_jobs(ctx: Context, other: Context) -> None:
    ctx.node = "node-a:8443/100"
    earlier = running_job(ctx, "node-a:8443/99")  # this node's earlier process
    unclaimed = running_job(ctx, None)  # claimed before nodes were recorded
    elsewhere = running_job(other, other.node)
    report = recover(ctx)
    assert report.jobs_failed == 2
    status = {j.id: j.status for j in ctx.catalog.list_jobs()}
    assert status[earlier] is JobStatus.STOPPED and status[unclaimed] is JobStatus.STOPPED
    assert status[elsewhere] is JobStatus.RUNNING
