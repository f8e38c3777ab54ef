"""The end of serving: the background rounds (housekeeping, the nodes' heartbeat) stop
between two calls, never in the middle of one. A round cancelled while its call runs in
a worker thread would leave the thread going, holding a catalog connection after the
engines are closed (on PostgreSQL: a connection nobody closes)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from osdepot.compose import open_context
from osdepot.config import Settings
from osdepot.services.jobs import Jobs
from osdepot.web.app import create_app


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_shutdown_waits_for_the_round_under_way(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, ended = threading.Event(), threading.Event()
    real = Jobs.housekeeping

    def slow_round(self: Jobs) -> Any:
        with self.ctx.catalog.engine.connect():  # type: ignore[attr-defined]
            started.set()
            time.sleep(0.5)  # the shutdown begins while this call holds a connection
        result = real(self)
        ended.set()
        return result

    monkeypatch.setattr(Jobs, "housekeeping", slow_round)
    ctx = open_context(settings)
    try:
        with TestClient(create_app(settings, ctx), base_url="https://testserver"):
            assert started.wait(10), "the first housekeeping round did not start"
        assert ended.is_set(), "the shutdown returned while a round was still running"
        assert ctx.catalog.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        ctx.close()
