"""Large and interrupted uploads against a real server: memory, progress, cancel, disconnect."""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import psutil
import pytest
import requests

from tests.e2e.conftest import Server
from tests.media import medium_bytes

BOUNDARY = "osdepotE2Eboundary"
CHUNK = 1 << 20


#: A real installation medium; the uploads below are this medium followed by padding
#: (an image may be longer than the volume its descriptor declares, never shorter).
HEAD = medium_bytes("rhel", version="9.4")


def multipart(name: str, size: int, pause: float = 0.0) -> Iterator[bytes]:
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="uploadedfile"; '
        f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    yield HEAD
    block = bytes(range(256)) * (CHUNK // 256)
    sent = len(HEAD)
    while sent < size:
        n = min(CHUNK, size - sent)
        yield block[:n]
        sent += n
        if pause:
            time.sleep(pause)
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def expected_sha256(size: int) -> str:
    h = hashlib.sha256(HEAD)
    block = bytes(range(256)) * (CHUNK // 256)
    for off in range(len(HEAD), size, CHUNK):
        h.update(block[: min(CHUNK, size - off)])
    return h.hexdigest()


def init(s: requests.Session, server: Server, itype: str, size: int) -> str:
    r = s.post(
        server.url + f"/osImages?imageType={itype}", json={"Action": "Init", "fileSize": size}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["jobId"])


def staging(server: Server) -> list[str]:
    return [p.name for p in (server.data_dir / "blobs" / ".staging").iterdir()]


def blobs(server: Server) -> list[str]:
    root = server.data_dir / "blobs"
    return [p.name for p in root.rglob("*") if p.is_file() and ".staging" not in p.parts]


@pytest.mark.slow
def test_one_gib_upload_keeps_memory_bounded_and_reports_progress(server: Server) -> None:
    size = 1 << 30
    s = server.session()
    job = init(s, server, "OS", size)
    proc = psutil.Process(server.proc.pid)
    idle = proc.memory_info().rss
    peak = [idle]
    percentages: list[int] = []
    done = threading.Event()
    poller = server.session()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            t = poller.get(server.url + f"/tasks/{job}").json()[0]
            percentages.append(int(t["percentage"]))
            time.sleep(0.1)

    w = threading.Thread(target=watch)
    w.start()
    try:
        r = s.post(
            server.url + f"/files/osImages?jobId={job}&imageType=OS&imageName=big&os=rhel",
            data=multipart("big.iso", size),
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            timeout=600,
        )
    finally:
        done.set()
        w.join()
    assert r.status_code == 201, r.text
    item = s.get(server.url + "/osImages").json()["items"][0]
    assert item["size"] == size and item["sha256"] == expected_sha256(size)
    growth = (peak[0] - idle) / (1 << 20)
    print(f"server RSS idle {idle / (1 << 20):.1f} MiB, peak growth {growth:.1f} MiB")
    assert growth < 100, f"server memory grew by {growth:.1f} MiB during a 1 GiB upload"
    running = [p for p in percentages if 0 < p < 100]
    assert running == sorted(running) and len(set(running)) >= 3, percentages
    assert staging(server) == []


def test_cancel_aborts_a_running_upload(server: Server) -> None:
    size = 200 * CHUNK
    s = server.session()
    job = init(s, server, "OS", size)
    result: dict[str, object] = {}

    def upload() -> None:
        try:
            r = s.post(
                server.url + f"/files/osImages?jobId={job}&imageName=c&os=rhel",
                data=multipart("c.iso", size, pause=0.02),
                headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                timeout=60,
            )
            result["status"] = r.status_code
            result["body"] = r.json()
        except requests.ConnectionError as exc:  # the server may close while we send
            result["error"] = exc

    t = threading.Thread(target=upload)
    t.start()
    other = server.session()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        task = other.get(server.url + f"/tasks/{job}").json()[0]
        if task["status"] == "Running" and task["bytesReceived"] > 0:
            break
        time.sleep(0.05)
    r = other.put(
        server.url + "/tasks",
        data=json.dumps({"action": "cancel", "list": [job]}),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 200
    t.join(60)
    assert not t.is_alive()
    if "status" in result:
        assert result["status"] == 409
        assert result["body"]["messages"][0]["id"] == "FQXHMFC9014J"  # type: ignore[index]
    task = other.get(server.url + f"/tasks/{job}").json()[0]
    assert task["status"] == "Cancelled" and task["cancelledBy"] == "e2eadmin"
    assert staging(server) == [] and blobs(server) == []


def test_client_disconnect_removes_staging(server: Server) -> None:
    s = server.session()
    job = init(s, server, "OS", 100 * CHUNK)
    port = int(server.url.rsplit(":", 1)[1])
    tls = ssl.create_default_context(cafile=str(server.data_dir / "tls" / "cert.pem"))
    raw = socket.create_connection(("127.0.0.1", port))
    conn = tls.wrap_socket(raw, server_hostname="127.0.0.1")
    cookies = "; ".join(f"{k}={v}" for k, v in s.cookies.items())
    head = next(multipart("d.iso", 1))
    body_len = len(head) + 100 * CHUNK + len(f"\r\n--{BOUNDARY}--\r\n")
    conn.sendall(
        (
            f"POST /files/osImages?jobId={job}&imageName=d&os=rhel HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nCookie: {cookies}\r\nX-Csrf-Token: {s.headers['X-Csrf-Token']}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {body_len}\r\n\r\n"
        ).encode()
        + head
    )
    for _ in range(10):
        conn.sendall(b"\x00" * CHUNK)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not staging(server):
        time.sleep(0.05)
    assert staging(server), "the upload never started"
    conn.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        task = s.get(server.url + f"/tasks/{job}").json()[0]
        if task["status"] != "Running" and not staging(server):
            break
        time.sleep(0.05)
    assert staging(server) == [] and blobs(server) == []
    assert task["status"] == "Stopped" and task["messageID"] == "FQXHMFC9013J"


def test_restart_after_a_kill_mid_upload(tmp_path: object) -> None:
    """SIGKILL during an upload: the next start removes the staging file and fails the
    job with a message; what was imported before is intact."""
    from pathlib import Path

    from tests.e2e.conftest import start_server, stop_server

    data = Path(str(tmp_path)) / "data"
    server = start_server(data)
    try:
        s = server.session()
        kept = init(s, server, "SCRIPT", 5)
        r = s.post(
            server.url + f"/files/osImages?jobId={kept}&os=rhel",
            files={"uploadedfile": ("keep.sh", b"hello")},
        )
        assert r.status_code == 201
        job = init(s, server, "OS", 500 * CHUNK)

        def upload() -> None:
            with contextlib.suppress(requests.ConnectionError):
                s.post(
                    server.url + f"/files/osImages?jobId={job}&imageName=k&os=rhel",
                    data=multipart("k.iso", 500 * CHUNK, pause=0.01),
                    headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                    timeout=60,
                )

        t = threading.Thread(target=upload)
        t.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not staging(server):
            time.sleep(0.02)
        assert staging(server)
        server.proc.kill()
        server.proc.wait()
        t.join(30)
    finally:
        stop_server(server)
    server = start_server(data)
    try:
        s = server.session()
        task = s.get(server.url + f"/tasks/{job}").json()[0]
        assert task["status"] == "Stopped" and task["messageID"] == "FQXHMFC9015M"
        assert staging(server) == []
        (entry,) = s.get(server.url + "/osImages").json()["installScriptFiles"]
        assert entry["sha256"] == hashlib.sha256(b"hello").hexdigest()
        assert len(blobs(server)) == 1
    finally:
        stop_server(server)
