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

from osdepot.storage.db import is_full, is_unreachable
from osdepot.web import app


def _ctx(freed: list[int]) -> Any:
    async def run(fn: Callable[[], Any]) -> Any:
        return fn()

    return SimpleNamespace(
        full=is_full, unreachable=is_unreachable, release_reserve=lambda: freed.pop(0), run=run
    )


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


class _PgError(Exception):
    """What psycopg raises: a message, and an SQLSTATE when the server said one."""

    def __init__(self, text: str, sqlstate: str | None = None) -> None:
        super().__init__(text)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("orig", "unreachable"),
    [
        (_PgError('connection failed: connection to server at "db", port 5432 failed: '
                  "Connection refused"), True),
        (_PgError("server closed the connection unexpectedly"), True),
        (_PgError("terminating connection due to administrator command", "57P01"), True),
        (_PgError("the database system is starting up", "57P03"), True),
        (_PgError("could not receive data", "08006"), True),
        (_PgError("deadlock detected", "40P01"), False),
        (_PgError("could not extend file: No space left on device", "53100"), False),
        (sqlite3.OperationalError("database is locked"), False),
    ],
)  # fmt: skip
def test_what_counts_as_a_catalog_that_cannot_be_reached(
    orig: BaseException, unreachable: bool, caplog: pytest.LogCaptureFixture
) -> None:
    exc = OperationalError("SELECT 1", {}, orig)
    assert is_unreachable(exc) is unreachable
    if unreachable:  # a round meeting it: one line, no traceback
        with caplog.at_level(logging.WARNING, "osdepot.web"):
            asyncio.run(app._round_failed(_ctx([0]), "node heartbeat", exc))
        (line,) = caplog.records
        assert line.exc_info is None and "the catalog cannot be reached" in line.getMessage()
