"""A catalog locked by other work: requests wait for it, then answer 503 with a message."""

from __future__ import annotations

import sqlite3
import threading
import time
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient

from osdepot.compose import open_context
from osdepot.config import Settings
from osdepot.services.auth import Auth
from osdepot.services.context import Context
from osdepot.services.recovery import recover
from osdepot.web.app import create_app
from tests.conftest import ADMIN, ADMIN_PW, Api


@pytest.fixture
def backend() -> str:
    """These tests lock SQLite's file from outside: SQLite only."""
    return "sqlite"


def hold_lock(db: Path, seconds: float, ready: threading.Event) -> None:
    """Another writer: an exclusive transaction on the catalog for ``seconds``."""
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    ready.set()
    time.sleep(seconds)
    con.execute("ROLLBACK")
    con.close()


@pytest.mark.parametrize("held", [0.3, 2.5])
def test_a_locked_catalog_is_waited_for_then_reported(settings: Settings, held: float) -> None:
    ctx = open_context(replace(settings, db_busy_timeout=1.0))
    recover(ctx)
    Auth(ctx).bootstrap_admin()
    try:
        with TestClient(create_app(ctx.settings, ctx), base_url="https://testserver") as c:
            api = Api(c)
            api.login(ADMIN, ADMIN_PW)
            ready = threading.Event()
            t = threading.Thread(
                target=hold_lock, args=(settings.data_dir / "catalog.db", held, ready)
            )
            t.start()
            ready.wait(5)
            started = time.monotonic()
            r = c.post("/osImages?imageType=SCRIPT", json={"Action": "Init"})
            waited = time.monotonic() - started
            t.join()
            if held < 1.0:
                assert r.status_code == 201, r.text  # waited for the lock, then went on
                assert waited >= held * 0.8
            else:
                assert r.status_code == 503, r.text
                msg = r.json()["messages"][0]
                assert msg["id"] == "FQXHMFC9031M" and "1 seconds" in msg["explanation"]
                assert r.headers["retry-after"] == "2"
                assert 0.9 < waited < 2.4
            # Once the lock is gone, everything works again.
            assert c.post("/osImages?imageType=SCRIPT", json={"Action": "Init"}).status_code == 201
            assert c.get("/tasks").status_code == 200
    finally:
        ctx.close()


def test_reads_on_the_event_loop_fall_back_to_a_thread(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GET /tasks/{id} reads the catalog on the event loop thread (Context.read) on
    connections that never wait for a lock; when such a read fails with a lock in the
    way, it is made again in a thread, which waits for the lock as every other
    request does."""
    ctx = open_context(settings)
    recover(ctx)
    Auth(ctx).bootstrap_admin()
    assert ctx.loop_catalog is not None
    loop_thread: list[int] = []
    real = type(ctx.loop_catalog).list_jobs

    def recorded(self: Any, ids: Any = None) -> Any:
        loop_thread.append(threading.get_ident())
        return real(self, ids)

    try:
        with TestClient(create_app(ctx.settings, ctx), base_url="https://testserver") as c:
            api = Api(c)
            api.login(ADMIN, ADMIN_PW)
            job = c.post("/osImages?imageType=SCRIPT", json={"Action": "Init"}).json()["jobId"]
            monkeypatch.setattr(type(ctx.loop_catalog), "list_jobs", recorded)
            r = c.get(f"/tasks/{job}")
            assert r.status_code == 200 and r.json()[0]["id"] == job
            assert len(loop_thread) == 1  # one read (both catalogs are SqlCatalogs)
            loop_thread.clear()

            def locked(self: Any, ids: Any = None) -> Any:
                loop_thread.append(threading.get_ident())
                if self is ctx.loop_catalog:
                    raise OperationalError("SELECT", {}, sqlite3.OperationalError("locked"))
                return real(self, ids)

            monkeypatch.setattr(type(ctx.loop_catalog), "list_jobs", locked)
            r = c.get(f"/tasks/{job}")
            assert r.status_code == 200 and r.json()[0]["id"] == job
            # The quick catalog failed on the loop thread, the read was made again in
            # a worker thread.
            assert len(loop_thread) == 2 and loop_thread[0] != loop_thread[1]
    finally:
        ctx.close()


@pytest.fixture
def own_postgres() -> Iterator[Any]:
    """A PostgreSQL server of the test's own (the test stops and starts it)."""
    from cluster.postgres import Postgres, pg_bin

    binaries = pg_bin()
    if binaries is None:
        pytest.skip("PostgreSQL is missing")
    pg = Postgres(binaries)
    try:
        yield pg
    finally:
        pg.stop()


def served_on(pg: Any, tmp_path: Path, **extra: Any) -> tuple[Settings, Context]:
    """Settings and a started context on a fresh database of ``pg``."""
    settings = Settings(
        database_url=pg.fresh_database(),
        data_dir=tmp_path / "data",
        admin_user=ADMIN,
        admin_password=ADMIN_PW,
        **extra,
    )
    ctx = open_context(settings)
    recover(ctx)
    Auth(ctx).bootstrap_admin()
    return settings, ctx


def test_a_postgresql_that_is_down_is_a_503_and_used_again_when_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, own_postgres: Any
) -> None:
    """PostgreSQL stopped under a running server (restarted, or the network between):
    every request was a 500 "An internal error occurred" (OperationalError) with a
    traceback in the log — 16 of them in 35 s of racing requests while the
    demonstration cluster's PostgreSQL restarted. Now 503 `FQXHMFC9067M` with
    `Retry-After` and one log line, and requests work again once it is back."""
    pg = own_postgres  # its own: this test stops it
    settings, ctx = served_on(pg, tmp_path, node_timeout=0.3)
    try:
        with TestClient(create_app(settings, ctx), base_url="https://testserver") as c:
            api = Api(c)
            api.login(ADMIN, ADMIN_PW)
            assert c.get("/osImages").status_code == 200
            job = api.init("SCRIPT")
            basic = {"Authorization": "Basic " + b64encode(f"{ADMIN}:{ADMIN_PW}".encode()).decode()}
            assert c.get(f"/tasks/{job}", headers=basic).status_code == 200  # (remembered)
            Auth(ctx).add_user("ops", "lxc-os-admin", "ops-password-1")
            unseen = {"Authorization": "Basic " + b64encode(b"ops:ops-password-1").decode()}
            pg.stop(remove=False)
            # Basic credentials not remembered need the catalog: each such request took
            # a token of the address's login bucket, and from the eleventh on the
            # answer was 429 "Too many logins from this address" (the two-node cluster
            # with PostgreSQL down: 83,000 of them in 80 s). It is the outage's 503.
            for _ in range(15):
                r = c.get("/osImages", headers=unseen)
                assert r.status_code == 503, r.text
                assert r.json()["messages"][0]["id"] == "FQXHMFC9067M", r.text
            for method, path, body, headers in (
                ("GET", "/osImages", None, None),
                ("POST", "/osImages?imageType=SCRIPT", {"Action": "Init"}, None),
                ("GET", "/tasks", None, None),
                # the driver's own connection (a poll's read): was a 500 (psycopg's
                # OperationalError, not SQLAlchemy's)
                ("GET", f"/tasks/{job}", None, basic),
            ):
                r = c.request(method, path, json=body, headers=headers)
                assert r.status_code == 503, (path, r.status_code, r.text)
                message = r.json()["messages"][0]
                assert message["id"] == "FQXHMFC9067M", r.text
                assert "OSDEPOT_DATABASE_URL" in message["recovery"]["text"]
                assert r.headers["Retry-After"] == "5"
            time.sleep(0.3)
            pg.start()
            assert c.get("/osImages").status_code == 200
            assert api.init("SCRIPT")  # a job made: the catalog is written again
        # the heartbeats meanwhile: a line each, no traceback
        beats = [r for r in caplog.records if "node heartbeat" in r.getMessage()]
        assert beats and all(r.exc_info is None for r in beats), caplog.text
        assert "the catalog cannot be reached" in beats[0].getMessage()
    finally:
        ctx.close()


