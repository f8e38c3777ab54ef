"""What only PostgreSQL has to get right: nodes that start at once on an empty
database, and a server restart under a running osdepot."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from osdepot.storage.db import make_engine, upgrade
from tests.pg import Postgres


@pytest.mark.parametrize("backend", ["postgresql"])
def test_nodes_that_start_at_once_migrate_once(postgres: Postgres, backend: str) -> None:
    url = postgres.fresh_database()
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def node() -> None:
        engine = make_engine(url)
        try:
            barrier.wait()
            upgrade(engine)
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=node) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    engine = make_engine(url)
    with engine.connect() as c:
        versions = c.execute(text("SELECT version_num FROM alembic_version")).all()
        tables = c.execute(
            text("SELECT count(*) FROM information_schema.tables WHERE table_schema='public'")
        ).scalar_one()
    engine.dispose()
    assert len(versions) == 1 and tables > 10


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_restarted_database_is_used_again_without_a_restart_of_osdepot(
    postgres: Postgres, ctx: Any, backend: str
) -> None:
    from osdepot.domain.images import ImageType

    before = ctx.catalog.create_job(ImageType.OS, "admin", 1.0, None, "")
    postgres.restart()
    # the pool's connections died with the server; the next use reconnects
    after = ctx.catalog.create_job(ImageType.OS, "admin", 2.0, None, "")
    assert after.id == before.id + 1
    assert [j.id for j in ctx.catalog.list_jobs()] == [before.id, after.id]


@pytest.mark.parametrize("backend", ["postgresql"])
def test_the_event_loops_reads_survive_a_restarted_database(
    postgres: Postgres, ctx: Any, backend: str
) -> None:
    """The loop's reads do not ping first (a round trip as dear as the poll): the first
    read on a connection the server lost fails, as SQLAlchemy's error, and renews the
    pool, so the next read works; a caller of Context.read sees neither (the read goes
    to a thread with the pinging engine)."""
    from osdepot.domain.images import ImageType

    job = ctx.catalog.create_job(ImageType.OS, "admin", 1.0, None, "")
    polled = ctx.loop_catalog
    assert [j.id for j in polled.list_jobs([job.id])] == [job.id]
    assert polled.get_session("no-such-token") is None  # a SQLAlchemy read on the pool too
    postgres.restart()
    with pytest.raises(OperationalError) as lost:
        polled.list_jobs([job.id])
    assert lost.value.connection_invalidated
    assert [j.id for j in polled.list_jobs([job.id])] == [job.id]
    assert polled.get_session("no-such-token") is None

    postgres.restart()
    got = asyncio.run(ctx.read(lambda c: c.list_jobs([job.id])))
    assert [j.id for j in got] == [job.id]
    assert asyncio.run(ctx.read(lambda c: c.get_session("no-such-token"))) is None
