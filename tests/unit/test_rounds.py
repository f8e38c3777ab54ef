"""The background rounds of a serving process (web/app.py) when they fail."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from osdepot.storage.db import is_full
from osdepot.web import app


def _ctx(freed: list[int]) -> Any:
    async def run(fn: Callable[[], Any]) -> Any:
        return fn()

    return SimpleNamespace(full=is_full, release_reserve=lambda: freed.pop(0), run=run)


def test_a_round_that_meets_a_full_disk_gives_the_room_back_and_says_so_in_a_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A full catalog disk fails every heartbeat and housekeeping round until space is
    freed: one line each, not a traceback, and the first gives back the room kept on
    the disk (storage/reserve.py) so that the administrator's deletions work."""
    ctx = _ctx([8 << 20, 0])
    full = OperationalError(
        "UPDATE nodes …", {}, sqlite3.OperationalError("database or disk is full")
    )
    with caplog.at_level(logging.ERROR, "osdepot.web"):
        asyncio.run(app._round_failed(ctx, "node heartbeat", full))
        asyncio.run(app._round_failed(ctx, "housekeeping", full))
        asyncio.run(app._round_failed(ctx, "housekeeping", RuntimeError("a bug")))
    first, second, other = caplog.records
    assert first.getMessage() == (
        "node heartbeat: the catalog's disk is full (database or disk is full; "
        "reserve released: 8388608 bytes)"
    )
    assert first.exc_info is None and second.exc_info is None
    assert second.getMessage().endswith("reserve released: 0 bytes)")
    assert other.getMessage() == "housekeeping failed" and other.exc_info is not None
