"""The catalog's schema version: a new catalog is migrated to alembic's head, one at
head is started without alembic, an older one is upgraded, one from a newer osdepot is
refused by alembic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from osdepot.storage.db import HEAD, make_engine, schema_version, upgrade


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "osdepot.storage:migrations")
    return cfg


def test_head_is_alembics_newest_migration() -> None:
    assert ScriptDirectory.from_config(_config()).get_heads() == [HEAD]


def test_new_old_and_current_catalogs(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        with engine.connect() as c:
            assert schema_version(c) == []
        upgrade(engine)
        with engine.connect() as c:
            assert schema_version(c) == [HEAD]
        # an older catalog (as an earlier osdepot left it) is brought to head
        cfg = _config()
        with engine.begin() as c:
            cfg.attributes["connection"] = c
            command.downgrade(cfg, "0011")
        with engine.connect() as c:
            assert schema_version(c) == ["0011"]
            assert "uploads" not in {
                r[0] for r in c.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))
            }
        upgrade(engine)
        with engine.connect() as c:
            assert schema_version(c) == [HEAD]
            c.execute(text("SELECT count(*) FROM uploads")).scalar_one()
        # a catalog of a newer osdepot: alembic does not know its revision
        with engine.begin() as c:
            c.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(Exception, match="9999"):
            upgrade(engine)
    finally:
        engine.dispose()


def test_a_catalog_at_head_is_opened_without_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    probe = (
        "import sys\n"
        "from osdepot.storage.db import make_engine, upgrade\n"
        f"upgrade(make_engine({url!r}))\n"
        "print('alembic' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["False"]
