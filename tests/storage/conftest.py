"""The storage contract tests run on every catalog backend: SQLite (embedded) and
PostgreSQL (a private server, tests/pg.py). A test that is about one backend only
asks for it with ``@pytest.mark.parametrize("backend", ["sqlite"])``."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
