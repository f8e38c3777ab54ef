"""Resumable uploads against a real `osdepot serve` over TLS, with real clients:
tus-js-client under Node (tus 1.0 and the IETF draft's interop versions, each with a
forced interruption and a resume), tuspy, and a server killed with SIGKILL in the
middle of a request and restarted."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.cutproxy import CutProxy
from tests.e2e.conftest import ADMIN, ADMIN_PW, Server, start_server, stop_server

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
BASIC = "Basic " + base64.b64encode(f"{ADMIN}:{ADMIN_PW}".encode()).decode()
TUS = {"Tus-Resumable": "1.0.0"}


def archive(size: int, seed: int) -> bytes:
    """A .tar.gz of ``size`` random bytes (a SOFTWARE file; random data does not
    compress, so the archive is a little larger)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("payload/data.bin")
        info.size = size
        tar.addfile(info, io.BytesIO(random.Random(seed).randbytes(size)))
    return buf.getvalue()


def new_job(server: Server) -> str:
    s = server.session()
    r = s.post(
        server.url + "/osImages?imageType=SOFTWARE&os=rhel", json={"Action": "Init"}, timeout=10
    )
    assert r.status_code == 201, r.text
    return str(r.json()["jobId"])


def task(server: Server, job: str) -> dict[str, object]:
    r = server.session().get(f"{server.url}/tasks/{job}", timeout=10)
    return dict(r.json()[0])


def stored_sha256(server: Server, file_id: str) -> str:
    r = server.session().get(f"{server.url}/files/osImages/{file_id}", timeout=60)
    assert r.status_code == 200
    return hashlib.sha256(r.content).hexdigest()


