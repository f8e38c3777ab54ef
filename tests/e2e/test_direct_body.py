"""Uploads read from the socket straight into the upload buffers (web/protocol.py,
web/body.py), against a real server over TLS with 4 KiB buffers: the stored file is
exactly the file part, wherever the multipart delimiter (or the start of one) falls
against the buffers, however the client's bytes are split, and the connection
serves the next request afterwards.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import time
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.conftest import Server, start_server, stop_server

BUFFER = 4096
BOUNDARY = "e2eDirectBoundary"
DELIM = f"\r\n--{BOUNDARY}".encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_server(
        tmp_path_factory.mktemp("direct") / "data",
        {"OSDEPOT_UPLOAD_BUFFER_BYTES": str(BUFFER)},
    )
    yield s
    stop_server(s)


def script(size: int, seed: int) -> bytes:
    """A shell script of ``size`` bytes (CRLF lines) in which every buffer ends with
    a beginning of the delimiter, a different length each time."""
    data = bytearray(b"#!/bin/sh\r\n")
    line = 0
    while len(data) < size:
        data += f"echo line {seed} {line}\r\n".encode()
        line += 1
    for k in range(1, size // BUFFER + 1):
        cut = 1 + (k + seed) % (len(DELIM) - 1)
        end = k * BUFFER
        data[end - cut : end] = DELIM[:cut]
    return bytes(data[:size])


def body(data: bytes, name: str) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="uploadedfile"; '
            f'filename="{name}"\r\nContent-Type: application/x-sh\r\n\r\n'
        ).encode()
        + data
        + DELIM
        + b"--\r\n"
    )


def new_job(s: requests.Session, server: Server) -> str:
    r = s.post(server.url + "/osImages?imageType=SCRIPT", json={"Action": "Init"}, timeout=30)
    assert r.status_code == 201, r.text
    return str(r.json()["jobId"])


def listed(s: requests.Session, server: Server) -> dict[str, dict[str, object]]:
    listing = s.get(server.url + "/osImages", timeout=30).json()
    return {f["id"]: f for f in listing["installScriptFiles"]}


def test_the_stored_file_is_the_file_part_wherever_the_delimiter_falls(server: Server) -> None:
    s = server.session()
    # The first 64 KiB of a body are read through the multipart parser; what follows
    # goes into the buffers in place.
    sizes = [20 * BUFFER + d for d in range(-len(DELIM) - 1, len(DELIM) + 2, 3)]
    sizes += [BUFFER - 1, 16 * BUFFER, 17 * BUFFER + 1, 40 * BUFFER + 7]
    stored = {}
    for i, size in enumerate(sizes):
        data = script(size, i)
        job = new_job(s, server)
        r = s.post(
            server.url + f"/files/osImages?jobId={job}&imageType=SCRIPT&os=rhel",
            data=body(data, f"s{i}.sh"),  # one request, with a Content-Length
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            timeout=60,
        )
        assert r.status_code == 201, (size, r.text)
        stored[r.json()["fileid"]] = data
    files = listed(s, server)
    for file_id, data in stored.items():
        assert files[file_id]["size"] == len(data)
        assert files[file_id]["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_client_sending_in_small_pieces_keeps_its_connection(server: Server) -> None:
    """Raw TLS: the body in odd-sized pieces with pauses, then a second request on the
    same connection, which the server must parse from the right byte."""
    s = server.session()
    job = new_job(s, server)
    data = script(30 * BUFFER + 5, 99)
    payload = body(data, "pieces.sh")
    ctx, port, cookie, head = raw_upload(s, server, job, len(payload))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as conn,
    ):
        conn.sendall(head)
        pos, step = 0, 1
        while pos < len(payload):
            conn.sendall(payload[pos : pos + step])
            pos += step
            step = step * 3 + 1 if step < 5000 else 777
            time.sleep(0.002)
        first = read_response(conn)
        conn.sendall(
            f"GET /osImages HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode()
        )
        second = read_response(conn)
    assert first.startswith(b"HTTP/1.1 201"), first[:300]
    assert second.startswith(b"HTTP/1.1 200"), second[:300]
    (file_id,) = [f for f, v in listed(s, server).items() if v["name"] == "pieces.sh"]
    assert listed(s, server)[file_id]["sha256"] == hashlib.sha256(data).hexdigest()


def raw_upload(
    s: requests.Session, server: Server, job: str, length: int
) -> tuple[ssl.SSLContext, int, str, bytes]:
    """What a raw TLS client needs to upload a body of ``length`` bytes to ``job``: the
    TLS context, the port, the session cookie and the request head."""
    ctx = ssl.create_default_context(cafile=str(server.data_dir / "tls" / "cert.pem"))
    port = int(server.url.rsplit(":", 1)[1])
    cookie = "; ".join(f"{k}={v}" for k, v in s.cookies.items())
    head = (
        f"POST /files/osImages?jobId={job}&imageType=SCRIPT&os=rhel HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nCookie: {cookie}\r\nX-Csrf-Token: {s.headers['X-Csrf-Token']}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()
    return ctx, port, cookie, head


def read_response(conn: ssl.SSLSocket) -> bytes:
    """One HTTP response with a Content-Length (as the server sends them)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        chunk = conn.recv(65536)
        assert chunk
        rest += chunk
    return head + b"\r\n\r\n" + rest


def test_a_slow_upload_shows_progress_and_stops_when_cancelled(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """With the default 4 MiB buffers a 3 MiB file never fills one: progress and a
    cancel must still be seen while the buffer fills, not only when it is full."""
    srv = start_server(
        tmp_path_factory.mktemp("slow") / "data", {"OSDEPOT_PROGRESS_INTERVAL": "0.2"}
    )
    try:
        s = srv.session()
        job = new_job(s, srv)
        payload = body(script(3 << 20, 7), "slow.sh")
        ctx, port, _, head = raw_upload(s, srv, job, len(payload))
        progress: list[int] = []
        with (
            socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as conn,
        ):
            conn.sendall(head)
            sent = 0
            cancelled_at = None
            while sent < len(payload) - 100_000:
                conn.sendall(payload[sent : sent + 64 * 1024])
                sent += 64 * 1024
                time.sleep(0.03)  # about 2 MB/s
                task = s.get(srv.url + f"/tasks/{job}", timeout=10).json()[0]
                if task["bytesReceived"]:
                    progress.append(task["bytesReceived"])
                if cancelled_at is None and sent > (1 << 20):
                    r = s.put(
                        srv.url + "/tasks",
                        json={"action": "cancel", "list": [job]},
                        timeout=10,
                    )
                    assert r.status_code == 200, r.text
                    cancelled_at = sent
                if task["status"] == "Cancelled" and cancelled_at is not None:
                    break
            # The server stopped reading this upload long before its end.
            assert sent < len(payload) - 100_000, "the cancel was not seen while uploading"
            conn.settimeout(10)
            answer = read_response(conn)
        assert answer.startswith(b"HTTP/1.1 4"), answer[:200]
        assert b"FQXHMFC" in answer
        assert len(progress) >= 2 and progress[0] < (1 << 20)
        assert list((srv.data_dir / "blobs" / ".staging").iterdir()) == []
    finally:
        stop_server(srv)
