"""Uploads at the speed of the machine: osdepot against nginx, in one run.

Measures, on this machine, in this run:

* the ceiling: nginx receiving the same multipart body and writing it to disk,
  timed together with a ``sync`` of what it stored (both sides pay for durability);
  without nginx (and no way to install it) a client-side bound is printed instead;
* hashlib's single-core SHA-256 and MD5 rates;
* osdepot's end-to-end import (POST /osImages, then POST /files/osImages with a
  checksum, answered 201 after fsync and commit) of an installation ISO: without
  and with TLS, one stream and 4 concurrent streams, SHA-256 and MD5;
* the server's peak memory during a large upload, against the idle server;
* GET /osImages latency with 10,000 catalog entries, and GET /tasks/{id} requests
  per second.

    .venv/bin/python -m benchmarks.upload              # the full run (2 GiB, 4 GiB)
    .venv/bin/python -m benchmarks.upload --smoke      # small and quick, for CI

Every figure and ratio is printed and written to ``--out`` (JSON). Servers listen on
127.0.0.1 only and are stopped at the end; scratch files are removed.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.media import medium_bytes

MIB = 1 << 20
BOUNDARY = "osdepotBenchBoundary7MA4YWxk"
TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()
ADMIN, PASSWORD = "bench", "bench-password-1"
AUTH = "Basic " + base64.b64encode(f"{ADMIN}:{PASSWORD}".encode()).decode()
#: Four different releases, so that four concurrent imports do not collide.
MEDIA = [("rhel", {}), ("sles", {}), ("ubuntu", {}), ("rocky", {"version": "9.3"})]


def log(msg: str) -> None:
    print(msg, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


# -- request bodies --------------------------------------------------------------------


@dataclass
class Body:
    path: Path
    size: int  # bytes of the file inside the body
    length: int  # bytes of the whole multipart body
    sha256: str
    md5: str
    kind: str


def build_body(path: Path, size: int, kind: str, kw: dict[str, Any], algo: str) -> Body:
    """A multipart body: checksum fields first, then an installation ISO padded to
    ``size`` bytes with incompressible data."""
    head = medium_bytes(kind, **kw)
    sha, md5 = hashlib.sha256(), hashlib.md5()
    pad = os.urandom(4 * MIB)
    tmp = path.with_suffix(".file")
    with open(tmp, "wb") as f:
        f.write(head)
        sha.update(head)
        md5.update(head)
        left = size - len(head)
        while left > 0:
            chunk = pad[: min(len(pad), left)]
            f.write(chunk)
            sha.update(chunk)
            md5.update(chunk)
            left -= len(chunk)
    digests = {"SHA256": sha.hexdigest(), "MD5": md5.hexdigest()}
    fields = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="checksumType"\r\n\r\n'
        f"{algo}\r\n"
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="checksumValue"\r\n\r\n'
        f"{digests[algo]}\r\n"
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="uploadedfile"; '
        f'filename="{kind}.iso"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    tail = TAIL
    with open(path, "wb") as out, open(tmp, "rb") as src:
        out.write(fields)
        shutil.copyfileobj(src, out, 8 * MIB)
        out.write(tail)
    tmp.unlink()
    return Body(path, size, len(fields) + size + len(tail), sha.hexdigest(), md5.hexdigest(), kind)


def warm(path: Path) -> None:
    with open(path, "rb", buffering=0) as f:
        while f.read(16 * MIB):
            pass


def warm_pages(work: Path, nbytes: int) -> None:
    """Write ``nbytes`` into the page cache and drop them again, so that the next
    upload gets memory the machine has just used.

    On virtual machines that hand free memory back to their host (free page
    reporting, as on this project's Firecracker machines), a page-cache write into
    memory the host has taken back costs about 3 s of kernel time per GiB; into
    memory used a moment ago, 0.2 s. Whether nginx's body file got one or the other
    decided its figure (280–1,250 MB/s in consecutive runs). Every timed upload, of
    nginx and of osdepot alike, is preceded by this, which gives the page cache its
    best case: the ceiling is what nginx does on memory the machine already has.
    (Anonymous memory touched and freed does not do it; page-cache pages do.)"""
    chunk = memoryview(bytes(4 * MIB))
    path = work / "page-warmer.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(nbytes // len(chunk) + 1):
            os.write(fd, chunk)
    finally:
        os.close(fd)
        path.unlink()


# -- a small HTTP client: sendfile for the body, one connection per request -------------


def post_body(
    port: int, url: str, body: Body, *, tls: ssl.SSLContext | None = None, auth: bool = True
) -> tuple[int, bytes]:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn: socket.socket = tls.wrap_socket(sock, server_hostname="127.0.0.1") if tls else sock
    try:
        head = (
            f"POST {url} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {body.length}\r\nConnection: close\r\n"
            + (f"Authorization: {AUTH}\r\n" if auth else "")
            + "\r\n"
        ).encode()
        conn.sendall(head)
        with open(body.path, "rb") as f:
            if tls is None:
                conn.sendfile(f)
            else:
                while chunk := f.read(4 * MIB):
                    conn.sendall(chunk)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    finally:
        conn.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data.split(b"\r\n\r\n", 1)[-1]


def send_slice(
    port: int,
    method: str,
    url: str,
    headers: dict[str, str],
    path: Path,
    offset: int,
    length: int,
    tls: ssl.SSLContext | None,
) -> tuple[int, bytes, bytes]:
    """One request whose body is ``length`` bytes of ``path`` from ``offset`` (a
    resumable upload's PATCH): status, response head and body."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn: socket.socket = tls.wrap_socket(sock, server_hostname="127.0.0.1") if tls else sock
    try:
        lines = [f"{method} {url} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: {AUTH}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines += [f"Content-Length: {length}", "Connection: close", "", ""]
        conn.sendall("\r\n".join(lines).encode())
        with open(path, "rb", buffering=0) as f:
            if tls is None:
                conn.sendfile(f, offset, length)
            else:
                f.seek(offset)
                left = length
                while left > 0:
                    chunk = f.read(min(4 * MIB, left))
                    conn.sendall(chunk)
                    left -= len(chunk)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    finally:
        conn.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    head, _, rest = data.partition(b"\r\n\r\n")
    return status, head, rest


def curl_send(
    url: str, method: str, headers: dict[str, str], path: Path, cafile: Path, out: Path
) -> tuple[int, dict[str, str], bytes]:
    """One request with curl (the client of the HTTPS figures): ``path`` as the body,
    streamed (``-T``), no ``Expect: 100-continue`` wait. Status, headers, body."""
    args = ["curl", "-sS", "--cacert", str(cafile), "-X", method, "-T", str(path), "-H", "Expect:"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    head, answer = out.with_suffix(".head"), out.with_suffix(".body")
    args += ["-D", str(head), "-o", str(answer), "-w", "%{http_code}", url]
    r = subprocess.run(args, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"curl failed: {r.stderr.strip()}")
    found: dict[str, str] = {}
    for line in head.read_text(errors="replace").splitlines()[1:]:
        k, sep, v = line.partition(":")
        if sep:
            found[k.strip().lower()] = v.strip()
    return int(r.stdout.strip() or 0), found, answer.read_bytes()


@dataclass
class RawFile:
    """The bytes of a body's file alone, and in pieces (curl sends whole files)."""

    whole: Path
    pieces: list[Path]


def raw_file(body: Body, work: Path, piece: int) -> RawFile:
    start = body.length - body.size - len(TAIL)
    whole = work / f"{body.path.stem}.raw"
    pieces = []
    with open(body.path, "rb") as src, open(whole, "wb") as out:
        src.seek(start)
        left, n = body.size, 0
        while left > 0:
            data = src.read(min(piece, left))
            out.write(data)
            p = work / f"{body.path.stem}.piece{n:05d}"
            p.write_bytes(data)
            pieces.append(p)
            left -= len(data)
            n += 1
    return RawFile(whole, pieces)


def curl_import(port: int, body: Body, cafile: Path, work: Path) -> float:
    """osdepot's multipart import with curl: seconds to its 201."""
    api = Api(port, ssl.create_default_context(cafile=str(cafile)))
    status, job = api.call(
        "POST", "/osImages?imageType=OS", {"Action": "Init", "fileSize": body.size}
    )
    assert status == 201, job
    url = f"https://127.0.0.1:{port}/files/osImages?jobId={job['jobId']}&imageType=OS&os="
    headers = {
        "Authorization": AUTH,
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
    }
    t = time.perf_counter()
    status, _h, raw = curl_send(url, "POST", headers, body.path, cafile, work / "curl")
    took = time.perf_counter() - t
    assert status == 201, raw[:500]
    assert api.call("DELETE", f"/osImages/{json.loads(raw)['imageId']}", {})[0] == 200
    return took


def new_upload(api: Api, body: Body) -> str:
    """A job and a tus upload for ``body``'s file (with its SHA-256); its URL's path."""
    status, job = api.call(
        "POST", "/osImages?imageType=OS", {"Action": "Init", "fileSize": body.size}
    )
    assert status == 201, job
    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in (
            ("filename", f"{body.kind}.iso"),
            ("checksumType", "sha256"),
            ("checksumValue", body.sha256),
        )
    )
    api.conn.request(
        "POST",
        f"/files/osImages/uploads?jobId={job['jobId']}&imageType=OS",
        headers={
            "Authorization": AUTH,
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(body.size),
            "Upload-Metadata": meta,
        },
    )
    r = api.conn.getresponse()
    r.read()
    assert r.status == 201, r.status
    return r.getheader("Location") or ""


def curl_resumable(port: int, body: Body, cafile: Path, work: Path, files: list[Path]) -> float:
    """osdepot's resumable upload with curl: one PATCH per file of ``files`` (the
    whole file, or its pieces); seconds from the first byte to the last answer."""
    api = Api(port, ssl.create_default_context(cafile=str(cafile)))
    url = f"https://127.0.0.1:{port}{new_upload(api, body)}"
    # one curl process for every PATCH (--next), on one kept-alive connection, as a
    # tus client sends its chunks
    args, offset = ["curl", "-sS"], 0
    answer = work / "curl.body"
    for i, f in enumerate(files):
        if i:
            args.append("--next")  # (which resets every option)
        args += ["--cacert", str(cafile), "-X", "PATCH", "-T", str(f), "-H", "Expect:"]
        args += ["-w", "%{http_code}\n"]
        for k, v in {
            "Authorization": AUTH,
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        }.items():
            args += ["-H", f"{k}: {v}"]
        args += ["-o", str(answer) if i == len(files) - 1 else "/dev/null", url]
        offset += f.stat().st_size
    t = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    took = time.perf_counter() - t
    codes = done.stdout.split()
    raw = answer.read_bytes()
    assert codes == ["204"] * (len(files) - 1) + ["200"], (codes, done.stderr, raw[:300])
    assert api.call("DELETE", f"/osImages/{json.loads(raw)['imageId']}", {})[0] == 200
    return took


def osdepot_resumable(
    port: int, body: Body, tls: ssl.SSLContext | None, chunk: int | None
) -> float:
    """Seconds from the first byte of a tus upload (created before) to the answer of
    its last PATCH (after fsync and commit): the file in one PATCH, or in ``chunk``
    byte PATCHes, each on a new connection as tus clients send them."""
    api = Api(port, tls)
    location = new_upload(api, body)
    start = body.length - body.size - len(TAIL)  # the file's bytes inside the body file
    step = chunk or body.size
    t = time.perf_counter()
    offset = 0
    while offset < body.size:
        n = min(step, body.size - offset)
        headers = {
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        }
        status, _head, raw = send_slice(
            port, "PATCH", location, headers, body.path, start + offset, n, tls
        )
        offset += n
        assert status == (200 if offset == body.size else 204), (status, raw[:300])
    took = time.perf_counter() - t
    image_id = json.loads(raw)["imageId"]
    assert api.call("DELETE", f"/osImages/{image_id}", {})[0] == 200
    return took


class Api:
    """Keep-alive JSON calls to osdepot with HTTP Basic."""

    def __init__(self, port: int, tls: ssl.SSLContext | None = None) -> None:
        self.port, self.tls = port, tls
        self.conn = self._new()

    def _new(self) -> http.client.HTTPConnection:
        if self.tls:
            return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.tls)
        return http.client.HTTPConnection("127.0.0.1", self.port)

    def call(self, method: str, url: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": AUTH, "Content-Type": "application/json"}
        for attempt in (0, 1):
            try:
                self.conn.request(method, url, body=data, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = self._new()
                if attempt:
                    raise
        raise AssertionError("unreachable")


# -- servers ---------------------------------------------------------------------------


@contextmanager
def osdepot_server(
    root: Path, *, tls: bool, workers: int = 1, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {
        **os.environ,
        "OSDEPOT_DATA_DIR": str(root),
        "OSDEPOT_ADMIN_USER": ADMIN,
        "OSDEPOT_ADMIN_PASSWORD": PASSWORD,
        "OSDEPOT_HOST": "127.0.0.1",
        "OSDEPOT_PORT": str(port),
        "OSDEPOT_LOG_LEVEL": "warning",
        "OSDEPOT_SHUTDOWN_TIMEOUT": "2",
        "OSDEPOT_WORKERS": str(workers),
        **(extra_env or {}),
    }
    args = [sys.executable, "-m", "osdepot.cli.main", "serve"] + ([] if tls else ["--no-tls"])
    with open(root.parent / f"osdepot-{port}.log", "wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_port(port)
        if workers > 1:
            time.sleep(1.0)  # let every worker start listening
        yield port, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def find_nginx() -> str | None:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("nginx not found; installing it with apt-get …")
        r = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
            timeout=600,
        )
        if r.returncode == 0:
            return shutil.which("nginx") or "/usr/sbin/nginx"
    return None


@contextmanager
def nginx_server(
    nginx: str, work: Path, tls: tuple[Path, Path] | None = None
) -> Iterator[tuple[int, Path]]:
    """nginx storing request bodies to disk; with ``tls`` (certificate, key) over TLS
    1.3 with them (osdepot's own, so that both sides do the same handshake)."""
    port, back = free_port(), free_port()
    root = work / ("nginx-tls" if tls else "nginx")
    body_dir = root / "body"
    (root / "logs").mkdir(parents=True, exist_ok=True)
    body_dir.mkdir(exist_ok=True)
    for d in (work, root):
        d.chmod(0o755)
    body_dir.chmod(0o1777)  # the worker runs unprivileged
    conf = root / "nginx.conf"
    tls_lines = ""
    if tls:
        tls_lines = f"ssl_certificate {tls[0]}; ssl_certificate_key {tls[1]}; "
        tls_lines += "ssl_protocols TLSv1.3;"
    conf.write_text(
        f"""daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_max_body_size 0;
  client_body_buffer_size 1m;
  client_body_temp_path {body_dir};
  server {{
    listen 127.0.0.1:{port}{" ssl" if tls else ""};
    {tls_lines}
    location /upload {{
      # the whole body goes into a file on disk (kept, so that sync has to write it)
      client_body_in_file_only on;
      proxy_request_buffering on;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_pass http://127.0.0.1:{back}/done;
    }}
  }}
  server {{ listen 127.0.0.1:{back}; location /done {{ return 201 "stored\\n"; }} }}
}}
"""
    )
    proc = subprocess.Popen([nginx, "-p", str(root), "-c", str(conf)])
    try:
        wait_port(port)
        yield port, body_dir
    finally:
        proc.terminate()
        proc.wait(10)


def sync_clear(body_dir: Path) -> float:
    t = time.perf_counter()
    os.sync()
    took = time.perf_counter() - t
    for p in body_dir.rglob("*"):
        if p.is_file():
            p.unlink()
    return took


# -- measurements ----------------------------------------------------------------------


def hash_rate(name: str, mib: int, buf_mib: int = 4) -> float:
    """One core's hashlib rate over ``mib`` MiB, hashed ``buf_mib`` MiB at a time from
    one buffer, as osdepot's hash lane takes its 4 MiB upload buffers. (On these VMs a
    buffer far larger than the TLB covers with 4 KiB pages, 64 MiB, hashes about a
    third slower: nested page walks, not the hash.)"""
    buf = os.urandom(buf_mib * MIB)
    h = hashlib.new(name)
    n = max(1, mib // buf_mib)
    t = time.perf_counter()
    for _ in range(n):
        h.update(buf)
    return n * buf_mib * MIB / (time.perf_counter() - t)


def parallel(fns: list[Callable[[], Any]]) -> tuple[float, list[Any]]:
    results: list[Any] = [None] * len(fns)

    def run(i: int) -> None:
        results[i] = fns[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - t, results


def osdepot_import(port: int, body: Body, tls: ssl.SSLContext | None) -> float:
    """Seconds from the start of the upload to its 201 (the job was created before)."""
    api = Api(port, tls)
    status, job = api.call(
        "POST", "/osImages?imageType=OS", {"Action": "Init", "fileSize": body.size}
    )
    assert status == 201, job
    url = f"/files/osImages?jobId={job['jobId']}&imageType=OS&os="
    t = time.perf_counter()
    status, raw = post_body(port, url, body, tls=tls)
    took = time.perf_counter() - t
    assert status == 201, raw[:500]
    image_id = json.loads(raw)["imageId"]
    assert api.call("DELETE", f"/osImages/{image_id}", {})[0] == 200
    return took


def rss_mib(pid: int) -> float:
    """Resident memory of the server: the process and its workers, in MiB."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs) / MIB
    except psutil.Error:
        return 0.0


@contextmanager
def peak_rss(pid: int) -> Iterator[tuple[float, list[float]]]:
    """The server's RSS now (idle) and, once the block has ended, its highest during
    the block (``peak[0]``), sampled every 50 ms, in MiB."""
    idle = rss_mib(pid)
    peak = [idle]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mib(pid))
            time.sleep(0.05)

    th = threading.Thread(target=sample)
    th.start()
    try:
        yield idle, peak
    finally:
        stop.set()
        th.join()


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) of a process and its children, in seconds."""
    import psutil

    try:
        proc = psutil.Process(pid)
        total = 0.0
        for p in [proc, *proc.children(recursive=True)]:
            t = p.cpu_times()
            total += t.user + t.system
        return total
    except psutil.Error:
        return 0.0


def pid_of(fragment: str) -> int | None:
    """The process whose command line holds ``fragment`` (nginx's master: its -p)."""
    import psutil

    for p in psutil.process_iter(["cmdline"]):
        if fragment in " ".join(p.info["cmdline"] or []):
            return int(p.pid)
    return None


def fill_catalog(root: Path, entries: int) -> int:
    """Put ``entries`` files into a stopped server's catalog (as if imported)."""
    from osdepot.compose import open_context
    from osdepot.config import Settings
    from osdepot.domain.images import ImageType
    from osdepot.domain.records import StoredFile

    ctx = open_context(Settings.from_env(data_dir=root))
    now = time.time()
    job = ctx.catalog.create_job(ImageType.SCRIPT, ADMIN, now, None, "bench")
    from sqlalchemy import insert

    from osdepot.storage.schema import files

    rows = [
        {
            "id": f"20260101000000_{i:05d}_post.sh",
            "image_type": "SCRIPT",
            "name": f"post-{i}.sh",
            "os": "rhel",
            "osrelease": None,
            "description": f"script {i}",
            "image_name": None,
            "size": 100 + i,
            "sha256": hashlib.sha256(str(i).encode()).hexdigest(),
            "checksums": "{}",
            "blob_key": f"bench{i:08d}",
            "imported_by": ADMIN,
            "imported_at": now,
            "job_id": job.id,
        }
        for i in range(entries)
    ]
    with ctx.catalog.engine.begin() as c:  # type: ignore[attr-defined]
        c.execute(insert(files), rows)
    ctx.close()
    _ = StoredFile  # the rows follow the StoredFile record
    return job.id


def latency(
    port: int, url: str, n: int, headers: dict[str, str] | None = None, status: int = 200
) -> dict[str, float]:
    """Time to the last byte of the answer (the client does not parse or inflate it)."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    times = []
    for i in range(n + 1):
        t = time.perf_counter()
        conn.request("GET", url, headers={"Authorization": AUTH, **(headers or {})})
        r = conn.getresponse()
        r.read()
        if i:  # the first request warms the server's cache
            times.append(time.perf_counter() - t)
        assert r.status == status, r.status
    times.sort()
    return {
        "p50_ms": statistics.median(times) * 1000,
        "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))] * 1000,
        "requests": n,
    }


def requests_per_second(
    port: int, url: str, seconds: float, clients: int, headers: dict[str, str] | None = None
) -> float:
    wrk = shutil.which("wrk")
    if wrk:
        script = Path(tempfile.mkstemp(suffix=".lua")[1])
        script.write_text(
            "".join(
                f'wrk.headers["{k}"] = "{v}"\n'
                for k, v in {"Authorization": AUTH, **(headers or {})}.items()
            )
        )
        r = subprocess.run(
            [wrk, "-t2", f"-c{clients}", f"-d{max(1, int(seconds))}s", "-s", str(script),
             f"http://127.0.0.1:{port}{url}"],
            capture_output=True, text=True, timeout=seconds + 30,
        )  # fmt: skip
        script.unlink()
        for line in r.stdout.splitlines():
            if line.startswith("Requests/sec:"):
                return float(line.split()[1])
        raise RuntimeError(f"wrk gave no figure: {r.stdout} {r.stderr}")
    done = time.monotonic() + seconds
    counts = [0] * clients

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        while time.monotonic() < done:
            conn.request("GET", url, headers={"Authorization": AUTH, **(headers or {})})
            conn.getresponse().read()
            counts[i] += 1

    took, _ = parallel([lambda i=i: worker(i) for i in range(clients)])
    return sum(counts) / took


# -- the run ---------------------------------------------------------------------------


def cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def main() -> int:
    ap = argparse.ArgumentParser(description="osdepot upload benchmark against nginx")
    ap.add_argument("--size-mib", type=int, default=2048, help="size of the imported ISO")
    ap.add_argument("--big-mib", type=int, default=4096, help="upload for the memory figure")
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=2, help="runs of each upload; the best counts")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one run (CI)")
    ap.add_argument("--scratch", default=os.environ.get("OSDEPOT_BENCH_DIR", "/var/tmp"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/upload.json"))
    ap.add_argument("--no-tls", action="store_true", help="skip the TLS figures")
    ap.add_argument(
        "--tls-only", action="store_true", help="only the HTTPS figures (nginx TLS, multipart, tus)"
    )
    ap.add_argument("--workers", type=int, default=1, help="osdepot server processes")
    ap.add_argument("--catalog-only", action="store_true", help="only the listing and task figures")
    ap.add_argument(
        "--cold", action="store_true", help="no page-cache warming before timed uploads"
    )
    a = ap.parse_args()
    if a.smoke:
        a.size_mib, a.big_mib, a.entries, a.runs = 64, 128, 500, 1
    res: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "kernel": platform.release(),
            "cpu": cpu_model(),
        },
        "sizeBytes": a.size_mib * MIB,
        "smoke": a.smoke,
        "pageWarming": not a.cold,
    }
    log(f"machine: {res['machine']}")
    size = a.size_mib * MIB
    hash_mib = 256 if a.smoke else 2048
    res["hashlib"] = {n: hash_rate(n, hash_mib) for n in ("sha256", "md5")}
    res["hashlib64MiB"] = {"sha256": hash_rate("sha256", hash_mib, 64)}
    log(
        f"hashlib one core, 4 MiB buffers: sha256 {res['hashlib']['sha256'] / 1e6:.0f} MB/s, "
        f"md5 {res['hashlib']['md5'] / 1e6:.0f} MB/s "
        f"(sha256 on one 64 MiB buffer: {res['hashlib64MiB']['sha256'] / 1e6:.0f} MB/s)"
    )
    with tempfile.TemporaryDirectory(prefix="osdepot-bench-", dir=a.scratch) as d:
        work = Path(d)
        if a.tls_only:
            body = build_body(work / "body0.bin", size, "rhel", {}, "SHA256")
            warm(body.path)
            tls_uploads(a, res, work, size, body, find_nginx())
            report_tls(res)
        else:
            if not a.catalog_only:
                uploads(a, res, work, size)
            catalog(a, res, work)
    if a.tls_only:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(res, indent=2))
        return 0
    report(res)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2))
    log(f"results written to {a.out}")
    return 0


def uploads(a: argparse.Namespace, res: dict[str, Any], work: Path, size: int) -> None:
    runs = range(a.runs)
    bodies = [
        build_body(work / f"body{i}.bin", size, kind, kw, "SHA256")
        for i, (kind, kw) in enumerate(MEDIA[: a.streams])
    ]
    md5_body = build_body(work / "md5.bin", size, "rhel", {}, "MD5")
    for b in [*bodies, md5_body]:
        warm(b.path)

    # nginx (the ceiling) and osdepot, interleaved: the disk of a shared machine
    # changes speed from minute to minute, so each osdepot figure is taken next to
    # its baseline, and every measurement starts after a sync (no dirty pages left
    # from the previous one). The best run of each counts.
    nginx = find_nginx()
    if not nginx:
        log("nginx is not available and could not be installed: client-side bound instead")
    data = work / "osdepot-data"
    data.mkdir()
    times: dict[str, list[float]] = {k: [] for k in ("n1", "n4", "o1", "md5", "o4")}
    with contextlib.ExitStack() as stack:
        if nginx:
            nport, body_dir = stack.enter_context(nginx_server(nginx, work))
        port, proc = stack.enter_context(osdepot_server(data, tls=False, workers=a.workers))
        warmup = build_body(work / "warm.bin", 4 * MIB, "rhel", {}, "SHA256")
        for _ in range(max(1, a.workers)):  # one untimed import per worker process
            osdepot_import(port, warmup, None)

        def nginx_one() -> float:
            t = time.perf_counter()
            st, _ = post_body(nport, "/upload", bodies[0], auth=False)
            assert st == 201, st
            return time.perf_counter() - t + sync_clear(body_dir)

        def nginx_all() -> float:
            took, sts = parallel(
                [lambda b=b: post_body(nport, "/upload", b, auth=False) for b in bodies]
            )
            assert all(st == 201 for st, _ in sts), sts
            return took + sync_clear(body_dir)

        def osdepot_all() -> float:
            took, _ = parallel([lambda b=b: osdepot_import(port, b, None) for b in bodies])
            return took

        for _ in runs:
            for key, fn in (
                ("n1", nginx_one if nginx else None),
                ("o1", lambda: osdepot_import(port, bodies[0], None)),
                ("md5", lambda: osdepot_import(port, md5_body, None)),
                ("n4", nginx_all if nginx else None),
                ("o4", osdepot_all),
            ):
                if fn is None:
                    continue
                if not a.cold:
                    warm_pages(work, (len(bodies) if key in ("n4", "o4") else 1) * size + 256 * MIB)
                os.sync()
                times[key].append(fn())
        res["nginx"] = {
            "single": size / min(times["n1"]) if times["n1"] else None,
            "concurrent": len(bodies) * size / min(times["n4"]) if times["n4"] else None,
        }
        if res["nginx"]["single"]:
            log(
                f"nginx + sync: one stream {res['nginx']['single'] / 1e6:.0f} MB/s, "
                f"{len(bodies)} streams {res['nginx']['concurrent'] / 1e6:.0f} MB/s in all"
            )
        res["osdepot"] = {
            "workers": a.workers,
            "single_sha256": size / min(times["o1"]),
            "single_md5": size / min(times["md5"]),
            "concurrent_sha256": len(bodies) * size / min(times["o4"]),
        }
        # memory: one large upload, sampled every 50 ms
        big = build_body(work / "big.bin", a.big_mib * MIB, "alma", {}, "SHA256")
        os.sync()
        time.sleep(1)
        with peak_rss(proc.pid) as (idle, peak):  # idle: right before the upload
            osdepot_import(port, big, None)
        big.path.unlink()
        res["memory"] = {
            "idle_mib": idle,
            "peak_mib": peak[0],
            "growth_mib": peak[0] - idle,
            "upload_mib": a.big_mib,
        }
    if not a.no_tls:
        tls_uploads(a, res, work, size, bodies[0], nginx)


def tls_uploads(
    a: argparse.Namespace, res: dict[str, Any], work: Path, size: int, body: Body, nginx: str | None
) -> None:
    """Over HTTPS, as ``./scripts/serve`` runs: nginx over TLS 1.3 with osdepot's own
    certificate and key (the ceiling, + sync), osdepot's multipart upload, and its
    resumable upload (tus) in one PATCH and in 64 MiB PATCHes, interleaved."""
    tdata = work / "osdepot-tls"
    tdata.mkdir()
    times: dict[str, list[float]] = {k: [] for k in ("n", "o", "r1", "r64")}
    curl = shutil.which("curl")
    raw = raw_file(body, work, 64 * MIB) if curl else None
    with contextlib.ExitStack() as stack:
        port, _proc = stack.enter_context(osdepot_server(tdata, tls=True, workers=a.workers))
        cert, key = tdata / "tls" / "cert.pem", tdata / "tls" / "key.pem"
        ctx = ssl.create_default_context(cafile=str(cert))
        nport = body_dir = None
        if nginx:
            nport, body_dir = stack.enter_context(nginx_server(nginx, work, (cert, key)))
        warmup = build_body(work / "warm-tls.bin", 4 * MIB, "rhel", {}, "SHA256")
        osdepot_import(port, warmup, ctx)

        def nginx_tls() -> float:
            assert nport is not None and body_dir is not None
            t = time.perf_counter()
            if curl:
                url = f"https://127.0.0.1:{nport}/upload"
                headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
                st, _h, _b = curl_send(url, "POST", headers, body.path, cert, work / "curl")
            else:
                st, _ = post_body(nport, "/upload", body, tls=ctx, auth=False)
            assert st == 201, st
            return time.perf_counter() - t + sync_clear(body_dir)

        # curl as the client where it is installed (as users send files), else this
        # module's own client; the same one for every figure of the section
        plans: list[tuple[str, Callable[[], float] | None]] = [("n", nginx_tls if nginx else None)]
        if raw is not None:
            plans += [
                ("o", lambda: curl_import(port, body, cert, work)),
                ("r1", lambda: curl_resumable(port, body, cert, work, [raw.whole])),
                ("r64", lambda: curl_resumable(port, body, cert, work, raw.pieces)),
            ]
        else:
            plans += [
                ("o", lambda: osdepot_import(port, body, ctx)),
                ("r1", lambda: osdepot_resumable(port, body, ctx, None)),
                ("r64", lambda: osdepot_resumable(port, body, ctx, 64 * MIB)),
            ]
        res["tlsClient"] = "curl" if raw is not None else "python"
        nginx_pid = pid_of(str(work / "nginx-tls")) if nginx else None
        cpu: dict[str, list[float]] = {k: [] for k in times}
        growth: dict[str, list[float]] = {k: [] for k in times}
        for _ in range(a.runs):
            for key_, fn in plans:
                if fn is None:
                    continue
                if not a.cold:
                    warm_pages(work, size + 256 * MIB)
                os.sync()
                server = nginx_pid if key_ == "n" else _proc.pid
                if key_ != "n":
                    # the Basic credentials checked now (argon2: 64 MiB for a moment;
                    # remembered 60 s): the memory figure is the upload's, not a login's
                    assert Api(port, ctx).call("GET", "/osImages")[0] == 200
                before = cpu_seconds(server) if server else 0.0
                with peak_rss(_proc.pid) as (idle, peak):
                    times[key_].append(fn())
                if key_ != "n":
                    growth[key_].append(peak[0] - idle)
                if server:
                    cpu[key_].append((cpu_seconds(server) - before) / (size / (1 << 30)))
    best = {k: size / min(v) if v else None for k, v in times.items()}
    res["tlsServerCpuSecondsPerGiB"] = {k: min(v) for k, v in cpu.items() if v}
    res["tlsRssGrowthMiB"] = {k: max(v) for k, v in growth.items() if v}
    log(
        "osdepot's RSS above idle during each upload (most): "
        + ", ".join(f"{k} {max(v):.1f} MiB" for k, v in growth.items() if v)
    )
    log(
        "server CPU-seconds per GiB over TLS: "
        + ", ".join(f"{k} {min(v):.2f}" for k, v in cpu.items() if v)
        + " (n nginx, o multipart, r1 one PATCH, r64 64 MiB PATCHes)"
    )
    res.setdefault("osdepot", {})
    res["osdepot"]["tls_single_sha256"] = best["o"]
    res["osdepot"]["tls_resumable_one_patch"] = best["r1"]
    res["osdepot"]["tls_resumable_64mib"] = best["r64"]
    res.setdefault("nginx", {})["tls_single"] = best["n"]
    log(
        "over TLS: nginx "
        + (f"{best['n'] / 1e6:.0f}" if best["n"] else "n/a")
        + f" MB/s, osdepot multipart {best['o'] / 1e6:.0f} MB/s, resumable one PATCH "
        f"{best['r1'] / 1e6:.0f} MB/s, in 64 MiB PATCHes {best['r64'] / 1e6:.0f} MB/s"
    )


def catalog(a: argparse.Namespace, res: dict[str, Any], work: Path) -> None:
    """GET /osImages with ``a.entries`` catalog entries; GET /tasks/{id} per second."""
    cdata = work / "osdepot-catalog"
    cdata.mkdir()
    job_id = fill_catalog(cdata, a.entries)
    with osdepot_server(cdata, tls=False, workers=a.workers) as (port, _proc):
        res["list"] = latency(port, "/osImages", 50 if a.smoke else 200)
        res["list"]["entries"] = a.entries
        res["tasks_rps"] = requests_per_second(port, f"/tasks/{job_id}", 2 if a.smoke else 10, 8)


def report(res: dict[str, Any]) -> None:
    if "osdepot" in res:
        report_uploads(res)
    lst = res["list"]
    log(
        f"GET /osImages with {lst['entries']} entries: p50 {lst['p50_ms']:.1f} ms, "
        f"p99 {lst['p99_ms']:.1f} ms (target p99 ≤ 50): "
        f"{'met' if lst['p99_ms'] <= 50 else 'MISSED'}"
    )
    log(
        f"GET /tasks/{{id}}: {res['tasks_rps']:.0f} requests/s (target ≥ 2000): "
        f"{'met' if res['tasks_rps'] >= 2000 else 'MISSED'}"
    )


def report_tls(res: dict[str, Any]) -> None:
    o, base = res["osdepot"], res["nginx"].get("tls_single")
    for name, key, target in (
        ("multipart", "tls_single_sha256", 0.9),
        ("resumable, one PATCH", "tls_resumable_one_patch", 0.8),
        ("resumable, 64 MiB PATCHes", "tls_resumable_64mib", 0.8),
    ):
        ratio = o[key] / base if base else None
        verdict = "" if ratio is None else ("met" if ratio >= target else "MISSED")
        log(
            f"TLS {name:28} {o[key] / 1e6:6.0f} MB/s  "
            f"{(f'{ratio:.2f}' if ratio is not None else 'n/a'):>5} × nginx (≥ {target}) {verdict}"
        )


def report_uploads(res: dict[str, Any]) -> None:
    o, n, h = res["osdepot"], res["nginx"], res["hashlib"]
    mb = 1e6
    log("")
    log("figure                                   MB/s    ratio   target")
    rows: list[tuple[str, float | None, float | None, float]] = []
    ceiling = n.get("single")
    rows.append(("osdepot 1 stream SHA-256 / nginx", o["single_sha256"], ceiling, 0.8))
    md5_ceiling = min(ceiling, h["md5"]) if ceiling else h["md5"]
    rows.append(("osdepot 1 stream MD5 / min(nginx, md5)", o["single_md5"], md5_ceiling, 0.8))
    rows.append(
        ("osdepot 4 streams / nginx 4 streams", o["concurrent_sha256"], n.get("concurrent"), 0.8)
    )
    if "tls_single_sha256" in o:
        rows.append(
            ("osdepot TLS 1 stream / no TLS", o["tls_single_sha256"], o["single_sha256"], 0)
        )
        tls_ceiling = n.get("tls_single")
        rows.append(
            ("TLS: osdepot multipart / nginx TLS", o["tls_single_sha256"], tls_ceiling, 0.9)
        )
        rows.append(
            ("TLS: resumable, 1 PATCH / nginx TLS", o["tls_resumable_one_patch"], tls_ceiling, 0.8)
        )
        rows.append(
            ("TLS: resumable, 64 MiB / nginx TLS", o["tls_resumable_64mib"], tls_ceiling, 0.8)
        )
    verdicts = {}
    for name, value, base, target in rows:
        if value is None:
            continue
        ratio = value / base if base else None
        ok = "" if not target or ratio is None else ("met" if ratio >= target else "MISSED")
        verdicts[name] = {"value": value, "baseline": base, "ratio": ratio, "target": target}
        log(
            f"{name:40} {value / mb:6.0f}  "
            f"{(f'{ratio:.2f}' if ratio is not None else 'n/a'):>6}   "
            f"{('≥ ' + str(target)) if target else '':6} {ok}"
        )
    m = res["memory"]
    mem_ok = m["growth_mib"] <= 100
    log(
        f"peak RSS during a {m['upload_mib']} MiB upload: {m['peak_mib']:.0f} MiB, "
        f"{m['growth_mib']:.1f} MiB above idle (target ≤ 100): {'met' if mem_ok else 'MISSED'}"
    )
    res["ratios"] = verdicts


if __name__ == "__main__":
    raise SystemExit(main())
