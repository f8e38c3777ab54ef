"""Fixtures for remote imports: a folder of files and real servers serving it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from osdepot.config import Settings
from tests.conftest import Api
from tests.media import medium


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Short timeouts so that every failure mode ends within seconds."""
    return Settings(
        data_dir=tmp_path / "data",
        admin_user="admin",
        admin_password="admin-password-1",
        upload_buffer_bytes=64 * 1024,
        catalog_reserve_bytes=64 * 1024,  # (8 MiB in every test's folder adds up)
        progress_interval=0.0,
        osinfo_path=os.environ.get("OSDEPOT_OSINFO_PATH", ""),
        remote_connect_timeout=3.0,
        remote_stall_timeout=1.0,
        remote_retries=2,
        remote_retry_delay=0.05,
    )


@pytest.fixture
def files(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    (root / "isos").mkdir(parents=True)
    medium(root / "isos" / "rhel-9.4-x86_64-dvd.iso", "rhel")
    (root / "isos" / "folder.iso").mkdir()  # a folder with a file's name
    (root / "scripts").mkdir()
    (root / "scripts" / "post.sh").write_text("#!/bin/sh\necho configured\n")
    return root


# The servers (http, https, ftp, sftp) are fixtures of tests/conftest.py: they serve
# the `files` folder of whichever test asks for them.


def register(api: Api, **body: Any) -> dict[str, Any]:
    body.setdefault("address", "127.0.0.1")
    body.setdefault("displayName", f"{body['protocol'].lower()}-{body['port']}")
    r = api.c.post("/osImages/remoteFileServers", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def remote_import(
    api: Api, server_id: str, path: str, itype: str = "OS", **query: str
) -> tuple[str, Any]:
    job = api.init(itype)
    q = "&".join(f"{k}={v}" for k, v in {"jobId": job, "imageType": itype, **query}.items())
    r = api.c.post(f"/files/osImages?{q}", json={"serverId": server_id, "path": path})
    return job, r


def wait_done(api: Api, job: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = api.task(job)
        if task["complete"]:
            return task
        time.sleep(0.05)
    raise AssertionError(f"job {job} did not end: {api.task(job)}")


__all__ = ["register", "remote_import", "wait_done"]
