"""Faults against a real `osdepot serve`: a full disk, a trickling client, two uploads
racing for one job. (A client that disconnects mid-upload: test_streaming.py.)"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import Server, start_server, stop_server
from tests.samples import VALID

pytestmark = pytest.mark.e2e


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB filesystem mounted for this test (tmpfs with a size limit)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    # Not test data but a capability of the machine: without it the test is skipped
    # with the reason (pytest's summary lists it), also in CI's strict mode.
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        pytest.skip(f"this machine does not allow mounting a tmpfs: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def tar_gz(size: int) -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("payload.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    return buf.getvalue()


def _import_script(server: Server, s: requests.Session) -> requests.Response:
    """A small script imported through LXCA's two requests."""
    name, _q, content = VALID["SCRIPT"]
    job = s.post(
        server.url + "/osImages?imageType=SCRIPT", json={"Action": "Init"}, timeout=30
    ).json()["jobId"]
    return s.post(
        server.url + f"/files/osImages?jobId={job}&os=rhel",
        files={"uploadedfile": (name, content)},
        timeout=30,
    )


def test_a_full_disk_refuses_the_upload_and_keeps_serving(tmp_path: Path, small_fs: Path) -> None:
    server = start_server(tmp_path / "data", {"OSDEPOT_BLOB_URL": f"file://{small_fs}/blobs"})
    try:
        s = server.session()
        big = tar_gz(40 * 1024 * 1024)
        # Declared: refused before a byte is sent.
        r = s.post(
            server.url + "/osImages?imageType=SOFTWARE",
            json={"Action": "Init", "fileSize": len(big)},
            timeout=30,
        )
        assert r.status_code == 409, r.text
        assert r.json()["messages"][0]["id"] == "FQXHMFC9004M"
        # A Content-Length larger than the free space: refused before the file is written.
        job = s.post(
            server.url + "/osImages?imageType=SOFTWARE", json={"Action": "Init"}, timeout=30
        ).json()["jobId"]
        r = s.post(
            server.url + f"/files/osImages?jobId={job}&os=rhel",
            files={"uploadedfile": ("big.tar.gz", big)},
            timeout=120,
        )
        assert r.status_code == 409, r.text
        assert "bytes free" in r.json()["messages"][0]["explanation"]
        # No size announced at all (chunked): the file is stopped as it grows past the
        # free space (checked as it grows), or by the disk filling while it is written.
        job = s.post(
            server.url + "/osImages?imageType=SOFTWARE", json={"Action": "Init"}, timeout=30
        ).json()["jobId"]

        def chunked() -> Iterator[bytes]:
            yield (
                b'--B\r\nContent-Disposition: form-data; name="uploadedfile"; '
                b'filename="big.tar.gz"\r\n\r\n'
            )
            for i in range(0, len(big), 1 << 20):
                yield big[i : i + (1 << 20)]
            yield b"\r\n--B--\r\n"

        r = s.post(
            server.url + f"/files/osImages?jobId={job}&os=rhel",
            data=chunked(),
            headers={"Content-Type": "multipart/form-data; boundary=B"},
            timeout=120,
        )
        assert r.status_code == 409, r.text
        msg = r.json()["messages"][0]
        assert msg["id"] == "FQXHMFC9004M"
        assert any(w in msg["explanation"] for w in ("ran out of space", "cannot grow further"))
        task = s.get(server.url + f"/tasks/{job}", timeout=10).json()[0]
        assert task["status"] == "Stopped" and task["messageID"] == "FQXHMFC9004M"
        # Nothing partial remains; the space is free again; the server keeps serving.
        assert list((small_fs / "blobs" / ".staging").iterdir()) == []
        assert [p for p in (small_fs / "blobs").rglob("*") if p.is_file()] == []
        assert s.get(server.url + "/osImages", timeout=10).status_code == 200
        r = _import_script(server, s)
        assert r.status_code == 201, r.text
    finally:
        stop_server(server)
    # The repository checks clean: the one script, nothing else.
    env = {**server.env(), "OSDEPOT_BLOB_URL": f"file://{small_fs}/blobs"}
    checked = subprocess.run(
        [sys.executable, "-m", "osdepot.cli.main", "fsck", "--data-dir", str(server.data_dir)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert checked.returncode == 0 and "checked 1 files" in checked.stdout, (
        checked.stdout + checked.stderr
    )


def test_a_full_catalog_disk_is_a_clear_refusal_and_deleting_still_works(small_fs: Path) -> None:
    """The data folder's disk filled by something else: every write was a 500 ("An
    internal error occurred", OperationalError), the deletion that would free space
    among them. Now a 507 that says so, and the room osdepot keeps beside the catalog
    is given back, so that the deletion goes through; the room is kept again once the
    disk has space."""
    data = small_fs / "data"
    # (no heartbeat in the test's few seconds but the first: one would meet the full
    # disk first and give the room back before the request this test makes)
    env = {"OSDEPOT_HOUSEKEEPING_INTERVAL": "1", "OSDEPOT_NODE_TIMEOUT": "600"}
    server = start_server(data, env)
    reserve = data / "catalog.reserve"
    filler = small_fs / "filler"
    try:
        assert reserve.stat().st_size == 8 * 1024 * 1024
        s = server.session()
        r = _import_script(server, s)
        assert r.status_code == 201, r.text
        file_id = r.json()["fileid"]
        with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
            while True:  # until the disk is full (ENOSPC)
                f.write(bytes(1 << 20))
        server_body = {"displayName": "after", "address": "127.0.0.1", "protocol": "FTP"}
        r = s.post(server.url + "/osImages/remoteFileServers", json=server_body, timeout=30)
        assert r.status_code == 507, r.text
        msg = r.json()["messages"][0]
        assert msg["id"] == "FQXHMFC9066M" and "disk is full" in msg["text"], msg
        assert "deleting files from the repository works now" in msg["explanation"], msg
        assert not reserve.exists()
        assert s.get(server.url + "/osImages", timeout=10).status_code == 200  # reads go on
        r = s.delete(server.url + f"/osImages/{file_id}", timeout=30)
        assert r.status_code == 200, r.text
        filler.unlink()
        deadline = time.monotonic() + 20
        while not reserve.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert reserve.stat().st_size == 8 * 1024 * 1024  # kept again
        r = s.post(server.url + "/osImages/remoteFileServers", json=server_body, timeout=30)
        assert r.status_code == 200, r.text
    finally:
        stop_server(server)
        with contextlib.suppress(FileNotFoundError):
            filler.unlink()


def test_a_server_killed_with_a_full_catalog_disk_starts_again(
    tmp_path: Path, small_fs: Path
) -> None:
    """A server killed mid-upload must mark the job interrupted when it starts again: a
    catalog write. With the disk full it did not start ("unexpected error
    (OperationalError … database or disk is full)"), and nothing could be deleted
    through it. The room kept beside the catalog lets it start, and deletions work."""
    data = small_fs / "data"
    env = {"OSDEPOT_NODE_TIMEOUT": "600"}  # (no heartbeat meets the full disk first)
    server = start_server(data, env, log_dir=tmp_path)
    filler = small_fs / "filler"
    try:
        s = server.session()
        r = _import_script(server, s)
        assert r.status_code == 201, r.text
        file_id = r.json()["fileid"]
        job = s.post(
            server.url + "/osImages?imageType=SOFTWARE", json={"Action": "Init"}, timeout=30
        ).json()["jobId"]
        sock = _raw_upload_start(server, job, 3_000_000)
        sock.sendall(bytes(1_000_000))
        deadline = time.monotonic() + 10
        while s.get(server.url + f"/tasks/{job}", timeout=10).json()[0]["status"] != "Running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
            while True:  # until the disk is full (ENOSPC)
                f.write(bytes(1 << 20))
        server.proc.kill()
        server.proc.wait()
        sock.close()
        server = start_server(data, env, log_dir=tmp_path)
        assert "gave back the room kept on it" in server.log.read_text()
        s = server.session()
        task = s.get(server.url + f"/tasks/{job}", timeout=10).json()[0]
        assert task["status"] == "Stopped" and task["messageID"] == "FQXHMFC9015M", task
        r = s.delete(server.url + f"/osImages/{file_id}", timeout=30)
        assert r.status_code == 200, r.text
    finally:
        stop_server(server)
        with contextlib.suppress(FileNotFoundError):
            filler.unlink()


def _raw_upload_start(server: Server, job: str, size: int) -> ssl.SSLSocket:
    """Open a TLS connection and send the headers of a multipart upload of ``size``."""
    host, port = server.url.removeprefix("https://").split(":")
    ctx = ssl.create_default_context(cafile=str(server.data_dir / "tls" / "cert.pem"))
    sock = ctx.wrap_socket(socket.create_connection((host, int(port))), server_hostname=host)
    s = server.session()
    cookie = "; ".join(f"{k}={v}" for k, v in s.cookies.items())
    head = (
        b'--B\r\nContent-Disposition: form-data; name="uploadedfile"; filename="t.tar.gz"\r\n\r\n'
    )
    total = len(head) + size + len(b"\r\n--B--\r\n")
    sock.sendall(
        (
            f"POST /files/osImages?jobId={job}&os=rhel HTTP/1.1\r\nHost: {host}\r\n"
            f"Cookie: {cookie}\r\nX-Csrf-Token: {s.cookies['csrf']}\r\n"
            f"Content-Type: multipart/form-data; boundary=B\r\n"
            f"Content-Length: {total}\r\n\r\n"
        ).encode()
        + head
    )
    return sock


def _upload_under_way(server: Server) -> tuple[requests.Session, str, ssl.SSLSocket]:
    """A session, a SOFTWARE import job and a connection that began its 10 MB upload."""
    s = server.session()
    job = s.post(
        server.url + "/osImages?imageType=SOFTWARE", json={"Action": "Init"}, timeout=30
    ).json()["jobId"]
    return s, job, _raw_upload_start(server, job, 10_000_000)


def test_a_trickling_client_is_let_go_without_holding_up_others(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", {"OSDEPOT_UPLOAD_STALL_TIMEOUT": "1.5"})
    try:
        s, job, sock = _upload_under_way(server)
        answer: list[bytes] = []

        def trickle() -> None:
            # 100 bytes every 0.2 s: alive, but far below 64 KiB per 1.5 s.
            with contextlib.suppress(OSError):
                for _ in range(100):
                    sock.sendall(b"x" * 100)
                    time.sleep(0.2)
            with contextlib.suppress(OSError):
                sock.settimeout(5)
                answer.append(sock.recv(65536))

        started = time.monotonic()
        t = threading.Thread(target=trickle)
        t.start()
        # Meanwhile another client imports a file as usual.
        other = server.session()
        oj = other.post(
            server.url + "/osImages?imageType=SCRIPT", json={"Action": "Init"}, timeout=30
        ).json()["jobId"]
        name, _q, content = VALID["SCRIPT"]
        r = other.post(
            server.url + f"/files/osImages?jobId={oj}&os=rhel",
            files={"uploadedfile": (name, content)},
            timeout=10,
        )
        assert r.status_code == 201 and time.monotonic() - started < 1.5
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            task = s.get(server.url + f"/tasks/{job}", timeout=10).json()[0]
            if task["status"] != "Running":
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        assert task["status"] == "Stopped" and task["messageID"] == "FQXHMFC9030J", task
        assert 1.4 < elapsed < 6, elapsed
        sock.close()
        t.join(timeout=30)
        if answer and answer[0]:
            assert answer[0].startswith(b"HTTP/1.1 408")
        assert list((server.data_dir / "blobs" / ".staging").iterdir()) == []
    finally:
        stop_server(server)


def test_two_uploads_racing_for_one_job(server: Server) -> None:
    s = server.session()
    body = tar_gz(4 * 1024 * 1024)
    for _ in range(5):
        job = s.post(
            server.url + "/osImages?imageType=SOFTWARE",
            json={"Action": "Init", "fileSize": len(body)},
            timeout=30,
        ).json()["jobId"]
        barrier = threading.Barrier(2)
        results: list[requests.Response] = []

        def go(
            i: int,
            job: str = job,
            barrier: threading.Barrier = barrier,
            results: list[requests.Response] = results,
        ) -> None:
            c = server.session()
            barrier.wait()
            results.append(
                c.post(
                    server.url + f"/files/osImages?jobId={job}&os=rhel",
                    files={"uploadedfile": (f"race{i}.tar.gz", body)},
                    timeout=60,
                )
            )

        threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)
        codes = sorted(r.status_code for r in results)
        assert codes == [201, 409], [r.text for r in results]
        loser = next(r for r in results if r.status_code == 409)
        assert loser.json()["messages"][0]["id"] == "FQXHMFC9011J"
        task = s.get(server.url + f"/tasks/{job}", timeout=10).json()[0]
        assert task["status"] == "Complete"
    listing = s.get(server.url + "/osImages", timeout=10).json()
    assert len(listing["softwareFiles"]) == 5
    assert {f["sha256"] for f in listing["softwareFiles"]} == {hashlib.sha256(body).hexdigest()}
    assert list((server.data_dir / "blobs" / ".staging").iterdir()) == []


def test_oversized_request_heads_are_refused(server: Server) -> None:
    host, port = server.url.removeprefix("https://").split(":")
    ctx = ssl.create_default_context(cafile=str(server.data_dir / "tls" / "cert.pem"))
    for head in (
        f"GET /osImages HTTP/1.1\r\nHost: {host}\r\nX-Big: {'a' * 200_000}\r\n\r\n",
        f"GET /osImages?{'q=1&' * 40_000} HTTP/1.1\r\nHost: {host}\r\n\r\n",
        f"GET /osImages HTTP/1.1\r\nHost: {host}\r\n"
        + "".join(f"X-H{i}: v\r\n" for i in range(20_000))
        + "\r\n",
    ):
        with ctx.wrap_socket(
            socket.create_connection((host, int(port)), timeout=10), server_hostname=host
        ) as sock:
            with contextlib.suppress(OSError):
                sock.sendall(head.encode())
            answer = b""
            with contextlib.suppress(OSError):
                answer = sock.recv(4096)
            # Refused with a 4xx, or the connection closed; never a 2xx or a 5xx.
            assert answer == b"" or answer.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")), answer[:80]
    s = server.session()
    assert s.get(server.url + "/osImages", timeout=10).status_code == 200


def test_a_stop_is_not_held_by_idle_connections(tmp_path: Path) -> None:
    """Clients keep idle connections in their pools and send no close_notify of their
    own until they next read: a stopping server closes them at once, with a clean TLS
    close, instead of waiting for each client's answer."""
    server = start_server(tmp_path / "data", {"OSDEPOT_SHUTDOWN_TIMEOUT": "30"})
    with contextlib.ExitStack() as stack:
        stack.callback(stop_server, server)
        pooled = server.session()  # logged in, its connection left idle in the pool
        assert pooled.get(server.url + "/osImages", timeout=10).status_code == 200
        port = int(server.url.rsplit(":", 1)[1])
        tls = ssl.create_default_context(cafile=str(server.data_dir / "tls" / "cert.pem"))
        raw = tls.wrap_socket(
            socket.create_connection(("127.0.0.1", port), timeout=10),
            server_hostname="127.0.0.1",
        )
        stack.callback(raw.close)
        stack.callback(pooled.close)
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got = b""
        while not got.endswith(b'{"status":"ok"}'):
            got += raw.recv(65536)
        server.proc.terminate()
        server.proc.wait(timeout=20)  # uvicorn ends by raising SIGTERM again
        # close_notify arrived (an unclean close raises SSLEOFError here) ...
        assert raw.recv(100) == b""
        log = server.log.read_text()
        # ... and no connection was waited for.
        assert "Waiting for connections to close" not in log, log
        assert "graceful shutdown exceeded" not in log, log


def test_a_second_server_on_the_same_data_folder_is_refused(tmp_path: Path) -> None:
    """A second `osdepot serve` started on a data folder in use (by mistake: a manual
    start beside the service) ran its start-up recovery under the first one: it stopped
    the first one's running import as interrupted and removed its staging file (probe:
    "RecoveryReport(staging_removed=1, jobs_failed=1 …)"), and its sweep of blobs the
    catalog does not name could remove one the first was committing."""
    data = tmp_path / "data"
    first = start_server(data)
    try:
        s, job, sock = _upload_under_way(first)
        sock.sendall(b"\0" * 1_000_000)
        deadline = time.monotonic() + 10
        while s.get(first.url + f"/tasks/{job}", timeout=10).json()[0]["status"] != "Running":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        second = subprocess.run(
            [sys.executable, "-m", "osdepot.cli.main", "serve", "--port", "0"],
            env={**first.env(), "OSDEPOT_ADMIN_USER": "admin", "OSDEPOT_ADMIN_PASSWORD": "x" * 12},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2, second.stderr
        assert f"is in use by osdepot serve (pid {first.proc.pid})" in second.stderr
        # the first server's import goes on
        task = s.get(first.url + f"/tasks/{job}", timeout=10).json()[0]
        assert task["status"] == "Running", task
        assert list((data / "blobs" / ".staging").iterdir())
        sock.close()
    finally:
        stop_server(first)
    again = start_server(data)  # the folder is free once the first has stopped
    stop_server(again)