@pytest.mark.parametrize("source", ["upload", "pull"])
def test_an_import_that_fails_while_postgresql_is_down_ends_stopped_once_it_is_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, own_postgres: Any, source: str
) -> None:
    """An import whose commit found PostgreSQL down (a restart): recording the job's
    end failed the same way, so the job stayed Running — holding its place among the
    user's open jobs — until a restart or a cancel (a pull on the two-node cluster
    during a restart; its task's log had a traceback). Now the end is recorded once
    the catalog answers again, with the reason, and the log says so in a line (a
    pull's or an export's task logged the error again with a traceback, the run's
    message notwithstanding: the cluster's last load)."""
    from osdepot.domain.jobs import JobStatus
    from tests.remote.servers import PASSWORD, USER, HttpServer

    pg = own_postgres  # its own: this test stops it
    settings, ctx = served_on(pg, tmp_path)
    commit = ctx.catalog.commit_import

    def down_first(*args: Any, **kwargs: Any) -> None:
        pg.stop(remove=False)  # PostgreSQL restarting as the import commits
        threading.Timer(1.0, pg.start).start()
        commit(*args, **kwargs)

    ctx.catalog.commit_import = down_first  # type: ignore[method-assign]
    web: HttpServer | None = None
    try:
        with TestClient(create_app(settings, ctx), base_url="https://testserver") as c:
            api = Api(c)
            api.login(ADMIN, ADMIN_PW)
            content = b"#!/bin/sh\necho hello\n"
            if source == "upload":
                job = api.init("SCRIPT", fileSize=len(content))
                r = api.upload(job, "hello.sh", content, None, imageType="SCRIPT", os="rhel")
                assert r.status_code == 503, r.text
            else:
                (tmp_path / "files").mkdir()
                (tmp_path / "files" / "hello.sh").write_bytes(content)
                web = HttpServer(tmp_path / "files", auth=True, tls=None)
                body = {"displayName": "web", "address": "127.0.0.1", "port": web.port,
                        "protocol": "HTTP", "username": USER, "password": PASSWORD}  # fmt: skip
                server = c.post("/osImages/remoteFileServers", json=body).json()["serverId"]
                job = api.init("SCRIPT")
                r = c.post(
                    f"/files/osImages?jobId={job}&imageType=SCRIPT&os=rhel",
                    json={"serverId": server, "path": "/hello.sh"},
                )
                assert r.status_code == 201, r.text
            for _ in range(100):  # back after 1 s; the end is tried again every ≤ 5 s
                ended = ctx.catalog.get_job(int(job)) if pg_is_up(c) else None
                if ended is not None and ended.status is not JobStatus.RUNNING:
                    break
                time.sleep(0.1)
            assert ended is not None and ended.status is JobStatus.STOPPED, ended
            message = ended.message or {}
            assert message.get("id") == "FQXHMFC9067M", message  # not "internal error"
            assert ctx.catalog.list_files() == []
    finally:
        ctx.close()
        if web is not None:
            web.stop()
    failures = [r for r in caplog.records if r.levelname == "ERROR" or r.exc_info]
    assert failures == [], caplog.text
    assert "its end is recorded once the catalog answers again" in caplog.text


def pg_is_up(c: TestClient) -> bool:
    return c.get("/healthz").status_code == 200
