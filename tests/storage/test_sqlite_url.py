"""Which catalog URLs get the second, never-waiting engine for reads on the event loop
(Context.read): SQLite files only; an in-memory database would be another, empty one."""

from __future__ import annotations

import pytest

from osdepot.storage.db import sqlite_file


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////var/lib/osdepot/catalog.db", True),
        ("sqlite:///relative/catalog.db", True),
        ("sqlite+pysqlite:////srv/catalog.db", True),
        ("sqlite://", False),
        ("sqlite:///:memory:", False),
        ("postgresql+psycopg://osdepot@db/osdepot", False),
    ],
)
def test_sqlite_file(url: str, expected: bool) -> None:
    assert sqlite_file(url) is expected
