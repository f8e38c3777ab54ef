"""Two `osdepot serve` nodes on one PostgreSQL catalog: a job made on one node is
uploaded on the other, a cancel sent to one stops an upload running on the other,
and when the node receiving an upload is killed (SIGKILL) the survivor stops its job
within OSDEPOT_NODE_TIMEOUT and a few seconds; the killed node, started again,
removes what it had staged."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Server, start_server, stop_server
from tests.e2e.test_attacks import basic, connect
from tests.pg import Postgres

pytestmark = pytest.mark.e2e
TIMEOUT = 3


def node(tmp_path: Path, name: str, url: str) -> Server:
    return start_server(
        tmp_path / name,
        {
            "OSDEPOT_DATABASE_URL": url,
            "OSDEPOT_NODE_NAME": name,
            "OSDEPOT_NODE_TIMEOUT": str(TIMEOUT),
        },
    )


@pytest.fixture
def pair(tmp_path: Path, postgres: Postgres) -> Iterator[tuple[Server, Server]]:
    url = postgres.fresh_database()
    a = node(tmp_path, "node-a", url)
    b = node(tmp_path, "node-b", url)
    yield a, b
    stop_server(a)
    stop_server(b)


def start_upload(server: Server, job: str, size: int, sent: int) -> Any:
    """A multipart upload of ``size`` declared bytes, of which ``sent`` are sent."""
    boundary = "nodesTestBoundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="uploadedfile"; '
        'filename="post.sh"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    ctx = connect(server, timeout=30)
    sock = ctx.__enter__()
    sock.sendall(
        (
            f"POST /files/osImages?jobId={job}&imageType=SCRIPT&os=rhel HTTP/1.1\r\n"
            f"Host: x\r\nAuthorization: {basic()}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(head) + size + len(tail)}\r\n\r\n"
        ).encode()
        + head
        + b"#!/bin/sh\n"
        + b"#" * (sent - 10)
    )
    return ctx, sock


def wait_job(server: Server, job: str, want: set[str], seconds: float) -> dict[str, Any]:
    s = server.session()
    deadline = time.monotonic() + seconds
    while True:
        task = s.get(f"{server.url}/tasks/{job}", timeout=10).json()[0]
        if task["status"] in want or time.monotonic() > deadline:
            return dict(task)
        time.sleep(0.1)


def test_two_nodes_share_jobs_cancels_and_watch_each_other(
    pair: tuple[Server, Server], tmp_path: Path, postgres: Postgres
) -> None:
    a, b = pair
    sb = b.session()
    size = 64 << 20
    # a job made on node b, uploaded on node a
    job = sb.post(f"{b.url}/osImages?imageType=SCRIPT", json={"Action": "Init"}).json()["jobId"]
    ctx, sock = start_upload(a, job, size, 1 << 20)
    try:
        task = wait_job(b, job, {"Running"}, 10)
        assert task["status"] == "Running", task
        # cancelled through node b: node a stops it and removes its staging
        r = sb.put(f"{b.url}/tasks", json={"action": "cancel", "list": [job]}, timeout=10)
        assert r.status_code == 200, r.text
        sock.sendall(b"#" * (1 << 20))  # the next bytes meet the cancel
        deadline = time.monotonic() + 5
        while list((a.data_dir / "blobs" / ".staging").iterdir()):
            assert time.monotonic() < deadline, "node a kept the cancelled upload's staging"
            time.sleep(0.1)
        assert wait_job(b, job, {"Cancelled"}, 5)["status"] == "Cancelled"
    finally:
        ctx.__exit__(None, None, None)

    # node a is killed while it receives an upload: node b stops the job
    job = sb.post(f"{b.url}/osImages?imageType=SCRIPT", json={"Action": "Init"}).json()["jobId"]
    ctx, sock = start_upload(a, job, size, 1 << 20)
    try:
        assert wait_job(b, job, {"Running"}, 10)["status"] == "Running"
        a.proc.kill()
        a.proc.wait(10)
        killed = time.monotonic()
        task = wait_job(b, job, {"Stopped"}, TIMEOUT + 10)
        took = time.monotonic() - killed
    finally:
        ctx.__exit__(None, None, None)
    assert task["status"] == "Stopped" and task["messageID"] == "FQXHMFC9048M", task
    assert took < TIMEOUT + 5, f"stopped {took:.1f} s after the kill"
    assert "node-a" in task["messages"][0]["explanation"]
    # the killed node's staging is still on its disk until it starts again
    assert list((a.data_dir / "blobs" / ".staging").iterdir())
    again = node(tmp_path, "node-a", postgres.fresh_database())
    try:
        assert list((again.data_dir / "blobs" / ".staging").iterdir()) == []
    finally:
        stop_server(again)