@pytest.fixture(scope="module")
def node_clients() -> Path:
    """tus-js-client, installed from the lock file into tests/node (once)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("Node.js and npm are needed (scripts/test installs them)")
    if not (NODE_DIR / "node_modules" / "tus-js-client").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=300
        )
    return NODE_DIR


def run_node(server: Server, node_dir: Path, endpoint: str, path: Path, *args: str) -> Any:
    r = subprocess.run(
        ["node", "tus_upload.mjs", endpoint, str(path), args[0], BASIC, *args[1:]],
        cwd=node_dir,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NODE_EXTRA_CA_CERTS": str(server.data_dir / "tls" / "cert.pem")},
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("protocol", ["tus-v1", "ietf-draft-03", "ietf-draft-05"])
def test_tus_js_client_through_a_network_cut(
    server: Server, node_clients: Path, tmp_path: Path, protocol: str
) -> None:
    """One PATCH for the whole file, cut by the network at 5 MiB: the client retries,
    asks for the offset and sends the rest from there."""
    data = archive(12 << 20, seed=len(protocol))
    path = tmp_path / "payload.tar.gz"
    path.write_bytes(data)
    job = new_job(server)
    port = int(server.url.rpartition(":")[2])
    proxy = CutProxy(("127.0.0.1", port), cut_after=5 << 20, rate=40 << 20)
    try:
        endpoint = f"{proxy.url}/files/osImages/uploads?jobId={job}&imageType=SOFTWARE&os=rhel"
        out = run_node(server, node_clients, endpoint, path, protocol, "0", "0")
    finally:
        proxy.close()
    assert proxy.cuts == 1 and out["retries"] >= 1, out
    assert out["jobStatus"] == "Complete" and out["status"] == 200, out
    # the offset asked for after the cut: what the server kept of the cut request
    assert out["offsets"] and 0 < out["offsets"][0] < len(data), out
    assert task(server, job)["status"] == "Complete"
    assert stored_sha256(server, out["fileId"]) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(("protocol", "chunk"), [("tus-v1", 4 << 20), ("ietf-draft-05", 3 << 20)])
def test_tus_js_client_aborted_and_continued_by_a_new_client(
    server: Server, node_clients: Path, tmp_path: Path, protocol: str, chunk: int
) -> None:
    """In chunks; aborted after 5 MiB and continued by a new client given the upload's
    URL (as the web UI does after a page reload)."""
    data = archive(12 << 20, seed=chunk)
    path = tmp_path / "payload.tar.gz"
    path.write_bytes(data)
    job = new_job(server)
    endpoint = f"{server.url}/files/osImages/uploads?jobId={job}&imageType=SOFTWARE&os=rhel"
    out = run_node(server, node_clients, endpoint, path, protocol, str(chunk), str(5 << 20))
    assert out["interrupted"] and out["resumed"] and out["jobStatus"] == "Complete", out
    assert out["url"].startswith(server.url + "/files/osImages/uploads/")
    assert out["resumedFrom"] > 0 and out["resumedFrom"] % chunk == 0, out
    assert task(server, job)["status"] == "Complete"
    assert stored_sha256(server, out["fileId"]) == hashlib.sha256(data).hexdigest()


def test_tuspy_uploads_in_chunks(server: Server, tmp_path: Path) -> None:
    from tusclient import client as tus_client

    data = archive(6 << 20, seed=7)
    path = tmp_path / "tuspy.tar.gz"
    path.write_bytes(data)
    job = new_job(server)
    client = tus_client.TusClient(
        f"{server.url}/files/osImages/uploads?jobId={job}&imageType=SOFTWARE&os=rhel",
        headers={"Authorization": BASIC},
    )
    with open(path, "rb") as stream:
        uploader = client.uploader(
            file_stream=stream,
            chunk_size=1 << 20,
            metadata={"filename": path.name},
            verify_tls_cert=False,
            upload_checksum=True,  # sha1 of every chunk, checked by the server
        )
        uploader.upload()
    assert uploader.offset == len(data)
    t = task(server, job)
    assert t["status"] == "Complete", t
    assert stored_sha256(server, str(t["fileId"])) == hashlib.sha256(data).hexdigest()


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[list[Server]]:
    """A server (list[0]) a test may kill and start again on the same data."""
    holder = [start_server(tmp_path / "data", {"OSDEPOT_UPLOAD_CHECKPOINT_INTERVAL": "0.2"})]
    yield holder
    stop_server(holder[0])


def test_kill_9_mid_request_then_resume_to_the_right_sha256(
    restartable: list[Server], tmp_path: Path
) -> None:
    server = restartable[0]
    data = archive(24 << 20, seed=9)
    job = new_job(server)
    s = requests.Session()
    s.trust_env = False  # REQUESTS_CA_BUNDLE would override the pinned certificate
    s.verify = str(server.data_dir / "tls" / "cert.pem")
    s.headers.update({**TUS, "Authorization": BASIC})
    meta = "filename " + base64.b64encode(b"killed.tar.gz").decode()
    r = s.post(
        f"{server.url}/files/osImages/uploads?jobId={job}&imageType=SOFTWARE&os=rhel",
        headers={"Upload-Length": str(len(data)), "Upload-Metadata": meta},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    url = server.url + location
    sent = threading.Event()

    def slow_body() -> Iterator[bytes]:
        """The file from byte 0, in pieces, slowing down after 8 MiB (chunked)."""
        for at in range(0, len(data), 1 << 20):
            if at >= 8 << 20:
                sent.set()
                time.sleep(0.3)
            yield data[at : at + (1 << 20)]

    def patch() -> None:
        with contextlib.suppress(requests.RequestException):  # killed under it
            s.patch(
                url,
                data=slow_body(),
                headers={"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
                timeout=60,
            )

    t = threading.Thread(target=patch, daemon=True)
    t.start()
    assert sent.wait(30)
    time.sleep(3.0)  # buffers (4 MiB) filled and checkpointed while the bytes trickle in
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)
    t.join(30)
    server = start_server(server.data_dir, {"OSDEPOT_UPLOAD_CHECKPOINT_INTERVAL": "0.2"})
    restartable[0] = server
    url = server.url + location  # a new port
    assert task(server, job)["status"] == "Running"  # the restart kept the upload
    h = s.head(url, timeout=10)
    assert h.status_code == 200, h.text
    offset = int(h.headers["Upload-Offset"])
    assert 8 << 20 <= offset < len(data)
    # every byte before the offset is on disk as it was sent
    (part,) = (server.data_dir / "blobs" / ".staging").iterdir()
    with open(part, "rb") as f:
        assert f.read(offset) == data[:offset]
    r = s.patch(
        url,
        data=data[offset:],
        headers={"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert r.headers["Osdepot-Job-Status"] == "Complete"
    file_id = r.headers["Osdepot-File-Id"]
    assert stored_sha256(server, file_id) == hashlib.sha256(data).hexdigest()
    assert not list((server.data_dir / "blobs" / ".staging").iterdir())


def test_cli_rides_out_a_network_cut_and_resumes_after_giving_up(
    server: Server, tmp_path: Path
) -> None:
    """`osdepot import` through a network that drops at 5 MiB retries by itself; when
    the server stays unreachable it gives up with a hint, and `--resume` finishes."""
    from dataclasses import replace

    from tests.e2e.test_cli_client import Cli

    data = archive(12 << 20, seed=11)
    path = tmp_path / "agent.tar.gz"
    path.write_bytes(data)
    port = int(server.url.rpartition(":")[2])
    proxy = CutProxy(("127.0.0.1", port), cut_after=5 << 20, rate=40 << 20)
    cli = Cli(replace(server, url=proxy.url), tmp_path / "config")
    try:
        cli.login()
        r = cli("import", str(path), "--type", "SOFTWARE", "--os", "rhel", "--retries", "3")
        assert r.returncode == 0, r.stderr
        assert "interrupted" in r.stderr and "retrying" in r.stderr
        assert "SHA256 " + hashlib.sha256(data).hexdigest() in r.stdout, (r.stdout, r.stderr)
    finally:
        proxy.close()
    assert proxy.cuts == 1
    # cut again, and this time the server stays away: the command gives up
    data2 = archive(12 << 20, seed=12)
    path.write_bytes(data2)
    proxy = CutProxy(("127.0.0.1", port), cut_after=5 << 20, rate=40 << 20, port=proxy.port)

    def unplug() -> None:
        while proxy.cuts == 0:
            time.sleep(0.05)
        proxy.close()

    threading.Thread(target=unplug, daemon=True).start()
    r = cli("import", str(path), "--type", "SOFTWARE", "--os", "rhel", "--retries", "2")
    assert r.returncode != 0
    assert "--resume" in r.stderr, r.stderr
    # the network is back: --resume continues from what the server kept
    proxy = CutProxy(("127.0.0.1", port), cut_after=1 << 40, port=proxy.port)
    try:
        r = cli("import", str(path), "--type", "SOFTWARE", "--os", "rhel", "--resume")
    finally:
        proxy.close()
    assert r.returncode == 0, r.stderr
    assert "resuming at byte" in r.stderr
    resumed_at = int(r.stderr.split("resuming at byte ")[1].split()[0])
    assert 0 < resumed_at < len(data2)
    assert "SHA256 " + hashlib.sha256(data2).hexdigest() in r.stdout
    r = cli("import", str(path), "--type", "SOFTWARE", "--os", "rhel", "--resume")
    assert r.returncode != 0 and "no interrupted upload" in r.stderr


def raw_request(server: Server, head: str, body: bytes = b"") -> bytes:
    """One request over TLS on its own socket; everything the server answered."""
    import socket
    import ssl

    ctx = ssl.create_default_context(cafile=str(server.data_dir / "tls" / "cert.pem"))
    port = int(server.url.rpartition(":")[2])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as sock,
        ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(head.encode() + body)
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    return data


def test_the_draft_104_interim_answer_before_the_final_one(server: Server) -> None:
    """A draft client naming its interop version learns the upload's URL from a 104
    before its body is read; one naming none gets no 1xx."""
    data = archive(1 << 20, seed=3)
    job = new_job(server)
    head = (
        f"POST /files/osImages/uploads?jobId={job}&imageType=SOFTWARE&os=rhel HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: {BASIC}\r\nUpload-Draft-Interop-Version: 8\r\n"
        'Upload-Complete: ?1\r\nContent-Disposition: inline; filename="a.tar.gz"\r\n'
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    answer = raw_request(server, head, data)
    interim, _, final = answer.partition(b"\r\n\r\n")
    assert interim.startswith(b"HTTP/1.1 104 Upload Resumption Supported"), answer[:300]
    assert b"\r\nLocation: /files/osImages/uploads/" in interim
    assert b"Upload-Draft-Interop-Version: 8" in interim and b"Upload-Limit:" in interim
    assert final.startswith(b"HTTP/1.1 200"), final[:300]
    assert b"upload-complete: ?1" in final.lower()
    assert task(server, job)["status"] == "Complete"
    # no interop version: no 104 (Python's http.client would take it for the answer)
    job = new_job(server)
    head = head.replace(f"jobId={int(job) - 1}", f"jobId={job}").replace(
        "Upload-Draft-Interop-Version: 8\r\n", ""
    )
    answer = raw_request(server, head, data)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]


def test_a_second_request_stops_the_one_left_behind(server: Server) -> None:
    """A PATCH whose client went silent (its connection still open) is stopped by the
    next request for the same upload, and keeps what it received: the new request is
    told that offset, and the upload goes on from it."""
    data = archive(8 << 20, seed=5)
    job = new_job(server)
    s = requests.Session()
    s.trust_env = False
    s.verify = str(server.data_dir / "tls" / "cert.pem")
    s.headers.update({**TUS, "Authorization": BASIC})
    meta = "filename " + base64.b64encode(b"two.tar.gz").decode()
    r = s.post(
        f"{server.url}/files/osImages/uploads?jobId={job}&imageType=SOFTWARE&os=rhel",
        headers={"Upload-Length": str(len(data)), "Upload-Metadata": meta},
        timeout=10,
    )
    url = server.url + r.headers["Location"]
    release = threading.Event()
    first: dict[str, int] = {}

    def stalled_body() -> Iterator[bytes]:
        yield data[: 3 << 20]
        release.wait(30)  # the client goes silent, its connection open

    def old_patch() -> None:
        with contextlib.suppress(requests.RequestException):
            r = s.patch(
                url,
                data=stalled_body(),
                headers={"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
                timeout=60,
            )
            first["status"] = r.status_code

    t = threading.Thread(target=old_patch, daemon=True)
    t.start()
    time.sleep(1.5)  # the first 3 MiB arrived
    other = requests.Session()
    other.trust_env = False
    other.verify = s.verify
    other.headers.update(s.headers)
    h = other.head(url, timeout=30)  # stops the old request, then answers
    assert h.status_code == 200, h.text
    kept = int(h.headers["Upload-Offset"])
    assert 0 < kept <= 3 << 20
    r = other.patch(
        url,
        data=b"",
        headers={"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        timeout=10,
    )
    assert r.status_code == 409 and r.headers["Upload-Offset"] == str(kept)
    r = other.patch(
        url,
        data=data[kept:],
        headers={"Upload-Offset": str(kept), "Content-Type": "application/offset+octet-stream"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    release.set()
    t.join(30)
    assert first.get("status") in (None, 423)  # the old one was told it was taken over
    assert stored_sha256(server, r.headers["Osdepot-File-Id"]) == hashlib.sha256(data).hexdigest()


def test_the_draft_104_progress_answers_while_bytes_arrive(restartable: list[Server]) -> None:
    """A long draft request is told each offset recorded while it sends (104 with
    Upload-Offset, never a Location), then its final answer."""
    server = restartable[0]  # checkpoints every 0.2 s
    data = archive(24 << 20, seed=4)
    job = new_job(server)
    r = raw_request(
        server,
        f"POST /files/osImages/uploads?jobId={job}&imageType=SOFTWARE&os=rhel HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: {BASIC}\r\nUpload-Draft-Interop-Version: 6\r\n"
        'Upload-Complete: ?0\r\nContent-Disposition: inline; filename="p.tar.gz"\r\n'
        "Content-Length: 0\r\nConnection: close\r\n\r\n",
    )
    location = r.split(b"\r\nLocation: ", 1)[1].split(b"\r\n", 1)[0].decode()
    import socket
    import ssl

    ctx = ssl.create_default_context(cafile=str(server.data_dir / "tls" / "cert.pem"))
    port = int(server.url.rpartition(":")[2])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as sock,
        ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(
            (
                f"PATCH {location} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {BASIC}\r\n"
                "Upload-Draft-Interop-Version: 6\r\nUpload-Offset: 0\r\nUpload-Complete: ?1\r\n"
                "Content-Type: application/partial-upload\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
            ).encode()
        )
        for at in range(0, len(data), 1 << 20):  # 1 MiB every 50 ms: about 1.2 s
            tls.sendall(data[at : at + (1 << 20)])
            time.sleep(0.05)
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    parts = answer.split(b"\r\n\r\n")
    interims = [p for p in parts if p.startswith(b"HTTP/1.1 104")]
    assert interims, answer[:500]
    offsets = [int(p.split(b"Upload-Offset: ")[1].split(b"\r\n")[0]) for p in interims]
    assert offsets == sorted(offsets) and 0 < offsets[0] < len(data)
    assert not any(b"Location" in p for p in interims)
    final = [p for p in parts if p.startswith(b"HTTP/1.1 200")]
    assert final and b"upload-complete: ?1" in final[0].lower()
    assert task(server, job)["status"] == "Complete"
