"""The room kept beside an SQLite catalog (storage/reserve.py) and how a full disk is
told from the catalog's other errors (storage/db.py)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from osdepot.storage.db import is_busy, is_full, sqlite_path
from osdepot.storage.reserve import SpaceReserve


def test_the_reserve_is_kept_given_back_and_kept_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = SpaceReserve(tmp_path / "catalog.reserve", 64 * 1024)
    assert kept.keep() and (tmp_path / "catalog.reserve").stat().st_size == 64 * 1024
    assert (tmp_path / "catalog.reserve").stat().st_mode & 0o777 == 0o600
    assert kept.keep()  # there already: nothing to do
    assert kept.release() == 64 * 1024 and not (tmp_path / "catalog.reserve").exists()
    assert kept.release() == 0
    # a disk without twice the room: not made (it would take the last free bytes)
    real = shutil.disk_usage

    def tight(path: Any) -> Any:
        return real(path)._replace(free=2 * 64 * 1024 - 1)

    monkeypatch.setattr(shutil, "disk_usage", tight)
    assert not kept.keep() and not (tmp_path / "catalog.reserve").exists()
    monkeypatch.undo()
    assert kept.keep()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog.reserve"]  # no .part


def _error(text: str, pgcode: str | None = None) -> OperationalError:
    orig = sqlite3.OperationalError(text)
    if pgcode:
        orig.pgcode = pgcode  # type: ignore[attr-defined]
    return OperationalError("UPDATE …", {}, orig)


def test_a_full_disk_is_told_from_a_busy_catalog() -> None:
    assert is_full(_error("database or disk is full"))
    assert is_full(_error("could not extend file: No space left on device", "53100"))
    assert not is_full(_error("database is locked")) and is_busy(_error("database is locked"))
    assert not is_busy(_error("database or disk is full"))
    assert not is_full(ValueError("database or disk is full"))


def test_the_catalog_file_of_a_url() -> None:
    assert sqlite_path("sqlite:////data/catalog.db") == Path("/data/catalog.db")
    assert sqlite_path("sqlite:////data/catalog.db?timeout=5") == Path("/data/catalog.db")
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("postgresql+psycopg://h/db") is None
